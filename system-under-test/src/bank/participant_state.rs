//! The participant's protocol logic, free of I/O: balances, per-account write locks held
//! by prepared transactions, shard-wide read locks with a lease, the outcome of every
//! transaction seen, and recovery from the prepare log. Time comes in as `now_ms`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::protocol::{Balances, Delta, NoReason, TxnId};

/// A refused read lock keeps new prepares out for this long, so that the transactions
/// already prepared drain and a waiting read is not starved by a stream of transfers.
pub const READ_INTENT_MS: u64 = 20;

/// One record of the participant's prepare log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum ParticipantRecord {
    /// Always first: the configuration the balances start from.
    Genesis {
        shard: u64,
        shards: u64,
        accounts: u64,
        initial_balance: i64,
    },
    /// Voted yes: the accounts are locked until the outcome is known.
    Prepared {
        txn: TxnId,
        deltas: Vec<Delta>,
    },
    /// Applied. Carries the deltas so that replay needs no earlier record.
    Committed {
        txn: TxnId,
        deltas: Vec<Delta>,
    },
    Aborted {
        txn: TxnId,
    },
}

/// The result of a prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareOutcome {
    /// Newly prepared: the caller must log `Prepared` durably before voting yes.
    Prepared,
    /// Already prepared with the same deltas (a repeated prepare): vote yes once the
    /// earlier record is durable.
    AlreadyPrepared,
    No(NoReason),
}

/// The result of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Applied now: the caller must log `Committed` with these deltas.
    Applied(Vec<Delta>),
    AlreadyCommitted,
    /// Never prepared here (or forgotten): nothing can be applied.
    NotPrepared,
    /// The transaction was aborted here: a protocol violation by the coordinator.
    WasAborted,
}

/// The result of an abort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortOutcome {
    /// Released a prepared transaction, or remembered the abort of one never prepared
    /// (so that a late prepare is refused): log `Aborted`.
    Aborted,
    AlreadyAborted,
    /// The transaction was committed here: a protocol violation by the coordinator.
    WasCommitted,
}

#[derive(Debug, Clone)]
struct PreparedTxn {
    deltas: Vec<Delta>,
    /// When it was prepared; `None` when recovered from the log (in doubt at once).
    prepared_at_ms: Option<u64>,
}

/// All state of one participant.
#[derive(Debug, Clone)]
pub struct ParticipantState {
    balances: Balances,
    /// account -> the prepared transaction holding it.
    write_locks: HashMap<String, TxnId>,
    /// read id -> lease expiry; a read lock covers every account of the shard.
    read_locks: HashMap<String, u64>,
    prepared: BTreeMap<TxnId, PreparedTxn>,
    /// Until when a waiting read keeps new prepares out.
    read_intent_until_ms: u64,
    /// The outcome of every finished transaction: true for committed.
    finished: HashMap<TxnId, bool>,
}

impl ParticipantState {
    pub fn new(balances: Balances) -> ParticipantState {
        ParticipantState {
            balances,
            write_locks: HashMap::new(),
            read_locks: HashMap::new(),
            prepared: BTreeMap::new(),
            read_intent_until_ms: 0,
            finished: HashMap::new(),
        }
    }

    /// Rebuilds the state from the log records after the genesis one: committed
    /// transactions are applied, prepared ones without an outcome are locked and in doubt.
    pub fn recover(initial: Balances, records: &[ParticipantRecord]) -> ParticipantState {
        let mut state = ParticipantState::new(initial);
        for record in records {
            match record {
                ParticipantRecord::Genesis { .. } => {}
                ParticipantRecord::Prepared { txn, deltas } => {
                    state.lock(txn, deltas);
                    state.prepared.insert(
                        txn.clone(),
                        PreparedTxn {
                            deltas: deltas.clone(),
                            prepared_at_ms: None,
                        },
                    );
                }
                ParticipantRecord::Committed { txn, deltas } => {
                    state.prepared.remove(txn);
                    state.release(txn);
                    state.apply(deltas);
                    state.finished.insert(txn.clone(), true);
                }
                ParticipantRecord::Aborted { txn } => {
                    state.prepared.remove(txn);
                    state.release(txn);
                    state.finished.insert(txn.clone(), false);
                }
            }
        }
        state
    }

    pub fn balances(&self) -> &Balances {
        &self.balances
    }

    /// Prepared transactions, oldest id first.
    pub fn prepared_txns(&self) -> Vec<TxnId> {
        self.prepared.keys().cloned().collect()
    }

    pub fn read_lock_count(&self) -> usize {
        self.read_locks.len()
    }

