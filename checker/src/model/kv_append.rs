//! Porcupine's key-value model: `get`, `put s`, `append s` on strings; every key starts as
//! the empty string (or the `--initial` string).
//!
//! The state is the id of the current string, and equal strings always have the same id,
//! so the search compares and memoizes states as plain integers. Strings are kept as
//! ropes ([`Strings`]): the string an append produces is a node (prefix id, suffix id),
//! built in O(1) instead of copying the whole prefix (which made long append chains
//! quadratic). Each node carries its length and a polynomial hash, which compose under
//! concatenation; a new string is looked up by (hash, length) and any candidate is compared
//! byte by byte, so ids are exact, never "equal by hash". Appends are memoized as
//! (state, suffix) -> state, so a repeated step costs one hash lookup. A `get` that
//! returned `null` is read as having returned `""` (an absent key reads empty, as in
//! Porcupine).

use hashbrown::HashTable;
use rustc_hash::FxHashMap;

use super::{Completion, Model, ModelConfig, ModelKind, unknown_function};
use crate::format::{SinkError, ValRef};
use crate::partition::Call;

/// Most bytes of `get` results that [`KvAppend::prune_unneeded_info`] scans (summed over
/// every info append), so that pruning stays cheap next to the search it saves.
const PRUNE_SCAN_BUDGET_BYTES: usize = 1 << 30;

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

/// The Mersenne prime 2^61 - 1: the modulus of the string hash.
const MODULUS: u64 = (1 << 61) - 1;
/// The hash's base, an arbitrary residue.
const BASE: u64 = 0x0f3d_5b79_a4c2_e681 % MODULUS;

#[inline]
fn mul_mod(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    let folded = (product as u64 & MODULUS) + (product >> 61) as u64;
    if folded >= MODULUS {
        folded - MODULUS
    } else {
        folded
    }
}

#[inline]
fn add_mod(a: u64, b: u64) -> u64 {
    let sum = a + b;
    if sum >= MODULUS { sum - MODULUS } else { sum }
}

#[derive(Debug)]
enum Piece {
    Leaf(Box<str>),
    Concat(u32, u32),
}

/// One distinct string: its length, hash (sum of `(byte + 1) * BASE^i` from the end),
/// `BASE^len`, and its content as a leaf or a concatenation of two other strings.
#[derive(Debug)]
struct StrNode {
    len: u64,
    hash: u64,
    power: u64,
    piece: Piece,
}

/// Interned strings as ropes; every distinct string has exactly one id.
#[derive(Debug, Default)]
pub struct Strings {
    nodes: Vec<StrNode>,
    /// Ids, found by (hash, length) and confirmed by comparing contents.
    by_content: HashTable<u32>,
    /// Scratch stacks for walking ropes.
    walk: [Vec<u32>; 2],
    bytes: usize,
}

#[inline]
fn table_hash(hash: u64, len: u64) -> u64 {
    // Spread the mod-p hash over all 64 bits (hashbrown uses the top 7 as a tag).
    (hash ^ len.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// Walks a rope's leaves left to right, yielding their bytes.
struct Chunks<'s> {
    nodes: &'s [StrNode],
    stack: &'s mut Vec<u32>,
}

impl<'s> Chunks<'s> {
    /// The chunks of `ids` concatenated, in order.
    fn new(nodes: &'s [StrNode], stack: &'s mut Vec<u32>, ids: &[u32]) -> Chunks<'s> {
        stack.clear();
        stack.extend(ids.iter().rev());
        Chunks { nodes, stack }
    }

    fn next_chunk(&mut self) -> Option<&'s [u8]> {
        while let Some(id) = self.stack.pop() {
            match &self.nodes[id as usize].piece {
                Piece::Leaf(text) if text.is_empty() => {}
                Piece::Leaf(text) => return Some(text.as_bytes()),
                Piece::Concat(left, right) => {
                    self.stack.push(*right);
                    self.stack.push(*left);
                }
            }
        }
        None
    }
}

/// True when two chunk streams of equal total length hold the same bytes.
fn same_content(mut a: Chunks<'_>, mut b: Chunks<'_>) -> bool {
    let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
    loop {
        if x.is_empty() {
            x = match a.next_chunk() {
                Some(chunk) => chunk,
                None => return y.is_empty() && b.next_chunk().is_none(),
            };
        }
        if y.is_empty() {
            y = match b.next_chunk() {
                Some(chunk) => chunk,
                None => return false,
            };
        }
        let n = x.len().min(y.len());
        if x[..n] != y[..n] {
            return false;
        }
        x = &x[n..];
        y = &y[n..];
    }
}

