//! The linearizability search for one key: Wing & Gong's depth-first search with Lowe's
//! just-in-time linearization and memoization of (linearized set, model state).
//!
//! The key's calls become a doubly linked list of call and return entries in real-time
//! order. The search walks the list: at a call entry it tries to linearize that call now
//! (the model step must succeed and the resulting (set, state) must be new), lifting the
//! call's two entries out of the list; at a return entry of a call not yet linearized it
//! backtracks, since that call had to take effect before returning. Calls with an unknown
//! outcome have no return entry: they may be linearized anywhere after their invoke, and
//! leaving one out altogether is the same as placing it after everything, so the search
//! succeeds as soon as every call *with* a return is linearized.
//!
//! The memo stores, per visited configuration, the model state and the bitset of
//! linearized calls. The bitset is stored compactly: the words below the first word that is
//! not all ones are implied, so an entry holds only the window of words around the
//! frontier of the search (a few words even on keys with millions of calls). Its hash is a
//! Zobrist hash kept up to date in O(1) per step. Entries are compared exactly (window and
//! state), never by hash alone: a collision cannot hide a configuration.
//!
//! The search ends `Unknown` when the deadline passes, the memo exceeds its byte budget, or
//! another key has already been found not linearizable; it never guesses.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use hashbrown::HashTable;
use rustc_hash::FxHasher;
use serde::Serialize;

use crate::model::Model;
use crate::partition::Call;

/// Why a search stopped without a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownReason {
    /// The time limit passed.
    TimeLimit,
    /// The memo table reached its byte budget.
    MemoLimit,
    /// Another key was already found not linearizable; this one was not finished.
    Cancelled,
    /// The search used up its step budget (a first, short pass over all keys).
    StepBudget,
}

impl std::fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnknownReason::TimeLimit => "time limit reached",
            UnknownReason::MemoLimit => "memo table reached its memory budget",
            UnknownReason::Cancelled => "cancelled after another key was found invalid",
            UnknownReason::StepBudget => "step budget of the first pass used up",
        })
    }
}

/// Bounds on one search.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub deadline: Option<Instant>,
    pub memo_limit_bytes: usize,
    pub cancel: &'a AtomicBool,
    /// Search steps allowed, checked with the deadline; `u64::MAX` for no limit.
    pub max_steps: u64,
}

/// Why a key is not linearizable: the deepest partial linearization the search reached.
#[derive(Debug, Clone)]
pub struct Violation<S> {
    /// Call indices, in linearization order.
    pub prefix: Vec<u32>,
    /// The model state after the prefix.
    pub state: S,
    /// The call whose return was reached while it could not be linearized.
    pub culprit: u32,
}

/// The result of one key's search.
#[derive(Debug, Clone)]
pub enum KeyOutcome<S> {
    Linearizable,
    NotLinearizable(Violation<S>),
    Unknown(UnknownReason),
}

const NONE: u32 = u32::MAX;
const HEAD: u32 = 0;
/// How many search steps run between checks of the deadline and the cancel flag.
const CHECK_EVERY_STEPS: u32 = 1 << 12;

/// The list of call and return entries; entry 0 is the head, entry `len - 1` the tail.
struct EntryList {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Call index of each entry, and whether it is the return entry.
    call: Vec<u32>,
    is_return: Vec<bool>,
    call_entry: Vec<u32>,
    return_entry: Vec<u32>,
}

