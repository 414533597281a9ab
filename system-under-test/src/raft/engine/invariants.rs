//! The engine's own assertions, TigerBeetle-style: cheap checks of states the Raft rules
//! make impossible, after every input, plus the checks at the points where a broken rule
//! would first show (a leader overwriting a committed entry, a second leader in a term).
//!
//! A correct engine never trips one, so when one trips the node must not carry on: its
//! state can no longer be trusted, and acting on it (acknowledging, voting, applying) could
//! spread the damage to the other nodes. The engine then stops: it drops the actions of
//! the step that found it, ignores every later input, and reports the violation through
//! [`Engine::violation`], on which the node exits with the message.
//!
//! The planted bugs exist to break exactly these rules, so that faultline can prove it
//! sees the damage from outside; with a bug on (`--bug NAME`), a violation is logged and
//! the engine carries on, as a buggy implementation would.
//!
//! Checked after every input (against the state before it):
//!
//! - the current term never decreases, and the vote of a term never changes (section 5.2:
//!   one vote per term);
//! - the commit index and the applied index never decrease;
//! - the entry at the commit index keeps its term (a committed entry is never replaced;
//!   State Machine Safety, section 5.4);
//! - `applied <= commit <= last log index`, `log offset <= applied`, `persisted <= last`;
//! - no log entry has a term above the current term;
//! - a leader names itself as leader, and a leader that stays leader of the same term
//!   never shortens its log (Leader Append-Only, figure 3).
//!
//! Checked where they would happen: a follower asked to cut a committed entry
//! ([`messages`](super::messages)), and AppendEntries or InstallSnapshot from another
//! leader in this leader's own term (Election Safety).

use std::fmt;

use super::{Engine, Role};
use crate::raft::types::NodeId;

/// A state the Raft rules make impossible, seen by the engine's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantViolation {
    pub node: NodeId,
    pub term: u64,
    /// What was seen, in words.
    pub what: String,
}

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Raft invariant violated on {} in term {}: {}",
            self.node, self.term, self.what
        )
    }
}

impl std::error::Error for InvariantViolation {}

/// The parts of the state the per-input checks compare against.
pub(super) struct Checkpoint {
    term: u64,
    voted_for: Option<NodeId>,
    commit_index: u64,
    commit_term: Option<u64>,
    applied_index: u64,
    /// The last log index, if the node was leader.
    leader_last_index: Option<u64>,
}

impl Engine {
    /// The invariant this engine found broken, if any; once set, the engine does nothing
    /// more and the node must stop.
    pub fn violation(&self) -> Option<&InvariantViolation> {
        self.violation.as_ref()
    }

    /// Reports a broken invariant. Without a planted bug the engine stops (see the module
    /// docs) and this returns true: the caller must return at once. With a planted bug on
    /// it logs and returns false: the caller carries on as before.
    pub(super) fn invariant_broken(&mut self, what: String) -> bool {
        if let Some(bug) = self.cfg.bug {
            tracing::error!(id = %self.cfg.id, term = self.hard.term, %bug, "{what} (planted bug on: carrying on)");
            return false;
        }
        let violation = InvariantViolation {
            node: self.cfg.id.clone(),
            term: self.hard.term,
            what,
        };
        tracing::error!("{violation}; stopping");
        self.violation.get_or_insert(violation);
        self.actions.clear();
        self.unsent_entries = false;
        true
    }

