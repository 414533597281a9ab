//! The replicated state machine: a map from string keys to JSON values with write,
//! compare-and-set, string append and transactions of micro-ops, plus the client-session
//! table that makes a retried request apply once.
//!
//! # Transactions
//!
//! A [`Command::Txn`] is one log entry holding Elle's micro-ops (`["append", k, v]`,
//! `["w", k, v]`, `["r", k, null]`), applied in order and atomically: they run against an
//! overlay of the map (a read sees the map at this entry plus the txn's own earlier
//! writes), and the overlay is merged only when every micro-op succeeded. An `append` to a
//! key that holds something other than a list (or nothing) aborts the whole txn
//! ([`Outcome::TxnAborted`]) and nothing changes. A key is a JSON string (stored as is)
//! or an integer (stored under its decimal text, so `3` and `"3"` are the same key).
//! Since every replica applies the same entries in order, the store is strict
//! serializable for txns. The dedup table remembers only that a txn applied
//! ([`Outcome::TxnApplied`]), not what it read (lists grow; sessions are in snapshots), so
//! a retried txn is answered "unknown", never applied twice.
//!
//! It is pure (no I/O, no clock): every replica that applies the same commands in the same
//! order reaches the same state, which is what makes it a Raft state machine. The whole
//! structure, dedup table included, is what a snapshot stores.
//!
//! # Bounded sessions
//!
//! The dedup table would otherwise grow with every client id ever seen. As the Raft thesis
//! (Ongaro 2014, §6.3 "Implementing linearizable semantics") requires, sessions expire, and
//! every replica must expire the same ones at the same point or their answers to a retry
//! would differ. The clock is therefore the log itself: the count of commands applied
//! (`applied`, stored in snapshots), not wall time. A session not used in the last
//! [`SESSION_IDLE_HORIZON`] applied commands is evicted as the next command is applied
//! (oldest first, from an index by last use), so at most `SESSION_IDLE_HORIZON` sessions
//! exist at any time: each command uses at most one. etcd bounds its lease and session
//! state the same way, from the applied log rather than from a replica's clock.
//!
//! What expiry gives up, as in the thesis: a retry of a request whose session was evicted
//! cannot be told from a new client's request and is applied. faultline's client retries an
//! operation only until its deadline (about a second), far inside the horizon at any
//! throughput the store reaches (~20k commands/s: 100,000 commands is 5 s).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many answered requests a client session remembers. A client retries only its few
/// most recent requests, so a small window bounds memory without losing real retries.
pub const SESSION_WINDOW: usize = 64;

/// A session unused for this many applied commands is evicted (see the module docs).
pub const SESSION_IDLE_HORIZON: u64 = 100_000;

/// A client's request id: `(client, seq)` from the `/kv` request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestId {
    pub client: String,
    pub seq: u64,
}

/// A state-changing client operation, as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    Write {
        key: String,
        value: Value,
        request: Option<RequestId>,
    },
    Cas {
        key: String,
        from: Value,
        to: Value,
        request: Option<RequestId>,
    },
    /// Appends `value` to the key's string (an absent key counts as the empty string).
    /// Not idempotent: applied twice, the suffix shows twice.
    Append {
        key: String,
        value: String,
        request: Option<RequestId>,
    },
    /// Micro-ops applied in order and atomically (see the module docs).
    Txn {
        ops: Vec<MicroOp>,
        request: Option<RequestId>,
    },
}

impl Command {
    fn request(&self) -> Option<&RequestId> {
        match self {
            Command::Write { request, .. }
            | Command::Cas { request, .. }
            | Command::Append { request, .. }
            | Command::Txn { request, .. } => request.as_ref(),
        }
    }
}

/// A micro-op's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MicroF {
    /// Append the value to the key's list (an absent key is the empty list).
    #[serde(rename = "append")]
    Append,
    /// Write the value to the key.
    #[serde(rename = "w")]
    Write,
    /// Read the key: `null` on the way in, its value (or `null` if absent) on the way out.
    #[serde(rename = "r")]
    Read,
}

/// One micro-op `[f, key, value]`, as Elle's histories write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MicroOp(pub MicroF, pub Value, pub Value);

