//! Porcupine's key-value model: `get`, `put s`, `append s` on strings; every key starts as
//! the empty string (or the `--initial` string).
//!
//! Strings are interned per key and the state is the id of the current string. Appends
//! are memoized as (state, suffix) -> state, so a repeated step costs one hash lookup. A
//! `get` that returned `null` is read as having returned `""` (an absent key reads empty,
//! as in Porcupine).

use rustc_hash::FxHashMap;

use super::{Completion, Interner, Model, ModelConfig, ModelKind, unknown_function};
use crate::format::{SinkError, ValRef};

/// A kv operation on one key, with its observed result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    /// A get that returned this string.
    Get(u32),
    Put(u32),
    Append(u32),
}

/// What a kv invoke leaves until its completion.
#[derive(Debug, Clone, Copy)]
pub enum KvPending {
    Get,
    Put(u32),
    Append(u32),
}

/// The kv-append model for one key.
#[derive(Debug)]
pub struct KvAppend {
    strings: Interner,
    appended: FxHashMap<(u32, u32), u32>,
    initial: u32,
}

impl KvAppend {
    fn intern_string(&mut self, value: &ValRef<'_>) -> Result<u32, SinkError> {
        if value.is_null() {
            return Ok(self.strings.intern(""));
        }
        match value.as_str() {
            Some(s) => Ok(self.strings.intern(&s)),
            None => Err(SinkError::new("a string value", value.preview())),
        }
    }
}

impl Model for KvAppend {
    type State = u32;
    type Op = KvOp;
    type Pending = KvPending;
    const KIND: ModelKind = ModelKind::KvAppend;

    fn new(config: &ModelConfig) -> Result<Self, SinkError> {
        let mut model = KvAppend {
            strings: Interner::default(),
            appended: FxHashMap::default(),
            initial: 0,
        };
        model.initial = model.intern_string(&ValRef::Json(&config.initial))?;
        Ok(model)
    }

    fn initial_state(&mut self) -> u32 {
        self.initial
    }

    fn invoke(&mut self, f: &str, value: &ValRef<'_>) -> Result<KvPending, SinkError> {
        match f {
            "get" => Ok(KvPending::Get),
            "put" => Ok(KvPending::Put(self.intern_string(value)?)),
            "append" => Ok(KvPending::Append(self.intern_string(value)?)),
            _ => Err(unknown_function(ModelKind::KvAppend, f, "get, put, append")),
        }
    }

    fn complete(
        &mut self,
        pending: KvPending,
        completion: Completion,
        value: &ValRef<'_>,
    ) -> Result<Option<KvOp>, SinkError> {
        Ok(match (pending, completion) {
            (_, Completion::Fail) | (KvPending::Get, Completion::Info) => None,
            (KvPending::Get, Completion::Ok) => Some(KvOp::Get(self.intern_string(value)?)),
            (KvPending::Put(v), _) => Some(KvOp::Put(v)),
            (KvPending::Append(v), _) => Some(KvOp::Append(v)),
        })
    }

    #[inline]
    fn step(&mut self, state: &u32, op: &KvOp) -> Option<u32> {
        match *op {
            KvOp::Get(v) => (v == *state).then_some(*state),
            KvOp::Put(v) => Some(v),
            KvOp::Append(suffix) => {
                if let Some(&next) = self.appended.get(&(*state, suffix)) {
                    return Some(next);
                }
                let joined = format!("{}{}", self.strings.text(*state), self.strings.text(suffix));
                let next = self.strings.intern(&joined);
                self.appended.insert((*state, suffix), next);
                Some(next)
            }
        }
    }

    fn is_pure(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn heap_bytes(&self) -> usize {
        self.strings.heap_bytes() + self.appended.capacity() * 16
    }

    fn describe_state(&self, state: &u32) -> String {
        serde_json::Value::String(self.strings.text(*state).to_string()).to_string()
    }

    fn describe_op(&self, op: &KvOp) -> String {
        let t = |id: u32| serde_json::Value::String(self.strings.text(id).to_string()).to_string();
        match *op {
            KvOp::Get(v) => format!("get -> {}", t(v)),
            KvOp::Put(v) => format!("put {}", t(v)),
            KvOp::Append(v) => format!("append {}", t(v)),
        }
    }
}
