//! Sequential specifications ("models") of the objects whose histories are checked.
//!
//! A model is a small pure type with a step function. One instance exists per key: it owns
//! the interning tables that turn that key's values into small integers, so that model
//! states are compact (`u32` for registers) and cheap to hash and compare in the search's
//! memo table. Each model file also says how history records become model operations
//! (`invoke` then `complete`), because that is where the value shapes of DESIGN.md live.

mod append_order;
pub mod cas_register;
pub mod kv_append;
pub mod register;
pub mod set;

use std::fmt::Debug;
use std::hash::Hash;
use std::str::FromStr;

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::{SinkError, ValRef};
use crate::partition::Call;

/// Which model to check a history against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Read/write register (`read`, `write`); `cas` is refused.
    Register,
    /// Compare-and-set register (`read`, `write`, `cas [from, to]`): the default for those functions.
    CasRegister,
    /// Porcupine's key-value store: `get`, `put`, `append` on strings, each key starting empty.
    KvAppend,
    /// A set: `add v`, `read [..]`.
    Set,
}

impl ModelKind {
    /// The model a function name implies, if it decides one (`read` alone does not).
    pub fn implied_by(f: &str) -> Option<ModelKind> {
        match f {
            "write" | "cas" => Some(ModelKind::CasRegister),
            "get" | "put" | "append" => Some(ModelKind::KvAppend),
            "add" => Some(ModelKind::Set),
            _ => None,
        }
    }

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::KvAppend => "kv-append",
            ModelKind::Set => "set",
        }
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "register" => Ok(ModelKind::Register),
            "cas-register" => Ok(ModelKind::CasRegister),
            "kv-append" | "kv" => Ok(ModelKind::KvAppend),
            "set" => Ok(ModelKind::Set),
            other => Err(format!(
                "unknown model {other:?}: expected register, cas-register, kv-append or set"
            )),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a `fail` completion of a `cas` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailedCasReading {
    /// Jepsen's reading: a `fail` op did not take effect and is dropped.
    Dropped,
    /// Porcupine's reading: the compare ran and returned false at the linearization point,
    /// i.e. the cas acts as a read that observed a value different from `from`.
    CompareFalse,
}

impl FromStr for FailedCasReading {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dropped" | "jepsen" => Ok(FailedCasReading::Dropped),
            "compare-false" | "porcupine" => Ok(FailedCasReading::CompareFalse),
            other => Err(format!(
                "unknown failed-cas reading {other:?}: expected dropped or compare-false"
            )),
        }
    }
}

/// How the register models read an `ok` read that returned `null` (EDN `nil`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NilRead {
    /// `null` is a value like any other: the read observed that the register held `null`
    /// (Porcupine's reading, and faultline's for its own JSONL, where a read of a key
    /// never written returns `null`).
    Value,
    /// The read matches every state and constrains nothing, as Knossos's `Register` and
    /// `CASRegister` (`knossos/model.clj`) read Jepsen's histories, where a read that
    /// returned nothing useful is recorded as `nil`. The default for `edn` and
    /// `jepsen-json` input.
    Any,
}

impl FromStr for NilRead {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "value" => Ok(NilRead::Value),
            "any" => Ok(NilRead::Any),
            other => Err(format!("unknown nil-read {other:?}: expected value or any")),
        }
    }
}

/// Settings every per-key model instance is built from.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The initial value of every key (JSON); `Value::Null` means the model's default.
    pub initial: Value,
    pub failed_cas: FailedCasReading,
    /// How the register models read an `ok` read of `null`; the other models ignore it.
    pub nil_read: NilRead,
}

/// How an invoked operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Ok,
    Fail,
    /// Unknown outcome (an `info` record, or no completion before the history ended).
    Info,
}

