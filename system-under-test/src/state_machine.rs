//! The replicated state machine: a map from string keys to JSON values with write,
//! compare-and-set and string append, plus the client-session table that makes a retried request apply once.
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
}

impl Command {
    fn request(&self) -> Option<&RequestId> {
        match self {
            Command::Write { request, .. }
            | Command::Cas { request, .. }
            | Command::Append { request, .. } => request.as_ref(),
        }
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
            self.remember(request, outcome.clone());
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
        }
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

    #[test]
    fn garbage_snapshot_is_an_error() {
        assert!(StateMachine::from_snapshot_json("{not json", true).is_err());
    }
}
