//! The coordinator's protocol logic, free of I/O: the registry of transactions in flight
//! and decided, the decision rule (with the planted bug), presumed abort for status
//! queries, and recovery from the decision log.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::protocol::{NoReason, ParticipantId, TransferRequest, TxnId, TxnStatus};

/// One record of the coordinator's decision log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum CoordinatorRecord {
    /// The decision, durable before any participant hears it (commits are awaited; aborts
    /// are presumed, so their record is written but not waited for).
    Decision {
        txn: TxnId,
        commit: bool,
        /// The participants that must hear the decision.
        participants: Vec<ParticipantId>,
    },
    /// Every participant acknowledged the decision.
    Done { txn: TxnId },
}

/// What one participant answered to a prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteResult {
    Yes,
    No(NoReason),
    /// No vote: timeout, connection failure, an error answer.
    Missing(String),
}

/// The coordinator's decision and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub commit: bool,
    /// For an abort: why (the first no vote, or `vote-missing`).
    pub reason: Option<String>,
}

/// Commit only if every vote is yes. With `count_missing_as_yes` (the planted bug
/// `2pc-commit-without-all-votes`) a missing vote counts as yes; a no still aborts.
pub fn decide(votes: &[VoteResult], count_missing_as_yes: bool) -> Decision {
    for vote in votes {
        let reason = match vote {
            VoteResult::Yes => continue,
            VoteResult::No(reason) => serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{reason:?}")),
            VoteResult::Missing(_) if count_missing_as_yes => continue,
            VoteResult::Missing(_) => "vote-missing".to_string(),
        };
        return Decision {
            commit: false,
            reason: Some(reason),
        };
    }
    Decision {
        commit: true,
        reason: None,
    }
}

/// What to do with a transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// New: run the two phases.
    Start,
    /// Already decided (a retry): answer with that outcome.
    Decided { commit: bool },
    /// The same transaction is being run by an earlier request.
    InProgress,
    /// The id is in use by a different transfer.
    TxnIdReused,
}

/// What to answer a participant asking for a transaction's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAnswer {
    Known(TxnStatus),
    /// Not in flight and never decided: presumed aborted. The abort is now recorded in
    /// memory; the caller must log it durably before answering, so that a later retry of
    /// the transfer cannot commit it.
    PresumedAbort,
}

#[derive(Debug, Clone)]
struct Decided {
    commit: bool,
    participants: Vec<ParticipantId>,
    done: bool,
}

/// All state of the coordinator.
#[derive(Debug, Default)]
pub struct CoordinatorState {
    in_flight: HashMap<TxnId, TransferRequest>,
    decided: HashMap<TxnId, Decided>,
    /// The transfer behind each decided transaction run by this incarnation, to refuse a
    /// reused id. Transactions recovered from the log have no entry.
    transfers: HashMap<TxnId, TransferRequest>,
}

impl CoordinatorState {
    /// Rebuilds the decisions from the log.
    pub fn recover(records: &[CoordinatorRecord]) -> CoordinatorState {
        let mut state = CoordinatorState::default();
        for record in records {
            match record {
                CoordinatorRecord::Decision {
                    txn,
                    commit,
                    participants,
                } => {
                    state.decided.insert(
                        txn.clone(),
                        Decided {
                            commit: *commit,
                            participants: participants.clone(),
                            done: false,
                        },
                    );
                }
                CoordinatorRecord::Done { txn } => {
                    if let Some(decided) = state.decided.get_mut(txn) {
                        decided.done = true;
                    }
                }
            }
        }
        state
    }

    pub fn begin(&mut self, transfer: &TransferRequest) -> Begin {
        if let Some(decided) = self.decided.get(&transfer.txn) {
            let same = self
                .transfers
                .get(&transfer.txn)
                .is_none_or(|first| first == transfer);
            return if same {
                Begin::Decided {
                    commit: decided.commit,
                }
            } else {
                Begin::TxnIdReused
            };
        }
        if let Some(first) = self.in_flight.get(&transfer.txn) {
            return if first == transfer {
                Begin::InProgress
            } else {
                Begin::TxnIdReused
            };
        }
        self.in_flight
            .insert(transfer.txn.clone(), transfer.clone());
        Begin::Start
    }