    /// Votes on a transaction: locks its accounts if they are free and no balance goes
    /// negative. Locks are never waited for here (the caller retries for a while).
    pub fn prepare(&mut self, txn: &str, deltas: &[Delta], now_ms: u64) -> PrepareOutcome {
        if self.finished.contains_key(txn) {
            return PrepareOutcome::No(NoReason::AlreadyDecided);
        }
        if let Some(prepared) = self.prepared.get(txn) {
            return if prepared.deltas == deltas {
                PrepareOutcome::AlreadyPrepared
            } else {
                PrepareOutcome::No(NoReason::TxnIdReused)
            };
        }
        if let Err(reason) = self.check_prepare(deltas, now_ms) {
            return PrepareOutcome::No(reason);
        }
        self.lock(txn, deltas);
        self.prepared.insert(
            txn.to_string(),
            PreparedTxn {
                deltas: deltas.to_vec(),
                prepared_at_ms: Some(now_ms),
            },
        );
        PrepareOutcome::Prepared
    }

    fn check_prepare(&mut self, deltas: &[Delta], now_ms: u64) -> Result<(), NoReason> {
        if deltas.is_empty()
            || deltas
                .iter()
                .any(|d| !self.balances.contains_key(&d.account))
        {
            return Err(NoReason::UnknownAccount);
        }
        self.expire_read_locks(now_ms);
        let locked = deltas
            .iter()
            .any(|d| self.write_locks.contains_key(&d.account));
        let read_waiting = now_ms < self.read_intent_until_ms;
        if locked || read_waiting || !self.read_locks.is_empty() {
            return Err(NoReason::Locked);
        }
        let mut after = self.balances.clone();
        for delta in deltas {
            let balance = after.get_mut(&delta.account).expect("checked above");
            *balance = balance
                .checked_add(delta.delta)
                .ok_or(NoReason::InsufficientFunds)?;
            if *balance < 0 {
                return Err(NoReason::InsufficientFunds);
            }
        }
        Ok(())
    }

    /// Forgets a prepare whose record could not be made durable (it voted no instead).
    pub fn undo_prepare(&mut self, txn: &str) {
        if self.prepared.remove(txn).is_some() {
            self.release(txn);
        }
    }

    pub fn commit(&mut self, txn: &str) -> CommitOutcome {
        match self.finished.get(txn) {
            Some(true) => return CommitOutcome::AlreadyCommitted,
            Some(false) => return CommitOutcome::WasAborted,
            None => {}
        }
        let Some(prepared) = self.prepared.remove(txn) else {
            return CommitOutcome::NotPrepared;
        };
        self.release(txn);
        self.apply(&prepared.deltas);
        self.finished.insert(txn.to_string(), true);
        CommitOutcome::Applied(prepared.deltas)
    }

    pub fn abort(&mut self, txn: &str) -> AbortOutcome {
        match self.finished.get(txn) {
            Some(true) => return AbortOutcome::WasCommitted,
            Some(false) => return AbortOutcome::AlreadyAborted,
            None => {}
        }
        if self.prepared.remove(txn).is_some() {
            self.release(txn);
        }
        self.finished.insert(txn.to_string(), false);
        AbortOutcome::Aborted
    }

    /// Takes a read lock on the whole shard for `lease_ms` and returns the balances, or
    /// `Err(Locked)` while any transaction is prepared here (and then keeps new prepares
    /// out for [`READ_INTENT_MS`]).
    pub fn read_lock(
        &mut self,
        read: &str,
        lease_ms: u64,
        now_ms: u64,
    ) -> Result<Balances, NoReason> {
        self.expire_read_locks(now_ms);
        if !self.prepared.is_empty() {
            self.read_intent_until_ms = now_ms.saturating_add(READ_INTENT_MS);
            return Err(NoReason::Locked);
        }
        self.read_locks
            .insert(read.to_string(), now_ms.saturating_add(lease_ms));
        Ok(self.balances.clone())
    }

    pub fn read_release(&mut self, read: &str) {
        self.read_locks.remove(read);
    }

    /// Prepared transactions whose outcome should be asked for: recovered ones, and
    /// those prepared at least `older_than_ms` ago. At most `limit`.
    pub fn in_doubt(&self, now_ms: u64, older_than_ms: u64, limit: usize) -> Vec<TxnId> {
        self.prepared
            .iter()
            .filter(|(_, p)| {
                p.prepared_at_ms
                    .is_none_or(|at| now_ms.saturating_sub(at) >= older_than_ms)
            })
            .map(|(txn, _)| txn.clone())
            .take(limit)
            .collect()
    }

    fn expire_read_locks(&mut self, now_ms: u64) {
        self.read_locks.retain(|_, expires_ms| *expires_ms > now_ms);
    }

    fn lock(&mut self, txn: &str, deltas: &[Delta]) {
        for delta in deltas {
            self.write_locks
                .insert(delta.account.clone(), txn.to_string());
        }
    }

    fn release(&mut self, txn: &str) {
        self.write_locks.retain(|_, holder| holder != txn);
    }