/// The map key of a micro-op's key: a string as is, an integer as its decimal text.
pub fn micro_op_key(key: &Value) -> Option<String> {
    match key {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// The result of applying a command; also what the dedup table remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Written,
    CasSucceeded,
    CasMismatch {
        current: Value,
    },
    Appended,
    /// An append to a key whose value is not a string (nor absent): nothing changed.
    NotAString {
        current: Value,
    },
    /// A txn applied; its micro-ops with every read filled in.
    TxnCommitted {
        ops: Vec<MicroOp>,
    },
    /// A txn that changed nothing, and why (an append to a key that holds no list).
    TxnAborted {
        reason: String,
    },
    /// What the dedup table remembers of a committed txn: that it applied (its reads are
    /// not kept, see the module docs).
    TxnApplied,
    /// A retried request older than the session window: whether it applied is no longer
    /// known, so it is neither applied again nor reported as done.
    Expired,
}

/// One client's remembered outcomes, by sequence number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Session {
    outcomes: BTreeMap<u64, Outcome>,
    /// The machine's `applied` count when this session last carried a request.
    #[serde(default)]
    last_used: u64,
}

/// The key-value map and the dedup table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    data: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Session>,
    /// Commands applied so far: the deterministic clock sessions expire by.
    #[serde(default)]
    applied: u64,
    /// `(last_used, client)` of every session, oldest first: what expires next. Derived
    /// from `sessions`, so not stored in snapshots (rebuilt on load).
    #[serde(skip)]
    by_last_use: BTreeSet<(u64, String)>,
    /// Off only under the planted bug `no-dedup`.
    #[serde(skip, default = "default_true")]
    dedup_enabled: bool,
}

fn default_true() -> bool {
    true
}