/// A sequential specification, instantiated once per key.
///
/// `step` takes `&mut self` only so that a model may grow its interning tables (kv-append
/// interns concatenated strings); the transition itself is a pure function of state and op.
pub trait Model: Send + Sized + 'static {
    /// A model state; compact, because the search memoizes it.
    type State: Clone + Eq + Hash + Send + Debug;
    /// An operation with its observed output (or none for an unknown outcome).
    type Op: Clone + Send + Debug;
    /// What an invoke record leaves behind until its completion arrives.
    type Pending: Send;
    /// Which model this is.
    const KIND: ModelKind;

    fn new(config: &ModelConfig) -> Result<Self, SinkError>;
    fn initial_state(&mut self) -> Self::State;
    /// Reads an invoke record (`f` and its value).
    fn invoke(&mut self, f: &str, value: &ValRef<'_>) -> Result<Self::Pending, SinkError>;
    /// Reads the completion; `Ok(None)` drops the op (a `fail`, or an unknown read).
    fn complete(
        &mut self,
        pending: Self::Pending,
        completion: Completion,
        value: &ValRef<'_>,
    ) -> Result<Option<Self::Op>, SinkError>;
    /// The transition: `None` when `op` cannot happen in `state`.
    fn step(&mut self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// True when `op` never changes any state (a read). The search linearizes such an op as
    /// soon as it is enabled and succeeds, and tries nothing else there: any linearization
    /// that places it later can move it to that point, since nothing after it depends on
    /// it and everything that must precede it in real time already does.
    fn is_pure(&self, op: &Self::Op) -> bool;
    /// The state as JSON text, for explanations.
    fn describe_state(&self, state: &Self::State) -> String;
    /// The op as short text (`write 3`, `read -> 4`, `cas 1->2`).
    fn describe_op(&self, op: &Self::Op) -> String;
    /// Removes `info` calls that the search may leave out without changing the verdict,
    /// and returns how many it removed. The search may always linearize an `info` op
    /// "never"; a model overrides this only with a proof that no linearization needs the
    /// ops it removes (see the register's). Default: removes nothing.
    fn prune_unneeded_info(&self, _calls: &mut Vec<Call<Self::Op>>) -> usize {
        0
    }
    /// Pairs `(a, b)` of indices into `calls`: call `a` takes effect before call `b` in
    /// every linearization that explains the history. The search then tries no order
    /// that breaks a pair, which changes no verdict (every linearization it skips explains
    /// nothing) and can cut the orders to explore from factorial to linear (kv-append's
    /// unique tokens, see `append_order.rs`). A model returns only pairs it can prove.
    /// Default: none.
    fn implied_order(&self, _calls: &[Call<Self::Op>]) -> Vec<(u32, u32)> {
        Vec::new()
    }
    /// For the explanation in words: the state `op` needs before it (a read's result, an ok
    /// cas's `from`) and the state it leaves (a write's value, a cas's `to`), for models
    /// whose state is one value that ops read and overwrite. Default: `None` (the
    /// explanation then says only what the search found).
    fn register_access(&self, _op: &Self::Op) -> Option<RegisterAccess<Self::State>> {
        None
    }
    /// Heap bytes a state holds beyond its inline size (for the memo cap).
    fn state_heap_bytes(_state: &Self::State) -> usize {
        0
    }
    /// Heap bytes the model's own tables hold (they grow during the search for kv-append).
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// What a register-like op requires and leaves ([`Model::register_access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterAccess<S> {
    /// The value the op observed (it cannot take effect unless the state is this).
    pub observes: Option<S>,
    /// The value the op leaves when it takes effect.
    pub writes: Option<S>,
}

/// Turns JSON values into small integers and back, per key.
///
/// Texts live back to back in one arena and the table holds only ids, so interning a new
/// value costs no allocation of its own (a 1M-op history interns ~10^5 values).
/// Small non-negative integers (the commonest register values) are also found through a
/// direct table indexed by their value, which skips the hash, the probe and the text
/// compare: ids are the same either way (given in first-seen order by `intern`).
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashTable<u32>,
    /// Per id: start of its text in `arena`, its length, and its hash.
    entries: Vec<(usize, u32, u64)>,
    arena: String,
    /// `small[n]` = 1 + the id of the integer `n` (< [`SMALL_INTS`]), 0 while unseen.
    small: Vec<u32>,
}