impl Strings {
    /// The id of `text`.
    pub fn intern(&mut self, text: &str) -> u32 {
        let mut hash = 0;
        for &b in text.as_bytes() {
            hash = add_mod(mul_mod(hash, BASE), u64::from(b) + 1);
        }
        let len = text.len() as u64;
        let Strings {
            nodes,
            by_content,
            walk,
            ..
        } = self;
        let found = by_content.find(table_hash(hash, len), |&id| {
            let node = &nodes[id as usize];
            node.hash == hash
                && node.len == len
                && same_leaf_content(nodes, &mut walk[0], id, text.as_bytes())
        });
        if let Some(&id) = found {
            return id;
        }
        let power = (0..text.len()).fold(1, |p, _| mul_mod(p, BASE));
        self.bytes += text.len();
        self.add(StrNode {
            len,
            hash,
            power,
            piece: Piece::Leaf(text.into()),
        })
    }

    /// The id of the concatenation of `left` and `right`.
    pub fn concat(&mut self, left: u32, right: u32) -> u32 {
        let (l, r) = (&self.nodes[left as usize], &self.nodes[right as usize]);
        if r.len == 0 {
            return left;
        }
        if l.len == 0 {
            return right;
        }
        let hash = add_mod(mul_mod(l.hash, r.power), r.hash);
        let len = l.len + r.len;
        let power = mul_mod(l.power, r.power);
        let Strings {
            nodes,
            by_content,
            walk,
            ..
        } = self;
        let [walk_a, walk_b] = walk;
        let found = by_content.find(table_hash(hash, len), |&id| {
            let node = &nodes[id as usize];
            node.hash == hash
                && node.len == len
                && same_content(
                    Chunks::new(nodes, walk_a, &[id]),
                    Chunks::new(nodes, walk_b, &[left, right]),
                )
        });
        if let Some(&id) = found {
            return id;
        }
        self.add(StrNode {
            len,
            hash,
            power,
            piece: Piece::Concat(left, right),
        })
    }

    fn add(&mut self, node: StrNode) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 distinct strings");
        let key = table_hash(node.hash, node.len);
        self.nodes.push(node);
        let nodes = &self.nodes;
        self.by_content.insert_unique(key, id, |&other| {
            let n = &nodes[other as usize];
            table_hash(n.hash, n.len)
        });
        self.bytes += size_of::<StrNode>() + 16;
        id
    }

    /// The string's text.
    pub fn text(&self, id: u32) -> String {
        let mut stack = Vec::new();
        let mut chunks = Chunks::new(&self.nodes, &mut stack, &[id]);
        let mut out = Vec::with_capacity(self.nodes[id as usize].len as usize);
        while let Some(chunk) = chunks.next_chunk() {
            out.extend_from_slice(chunk);
        }
        // Leaves are whole `str`s and concatenation keeps UTF-8 valid.
        String::from_utf8(out).expect("concatenated UTF-8 is UTF-8")
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }
}

fn same_leaf_content(nodes: &[StrNode], stack: &mut Vec<u32>, id: u32, text: &[u8]) -> bool {
    if let Piece::Leaf(leaf) = &nodes[id as usize].piece {
        return leaf.as_bytes() == text;
    }
    let mut chunks = Chunks::new(nodes, stack, &[id]);
    let mut rest = text;
    while let Some(chunk) = chunks.next_chunk() {
        let Some(tail) = rest.strip_prefix(chunk) else {
            return false;
        };
        rest = tail;
    }
    rest.is_empty()
}

/// The kv-append model for one key.
#[derive(Debug)]
pub struct KvAppend {
    strings: Strings,
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

    fn quoted(&self, id: u32) -> String {
        serde_json::Value::String(self.strings.text(id)).to_string()
    }
}

impl Model for KvAppend {
    type State = u32;
    type Op = KvOp;
    type Pending = KvPending;
    const KIND: ModelKind = ModelKind::KvAppend;

