//! The set check, after Jepsen's `set-full`: follows every added element through every
//! read and says whether it stayed, was lost, was read stale, or appeared unasked.
//!
//! # Ops
//!
//! `add v` (values unique per key; any JSON, compared by canonical text) and `read`
//! returning `[...]`, the whole set (on `ok`; `null` reads as empty). `fail` and `info`
//! reads say nothing and are skipped. Records with a `key` are checked per key, each key
//! its own set, and the results combined. Nemesis records are ignored.
//!
//! # When an element is known
//!
//! An element is *known* from the earlier of: its add's `ok` completion, or the
//! completion of the first read that contains it (so an `info` add that a read observed
//! took effect: it is *recovered*, which is not an error). Only reads that *began after*
//! the element was known can be blamed for missing it; a read concurrent with the add may
//! or may not see it.
//!
//! # Outcomes (one per element)
//!
//! Order reads by their invocation. Let *last present* be the latest-invoked `ok` read
//! containing the element and *last absent* the latest-invoked `ok` read that began after
//! the element was known and does not contain it.
//!
//! - `unexpected`: a read contains an element that was never added, or whose every add
//!   failed (`fail` means no effect), or whose first add was invoked only after that read
//!   completed. Checked first; such an element gets no other outcome.
//! - `stable` (ok): read at least once, and no read that began after it was known missed it.
//! - `stale`: missed by a read that began after it was known, and present again in a read
//!   invoked later (last present after last absent). For a set that claims
//!   linearizability this is a violation: once an add is acknowledged (or observed), every
//!   read that starts afterwards must contain it. Jepsen's `set-full` calls this a stale
//!   read and fails the test when asked to check linearizability; here it always does.
//! - `lost`: known, and missed by a read that began after that, with no later-invoked read
//!   containing it (last absent after last present, or never present).
//! - `never-read`: acknowledged, but no read began after the add completed and none
//!   contained it: nothing can be said.
//! - `unseen`: an `info` (or never completed) add that no read contained: it may never
//!   have taken effect, which is allowed. `failed`: adds that failed and were never read.
//!
//! # Verdict
//!
//! `invalid` if any element is lost, stale or unexpected. Otherwise `unknown` if some key
//! has acknowledged elements none of which was ever read (nothing was checked there);
//! otherwise `valid` (an empty history is valid: nothing was claimed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::Value;

use crate::calls::{Call, Outcome, OutcomeCounts, ShapeError, load_history, pair_calls, preview};
use crate::format::{Format, InputError};
use crate::history::Op;
use crate::verdict::Verdict;

/// How many examples of each anomaly the result lists.
pub const EXAMPLES_PER_KIND: usize = 8;

/// A record of the history, located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpRef {
    /// 0-based position in the history.
    pub position: usize,
    pub index: u64,
    pub time_ns: u64,
    pub process: u64,
}

impl OpRef {
    fn of(op: &Op, position: usize, process: u64) -> OpRef {
        OpRef {
            position,
            index: op.index,
            time_ns: op.time_ns,
            process,
        }
    }
}

/// One `ok` read: its invoke and its completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReadRef {
    pub invoke: OpRef,
    pub completion: OpRef,
}

/// How an element became known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Known {
    /// The add's `ok` completion, or the first read that contained the element.
    pub at: OpRef,
    /// True when a read showed it before (or without) an `ok` add.
    pub by_read: bool,
}

/// An element lost: known, then missing from a read that began later, and never seen in
/// a read invoked after that one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostElement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The element as canonical JSON text.
    pub element: String,
    pub known: Known,
    /// The latest-invoked read that contained it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<ReadRef>,
    /// The latest-invoked read that began after it was known and did not contain it.
    pub missing_from: ReadRef,
    /// How many reads that began after it was known did not contain it.
    pub reads_missing: u64,
}

/// An element read stale: missing from a read that began after it was known, then
/// present again in a read invoked later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleElement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub element: String,
    pub known: Known,
    /// The latest-invoked read that began after it was known and did not contain it.
    pub missing_from: ReadRef,
    /// The latest-invoked read that contained it.
    pub present_again_in: ReadRef,
    /// From when it was known to the invoke of `missing_from`.
    pub stale_for_ns: u64,
    pub reads_missing: u64,
}