impl EntryList {
    fn new<O>(calls: &[Call<O>]) -> EntryList {
        let mut events: Vec<(u32, u32)> = Vec::with_capacity(calls.len() * 2);
        for (c, call) in calls.iter().enumerate() {
            events.push((call.inv, (c as u32) << 1));
            if !call.is_info() {
                events.push((call.ret, ((c as u32) << 1) | 1));
            }
        }
        events.sort_unstable_by_key(|&(position, _)| position);
        let len = events.len() + 2;
        let mut list = EntryList {
            next: (1..=len as u32).collect(),
            prev: (0..len as u32).map(|i| i.wrapping_sub(1)).collect(),
            call: vec![NONE; len],
            is_return: vec![false; len],
            call_entry: vec![NONE; calls.len()],
            return_entry: vec![NONE; calls.len()],
        };
        for (i, &(_, code)) in events.iter().enumerate() {
            let entry = i + 1;
            let c = code >> 1;
            list.call[entry] = c;
            list.is_return[entry] = code & 1 == 1;
            if code & 1 == 1 {
                list.return_entry[c as usize] = entry as u32;
            } else {
                list.call_entry[c as usize] = entry as u32;
            }
        }
        list
    }

    #[inline]
    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    #[inline]
    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        self.prev[n as usize] = e;
    }

    #[inline]
    fn lift(&mut self, c: u32) {
        self.unlink(self.call_entry[c as usize]);
        let r = self.return_entry[c as usize];
        if r != NONE {
            self.unlink(r);
        }
    }

    /// Undoes `lift`; valid because lifts are undone in reverse order.
    #[inline]
    fn unlift(&mut self, c: u32) {
        let r = self.return_entry[c as usize];
        if r != NONE {
            self.relink(r);
        }
        self.relink(self.call_entry[c as usize]);
    }
}

/// The set of linearized calls, with its Zobrist hash and the window of words that are
/// neither all ones (below `lo`) nor all zeros (from `hi`).
struct LinearizedSet {
    words: Vec<u64>,
    lo: usize,
    hi: usize,
    hash: u64,
}

/// splitmix64's finalizer: well-spread, independent-looking bits.
#[inline]
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The Zobrist key of a call: the set's hash is the XOR of its calls' keys.
#[inline]
fn zobrist(c: u32) -> u64 {
    mix(c as u64)
}

impl LinearizedSet {
    fn new(calls: usize) -> LinearizedSet {
        LinearizedSet {
            words: vec![0; calls.div_ceil(64).max(1)],
            lo: 0,
            hi: 0,
            hash: 0,
        }
    }

    #[inline]
    fn insert(&mut self, c: u32) {
        let w = c as usize / 64;
        self.words[w] |= 1 << (c % 64);
        self.hash ^= zobrist(c);
        self.hi = self.hi.max(w + 1);
        while self.lo < self.words.len() && self.words[self.lo] == u64::MAX {
            self.lo += 1;
        }
    }

    #[inline]
    fn remove(&mut self, c: u32) {
        let w = c as usize / 64;
        self.words[w] &= !(1 << (c % 64));
        self.hash ^= zobrist(c);
        self.lo = self.lo.min(w);
        while self.hi > 0 && self.words[self.hi - 1] == 0 {
            self.hi -= 1;
        }
    }

    #[inline]
    fn window(&self) -> &[u64] {
        &self.words[self.lo..self.hi.max(self.lo)]
    }
}

/// Windows of at most this many words are stored inside the memo entry itself, so that
/// comparing an entry costs no second memory access (the common case: the window spans
/// the frontier of the search, one or two words).
const INLINE_WORDS: usize = 2;

struct MemoEntry<S> {
    /// The configuration's hash, folded to 32 bits (the table's hash is derived from it,
    /// so that an entry of a `u32` state fits in 32 bytes).
    hash: u32,
    lo: u32,
    len: u32,
    /// The window itself when `len <= INLINE_WORDS`, else `[offset in the overflow, 0]`.
    words: [u64; INLINE_WORDS],
    state: S,
}

impl<S> MemoEntry<S> {
    #[inline]
    fn window<'m>(&'m self, overflow: &'m [u64]) -> &'m [u64] {
        let len = self.len as usize;
        if len <= INLINE_WORDS {
            &self.words[..len]
        } else {
            let offset = self.words[0] as usize;
            &overflow[offset..offset + len]
        }
    }
}

