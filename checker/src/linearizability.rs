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
//! state), never by hash alone: a collision cannot hide a configuration. The table is a
//! small open-addressing index over densely stored entries (see `Memo`): a lookup is the
//! search's commonest operation, and about 80% of lookups find a configuration already seen.
//!
//! Pure calls (reads) are linearized as soon as they are enabled (see [`Model::is_pure`]);
//! the scan that looks for one also proves every other pure call up to the first return
//! entry disabled in the current state, so the walk from there passes them unstepped.
//!
//! A model may also name pairs of calls whose order every explaining linearization keeps
//! ([`Model::implied_order`]: kv-append's unique tokens); a call then waits until the
//! calls that must precede it are linearized, which prunes only orders that explain
//! nothing. Without such pairs the search runs as an instance that never looks at them.
//!
//! The search ends `Unknown` when the deadline passes, the memo exceeds its byte budget, or
//! another key has already been found not linearizable; it never guesses.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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

/// One entry of the list: its neighbours, and its call index shifted left by one with the
/// low bit set for a return entry ([`NONE`] for the head and the tail). Packed together so
/// that one step of the walk touches one cache line, with one bounds check.
#[derive(Clone, Copy)]
struct Entry {
    next: u32,
    prev: u32,
    code: u32,
}

impl Entry {
    /// The call of a call entry; `None` for a return entry, the head or the tail.
    #[inline]
    fn invoked_call(self) -> Option<u32> {
        (self.code & 1 == 0).then_some(self.code >> 1)
    }
}

/// The list of call and return entries; entry 0 is the head, entry `len - 1` the tail.
struct EntryList {
    entries: Vec<Entry>,
    call_entry: Vec<u32>,
    return_entry: Vec<u32>,
}

impl EntryList {
    fn new<O>(calls: &[Call<O>]) -> EntryList {
        // (position << 32 | code): positions are distinct, so sorting the packed words sorts
        // by position, and a plain `u64` sort is cheaper than one by a tuple's field.
        let mut events: Vec<u64> = Vec::with_capacity(calls.len() * 2);
        for (c, call) in calls.iter().enumerate() {
            events.push(u64::from(call.inv) << 32 | u64::from((c as u32) << 1));
            if !call.is_info() {
                events.push(u64::from(call.ret) << 32 | u64::from(((c as u32) << 1) | 1));
            }
        }
        events.sort_unstable();
        let len = events.len() + 2;
        let mut list = EntryList {
            entries: (0..len as u32)
                .map(|i| Entry {
                    next: i + 1,
                    prev: i.wrapping_sub(1),
                    code: NONE,
                })
                .collect(),
            call_entry: vec![NONE; calls.len()],
            return_entry: vec![NONE; calls.len()],
        };
        for (i, &event) in events.iter().enumerate() {
            let code = event as u32;
            let entry = i + 1;
            let c = code >> 1;
            list.entries[entry].code = code;
            if code & 1 == 1 {
                list.return_entry[c as usize] = entry as u32;
            } else {
                list.call_entry[c as usize] = entry as u32;
            }
        }
        list
    }

    #[inline]
    fn get(&self, e: u32) -> Entry {
        self.entries[e as usize]
    }

    #[inline]
    fn first(&self) -> u32 {
        self.entries[HEAD as usize].next
    }

    #[inline]
    fn unlink(&mut self, e: u32) {
        let Entry { prev, next, .. } = self.entries[e as usize];
        self.entries[prev as usize].next = next;
        self.entries[next as usize].prev = prev;
    }

    #[inline]
    fn relink(&mut self, e: u32) {
        let Entry { prev, next, .. } = self.entries[e as usize];
        self.entries[prev as usize].next = e;
        self.entries[next as usize].prev = e;
    }

    /// Lifts the call's entries out of the list; true when it has a return entry.
    #[inline]
    fn lift(&mut self, c: u32) -> bool {
        self.unlink(self.call_entry[c as usize]);
        let r = self.return_entry[c as usize];
        if r != NONE {
            self.unlink(r);
        }
        r != NONE
    }