    pub(super) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            term: self.hard.term,
            voted_for: self.hard.voted_for.clone(),
            commit_index: self.commit_index,
            commit_term: self.log.term_at(self.commit_index),
            applied_index: self.applied_index,
            leader_last_index: (self.role == Role::Leader).then(|| self.log.last_index()),
        }
    }

    /// The cheap checks of the module docs, after one input.
    pub(super) fn check_invariants(&mut self, before: &Checkpoint) {
        if let Some(what) = self.first_broken(before) {
            self.invariant_broken(what);
        }
    }

    /// The same checks on a freshly recovered state (nothing to compare against).
    pub(super) fn check_recovered_state(&mut self) {
        if self.cfg.bug.is_some() {
            return;
        }
        let before = self.checkpoint();
        self.check_invariants(&before);
    }

    fn first_broken(&self, before: &Checkpoint) -> Option<String> {
        let (term, commit, applied) = (self.hard.term, self.commit_index, self.applied_index);
        let last = self.log.last_index();
        if term < before.term {
            return Some(format!("the term went back from {} to {term}", before.term));
        }
        if term == before.term
            && before.voted_for.is_some()
            && self.hard.voted_for != before.voted_for
        {
            return Some(format!(
                "the vote of term {term} changed from {:?} to {:?}",
                before.voted_for, self.hard.voted_for
            ));
        }
        if commit < before.commit_index {
            return Some(format!(
                "the commit index went back from {} to {commit}",
                before.commit_index
            ));
        }
        if applied < before.applied_index {
            return Some(format!(
                "the applied index went back from {} to {applied}",
                before.applied_index
            ));
        }
        let now_at_old_commit = self.log.term_at(before.commit_index);
        if let (Some(was), Some(now)) = (before.commit_term, now_at_old_commit)
            && was != now
        {
            return Some(format!(
                "committed entry {} changed its term from {was} to {now}",
                before.commit_index
            ));
        }
        if commit > last {
            return Some(format!(
                "commit index {commit} is beyond the last log index {last}"
            ));
        }
        if applied > commit {
            return Some(format!(
                "applied index {applied} is beyond the commit index {commit}"
            ));
        }
        if self.log.offset() > applied {
            return Some(format!(
                "the log is compacted to {} beyond the applied index {applied}",
                self.log.offset()
            ));
        }
        if self.persisted_index > last {
            return Some(format!(
                "persisted index {} is beyond the last log index {last}",
                self.persisted_index
            ));
        }
        if self.log.last_term() > term {
            return Some(format!(
                "the last log entry has term {}, above the current term {term}",
                self.log.last_term()
            ));
        }
        if self.role == Role::Leader {
            if self.leader.as_ref() != Some(&self.cfg.id) {
                return Some(format!("a leader that names {:?} as leader", self.leader));
            }
            if let Some(before_last) = before.leader_last_index
                && term == before.term
                && last < before_last
            {
                return Some(format!(
                    "the leader's log shrank from {before_last} to {last} (Leader Append-Only)"
                ));
            }
        }
        None
    }
}

/// Each per-input check fires on the state it forbids. A correct engine never reaches
/// these states (the engine and simulation tests drive it through its inputs and never
/// trip a check), so the tests corrupt the state by hand, between the checkpoint and the
/// check, exactly where a faulty handler would.
#[cfg(test)]
mod tests {
    use super::super::{Engine, InitialState, Input, Role};
    use crate::bug::Bug;
    use crate::raft::engine_tests::{config, entries};
    use crate::raft::types::{Entry, HardState, Payload};

    /// n1 in term 3, log terms [1, 2, 3], commit 2, applied 1, persisted 3.
    fn node(bug: Option<Bug>) -> Engine {
        let initial = InitialState {
            hard_state: HardState {
                term: 3,
                voted_for: Some("n2".into()),
            },
            entries: entries(&[1, 2, 3]),
            ..InitialState::default()
        };
        let mut engine = Engine::new(config("n1", bug), initial, 0);
        assert!(engine.violation().is_none(), "{:?}", engine.violation());
        engine.commit_index = 2;
        engine.applied_index = 1;
        engine.persisted_index = 3;
        engine
    }

    type Corruption = fn(&mut Engine);