/// Why an element should not have been in a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnexpectedReason {
    NeverAdded,
    AddFailed,
    /// Its first add was invoked after the read had completed.
    AddedAfterRead,
}

/// An element a read returned that it should not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnexpectedElement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub element: String,
    pub reason: UnexpectedReason,
    /// The first read (by completion) that contained it.
    pub first_read: ReadRef,
}

/// An acknowledged element that no read could have been expected to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeverReadElement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub element: String,
    /// The add's `ok` completion.
    pub acknowledged: OpRef,
}

/// Counts over all keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SetCounts {
    pub adds: OutcomeCounts,
    pub reads: OutcomeCounts,
    /// Distinct (key, element) pairs added or read.
    pub elements: u64,
    pub stable: u64,
    pub stale: u64,
    pub lost: u64,
    pub never_read: u64,
    pub unexpected: u64,
    /// `info` adds that a read showed (a subset of stable, stale and lost).
    pub recovered: u64,
    /// `info` adds no read showed.
    pub unseen: u64,
    /// Failed adds no read showed.
    pub failed: u64,
}

impl SetCounts {
    fn absorb(&mut self, other: &SetCounts) {
        for (mine, theirs) in [
            (&mut self.adds, &other.adds),
            (&mut self.reads, &other.reads),
        ] {
            mine.ok += theirs.ok;
            mine.fail += theirs.fail;
            mine.info += theirs.info;
        }
        self.elements += other.elements;
        self.stable += other.stable;
        self.stale += other.stale;
        self.lost += other.lost;
        self.never_read += other.never_read;
        self.unexpected += other.unexpected;
        self.recovered += other.recovered;
        self.unseen += other.unseen;
        self.failed += other.failed;
    }
}

/// Everything the set check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetResult {
    pub verdict: Verdict,
    /// Lines (records) of the history, nemesis records included; an op is two of them.
    pub history_lines: u64,
    /// Keys checked (1 for an unkeyed history with client ops, 0 for none).
    pub keys: usize,
    pub keys_invalid: usize,
    pub keys_unknown: usize,
    pub counts: SetCounts,
    /// The first few of each, in order of when the element became known (unexpected: of
    /// the read that showed it).
    pub lost: Vec<LostElement>,
    pub stale: Vec<StaleElement>,
    pub unexpected: Vec<UnexpectedElement>,
    pub never_read: Vec<NeverReadElement>,
}

/// Checks a set history.
pub fn check_set(ops: &[Op]) -> Result<SetResult, ShapeError> {
    let calls = pair_calls(ops)?;
    let mut by_key: BTreeMap<Option<&str>, Vec<Call<'_>>> = BTreeMap::new();
    for call in calls {
        by_key
            .entry(call.invoke.key.as_deref())
            .or_default()
            .push(call);
    }
    let mut result = SetResult {
        verdict: Verdict::Valid,
        history_lines: ops.len() as u64,
        keys: by_key.len(),
        keys_invalid: 0,
        keys_unknown: 0,
        counts: SetCounts::default(),
        lost: Vec::new(),
        stale: Vec::new(),
        unexpected: Vec::new(),
        never_read: Vec::new(),
    };
    for (key, calls) in &by_key {
        let key_result = KeyCheck::run(*key, calls)?;
        result.absorb(key_result);
    }
    result.finish();
    Ok(result)
}

/// Loads a history file and checks it; errors name the file and line.
pub fn check_set_file(path: &Path, format: Format) -> Result<SetResult, InputError> {
    let history = load_history(path, format)?;
    check_set(&history.ops).map_err(|e| e.in_file(&history.name, &history.lines))
}

impl SetResult {
    fn absorb(&mut self, key: KeyResult) {
        let invalid = key.counts.lost + key.counts.stale + key.counts.unexpected > 0;
        let unknown = !invalid && key.counts.never_read > 0 && key.counts.stable == 0;
        self.keys_invalid += usize::from(invalid);
        self.keys_unknown += usize::from(unknown);
        self.counts.absorb(&key.counts);
        self.lost.extend(key.lost);
        self.stale.extend(key.stale);
        self.unexpected.extend(key.unexpected);
        self.never_read.extend(key.never_read);
    }

