//! The order of appends that the strings `get`s returned pin down (kv-append), as pairs
//! "call a takes effect before call b" that every linearization explaining the history
//! keeps ([`Model::implied_order`](super::Model::implied_order)).
//!
//! # The inference
//!
//! In the kv model a key's string is, at any point of a linearization, the value of the
//! last `put` before that point (or the initial string, before every put) followed by the
//! values of the appends since, in the order they took effect. A `get` that returned `v`
//! was linearized where the string was `v`, so `v` splits into a *base* (the initial
//! string or one put's value) and a sequence of appended values. When Porcupine's and
//! Jepsen's clients append unique tokens (`"x 3 16 y"`), that split is unique, and then,
//! as in Elle's list-append inference, `v` says which appends preceded the get and in
//! which order.
//!
//! For each distinct string a get returned, the splits are counted by a dynamic programme
//! over the string's positions, over the *values* of puts and appends (counting stops at
//! two). Only a string with exactly one split, into base `B` and values `t1 .. tn`, is used.
//! A value that several calls share (a process that appended the same token twice, as in
//! c50-bad) names no call; every rule below uses only values that exactly one call has
//! (*unique* values), and the base only if it is the initial string or a unique put.
//!
//! # Why every rule holds in every linearization that explains the history
//!
//! Take such a linearization L and a get g whose string `v` has the unique split
//! `B, t1 .. tn`. In L the string at g is the base of the last put before g (the initial
//! string if none) followed by the values of the appends between that put and g, in
//! order: that is a split of `v`, so it is *the* split. Hence, in L:
//!
//! 1. (chain) The appends between g's base and g have the values `t1 .. tn`, in that
//!    order; if `ti` and `tj` (i < j) are unique values of calls `a` and `b`, then `a`
//!    precedes `b`, the last such call precedes g, and a unique base put precedes them
//!    all and g.
//! 2. (the next append) If another get g' has the same base B (the initial string, or the
//!    same unique put: the same stretch of L between that put and the next) and g's
//!    values are a proper prefix of g''s, then every unique value among g''s values past
//!    position n belongs to an append that follows g: it took effect after B, and g's
//!    string does not contain it.
//! 3. (before any put) If B is the initial string, no put precedes g, and no append whose
//!    value is not among `t1 .. tn` precedes g: so g precedes every put and every such
//!    append (with a non-empty value; an empty append changes nothing and goes anywhere).
//!
//! The search may therefore refuse every linearization that breaks one of these pairs: it
//! refuses none that explains the history, so the verdict is the same, and it explores
//! far fewer orders. If the pairs contradict each other or real time, no linearization
//! explains the history, and the search finds that too. Strings with several splits, or
//! none, give no pairs (none: the get can never succeed, the search sees it); so do
//! strings whose split uses a value more often than calls have it.
//!
//! The work is bounded: past [`SPLIT_BUDGET`] substring lookups, or [`PAIRS_BUDGET`] pairs,
//! the remaining gets add nothing (fewer pairs only mean a slower search, never a wrong
//! verdict).

use rustc_hash::{FxHashMap, FxHashSet};

use super::kv_append::{KvOp, Strings};
use crate::partition::Call;

/// Most substring lookups the splits may cost, summed over the distinct get strings.
const SPLIT_BUDGET: usize = 1 << 22;
/// Most pairs returned.
const PAIRS_BUDGET: usize = 1 << 22;

/// What the split of a get's string found.
struct Split {
    /// The unique put the string starts with; `None` for the initial string.
    base_put: Option<u32>,
    /// The appended values, as indices into `Tokens::values`.
    values: Vec<u32>,
}

/// The values of puts and appends, and which calls have them.
struct Tokens<'t> {
    /// Distinct non-empty append values (bytes), each with the calls that append it.
    values: Vec<(&'t [u8], Vec<u32>)>,
    by_text: FxHashMap<&'t [u8], u32>,
    /// Per call: the value it appends (`None` for other calls and empty appends).
    value_of_call: Vec<Option<u32>>,
    /// Distinct byte lengths of the append values.
    lengths: Vec<usize>,
    /// Put values with the calls that put them.
    puts: FxHashMap<&'t [u8], Vec<u32>>,
    put_lengths: Vec<usize>,
}