    /// Undoes `lift`; valid because lifts are undone in reverse order. True when the call
    /// has a return entry.
    #[inline]
    fn unlift(&mut self, c: u32) -> bool {
        let r = self.return_entry[c as usize];
        if r != NONE {
            self.relink(r);
        }
        self.relink(self.call_entry[c as usize]);
        r != NONE
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
/// spreads them over the high bits the memo picks a slot by (so that growing the table
/// needs no other hash than the stored one).
#[inline]
fn table_hash(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(hash)
}

/// Compares short windows word by word, without a call to `memcmp`.
#[inline]
fn same_words(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Index slots a memo starts with: small, because most keys of a many-key history are short.
const MEMO_INITIAL_SLOTS: usize = 1024;

/// Visited (linearized set, state) configurations.
///
/// Entries are kept densely in insertion order; an open-addressing index with linear
/// probing, at most half full, maps hashes to them. An index slot is 8 bytes (the entry's
/// 32-bit hash and its position plus one; 0 is empty), so the probe sequence of a lookup
/// usually stays within one cache line and only a matching hash costs a visit to the entry.
/// Written for this one use rather than taken from `hashbrown` because a lookup is the
/// search's commonest operation (about 80% of them find a configuration already explored)
/// and the general table spent ~150 instructions on each.
struct Memo<S> {
    entries: Vec<MemoEntry<S>>,
    index: Vec<u64>,
    /// `64 - log2(index.len())`: the slot of a hash is its top bits.
    shift: u32,
    overflow: Vec<u64>,
    /// Heap bytes of the states stored (beyond their inline size).
    state_heap_bytes: usize,
}

impl<S: Eq + Hash + Clone> Memo<S> {
    fn new() -> Memo<S> {
        Memo {
            entries: Vec::new(),
            index: vec![0; MEMO_INITIAL_SLOTS],
            shift: 64 - MEMO_INITIAL_SLOTS.trailing_zeros(),
            overflow: Vec::new(),
            state_heap_bytes: 0,
        }
    }

    /// Bytes held: entries, index, windows stored outside entries, and the states' heap parts.
    fn bytes(&self) -> usize {
        self.entries.capacity() * size_of::<MemoEntry<S>>()
            + self.index.len() * 8
            + self.overflow.len() * 8
            + self.state_heap_bytes
    }

    #[inline]
    fn slot_of(&self, hash: u32) -> usize {
        (table_hash(hash) >> self.shift) as usize
    }

    /// Records the configuration; false when it was already there.
    #[inline]
    fn insert(&mut self, set: &LinearizedSet, state: &S, state_heap_bytes: usize) -> bool {
        let mut hasher = FxHasher::default();
        state.hash(&mut hasher);
        // `set.hash` is already well mixed (Zobrist); FxHash spreads a small state id over the
        // high bits, which `fold` brings down to the 32 kept.
        let hash = fold(hasher.finish() ^ set.hash);
        let window = set.window();
        let lo = set.lo as u32;
        let mask = self.index.len() - 1;
        let mut i = self.slot_of(hash);
        loop {
            let slot = self.index[i];
            if slot == 0 {
                break;
            }
            if (slot >> 32) as u32 == hash {
                let entry = &self.entries[(slot as u32 - 1) as usize];
                if entry.lo == lo
                    && same_words(entry.window(&self.overflow), window)
                    && entry.state == *state
                {
                    return false;
                }
            }
            i = (i + 1) & mask;
        }
        let mut words = [0; INLINE_WORDS];
        if window.len() <= INLINE_WORDS {
            words[..window.len()].copy_from_slice(window);
        } else {
            words[0] = self.overflow.len() as u64;
            self.overflow.extend_from_slice(window);
        }
        self.entries.push(MemoEntry {
            hash,
            lo,
            len: window.len() as u32,
            words,
            state: state.clone(),
        });
        let position = u32::try_from(self.entries.len()).expect("fewer than 2^32 configurations");
        self.index[i] = (u64::from(hash) << 32) | u64::from(position);
        self.state_heap_bytes += state_heap_bytes;
        if self.entries.len() * 2 > self.index.len() {
            self.grow();
        }
        true
    }

    /// Doubles the index and places every entry in it again.
    #[cold]
    fn grow(&mut self) {
        self.index = vec![0; self.index.len() * 2];
        self.shift -= 1;
        let mask = self.index.len() - 1;
        for (position, entry) in self.entries.iter().enumerate() {
            let mut i = (table_hash(entry.hash) >> self.shift) as usize;
            while self.index[i] != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = (u64::from(entry.hash) << 32) | (position as u64 + 1);
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
/// linearized now if there is one (see [`Model::is_pure`]; the `bool` is then true), else
/// the first entry. In the second case every pure call up to the first return entry (all
/// the walk from there will visit) fails in this state, so the walk skips them unstepped.
#[inline]
fn first_choice<M: Model, const ORDERED: bool>(
    list: &EntryList,
    model: &mut M,
    state: &M::State,
    ops: &[M::Op],
    precedence: &Precedence,
) -> (u32, bool) {
    let mut entry = list.first();
    loop {
        let here = list.get(entry);
        let Some(c) = here.invoked_call() else {
            return (list.first(), false);
        };
        let op = &ops[c as usize];
        if model.is_pure(op) && (!ORDERED || precedence.ready(c)) && model.step(state, op).is_some()
        {
            return (entry, true);
        }
        entry = here.next;
    }
}

/// Orders the search must keep beyond real time ([`Model::implied_order`]): per call, how
/// many of the calls that must precede it are not yet linearized, and whom it releases.
struct Precedence {
    waiting: Vec<u32>,
    /// `successors[start[c]..start[c + 1]]`: the calls that wait for `c`.
    start: Vec<u32>,
    successors: Vec<u32>,
}

impl Precedence {
    fn new(calls: usize, order: &[(u32, u32)]) -> Precedence {
        let mut waiting = vec![0u32; calls];
        let mut start = vec![0u32; calls + 1];
        for &(before, after) in order {
            assert!(
                (before as usize) < calls && (after as usize) < calls,
                "an implied order names calls of this key"
            );
            waiting[after as usize] += 1;
            start[before as usize + 1] += 1;
        }
        for c in 0..calls {
            start[c + 1] += start[c];
        }
        let mut fill = start.clone();
        let mut successors = vec![0u32; order.len()];
        for &(before, after) in order {
            successors[fill[before as usize] as usize] = after;
            fill[before as usize] += 1;
        }
        Precedence {
            waiting,
            start,
            successors,
        }
    }

    /// True when every call that must precede `c` is linearized.
    #[inline]
    fn ready(&self, c: u32) -> bool {
        self.waiting[c as usize] == 0
    }

    #[inline]
    fn linearized(&mut self, c: u32) {
        let (from, to) = (self.start[c as usize], self.start[c as usize + 1]);
        for &d in &self.successors[from as usize..to as usize] {
            self.waiting[d as usize] -= 1;
        }
    }

    #[inline]
    fn undone(&mut self, c: u32) {
        let (from, to) = (self.start[c as usize], self.start[c as usize + 1]);
        for &d in &self.successors[from as usize..to as usize] {
            self.waiting[d as usize] += 1;
        }
    }
}

/// Decides whether one key's calls are linearizable with respect to `model`, trying only
/// orders that keep `order` (pairs of call indices, see [`Model::implied_order`]).
pub fn check_calls<M: Model>(
    model: &mut M,
    calls: &[Call<M::Op>],
    order: &[(u32, u32)],
    limits: &Limits<'_>,
) -> KeyOutcome<M::State> {
    // Two instances, so that the search without implied orders pays nothing for them.
    if order.is_empty() {
        search::<M, false>(model, calls, Precedence::new(0, &[]), limits)
    } else {
        search::<M, true>(model, calls, Precedence::new(calls.len(), order), limits)
    }
}

fn search<M: Model, const ORDERED: bool>(
    model: &mut M,
    calls: &[Call<M::Op>],
    mut precedence: Precedence,
    limits: &Limits<'_>,
) -> KeyOutcome<M::State> {
    let mut list = EntryList::new(calls);
    // The ops alone, densely, so that the walk reads no more than it needs.
    let ops: Vec<M::Op> = calls.iter().map(|call| call.op.clone()).collect();
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
    // `at_forced`: `entry` is the enabled pure call `first_choice` picked; otherwise every
    // pure call the walk meets is known to fail in the current state.
    let (mut entry, mut at_forced) =
        first_choice::<M, ORDERED>(&list, model, &state, &ops, &precedence);
    let mut steps_to_check = CHECK_EVERY_STEPS;
    let mut steps: u64 = 0;
    while remaining > 0 {
        steps_to_check -= 1;
        if steps_to_check == 0 {
            steps_to_check = CHECK_EVERY_STEPS;
            steps += u64::from(CHECK_EVERY_STEPS);
            let used_bytes = memo.bytes() + model.heap_bytes();
            if let Some(reason) = out_of_budget(limits, used_bytes, steps) {
                return KeyOutcome::Unknown(reason);
            }
        }
        let here = list.get(entry);
        // The tail is unreachable while a call with a return is still unlinearized (its
        // return entry comes first); it is treated as a dead end anyway.
        if let Some(c) = here.invoked_call() {
            let op = &ops[c as usize];
            let forced = std::mem::replace(&mut at_forced, false);
            if !forced && (model.is_pure(op) || (ORDERED && !precedence.ready(c))) {
                entry = here.next;
                continue;
            }
            let mut dead_end = false;
            if let Some(next_state) = model.step(&state, op) {
                set.insert(c);
                if memo.insert(&set, &next_state, M::state_heap_bytes(&next_state)) {
                    let previous = std::mem::replace(&mut state, next_state);
                    stack.push(Frame {
                        call: c,
                        previous,
                        forced,
                    });
                    if list.lift(c) {
                        remaining -= 1;
                    }
                    if ORDERED {
                        precedence.linearized(c);
                    }
                    (entry, at_forced) =
                        first_choice::<M, ORDERED>(&list, model, &state, &ops, &precedence);
                    continue;
                }
                set.remove(c);
                // A forced call leading somewhere already explored: this configuration
                // has nothing better to offer.
                dead_end = forced;
            }
            if !dead_end {
                entry = here.next;
                continue;
            }
        } else {
            // The return of a call not yet linearized: it cannot be put off any longer.
            let culprit = if here.code == NONE {
                NONE
            } else {
                here.code >> 1
            };
            deepest.record(&stack, &state, culprit);
        }
        loop {
            let Some(frame) = stack.pop() else {
                return KeyOutcome::NotLinearizable(Violation {
                    prefix: deepest.prefix,
                    state: deepest.state.unwrap_or(state),
                    culprit: deepest.culprit,
                });
            };
            deepest.low_water = deepest.low_water.min(stack.len());
            state = frame.previous;
            set.remove(frame.call);
            if list.unlift(frame.call) {
                remaining += 1;
            }
            if ORDERED {
                precedence.undone(frame.call);
            }
            if !frame.forced {
                entry = list.get(list.call_entry[frame.call as usize]).next;
                break;
            }
        }
    }
    KeyOutcome::Linearizable
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