    /// The verdict, and examples cut to the first few of each kind.
    fn finish(&mut self) {
        self.verdict = if self.keys_invalid > 0 {
            Verdict::Invalid
        } else if self.keys_unknown > 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        self.lost.sort_by_key(|e| e.known.at.position);
        self.lost.truncate(EXAMPLES_PER_KIND);
        self.stale.sort_by_key(|e| e.known.at.position);
        self.stale.truncate(EXAMPLES_PER_KIND);
        self.unexpected
            .sort_by_key(|e| e.first_read.completion.position);
        self.unexpected.truncate(EXAMPLES_PER_KIND);
        self.never_read.sort_by_key(|e| e.acknowledged.position);
        self.never_read.truncate(EXAMPLES_PER_KIND);
    }
}

/// One element of one key, followed through the history.
#[derive(Debug, Default)]
struct Element {
    /// Canonical JSON text.
    text: String,
    first_add_invoke: Option<usize>,
    adds: OutcomeCounts,
    known: Option<Known>,
    /// Reads are ids into `KeyCheck::reads`.
    first_present: Option<usize>,
    last_present: Option<usize>,
    last_absent: Option<usize>,
    reads_missing: u64,
}

/// What happens to one key, in history order.
enum Event {
    AddInvoke {
        element: usize,
    },
    AddDone {
        element: usize,
        outcome: Outcome,
        at: Option<OpRef>,
    },
    ReadDone {
        read: usize,
        members: Vec<usize>,
    },
}

/// The anomalies of one key.
#[derive(Debug, Default)]
struct KeyResult {
    counts: SetCounts,
    lost: Vec<LostElement>,
    stale: Vec<StaleElement>,
    unexpected: Vec<UnexpectedElement>,
    never_read: Vec<NeverReadElement>,
}

/// The state of the check of one key.
struct KeyCheck<'k> {
    key: Option<&'k str>,
    elements: Vec<Element>,
    /// Non-integer elements by canonical text.
    ids: FxHashMap<String, usize>,
    /// Integer elements (`1` and `1.0` differ: `1.0` is not an i64, so goes by text).
    int_ids: FxHashMap<i64, usize>,
    reads: Vec<ReadRef>,
    /// Known elements, in the order they became known (so by known position).
    known_order: Vec<usize>,
    counts: SetCounts,
}