/// Folds a 64-bit hash to the 32 bits a memo entry keeps.
#[inline]
fn fold(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

/// The table's 64-bit hash of an entry, from its 32 stored bits: the multiplication
/// spreads them over the high bits hashbrown uses as a tag and the low bits it indexes by.
#[inline]
fn table_hash(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(hash)
}

/// Compares short windows word by word, without a call to `memcmp`.
#[inline]
fn same_words(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Visited (linearized set, state) configurations.
struct Memo<S> {
    table: HashTable<MemoEntry<S>>,
    overflow: Vec<u64>,
    bytes: usize,
}

impl<S: Eq + Hash + Clone> Memo<S> {
    fn new() -> Memo<S> {
        Memo {
            table: HashTable::new(),
            overflow: Vec::new(),
            bytes: 0,
        }
    }

    /// Records the configuration; false when it was already there.
    #[inline]
    fn insert(&mut self, set: &LinearizedSet, state: &S, state_heap_bytes: usize) -> bool {
        let mut hasher = FxHasher::default();
        state.hash(&mut hasher);
        let hash = fold(mix(hasher.finish()) ^ set.hash);
        let window = set.window();
        let lo = set.lo as u32;
        let overflow = &self.overflow;
        let entry = self.table.entry(
            table_hash(hash),
            |e| {
                e.hash == hash
                    && e.lo == lo
                    && same_words(e.window(overflow), window)
                    && e.state == *state
            },
            |e| table_hash(e.hash),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                let mut words = [0; INLINE_WORDS];
                if window.len() <= INLINE_WORDS {
                    words[..window.len()].copy_from_slice(window);
                } else {
                    words[0] = self.overflow.len() as u64;
                    self.overflow.extend_from_slice(window);
                    self.bytes += window.len() * 8;
                }
                vacant.insert(MemoEntry {
                    hash,
                    lo,
                    len: window.len() as u32,
                    words,
                    state: state.clone(),
                });
                // Table slots are about 8/7 of entries, plus one control byte each.
                self.bytes += (size_of::<MemoEntry<S>>() + 1) * 8 / 7 + state_heap_bytes;
                true
            }
        }
    }
}

/// One linearized call on the search stack.
struct Frame<S> {
    call: u32,
    /// The state before the call.
    previous: S,
    /// A pure call linearized as soon as it was enabled: the configuration below it has
    /// no other alternative worth trying, so backtracking goes on past it.
    forced: bool,
}

/// The deepest failure seen, kept cheaply: the stored prefix is patched from the stack
/// only from the lowest depth the stack has been popped to since the last snapshot.
struct Deepest<S> {
    prefix: Vec<u32>,
    state: Option<S>,
    culprit: u32,
    low_water: usize,
}

impl<S: Clone> Deepest<S> {
    fn record(&mut self, stack: &[Frame<S>], state: &S, culprit: u32) {
        if self.state.is_some() && stack.len() <= self.prefix.len() {
            return;
        }
        let keep = self.low_water.min(self.prefix.len());
        self.prefix.truncate(keep);
        self.prefix
            .extend(stack[keep..].iter().map(|frame| frame.call));
        self.low_water = stack.len();
        self.state = Some(state.clone());
        self.culprit = culprit;
    }
}

/// Where to continue in a newly reached configuration: an enabled pure call that can be
/// linearized now if there is one (see [`Model::is_pure`]), else the first entry.
#[inline]
fn first_choice<M: Model>(
    list: &EntryList,
    model: &mut M,
    state: &M::State,
    calls: &[Call<M::Op>],
) -> u32 {
    let mut entry = list.next[HEAD as usize];
    loop {
        let c = list.call[entry as usize];
        if c == NONE || list.is_return[entry as usize] {
            return list.next[HEAD as usize];
        }
        let op = &calls[c as usize].op;
        if model.is_pure(op) && model.step(state, op).is_some() {
            return entry;
        }
        entry = list.next[entry as usize];
    }
}

/// Decides whether one key's calls are linearizable with respect to `model`.
pub fn check_calls<M: Model>(
    model: &mut M,
    calls: &[Call<M::Op>],
    limits: &Limits<'_>,
) -> KeyOutcome<M::State> {
    let mut list = EntryList::new(calls);
    let mut set = LinearizedSet::new(calls.len());
    let mut memo: Memo<M::State> = Memo::new();
    let mut remaining = calls.iter().filter(|c| !c.is_info()).count();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut deepest = Deepest {
        prefix: Vec::new(),
        state: None,
        culprit: NONE,
        low_water: 0,
    };
    let mut state = model.initial_state();
    let mut entry = first_choice(&list, model, &state, calls);
    let mut steps_to_check = CHECK_EVERY_STEPS;
    let mut steps: u64 = 0;
    let (mut st_steps, mut st_tries, mut st_hits, mut st_pops) = (0u64,0u64,0u64,0u64);
    let out = 'outer: { while remaining > 0 {
        st_steps += 1;
        steps_to_check -= 1;
        if steps_to_check == 0 {
            steps_to_check = CHECK_EVERY_STEPS;
            steps += u64::from(CHECK_EVERY_STEPS);
            let used_bytes = memo.bytes + model.heap_bytes();
            if let Some(reason) = out_of_budget(limits, used_bytes, steps) {
                return KeyOutcome::Unknown(reason);
            }
        }
        let c = list.call[entry as usize];
        // `c == NONE` is the tail, unreachable while a call with a return is still
        // unlinearized (its return entry comes first); it is treated as a dead end anyway.
        if c != NONE && !list.is_return[entry as usize] {
            let op = &calls[c as usize].op;
            let mut dead_end = false;
            if let Some(next_state) = model.step(&state, op) {
                let forced = model.is_pure(op);
                set.insert(c);
                st_tries += 1;
                if memo.insert(&set, &next_state, M::state_heap_bytes(&next_state)) {
                    let previous = std::mem::replace(&mut state, next_state);
                    stack.push(Frame {
                        call: c,
                        previous,
                        forced,
                    });
                    list.lift(c);
                    if !calls[c as usize].is_info() {
                        remaining -= 1;
                    }
                    entry = first_choice(&list, model, &state, calls);
                    continue;
                }
                set.remove(c);
                st_hits += 1;
                // A forced call leading somewhere already explored: this configuration
                // has nothing better to offer.
                dead_end = forced;
            }
            if !dead_end {
                entry = list.next[entry as usize];
                continue;
            }
        } else {
            // The return of a call not yet linearized: it cannot be put off any longer.
            deepest.record(&stack, &state, c);
        }
        loop {
            st_pops += 1;
            let Some(frame) = stack.pop() else {
                break 'outer KeyOutcome::NotLinearizable(Violation {
                    prefix: deepest.prefix,
                    state: deepest.state.unwrap_or(state),
                    culprit: deepest.culprit,
                });
            };
            deepest.low_water = deepest.low_water.min(stack.len());
            state = frame.previous;
            set.remove(frame.call);
            list.unlift(frame.call);
            if !calls[frame.call as usize].is_info() {
                remaining += 1;
            }
            if !frame.forced {
                entry = list.next[list.call_entry[frame.call as usize] as usize];
                break;
            }
        }
    }
    KeyOutcome::Linearizable };
    if std::env::var_os("LIN_STATS").is_some() { eprintln!("calls {} steps {st_steps} tries {st_tries} hits {st_hits} pops {st_pops} memo {}", calls.len(), memo.table.len()); }
    out
}

fn out_of_budget(limits: &Limits<'_>, memo_bytes: usize, steps: u64) -> Option<UnknownReason> {
    if limits.cancel.load(Ordering::Relaxed) {
        return Some(UnknownReason::Cancelled);
    }
    if steps >= limits.max_steps {
        return Some(UnknownReason::StepBudget);
    }
    if memo_bytes > limits.memo_limit_bytes {
        return Some(UnknownReason::MemoLimit);
    }
    if limits.deadline.is_some_and(|d| Instant::now() >= d) {
        return Some(UnknownReason::TimeLimit);
    }
    None
}