/// Integers below this are interned through [`Interner::small`] (at most 16 KiB a key).
const SMALL_INTS: usize = 4096;

/// The value of a canonical JSON integer text below [`SMALL_INTS`] (`0`, or digits without a
/// leading zero), else `None`.
#[inline]
fn small_int(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 4 || (bytes[0] == b'0' && bytes.len() > 1) {
        return None;
    }
    let mut n = 0usize;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    (n < SMALL_INTS).then_some(n)
}

#[inline]
fn text_hash(text: &str) -> u64 {
    FxBuildHasher.hash_one(text)
}

impl Interner {
    pub fn intern(&mut self, text: &str) -> u32 {
        let Some(n) = small_int(text) else {
            return self.intern_text(text);
        };
        if let Some(&known) = self.small.get(n)
            && known != 0
        {
            return known - 1;
        }
        let id = self.intern_text(text);
        if self.small.len() <= n {
            self.small
                .resize((n + 1).next_power_of_two().min(SMALL_INTS), 0);
        }
        self.small[n] = id
            .checked_add(1)
            .expect("fewer than 2^32 - 1 distinct values");
        id
    }

    fn intern_text(&mut self, text: &str) -> u32 {
        let hash = text_hash(text);
        let (entries, arena) = (&self.entries, &self.arena);
        let text_of = |id: u32| {
            let (start, len, _) = entries[id as usize];
            &arena[start..start + len as usize]
        };
        if let Some(&id) = self.ids.find(hash, |&id| text_of(id) == text) {
            return id;
        }
        let id = u32::try_from(self.entries.len()).expect("fewer than 2^32 distinct values");
        let len = u32::try_from(text.len()).expect("values shorter than 4 GiB");
        self.entries.push((self.arena.len(), len, hash));
        self.arena.push_str(text);
        let entries = &self.entries;
        self.ids
            .insert_unique(hash, id, |&id| entries[id as usize].2);
        id
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.entries.capacity() * 24
            + self.ids.capacity() * 5
            + self.small.capacity() * 4
    }

    /// Interns a JSON value by its canonical text.
    pub fn intern_value(&mut self, value: &ValRef<'_>) -> Result<u32, SinkError> {
        let mut scratch = String::new();
        let text = value.canonical(&mut scratch)?;
        Ok(self.intern(text))
    }

    pub fn text(&self, id: u32) -> &str {
        let (start, len, _) = self.entries[id as usize];
        &self.arena[start..start + len as usize]
    }
}

/// The error for a function name a model does not know.
pub(crate) fn unknown_function(model: ModelKind, f: &str, known: &str) -> SinkError {
    SinkError::new(format!("a {model} function ({known})"), format!("f {f:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_integers_get_the_ids_and_texts_the_general_table_gives() {
        let texts = [
            "7", "\"7\"", "0", "4095", "4096", "12", "-3", "7", "1e2", "0", "4095", "99999", "12",
            "true", "null", "4096",
        ];
        let mut interner = Interner::default();
        let mut first_seen: Vec<&str> = Vec::new();
        for text in texts {
            let id = interner.intern(text);
            let expected = first_seen
                .iter()
                .position(|t| *t == text)
                .unwrap_or_else(|| {
                    first_seen.push(text);
                    first_seen.len() - 1
                });
            assert_eq!(id as usize, expected, "{text}");
            assert_eq!(interner.text(id), text);
        }
        assert_eq!(small_int("0"), Some(0));
        assert_eq!(small_int("4095"), Some(4095));
        assert_eq!(small_int("4096"), None);
        assert_eq!(small_int("01"), None);
        assert_eq!(small_int(""), None);
        assert_eq!(small_int("-1"), None);
    }
}