/// Pairs (a, b) of call indices: a takes effect before b in every linearization of
/// `calls` (kv-append ops on one key starting from `initial`) that explains every get.
pub(crate) fn implied_order(
    strings: &Strings,
    initial: u32,
    calls: &[Call<KvOp>],
) -> Vec<(u32, u32)> {
    let texts: FxHashMap<u32, String> = calls
        .iter()
        .map(|call| match call.op {
            KvOp::Get(id) | KvOp::Put(id) | KvOp::Append(id) => id,
        })
        .chain([initial])
        .collect::<FxHashSet<u32>>()
        .into_iter()
        .map(|id| (id, strings.text(id)))
        .collect();
    let tokens = Tokens::new(calls, &texts);
    if tokens.values.is_empty() {
        return Vec::new();
    }
    let initial_text = texts[&initial].as_bytes();
    let mut splits: FxHashMap<u32, Option<Split>> = FxHashMap::default();
    let mut budget = SPLIT_BUDGET;
    // The gets of each base (`None`: the initial string), with their splits.
    let mut by_base: FxHashMap<Option<u32>, Vec<(u32, u32)>> = FxHashMap::default();
    for (c, call) in calls.iter().enumerate() {
        let KvOp::Get(id) = call.op else { continue };
        let split = splits
            .entry(id)
            .or_insert_with(|| tokens.split(texts[&id].as_bytes(), initial_text, &mut budget));
        if let Some(split) = split {
            by_base
                .entry(split.base_put)
                .or_default()
                .push((c as u32, id));
        }
    }
    let mut pairs = Pairs::default();
    for (&base, gets) in &by_base {
        let gets: Vec<(u32, &Split)> = gets
            .iter()
            .map(|&(g, id)| (g, splits[&id].as_ref().expect("split above")))
            .collect();
        stretch_pairs(&tokens, base, &gets, &mut pairs);
        if base.is_none() {
            before_any_put_pairs(&tokens, calls, &gets, &mut pairs);
        }
    }
    pairs.list
}

/// Rules 1 and 2 for the gets of one base: the chain of the longest string's unique
/// appends, each get after the last unique append its string shows and before the first
/// it does not. A get whose string is not a prefix of the longest (no linearization can
/// show both) gets its own chain.
fn stretch_pairs(
    tokens: &Tokens<'_>,
    base: Option<u32>,
    gets: &[(u32, &Split)],
    pairs: &mut Pairs,
) {
    let Some(&(_, longest)) = gets.iter().max_by_key(|(_, split)| split.values.len()) else {
        return;
    };
    let unique: Vec<Option<u32>> = longest
        .values
        .iter()
        .map(|&value| tokens.unique_call(value))
        .collect();
    // last_before[n]: the last unique append among the first n values (or the base put);
    // first_from[n]: the first unique append at position n or later.
    let mut last_before = Vec::with_capacity(unique.len() + 1);
    let mut last = base;
    last_before.push(last);
    for &call in &unique {
        if let Some(a) = call {
            if let Some(before) = last {
                pairs.add(before, a);
            }
            last = Some(a);
        }
        last_before.push(last);
    }
    let mut first_from = vec![None; unique.len() + 1];
    for n in (0..unique.len()).rev() {
        first_from[n] = unique[n].or(first_from[n + 1]);
    }
    for &(g, split) in gets {
        let n = split.values.len();
        if longest.values[..n] == split.values[..] {
            if let Some(before) = last_before[n] {
                pairs.add(before, g);
            }
            if let Some(after) = first_from[n] {
                pairs.add(g, after);
            }
            continue;
        }
        let mut last = base;
        for a in split
            .values
            .iter()
            .filter_map(|&value| tokens.unique_call(value))
        {
            if let Some(before) = last {
                pairs.add(before, a);
            }
            last = Some(a);
        }
        if let Some(before) = last {
            pairs.add(before, g);
        }
    }
}

/// Rule 3: a get of the initial string precedes every put and every append it does not
/// show. Only the gets of the longest string get these pairs: a shorter one precedes the
/// longest through rules 1 and 2, when its string has a unique append past the shorter.
fn before_any_put_pairs(
    tokens: &Tokens<'_>,
    calls: &[Call<KvOp>],
    gets: &[(u32, &Split)],
    pairs: &mut Pairs,
) {
    let Some(longest) = gets.iter().map(|(_, split)| split.values.len()).max() else {
        return;
    };
    for &(g, split) in gets
        .iter()
        .filter(|(_, split)| split.values.len() == longest)
    {
        let shown: FxHashSet<u32> = split.values.iter().copied().collect();
        for (c, call) in calls.iter().enumerate() {
            let later = match call.op {
                KvOp::Put(_) => true,
                KvOp::Append(_) => {
                    tokens.value_of_call[c].is_some_and(|value| !shown.contains(&value))
                }
                KvOp::Get(_) => false,
            };
            if later && !pairs.add(g, c as u32) {
                return;
            }
        }
    }
}