/// A snapshot that does not parse as a state machine.
#[derive(Debug, thiserror::Error)]
#[error("invalid state machine snapshot: {0}")]
pub struct SnapshotDecodeError(#[from] serde_json::Error);

impl StateMachine {
    /// An empty store; `dedup_enabled` is false only for the planted bug `no-dedup`.
    pub fn new(dedup_enabled: bool) -> StateMachine {
        StateMachine {
            data: BTreeMap::new(),
            sessions: BTreeMap::new(),
            applied: 0,
            by_last_use: BTreeSet::new(),
            dedup_enabled,
        }
    }

    /// The current value of `key`, `null` when absent.
    pub fn read(&self, key: &str) -> Value {
        self.data.get(key).cloned().unwrap_or(Value::Null)
    }

    /// Applies one committed command and returns its outcome (the remembered one for a
    /// duplicate request id).
    pub fn apply(&mut self, command: &Command) -> Outcome {
        self.applied += 1;
        self.evict_idle_sessions();
        let request = command.request().filter(|_| self.dedup_enabled);
        if let Some(request) = request {
            self.touch_session(&request.client);
        }
        if let Some(known) = request.and_then(|request| self.remembered(request)) {
            return known;
        }
        let outcome = self.execute(command);
        if let Some(request) = request {
            let remembered = match &outcome {
                Outcome::TxnCommitted { .. } => Outcome::TxnApplied,
                other => other.clone(),
            };
            self.remember(request, remembered);
        }
        outcome
    }

    /// Drops every session not used in the last [`SESSION_IDLE_HORIZON`] applied
    /// commands. A pure function of the applied commands, so every replica drops the same
    /// sessions at the same command.
    fn evict_idle_sessions(&mut self) {
        while let Some((last_used, _)) = self.by_last_use.first()
            && last_used + SESSION_IDLE_HORIZON <= self.applied
        {
            let (_, client) = self.by_last_use.pop_first().expect("first exists");
            self.sessions.remove(&client);
        }
        debug_assert_eq!(self.sessions.len(), self.by_last_use.len());
    }

    /// Marks `client`'s session (created if new) as used by the command being applied.
    fn touch_session(&mut self, client: &str) {
        let applied = self.applied;
        match self.sessions.get_mut(client) {
            Some(session) => {
                let key = (session.last_used, client.to_string());
                self.by_last_use.remove(&key);
                session.last_used = applied;
                self.by_last_use.insert((applied, key.1));
            }
            None => {
                self.sessions.insert(
                    client.to_string(),
                    Session {
                        outcomes: BTreeMap::new(),
                        last_used: applied,
                    },
                );
                self.by_last_use.insert((applied, client.to_string()));
            }
        }
    }

    /// Client sessions the dedup table holds.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Commands applied so far (the sessions' clock).
    pub fn applied(&self) -> u64 {
        self.applied
    }

    fn remembered(&self, request: &RequestId) -> Option<Outcome> {
        let session = self.sessions.get(&request.client)?;
        if let Some(outcome) = session.outcomes.get(&request.seq) {
            return Some(outcome.clone());
        }
        let oldest = session.outcomes.keys().next().copied()?;
        let window_full = session.outcomes.len() >= SESSION_WINDOW;
        (window_full && request.seq < oldest).then_some(Outcome::Expired)
    }

    fn remember(&mut self, request: &RequestId, outcome: Outcome) {
        let session = self
            .sessions
            .get_mut(&request.client)
            .expect("apply touched the session first");
        session.outcomes.insert(request.seq, outcome);
        while session.outcomes.len() > SESSION_WINDOW {
            session.outcomes.pop_first();
        }
    }

    fn execute(&mut self, command: &Command) -> Outcome {
        match command {
            Command::Write { key, value, .. } => {
                self.data.insert(key.clone(), value.clone());
                Outcome::Written
            }
            Command::Cas { key, from, to, .. } => {
                let current = self.read(key);
                if &current == from {
                    self.data.insert(key.clone(), to.clone());
                    Outcome::CasSucceeded
                } else {
                    Outcome::CasMismatch { current }
                }
            }
            Command::Append { key, value, .. } => self.append(key, value),
            Command::Txn { ops, .. } => match self.run_txn(ops) {
                Ok((done, overlay)) => {
                    self.data.extend(overlay);
                    Outcome::TxnCommitted { ops: done }
                }
                Err(reason) => Outcome::TxnAborted { reason },
            },
        }
    }

    /// What a txn would read and write if applied now, without changing anything: the
    /// micro-ops with reads filled in, and the keys it writes with their new values.
    fn run_txn(&self, ops: &[MicroOp]) -> Result<(Vec<MicroOp>, BTreeMap<String, Value>), String> {
        let mut overlay: BTreeMap<String, Value> = BTreeMap::new();
        let mut done = Vec::with_capacity(ops.len());
        for MicroOp(f, key, value) in ops {
            let name = micro_op_key(key)
                .ok_or_else(|| format!("a micro-op's key is a string or an integer, not {key}"))?;
            let current = overlay
                .get(&name)
                .or_else(|| self.data.get(&name))
                .cloned()
                .unwrap_or(Value::Null);
            match f {
                MicroF::Read => done.push(MicroOp(*f, key.clone(), current)),
                MicroF::Write => {
                    overlay.insert(name, value.clone());
                    done.push(MicroOp(*f, key.clone(), value.clone()));
                }
                MicroF::Append => {
                    let list = match current {
                        Value::Null => vec![value.clone()],
                        Value::Array(mut list) => {
                            list.push(value.clone());
                            list
                        }
                        other => return Err(format!("append to key {name}, which holds {other}, not a list")),
                    };
                    overlay.insert(name, Value::Array(list));
                    done.push(MicroOp(*f, key.clone(), value.clone()));
                }
            }
        }
        Ok((done, overlay))
    }

    /// The micro-ops with their reads filled in from the current state, as if the txn were
    /// applied now, changing nothing. Only the planted bug `txn-reads-before-commit`
    /// answers a client with this.
    pub fn preview_txn(&self, ops: &[MicroOp]) -> Result<Vec<MicroOp>, String> {
        self.run_txn(ops).map(|(done, _)| done)
    }

    fn append(&mut self, key: &str, suffix: &str) -> Outcome {
        match self.data.get_mut(key) {
            None => {
                self.data
                    .insert(key.to_string(), Value::String(suffix.to_string()));
                Outcome::Appended
            }
            Some(Value::String(text)) => {
                text.push_str(suffix);
                Outcome::Appended
            }
            Some(other) => Outcome::NotAString {
                current: other.clone(),
            },
        }
    }

    /// The whole state (map and sessions) as JSON, for a snapshot.
    pub fn to_snapshot_json(&self) -> String {
        serde_json::to_string(self).expect("a map of JSON values always serializes")
    }

    /// Rebuilds a state machine from `to_snapshot_json` output.
    pub fn from_snapshot_json(
        json: &str,
        dedup_enabled: bool,
    ) -> Result<StateMachine, SnapshotDecodeError> {
        let mut machine: StateMachine = serde_json::from_str(json)?;
        machine.dedup_enabled = dedup_enabled;
        machine.by_last_use = machine
            .sessions
            .iter()
            .map(|(client, session)| (session.last_used, client.clone()))
            .collect();
        Ok(machine)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn write(key: &str, value: Value, seq: Option<u64>) -> Command {
        Command::Write {
            key: key.into(),
            value,
            request: seq.map(|seq| RequestId {
                client: "c1".into(),
                seq,
            }),
        }
    }

    fn cas(key: &str, from: Value, to: Value, seq: Option<u64>) -> Command {
        Command::Cas {
            key: key.into(),
            from,
            to,
            request: seq.map(|seq| RequestId {
                client: "c1".into(),
                seq,
            }),
        }
    }

    #[test]
    fn read_of_absent_key_is_null() {
        assert_eq!(StateMachine::new(true).read("k"), Value::Null);
    }

    #[test]
    fn write_then_read() {
        let mut machine = StateMachine::new(true);
        assert_eq!(machine.apply(&write("k", json!(3), None)), Outcome::Written);
        assert_eq!(machine.read("k"), json!(3));
    }

    #[test]
    fn cas_succeeds_only_when_current_matches() {
        let mut machine = StateMachine::new(true);
        machine.apply(&write("k", json!(1), None));
        assert_eq!(
            machine.apply(&cas("k", json!(2), json!(3), None)),
            Outcome::CasMismatch { current: json!(1) }
        );
        assert_eq!(machine.read("k"), json!(1));
        assert_eq!(
            machine.apply(&cas("k", json!(1), json!(3), None)),
            Outcome::CasSucceeded
        );
        assert_eq!(machine.read("k"), json!(3));
    }

    #[test]
    fn cas_from_null_matches_absent_key() {
        let mut machine = StateMachine::new(true);
        assert_eq!(
            machine.apply(&cas("k", Value::Null, json!(1), None)),
            Outcome::CasSucceeded
        );
        assert_eq!(machine.read("k"), json!(1));
    }

    #[test]
    fn retried_request_applies_once_and_returns_first_outcome() {
        let mut machine = StateMachine::new(true);
        machine.apply(&write("k", json!(1), None));
        let retried = cas("k", json!(1), json!(2), Some(7));
        assert_eq!(machine.apply(&retried), Outcome::CasSucceeded);
        // Another client moves the value back; the retry must not apply again.
        machine.apply(&write("k", json!(1), None));
        assert_eq!(machine.apply(&retried), Outcome::CasSucceeded);
        assert_eq!(machine.read("k"), json!(1));
    }

    #[test]
    fn no_dedup_bug_applies_retries_again() {
        let mut machine = StateMachine::new(false);
        machine.apply(&write("k", json!(1), None));
        let retried = cas("k", json!(1), json!(2), Some(7));
        machine.apply(&retried);
        machine.apply(&write("k", json!(1), None));
        machine.apply(&retried);
        assert_eq!(machine.read("k"), json!(2));
    }

    #[test]
    fn requests_older_than_the_window_are_expired_not_reapplied() {
        let mut machine = StateMachine::new(true);
        for seq in 0..(SESSION_WINDOW as u64 + 10) {
            machine.apply(&write("k", json!(seq), Some(seq)));
        }
        assert_eq!(
            machine.apply(&write("k", json!("old"), Some(0))),
            Outcome::Expired
        );
        assert_ne!(machine.read("k"), json!("old"));
    }

    #[test]
    fn snapshot_round_trip_keeps_data_and_sessions() {
        let mut machine = StateMachine::new(true);
        machine.apply(&write("a", json!({"x": [1, 2]}), Some(1)));
        let restored = StateMachine::from_snapshot_json(&machine.to_snapshot_json(), true)
            .expect("own snapshot parses");
        assert_eq!(restored, machine);
        let mut restored = restored;
        assert_eq!(
            restored.apply(&write("a", json!(9), Some(1))),
            Outcome::Written
        );
        assert_eq!(restored.read("a"), json!({"x": [1, 2]}));
    }

    fn append(key: &str, suffix: &str, seq: Option<u64>) -> Command {
        Command::Append {
            key: key.into(),
            value: suffix.into(),
            request: seq.map(|seq| RequestId {
                client: "c1".into(),
                seq,
            }),
        }
    }

    #[test]
    fn append_concatenates_from_the_empty_string() {
        let mut machine = StateMachine::new(true);
        assert_eq!(machine.apply(&append("k", " 1", None)), Outcome::Appended);
        assert_eq!(machine.apply(&append("k", " 2", None)), Outcome::Appended);
        assert_eq!(machine.read("k"), json!(" 1 2"));
    }

    #[test]
    fn append_to_a_non_string_changes_nothing() {
        let mut machine = StateMachine::new(true);
        machine.apply(&write("k", json!(5), None));
        assert_eq!(
            machine.apply(&append("k", " 1", None)),
            Outcome::NotAString { current: json!(5) }
        );
        assert_eq!(machine.read("k"), json!(5));
    }

    #[test]
    fn retried_append_applies_once_with_dedup_and_twice_without() {
        let mut correct = StateMachine::new(true);
        let mut buggy = StateMachine::new(false);
        for machine in [&mut correct, &mut buggy] {
            machine.apply(&append("k", " 1", Some(1)));
            machine.apply(&append("k", " 2", Some(2)));
            // The retry of seq 2 answers with the first outcome.
            assert_eq!(
                machine.apply(&append("k", " 2", Some(2))),
                Outcome::Appended
            );
        }
        assert_eq!(correct.read("k"), json!(" 1 2"));
        assert_eq!(buggy.read("k"), json!(" 1 2 2"));
    }

    fn write_as(client: &str, seq: u64, value: Value) -> Command {
        Command::Write {
            key: "k".into(),
            value,
            request: Some(RequestId {
                client: client.into(),
                seq,
            }),
        }
    }

    /// Raft thesis §6.3 (Implementing linearizable semantics): sessions must expire, and
    /// every replica must expire the same ones. Two replicas apply the same stream of
    /// requests from ever new clients, one of them through a snapshot taken in the middle:
    /// the table stays bounded, the replicas stay identical at every step, and a client
    /// that keeps using its session is never evicted.
    #[test]
    fn idle_sessions_expire_deterministically_per_raft_thesis_6_3() {
        let mut leader = StateMachine::new(true);
        let mut follower = StateMachine::new(true);
        let total = SESSION_IDLE_HORIZON * 2 + 500;
        let bound = SESSION_IDLE_HORIZON as usize;
        let mut max_sessions = 0;
        for n in 0..total {
            // Every 100th command comes from one long-lived client; the others from a
            // client used once.
            let command = if n % 100 == 0 {
                write_as("steady", n, json!(n))
            } else {
                write_as(&format!("once-{n}"), 1, json!(n))
            };
            let outcome = leader.apply(&command);
            assert_eq!(follower.apply(&command), outcome);
            max_sessions = max_sessions.max(leader.session_count());
            if n == total / 2 {
                follower = StateMachine::from_snapshot_json(&follower.to_snapshot_json(), true)
                    .expect("own snapshot parses");
            }
            if n % (SESSION_IDLE_HORIZON / 2) == 7 {
                assert_eq!(follower, leader, "replicas diverged at command {n}");
            }
        }
        assert_eq!(follower, leader);
        assert_eq!(leader.applied(), total);
        assert!(
            max_sessions <= bound,
            "{max_sessions} sessions, bound {bound}"
        );
        let recent_clients = (total - SESSION_IDLE_HORIZON..total)
            .filter(|n| n % 100 != 0)
            .count()
            + 1;
        assert_eq!(
            leader.session_count(),
            recent_clients,
            "exactly the clients of the last {bound} commands are kept"
        );
        // The steady client's session survived: its retry is still answered from the table.
        let last_steady = (total - 1) / 100 * 100;
        let retry = write_as("steady", last_steady, json!("retried"));
        assert_eq!(leader.apply(&retry), Outcome::Written);
        assert_ne!(leader.read("k"), json!("retried"));
        // A client used once, long past the horizon, is gone from every replica.
        assert!(!leader.sessions.contains_key("once-1"));
        assert!(!follower.sessions.contains_key("once-1"));
        assert!(leader.sessions.contains_key(&format!("once-{}", total - 1)));
    }

    /// Snapshots written before sessions expired (no `applied`, no `last_used`) still load.
    #[test]
    fn a_snapshot_without_session_clocks_loads() {
        let old = r#"{"data":{"k":1},"sessions":{"c1":{"outcomes":{"3":{"outcome":"written"}}}}}"#;
        let mut machine = StateMachine::from_snapshot_json(old, true).expect("old snapshot");
        assert_eq!(machine.applied(), 0);
        assert_eq!(
            machine.apply(&write("k", json!(2), Some(3))),
            Outcome::Written
        );
        assert_eq!(machine.read("k"), json!(1), "the retry is still recognised");
    }

    fn txn(ops: Value, seq: Option<u64>) -> Command {
        Command::Txn {
            ops: serde_json::from_value(ops).expect("micro-ops"),
            request: seq.map(|seq| RequestId {
                client: "c1".into(),
                seq,
            }),
        }
    }

    fn committed(outcome: Outcome) -> Value {
        match outcome {
            Outcome::TxnCommitted { ops } => serde_json::to_value(ops).expect("serialises"),
            other => panic!("expected a committed txn, got {other:?}"),
        }
    }

    #[test]
    fn txn_reads_see_the_state_at_the_entry_and_their_own_writes() {
        let mut machine = StateMachine::new(true);
        let first = machine.apply(&txn(json!([["r", 1, null], ["append", 1, 5], ["r", 1, null]]), None));
        assert_eq!(committed(first), json!([["r", 1, null], ["append", 1, 5], ["r", 1, [5]]]));
        let second = machine.apply(&txn(
            json!([["append", 1, 6], ["append", "k", 7], ["r", 1, null], ["r", "k", null]]),
            None,
        ));
        assert_eq!(
            committed(second),
            json!([["append", 1, 6], ["append", "k", 7], ["r", 1, [5, 6]], ["r", "k", [7]]])
        );
        // An integer key is stored under its decimal text.
        assert_eq!(machine.read("1"), json!([5, 6]));
        let register = machine.apply(&txn(json!([["w", 2, 9], ["r", 2, null], ["r", 3, null]]), None));
        assert_eq!(committed(register), json!([["w", 2, 9], ["r", 2, 9], ["r", 3, null]]));
    }

    /// Atomicity: a txn whose last micro-op cannot apply changes nothing, not even the
    /// keys its earlier micro-ops wrote.
    #[test]
    fn a_txn_that_fails_part_way_changes_nothing() {
        let mut machine = StateMachine::new(true);
        machine.apply(&write("reg", json!(4), None));
        machine.apply(&txn(json!([["append", "list", 1]]), None));
        let before = machine.clone();
        let outcome = machine.apply(&txn(
            json!([["append", "list", 2], ["w", "other", 3], ["append", "reg", 5]]),
            None,
        ));
        assert!(matches!(outcome, Outcome::TxnAborted { ref reason } if reason.contains("not a list")), "{outcome:?}");
        assert_eq!(machine.data, before.data);
        assert_eq!(machine.read("list"), json!([1]));
        assert_eq!(machine.read("other"), Value::Null);
        let bad_key = machine.apply(&txn(json!([["w", "x", 1], ["w", [1], 2]]), None));
        assert!(matches!(bad_key, Outcome::TxnAborted { .. }));
        assert_eq!(machine.read("x"), Value::Null);
    }

    #[test]
    fn a_retried_txn_applies_once_and_is_answered_without_reads() {
        let mut machine = StateMachine::new(true);
        let retried = txn(json!([["append", 1, 1], ["r", 1, null]]), Some(4));
        committed(machine.apply(&retried));
        assert_eq!(machine.apply(&retried), Outcome::TxnApplied);
        assert_eq!(machine.read("1"), json!([1]));
        let mut buggy = StateMachine::new(false);
        committed(buggy.apply(&retried));
        committed(buggy.apply(&retried));
        assert_eq!(buggy.read("1"), json!([1, 1]));
    }

    #[test]
    fn preview_reads_like_apply_and_changes_nothing() {
        let mut machine = StateMachine::new(true);
        machine.apply(&txn(json!([["append", 1, 1]]), None));
        let ops: Vec<MicroOp> =
            serde_json::from_value(json!([["append", 1, 2], ["r", 1, null]])).expect("ops");
        let preview = machine.preview_txn(&ops).expect("applies");
        assert_eq!(machine.read("1"), json!([1]));
        let applied = machine.apply(&Command::Txn { ops, request: None });
        assert_eq!(serde_json::to_value(preview).expect("json"), committed(applied));
    }

    #[test]
    fn garbage_snapshot_is_an_error() {
        assert!(StateMachine::from_snapshot_json("{not json", true).is_err());
    }
}