    /// Records the decision of an in-flight transaction.
    pub fn record_decision(&mut self, txn: &str, commit: bool, participants: Vec<ParticipantId>) {
        if let Some(transfer) = self.in_flight.remove(txn) {
            self.transfers.insert(txn.to_string(), transfer);
        }
        self.decided.insert(
            txn.to_string(),
            Decided {
                commit,
                participants,
                done: false,
            },
        );
    }

    /// Records a decision read from (or lost to) the replicated decision store for a
    /// transaction this coordinator did not decide itself: final, nobody to tell (the
    /// coordinator that decided it, or the participants' own queries, deliver it).
    pub fn record_stored(&mut self, txn: &str, commit: bool) {
        self.in_flight.remove(txn);
        self.decided
            .entry(txn.to_string())
            .or_insert_with(|| Decided {
                commit,
                participants: Vec::new(),
                done: true,
            });
    }

    /// Forgets an in-flight transaction whose decision is unknown (the decision store did
    /// not answer): it is no longer `pending` here, so a status query may presume it
    /// aborted through the store.
    pub fn abandon(&mut self, txn: &str) {
        self.in_flight.remove(txn);
    }

    /// What is known here about `txn`, without presuming anything.
    pub fn lookup(&self, txn: &str) -> Option<TxnStatus> {
        if let Some(decided) = self.decided.get(txn) {
            return Some(if decided.commit {
                TxnStatus::Commit
            } else {
                TxnStatus::Abort
            });
        }
        self.in_flight
            .contains_key(txn)
            .then_some(TxnStatus::Pending)
    }

    pub fn mark_done(&mut self, txn: &str) {
        if let Some(decided) = self.decided.get_mut(txn) {
            decided.done = true;
        }
    }

    pub fn status(&mut self, txn: &str) -> StatusAnswer {
        if let Some(decided) = self.decided.get(txn) {
            return StatusAnswer::Known(if decided.commit {
                TxnStatus::Commit
            } else {
                TxnStatus::Abort
            });
        }
        if self.in_flight.contains_key(txn) {
            return StatusAnswer::Known(TxnStatus::Pending);
        }
        self.decided.insert(
            txn.to_string(),
            Decided {
                commit: false,
                participants: Vec::new(),
                done: true,
            },
        );
        StatusAnswer::PresumedAbort
    }

    /// Decided transactions some participant has not acknowledged yet, with the decision
    /// and the participants to tell.
    pub fn unfinished(&self) -> Vec<(TxnId, bool, Vec<ParticipantId>)> {
        self.decided
            .iter()
            .filter(|(_, d)| !d.done)
            .map(|(txn, d)| (txn.clone(), d.commit, d.participants.clone()))
            .collect()
    }

    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    /// (committed, aborted) decisions known.
    pub fn decided_counts(&self) -> (usize, usize) {
        let commits = self.decided.values().filter(|d| d.commit).count();
        (commits, self.decided.len() - commits)
    }