    /// (what a faulty handler did, the words the violation must contain).
    const CASES: &[(Corruption, &str)] = &[
        (|e| e.hard.term = 2, "the term went back from 3 to 2"),
        (
            |e| e.hard.voted_for = Some("n3".into()),
            "the vote of term 3 changed",
        ),
        (
            |e| e.commit_index = 1,
            "the commit index went back from 2 to 1",
        ),
        (
            |e| e.applied_index = 0,
            "the applied index went back from 1 to 0",
        ),
        (
            |e| {
                e.log.truncate_from(2);
                e.log.push(Entry {
                    term: 3,
                    index: 2,
                    payload: Payload::Noop,
                });
            },
            "committed entry 2 changed its term from 2 to 3",
        ),
        (
            |e| e.commit_index = 4,
            "commit index 4 is beyond the last log index 3",
        ),
        (
            |e| e.applied_index = 3,
            "applied index 3 is beyond the commit index 2",
        ),
        (
            |e| e.log.compact_to(2),
            "the log is compacted to 2 beyond the applied index 1",
        ),
        (
            |e| e.persisted_index = 4,
            "persisted index 4 is beyond the last log index 3",
        ),
        (
            |e| {
                e.log.push(Entry {
                    term: 4,
                    index: 4,
                    payload: Payload::Noop,
                })
            },
            "the last log entry has term 4, above the current term 3",
        ),
        (
            |e| {
                e.role = Role::Leader;
                e.leader = Some("n2".into());
            },
            "a leader that names Some(\"n2\") as leader",
        ),
    ];

    #[test]
    fn each_cheap_check_fires_on_the_state_it_forbids() {
        for (corrupt, expected) in CASES {
            let mut engine = node(None);
            let before = engine.checkpoint();
            corrupt(&mut engine);
            engine.check_invariants(&before);
            let violation = engine
                .violation()
                .unwrap_or_else(|| panic!("no violation for {expected:?}"))
                .to_string();
            assert!(
                violation.starts_with("Raft invariant violated on n1 in term")
                    && violation.contains(expected),
                "expected {expected:?}, got {violation:?}"
            );
        }
    }

    /// Leader Append-Only (figure 3): a leader that stays leader of its term never cuts
    /// its own log.
    #[test]
    fn leader_append_only_a_leader_shortening_its_log_is_caught() {
        let mut engine = node(None);
        engine.role = Role::Leader;
        engine.leader = Some("n1".into());
        let before = engine.checkpoint();
        engine.log.truncate_from(3);
        engine.persisted_index = 2;
        engine.check_invariants(&before);
        let violation = engine.violation().expect("caught").to_string();
        assert!(
            violation.contains("the leader's log shrank from 3 to 2 (Leader Append-Only)"),
            "{violation}"
        );
    }

    /// The checks run inside `step`: a broken state stops the engine at the next input,
    /// with no action leaving; with a planted bug on, the same state runs on.
    #[test]
    fn step_stops_on_a_broken_state_unless_a_bug_is_planted() {
        for bug in [None, Some(Bug::SkipPrevCheck)] {
            let mut engine = node(bug);
            engine.drain_actions();
            // Past the election timeout: the follower starts PreVote.
            engine.step(Input::Tick { now_ms: 1000 });
            engine.applied_index = 3;
            engine.step(Input::Tick { now_ms: 2000 });
            match bug {
                None => {
                    let violation = engine.violation().expect("stopped").to_string();
                    assert!(violation.contains("beyond the commit index"), "{violation}");
                    assert!(engine.drain_actions().is_empty());
                }
                Some(_) => {
                    assert!(engine.violation().is_none());
                    assert!(!engine.drain_actions().is_empty(), "the node runs on");
                }
            }
        }
    }

    #[test]
    fn the_message_names_the_node_the_term_and_the_invariant() {
        let mut engine = node(None);
        assert!(engine.invariant_broken("something impossible".into()));
        assert_eq!(
            engine.violation().expect("set").to_string(),
            "Raft invariant violated on n1 in term 3: something impossible"
        );
        let mut buggy = node(Some(Bug::CommitOldTerm));
        assert!(!buggy.invariant_broken("something impossible".into()));
        assert!(buggy.violation().is_none(), "a planted bug only logs");
    }
}