    fn new(config: &ModelConfig) -> Result<Self, SinkError> {
        let mut model = KvAppend {
            strings: Strings::default(),
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
                let next = self.strings.concat(*state, suffix);
                self.appended.insert((*state, suffix), next);
                Some(next)
            }
        }
    }

    fn is_pure(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    /// Drops `info` appends whose suffix appears in no string any `get` returned.
    ///
    /// Why no linearization needs such an append A of x: after A the string is `s + x`, and
    /// until the next put it only grows at its end, so every get placed there returns a
    /// string containing x. None does, so no get sits between A and the next put (or the
    /// end); deleting A changes only states nobody reads, and appends and puts succeed in
    /// every state. Under a partition most timed-out appends are of this kind, and each is
    /// otherwise free to float, multiplying the configurations to explore. Skipped when
    /// the substring scans would cost more than [`PRUNE_SCAN_BUDGET_BYTES`].
    fn prune_unneeded_info(&self, calls: &mut Vec<Call<KvOp>>) -> usize {
        let mut read_ids: Vec<u32> = calls
            .iter()
            .filter_map(|call| match call.op {
                KvOp::Get(id) => Some(id),
                _ => None,
            })
            .collect();
        read_ids.sort_unstable();
        read_ids.dedup();
        let reads: Vec<String> = read_ids.iter().map(|&id| self.strings.text(id)).collect();
        let read_bytes: usize = reads.iter().map(String::len).sum();
        let info_appends = calls
            .iter()
            .filter(|call| call.is_info() && matches!(call.op, KvOp::Append(_)))
            .count();
        if info_appends.saturating_mul(read_bytes) > PRUNE_SCAN_BUDGET_BYTES {
            return 0;
        }
        let before = calls.len();
        calls.retain(|call| match call.op {
            KvOp::Append(suffix) if call.is_info() => {
                let suffix = self.strings.text(suffix);
                reads.iter().any(|read| read.contains(suffix.as_str()))
            }
            _ => true,
        });
        before - calls.len()
    }

    /// The order the strings gets returned pin down: see `append_order.rs` for the rules
    /// and the proof that every linearization explaining the history keeps them.
    fn implied_order(&self, calls: &[Call<KvOp>]) -> Vec<(u32, u32)> {
        super::append_order::implied_order(&self.strings, self.initial, calls)
    }

    fn heap_bytes(&self) -> usize {
        self.strings.heap_bytes() + self.appended.capacity() * 16
    }

    fn describe_state(&self, state: &u32) -> String {
        self.quoted(*state)
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match *op {
            KvOp::Get(v) => format!("get -> {}", self.quoted(v)),
            KvOp::Put(v) => format!("put {}", self.quoted(v)),
            KvOp::Append(v) => format!("append {}", self.quoted(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The rope interner against plain strings: ids must be equal exactly when the
    //! strings are, whatever path built them.
    use super::*;

    /// splitmix64, deterministic.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % n
        }
    }

    #[test]
    fn ids_are_equal_exactly_when_strings_are() {
        let pieces = ["", "a", "b", "ab", "ba", "aab", "é", "x 1 y"];
        for seed in 0..200 {
            let mut rng = Rng(seed);
            let mut strings = Strings::default();
            let mut known: Vec<(u32, String)> = Vec::new();
            for _ in 0..60 {
                let (id, text) = if known.is_empty() || rng.below(3) == 0 {
                    let text = pieces[rng.below(pieces.len() as u64) as usize];
                    (strings.intern(text), text.to_string())
                } else {
                    let (a, ta) = known[rng.below(known.len() as u64) as usize].clone();
                    let (b, tb) = known[rng.below(known.len() as u64) as usize].clone();
                    (strings.concat(a, b), format!("{ta}{tb}"))
                };
                assert_eq!(strings.text(id), text, "seed {seed}");
                for (other, other_text) in &known {
                    assert_eq!(
                        *other == id,
                        *other_text == text,
                        "seed {seed}: {text:?} (id {id}) vs {other_text:?} (id {other})"
                    );
                }
                known.push((id, text));
            }
        }
    }

    #[test]
    fn appends_reach_the_string_a_get_observed() {
        let config = ModelConfig {
            initial: serde_json::Value::Null,
            failed_cas: crate::model::FailedCasReading::Dropped,
        };
        let mut model = KvAppend::new(&config).expect("model");
        let observed = model.strings.intern("abc");
        let a = model.strings.intern("a");
        let bc = model.strings.intern("bc");
        let mut state = model.initial_state();
        for suffix in [a, bc] {
            state = model.step(&state, &KvOp::Append(suffix)).expect("append");
        }
        assert_eq!(model.step(&state, &KvOp::Get(observed)), Some(state));
        assert_eq!(model.describe_state(&state), "\"abc\"");
    }
}