    /// Participants named in unfinished decisions (for status).
    pub fn participants_owed_a_decision(&self) -> HashSet<ParticipantId> {
        self.decided
            .values()
            .filter(|d| !d.done)
            .flat_map(|d| d.participants.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(txn: &str, amount: i64) -> TransferRequest {
        TransferRequest {
            txn: txn.into(),
            from: "a0".into(),
            to: "a1".into(),
            amount,
        }
    }

    #[test]
    fn commit_needs_every_vote() {
        assert!(decide(&[VoteResult::Yes, VoteResult::Yes], false).commit);
        let no = decide(
            &[VoteResult::Yes, VoteResult::No(NoReason::InsufficientFunds)],
            false,
        );
        assert_eq!(
            no,
            Decision {
                commit: false,
                reason: Some("insufficient-funds".into())
            }
        );
        let missing = decide(
            &[VoteResult::Yes, VoteResult::Missing("timeout".into())],
            false,
        );
        assert_eq!(missing.reason.as_deref(), Some("vote-missing"));
    }

    #[test]
    fn planted_bug_counts_a_missing_vote_as_yes_but_not_a_no() {
        assert!(
            decide(
                &[VoteResult::Yes, VoteResult::Missing("timeout".into())],
                true
            )
            .commit
        );
        assert!(!decide(&[VoteResult::No(NoReason::Locked)], true).commit);
    }

    #[test]
    fn retries_get_the_first_outcome_and_reused_ids_are_refused() {
        let mut s = CoordinatorState::default();
        assert_eq!(s.begin(&transfer("t1", 5)), Begin::Start);
        assert_eq!(s.begin(&transfer("t1", 5)), Begin::InProgress);
        assert_eq!(s.begin(&transfer("t1", 6)), Begin::TxnIdReused);
        assert_eq!(s.status("t1"), StatusAnswer::Known(TxnStatus::Pending));
        s.record_decision("t1", true, vec!["p1".into()]);
        assert_eq!(s.begin(&transfer("t1", 5)), Begin::Decided { commit: true });
        assert_eq!(s.begin(&transfer("t1", 6)), Begin::TxnIdReused);
        assert_eq!(s.status("t1"), StatusAnswer::Known(TxnStatus::Commit));
    }

    #[test]
    fn unknown_txn_is_presumed_aborted_and_stays_aborted() {
        let mut s = CoordinatorState::default();
        assert_eq!(s.status("t9"), StatusAnswer::PresumedAbort);
        assert_eq!(s.status("t9"), StatusAnswer::Known(TxnStatus::Abort));
        assert_eq!(
            s.begin(&transfer("t9", 1)),
            Begin::Decided { commit: false }
        );
    }

    #[test]
    fn recovery_keeps_decisions_and_lists_unacknowledged_ones() {
        let records = vec![
            CoordinatorRecord::Decision {
                txn: "t1".into(),
                commit: true,
                participants: vec!["p1".into(), "p2".into()],
            },
            CoordinatorRecord::Decision {
                txn: "t2".into(),
                commit: false,
                participants: vec!["p1".into()],
            },
            CoordinatorRecord::Done { txn: "t2".into() },
        ];
        let mut s = CoordinatorState::recover(&records);
        assert_eq!(
            s.unfinished(),
            vec![(
                "t1".to_string(),
                true,
                vec!["p1".to_string(), "p2".to_string()]
            )]
        );
        assert_eq!(s.status("t1"), StatusAnswer::Known(TxnStatus::Commit));
        assert_eq!(s.status("t2"), StatusAnswer::Known(TxnStatus::Abort));
        assert_eq!(s.decided_counts(), (1, 1));
    }

    #[test]
    fn decisions_learned_from_the_store_are_final_and_abandoned_txns_not_pending() {
        let mut s = CoordinatorState::default();
        assert_eq!(s.lookup("t1"), None);
        assert_eq!(s.begin(&transfer("t1", 5)), Begin::Start);
        assert_eq!(s.lookup("t1"), Some(TxnStatus::Pending));
        s.abandon("t1");
        assert_eq!(s.lookup("t1"), None, "lookup presumes nothing");
        assert_eq!(s.begin(&transfer("t2", 5)), Begin::Start);
        s.record_stored("t2", false);
        assert_eq!(s.lookup("t2"), Some(TxnStatus::Abort));
        assert_eq!(
            s.begin(&transfer("t2", 5)),
            Begin::Decided { commit: false }
        );
        s.record_stored("t2", true);
        assert_eq!(
            s.lookup("t2"),
            Some(TxnStatus::Abort),
            "the first decision stays"
        );
        assert!(s.unfinished().is_empty());
    }
}