impl<'k> KeyCheck<'k> {
    fn run(key: Option<&'k str>, calls: &[Call<'_>]) -> Result<KeyResult, ShapeError> {
        let mut check = KeyCheck {
            key,
            elements: Vec::new(),
            ids: FxHashMap::default(),
            int_ids: FxHashMap::default(),
            reads: Vec::new(),
            known_order: Vec::new(),
            counts: SetCounts::default(),
        };
        let mut events = check.events(calls)?;
        events.sort_by_key(|(pos, _)| *pos);
        let mut members_mark = vec![false; check.elements.len()];
        for (pos, event) in events {
            check.apply(pos, event, &mut members_mark);
        }
        Ok(check.classify())
    }

    /// The element's id; integers (the usual elements) skip building their text.
    fn intern(&mut self, value: &Value) -> usize {
        if let Some(n) = value.as_i64() {
            if let Some(&id) = self.int_ids.get(&n) {
                return id;
            }
            let id = self.new_element(value.to_string());
            self.int_ids.insert(n, id);
            return id;
        }
        let text = value.to_string();
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        let id = self.new_element(text.clone());
        self.ids.insert(text, id);
        id
    }

    fn new_element(&mut self, text: String) -> usize {
        self.elements.push(Element {
            text,
            ..Element::default()
        });
        self.elements.len() - 1
    }

    /// The key's calls as position-stamped events (a never-completed add ends at the end).
    fn events(&mut self, calls: &[Call<'_>]) -> Result<Vec<(usize, Event)>, ShapeError> {
        let mut events = Vec::with_capacity(calls.len() * 2);
        for call in calls {
            match call.invoke.f.as_str() {
                "add" => {
                    let element = self.intern(&call.invoke.value);
                    let outcome = call.outcome();
                    self.counts.adds.add(outcome);
                    events.push((call.invoke_pos, Event::AddInvoke { element }));
                    let at = call
                        .completion
                        .map(|(op, pos)| OpRef::of(op, pos, call.process()));
                    let pos = call.completion_pos().unwrap_or(usize::MAX);
                    events.push((
                        pos,
                        Event::AddDone {
                            element,
                            outcome,
                            at,
                        },
                    ));
                }
                "read" => {
                    self.counts.reads.add(call.outcome());
                    if call.outcome() == Outcome::Ok {
                        events.push(self.read_event(call)?);
                    }
                }
                other => {
                    return Err(ShapeError::new(
                        call.invoke_pos,
                        call.invoke,
                        "a set function (add or read)",
                        format!("{other:?}"),
                    ));
                }
            }
        }
        Ok(events)
    }

    fn read_event(&mut self, call: &Call<'_>) -> Result<(usize, Event), ShapeError> {
        let Some((completion, pos)) = call.completion else {
            return Err(ShapeError::new(
                call.invoke_pos,
                call.invoke,
                "a completed read",
                "none",
            ));
        };
        let members = match &completion.value {
            Value::Null => Vec::new(),
            Value::Array(items) => {
                let mut ids: Vec<usize> = items.iter().map(|v| self.intern(v)).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            other => {
                return Err(ShapeError::new(
                    pos,
                    completion,
                    "a set read value [...]",
                    preview(other),
                ));
            }
        };
        let read = self.reads.len();
        self.reads.push(ReadRef {
            invoke: OpRef::of(call.invoke, call.invoke_pos, call.process()),
            completion: OpRef::of(completion, pos, call.process()),
        });
        Ok((pos, Event::ReadDone { read, members }))
    }

    fn apply(&mut self, pos: usize, event: Event, mark: &mut [bool]) {
        match event {
            Event::AddInvoke { element } => {
                let first = &mut self.elements[element].first_add_invoke;
                *first = Some(first.map_or(pos, |p| p.min(pos)));
            }
            Event::AddDone {
                element,
                outcome,
                at,
            } => {
                self.elements[element].adds.add(outcome);
                if let (Outcome::Ok, Some(at)) = (outcome, at) {
                    self.make_known(element, at, false);
                }
            }
            Event::ReadDone { read, members } => self.apply_read(read, &members, mark),
        }
    }

    fn make_known(&mut self, element: usize, at: OpRef, by_read: bool) {
        let state = &mut self.elements[element];
        if state.known.is_none() {
            state.known = Some(Known { at, by_read });
            self.known_order.push(element);
        }
    }

    /// Blames the read for every element known before it began that it misses, then
    /// records it as a sighting of its members.
    fn apply_read(&mut self, read: usize, members: &[usize], mark: &mut [bool]) {
        let read_ref = self.reads[read];
        let began = read_ref.invoke.position;
        for &m in members {
            mark[m] = true;
        }
        let elements = &self.elements;
        let blamable = self
            .known_order
            .partition_point(|&e| elements[e].known.is_some_and(|k| k.at.position < began));
        for &e in &self.known_order[..blamable] {
            if mark[e] {
                continue;
            }
            let state = &mut self.elements[e];
            state.reads_missing += 1;
            if later_invoked(&self.reads, Some(read), state.last_absent) {
                state.last_absent = Some(read);
            }
        }
        for &m in members {
            mark[m] = false;
            let state = &mut self.elements[m];
            state.first_present.get_or_insert(read);
            if later_invoked(&self.reads, Some(read), state.last_present) {
                state.last_present = Some(read);
            }
            self.make_known(m, read_ref.completion, true);
        }
    }

    fn classify(mut self) -> KeyResult {
        let mut result = KeyResult::default();
        let key = self.key.map(str::to_string);
        self.counts.elements = self.elements.len() as u64;
        for element in &self.elements {
            let text = element.text.clone();
            if let Some(unexpected) = self.unexpected(element, &key) {
                self.counts.unexpected += 1;
                result.unexpected.push(unexpected);
                continue;
            }
            let Some(known) = element.known else {
                if element.adds.info > 0 {
                    self.counts.unseen += 1;
                } else {
                    self.counts.failed += 1;
                }
                continue;
            };
            self.counts.recovered += u64::from(known.by_read && element.adds.ok == 0);
            let read = |id: Option<usize>| id.map(|r| self.reads[r]);
            match (element.last_present, element.last_absent) {
                (None, None) => {
                    self.counts.never_read += 1;
                    result.never_read.push(NeverReadElement {
                        key: key.clone(),
                        element: text,
                        acknowledged: known.at,
                    });
                }
                (Some(_), None) => self.counts.stable += 1,
                (present, Some(absent)) => {
                    let missing_from = self.reads[absent];
                    if later_invoked(&self.reads, present, Some(absent)) {
                        self.counts.stale += 1;
                        result.stale.push(StaleElement {
                            key: key.clone(),
                            element: text,
                            known,
                            missing_from,
                            present_again_in: read(present).unwrap_or(missing_from),
                            stale_for_ns: missing_from
                                .invoke
                                .time_ns
                                .saturating_sub(known.at.time_ns),
                            reads_missing: element.reads_missing,
                        });
                    } else {
                        self.counts.lost += 1;
                        result.lost.push(LostElement {
                            key: key.clone(),
                            element: text,
                            known,
                            last_seen: read(present),
                            missing_from,
                            reads_missing: element.reads_missing,
                        });
                    }
                }
            }
        }
        result.counts = self.counts;
        result
    }

    fn unexpected(&self, element: &Element, key: &Option<String>) -> Option<UnexpectedElement> {
        let first_read = self.reads[element.first_present?];
        let reason = match element.first_add_invoke {
            None => UnexpectedReason::NeverAdded,
            Some(invoked) if invoked > first_read.completion.position => {
                UnexpectedReason::AddedAfterRead
            }
            Some(_) if element.adds.ok == 0 && element.adds.info == 0 => {
                UnexpectedReason::AddFailed
            }
            Some(_) => return None,
        };
        Some(UnexpectedElement {
            key: key.clone(),
            element: element.text.clone(),
            reason,
            first_read,
        })
    }
}

/// True when read `a` was invoked after read `b` (or `b` is none and `a` is some).
fn later_invoked(reads: &[ReadRef], a: Option<usize>, b: Option<usize>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => reads[a].invoke.position > reads[b].invoke.position,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl SetResult {
    /// The result as text for a terminal: verdict, counts, and the examples.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let c = &self.counts;
        let _ = writeln!(
            out,
            "set: {}: {} history lines, {} keys; adds {} ok, {} fail, {} info; reads {} ok, {} fail, {} info",
            self.verdict,
            self.history_lines,
            self.keys,
            c.adds.ok,
            c.adds.fail,
            c.adds.info,
            c.reads.ok,
            c.reads.fail,
            c.reads.info
        );
        let _ = writeln!(
            out,
            "elements: {} stable, {} lost, {} stale, {} unexpected, {} never read, \
             {} recovered, {} unseen info adds, {} failed adds",
            c.stable, c.lost, c.stale, c.unexpected, c.never_read, c.recovered, c.unseen, c.failed
        );
        for lost in &self.lost {
            let _ = writeln!(
                out,
                "lost {}{}: known at op {}, missing from the read invoked at op {} \
                 (completed op {}, process {}){}",
                lost.element,
                key_text(&lost.key),
                lost.known.at.index,
                lost.missing_from.invoke.index,
                lost.missing_from.completion.index,
                lost.missing_from.invoke.process,
                lost.last_seen.map_or(String::new(), |r| format!(
                    ", last seen in the read completed at op {}",
                    r.completion.index
                )),
            );
        }
        for stale in &self.stale {
            let _ = writeln!(
                out,
                "stale {}{}: known at op {}, missing from the read invoked at op {} ({:.1} ms \
                 later), present again in the read invoked at op {}",
                stale.element,
                key_text(&stale.key),
                stale.known.at.index,
                stale.missing_from.invoke.index,
                stale.stale_for_ns as f64 / 1e6,
                stale.present_again_in.invoke.index,
            );
        }
        for unexpected in &self.unexpected {
            let _ = writeln!(
                out,
                "unexpected {}{} ({:?}): in the read completed at op {}",
                unexpected.element,
                key_text(&unexpected.key),
                unexpected.reason,
                unexpected.first_read.completion.index,
            );
        }
        out
    }
}

fn key_text(key: &Option<String>) -> String {
    key.as_ref()
        .map_or(String::new(), |k| format!(" (key {k})"))
}