    fn apply(&mut self, deltas: &[Delta]) {
        for delta in deltas {
            if let Some(balance) = self.balances.get_mut(&delta.account) {
                *balance += delta.delta;
            } else {
                tracing::error!(account = %delta.account, "committed delta for an account not owned here");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(account: &str, delta: i64) -> Delta {
        Delta {
            account: account.into(),
            delta,
        }
    }

    fn state() -> ParticipantState {
        ParticipantState::new(Balances::from([("a0".into(), 10), ("a2".into(), 10)]))
    }

    #[test]
    fn prepare_locks_until_commit_then_applies() {
        let mut s = state();
        assert_eq!(
            s.prepare("t1", &[delta("a0", -4)], 0),
            PrepareOutcome::Prepared
        );
        assert_eq!(
            s.prepare("t2", &[delta("a0", 1)], 0),
            PrepareOutcome::No(NoReason::Locked)
        );
        assert_eq!(s.balances()["a0"], 10, "nothing applied before commit");
        assert_eq!(
            s.commit("t1"),
            CommitOutcome::Applied(vec![delta("a0", -4)])
        );
        assert_eq!(s.balances()["a0"], 6);
        assert_eq!(
            s.prepare("t2", &[delta("a0", 1)], 0),
            PrepareOutcome::Prepared
        );
        assert_eq!(s.commit("t1"), CommitOutcome::AlreadyCommitted);
    }

    #[test]
    fn overdraft_and_unknown_accounts_vote_no() {
        let mut s = state();
        assert_eq!(
            s.prepare("t1", &[delta("a0", -11)], 0),
            PrepareOutcome::No(NoReason::InsufficientFunds)
        );
        assert_eq!(
            s.prepare("t2", &[delta("a1", 1)], 0),
            PrepareOutcome::No(NoReason::UnknownAccount)
        );
        assert!(s.prepared_txns().is_empty());
    }

    #[test]
    fn repeated_prepare_is_idempotent_but_reuse_is_refused() {
        let mut s = state();
        s.prepare("t1", &[delta("a0", -1)], 0);
        assert_eq!(
            s.prepare("t1", &[delta("a0", -1)], 5),
            PrepareOutcome::AlreadyPrepared
        );
        assert_eq!(
            s.prepare("t1", &[delta("a0", -2)], 5),
            PrepareOutcome::No(NoReason::TxnIdReused)
        );
    }

    #[test]
    fn abort_of_unknown_txn_refuses_a_late_prepare() {
        let mut s = state();
        assert_eq!(s.abort("t1"), AbortOutcome::Aborted);
        assert_eq!(
            s.prepare("t1", &[delta("a0", -1)], 0),
            PrepareOutcome::No(NoReason::AlreadyDecided)
        );
        assert_eq!(s.commit("t1"), CommitOutcome::WasAborted);
        assert_eq!(s.commit("t9"), CommitOutcome::NotPrepared);
    }

    #[test]
    fn read_locks_exclude_prepares_until_released_or_expired() {
        let mut s = state();
        assert!(s.read_lock("r1", 100, 0).is_ok());
        assert_eq!(
            s.prepare("t1", &[delta("a0", -1)], 50),
            PrepareOutcome::No(NoReason::Locked)
        );
        s.read_release("r1");
        assert_eq!(
            s.prepare("t1", &[delta("a0", -1)], 50),
            PrepareOutcome::Prepared
        );
        assert_eq!(s.read_lock("r2", 100, 60), Err(NoReason::Locked));
        assert_eq!(
            s.prepare("t9", &[delta("a2", 1)], 61),
            PrepareOutcome::No(NoReason::Locked),
            "a waiting read keeps new prepares out"
        );
        s.abort("t1");
        s.read_lock("r3", 100, 60).unwrap();
        assert_eq!(
            s.prepare("t2", &[delta("a2", 1)], 161),
            PrepareOutcome::Prepared
        );
    }

    #[test]
    fn recovery_applies_commits_and_keeps_prepared_in_doubt() {
        let records = vec![
            ParticipantRecord::Prepared {
                txn: "t1".into(),
                deltas: vec![delta("a0", -3)],
            },
            ParticipantRecord::Committed {
                txn: "t1".into(),
                deltas: vec![delta("a0", -3)],
            },
            ParticipantRecord::Prepared {
                txn: "t2".into(),
                deltas: vec![delta("a2", 5)],
            },
            ParticipantRecord::Aborted { txn: "t3".into() },
        ];
        let mut s = ParticipantState::recover(state().balances().clone(), &records);
        assert_eq!(s.balances()["a0"], 7);
        assert_eq!(s.balances()["a2"], 10);
        assert_eq!(s.in_doubt(0, 1000, 10), vec!["t2".to_string()]);
        assert_eq!(
            s.prepare("t4", &[delta("a2", 1)], 0),
            PrepareOutcome::No(NoReason::Locked)
        );
        assert_eq!(s.commit("t2"), CommitOutcome::Applied(vec![delta("a2", 5)]));
        assert_eq!(s.balances()["a2"], 15);
        assert_eq!(s.abort("t3"), AbortOutcome::AlreadyAborted);
    }

    #[test]
    fn fresh_prepares_become_in_doubt_only_after_the_delay() {
        let mut s = state();
        s.prepare("t1", &[delta("a0", -1)], 100);
        assert!(s.in_doubt(150, 100, 10).is_empty());
        assert_eq!(s.in_doubt(200, 100, 10), vec!["t1".to_string()]);
    }
}