/// Deduplicated pairs, at most [`PAIRS_BUDGET`].
#[derive(Default)]
struct Pairs {
    seen: FxHashSet<(u32, u32)>,
    list: Vec<(u32, u32)>,
}

impl Pairs {
    /// Adds the pair; false once the budget is spent.
    fn add(&mut self, before: u32, after: u32) -> bool {
        if self.list.len() >= PAIRS_BUDGET {
            return false;
        }
        if before != after && self.seen.insert((before, after)) {
            self.list.push((before, after));
        }
        true
    }
}

impl<'t> Tokens<'t> {
    fn new(calls: &[Call<KvOp>], texts: &'t FxHashMap<u32, String>) -> Tokens<'t> {
        let mut tokens = Tokens {
            values: Vec::new(),
            by_text: FxHashMap::default(),
            value_of_call: vec![None; calls.len()],
            lengths: Vec::new(),
            puts: FxHashMap::default(),
            put_lengths: Vec::new(),
        };
        for (c, call) in calls.iter().enumerate() {
            match call.op {
                KvOp::Append(id) => {
                    let text = texts[&id].as_bytes();
                    if text.is_empty() {
                        continue;
                    }
                    let next = tokens.values.len() as u32;
                    let value = *tokens.by_text.entry(text).or_insert(next);
                    if value == next {
                        tokens.values.push((text, Vec::new()));
                    }
                    tokens.values[value as usize].1.push(c as u32);
                    tokens.value_of_call[c] = Some(value);
                }
                KvOp::Put(id) => tokens
                    .puts
                    .entry(texts[&id].as_bytes())
                    .or_default()
                    .push(c as u32),
                KvOp::Get(_) => {}
            }
        }
        tokens.lengths = distinct_lengths(tokens.values.iter().map(|(text, _)| text.len()));
        tokens.put_lengths = distinct_lengths(tokens.puts.keys().map(|text| text.len()));
        tokens
    }

    /// The one call that appends `value`, if only one does.
    fn unique_call(&self, value: u32) -> Option<u32> {
        match self.values[value as usize].1.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// The unique split of `text` into a base and appended values, if there is exactly one
    /// and it uses no value more often than calls append it. Charges `budget` one unit per
    /// substring lookup; `None` once it is spent.
    fn split(&self, text: &[u8], initial: &[u8], budget: &mut usize) -> Option<Split> {
        let n = text.len();
        let cost = (n + 1) * (self.lengths.len() + self.put_lengths.len());
        *budget = budget.checked_sub(cost)?;
        // ways[i]: splits of text[i..] into append values (0, 1, or 2 meaning "several");
        // choice[i]: the value taken first when there is one way.
        let mut ways = vec![0u8; n + 1];
        let mut choice = vec![u32::MAX; n + 1];
        ways[n] = 1;
        for i in (0..n).rev() {
            for &len in &self.lengths {
                if i + len > n || ways[i + len] == 0 {
                    continue;
                }
                if let Some(&value) = self.by_text.get(&text[i..i + len]) {
                    ways[i] = (ways[i] + ways[i + len]).min(2);
                    choice[i] = value;
                }
            }
        }
        // The bases: the initial string, and every put value the text starts with.
        let mut total = 0u8;
        let mut base: Option<(usize, Option<&Vec<u32>>)> = None;
        if text.starts_with(initial) && ways[initial.len()] > 0 {
            total = ways[initial.len()];
            base = Some((initial.len(), None));
        }
        for &len in &self.put_lengths {
            if len <= n
                && ways[len] > 0
                && let Some(puts) = self.puts.get(&text[..len])
            {
                let several = if puts.len() > 1 { 2 } else { 1 };
                total = total.saturating_add(ways[len].max(several));
                base = Some((len, Some(puts)));
            }
        }
        let (start, puts) = base.filter(|_| total == 1)?;
        let mut values = Vec::new();
        let mut uses: FxHashMap<u32, usize> = FxHashMap::default();
        let mut i = start;
        while i < n {
            let value = choice[i];
            let used = uses.entry(value).or_default();
            *used += 1;
            if *used > self.values[value as usize].1.len() {
                return None;
            }
            values.push(value);
            i += self.values[value as usize].0.len();
        }
        Some(Split {
            base_put: puts.map(|puts| puts[0]),
            values,
        })
    }
}

fn distinct_lengths(lengths: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut out: Vec<usize> = lengths.collect();
    out.sort_unstable();
    out.dedup();
    out
}
