//! The Raft protocol as a pure state machine: `Engine::step` takes one [`Input`] (a tick
//! with the time, a peer message, a client proposal or read, a persistence completion) and
//! queues [`Action`]s (persist, send, apply, answer) that `Engine::drain_actions` hands to
//! the caller. No sockets, files or clock reads live here, and the election jitter comes
//! from a seeded ChaCha generator, so a test can drive several engines deterministically.
//!
//! Implemented: section 5 of the Raft paper (elections, log replication with the
//! consistency check and the conflict-term back-off, the election restriction, commit by
//! counting current-term replicas), PreVote and CheckQuorum with leader stickiness (as in
//! etcd), snapshots with InstallSnapshot, ReadIndex reads and pipelined replication in
//! which the leader sends entries before its own fsync and counts itself only after it.
//!
//! The handlers live in one file per concern, as openraft splits its handlers: [`time`]
//! (ticks, CheckQuorum, stickiness), [`elections`] (PreVote, votes, role changes),
//! [`messages`] (the term rules and one handler per peer message), [`replication`] (the
//! leader's appends, flow control, commitment, apply) and [`clients`] (proposals and
//! ReadIndex); [`invariants`] holds the engine's own assertions, which stop the engine on
//! a state the Raft rules make impossible. This file holds the types, the state and
//! `step`, the one entry point.

mod clients;
mod elections;
mod invariants;
mod messages;
mod replication;
mod time;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use self::invariants::InvariantViolation;
use super::log::Log;
use super::types::{Entry, HardState, Message, NodeId, SnapshotMeta};
use crate::bug::Bug;
use crate::state_machine::Command;

/// Tuning and identity of one engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub id: NodeId,
    /// The other members of the cluster.
    pub peers: Vec<NodeId>,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_ms: u64,
    /// Largest number of entries in one AppendEntries.
    pub max_entries_per_message: usize,
    /// Unacknowledged AppendEntries with entries a leader keeps in flight to one follower.
    pub max_inflight_messages: usize,
    /// Entries kept in the log below a new snapshot, so that a follower a little behind
    /// catches up from the log instead of needing the whole snapshot.
    pub log_retain_entries: u64,
    pub bug: Option<Bug>,
    /// Seeds the election-timeout jitter.
    pub seed: u64,
}

/// What the node recovered from disk.
#[derive(Debug, Clone, Default)]
pub struct InitialState {
    pub hard_state: HardState,
    pub snapshot: SnapshotMeta,
    pub log_offset: u64,
    pub log_offset_term: u64,
    pub entries: Vec<Entry>,
}

/// An event for the engine.
#[derive(Debug, Clone)]
pub enum Input {
    /// Time passes; `now_ms` is monotonic milliseconds from any fixed origin.
    Tick { now_ms: u64 },
    /// A message from a peer.
    Receive { from: NodeId, message: Message },
    /// A client write or cas; `token` identifies it in the answer.
    Propose { token: u64, command: Command },
    /// A client read; answered by `ReadReady` once it is safe to read at some index.
    Read { token: u64 },
    /// The log is durable up to `index`, whose entry has `term`.
    LogPersisted { index: u64, term: u64 },
    /// A snapshot of the state machine up to `meta.index` is durable.
    SnapshotPersisted { meta: SnapshotMeta },
}

/// Something the caller must do. Actions are ordered: persistence actions must reach the
/// disk in order, and a `Send` with `after_persist` must not leave before every
/// persistence action queued before it is durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    PersistHardState(HardState),
    /// Append `entries` to the durable log. If the first index is not just after the last
    /// one written, the durable log is first cut back to just before it.
    AppendLog {
        entries: Vec<Entry>,
    },
    Send {
        to: NodeId,
        message: Message,
        after_persist: bool,
    },
    /// Send the latest durable snapshot to `to` in an InstallSnapshot of `term`.
    SendSnapshot {
        to: NodeId,
        term: u64,
        read_seq: u64,
    },
    /// Replace the state machine and the durable log with this snapshot.
    InstallSnapshot {
        meta: SnapshotMeta,
        data: String,
    },
    /// Rewrite the durable log as: compacted up to (`offset`, `offset_term`), then `entries`.
    CompactLog {
        offset: u64,
        offset_term: u64,
        entries: Vec<Entry>,
    },
    /// Apply these committed entries to the state machine, in order.
    Apply {
        entries: Vec<Entry>,
    },
    Proposed {
        token: u64,
        index: u64,
        term: u64,
    },
    ProposalRefused {
        token: u64,
        leader: Option<NodeId>,
    },
    /// The read may be answered once the state machine has applied `index`.
    ReadReady {
        token: u64,
        index: u64,
    },
    ReadRefused {
        token: u64,
        leader: Option<NodeId>,
    },
    /// This node stopped being leader: its unanswered proposals have an unknown fate.
    LeadershipLost {
        term: u64,
    },
}

/// A node's role; a pre-candidate is a follower testing whether it could win.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplicationState {
    /// Find the match point: one AppendEntries at a time.
    Probe { sent: bool },
    /// Matched: stream entries optimistically.
    Replicate,
    /// Waiting for an InstallSnapshot answer.
    Snapshot { sent_at_ms: u64 },
}

/// The leader's view of one follower.
#[derive(Debug, Clone)]
struct Progress {
    match_index: u64,
    next_index: u64,
    state: ReplicationState,
    /// Last index of each unacknowledged AppendEntries carrying entries.
    inflight: VecDeque<u64>,
    /// Heard from this follower since the last CheckQuorum.
    active: bool,
    read_seq_acked: u64,
}

#[derive(Debug, Clone)]
struct PendingRead {
    token: u64,
    index: u64,
    seq: u64,
}

/// The Raft state of one node.
pub struct Engine {
    cfg: EngineConfig,
    rng: ChaCha8Rng,
    now_ms: u64,
    hard: HardState,
    role: Role,
    leader: Option<NodeId>,
    log: Log,
    snapshot: SnapshotMeta,
    commit_index: u64,
    applied_index: u64,
    /// The local log is durable up to here (the leader's own "match index").
    persisted_index: u64,
    election_deadline_ms: u64,
    leader_contact_ms: Option<u64>,
    votes: BTreeSet<NodeId>,
    progress: BTreeMap<NodeId, Progress>,
    heartbeat_deadline_ms: u64,
    check_quorum_deadline_ms: u64,
    /// Index of the no-op this leader appended; reads wait until it is committed.
    term_start_index: u64,
    read_seq: u64,
    pending_reads: VecDeque<PendingRead>,
    reads_awaiting_term_commit: Vec<u64>,
    unsent_entries: bool,
    actions: Vec<Action>,
    /// Set when an invariant check failed without a planted bug: the engine has stopped.
    violation: Option<InvariantViolation>,
}

impl Engine {
    /// An engine starting as a follower from recovered state at time `now_ms`.
    pub fn new(cfg: EngineConfig, initial: InitialState, now_ms: u64) -> Engine {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let log = Log::new(initial.log_offset, initial.log_offset_term, initial.entries);
        let persisted_index = log.last_index();
        let mut engine = Engine {
            cfg,
            rng,
            now_ms,
            hard: initial.hard_state,
            role: Role::Follower,
            leader: None,
            log,
            snapshot: initial.snapshot,
            commit_index: initial.snapshot.index,
            applied_index: initial.snapshot.index,
            persisted_index,
            election_deadline_ms: 0,
            leader_contact_ms: None,
            votes: BTreeSet::new(),
            progress: BTreeMap::new(),
            heartbeat_deadline_ms: 0,
            check_quorum_deadline_ms: 0,
            term_start_index: 0,
            read_seq: 0,
            pending_reads: VecDeque::new(),
            reads_awaiting_term_commit: Vec::new(),
            unsent_entries: false,
            actions: Vec::new(),
            violation: None,
        };
        engine.reset_election_deadline();
        engine.check_recovered_state();
        engine
    }

    pub fn id(&self) -> &NodeId {
        &self.cfg.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn term(&self) -> u64 {
        self.hard.term
    }
    pub fn leader(&self) -> Option<&NodeId> {
        self.leader.as_ref()
    }
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }
    pub fn last_log_index(&self) -> u64 {
        self.log.last_index()
    }
    pub fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot
    }
    pub fn hard_state(&self) -> &HardState {
        &self.hard
    }
    /// The term of the entry at `index`, if the log still holds it.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        self.log.term_at(index)
    }

    fn bug(&self, bug: Bug) -> bool {
        self.cfg.bug == Some(bug)
    }

    fn quorum(&self) -> usize {
        let cluster_size = self.cfg.peers.len() + 1;
        cluster_size / 2 + 1
    }

    /// Feeds one event to the engine. A stopped engine (see [`Engine::violation`]) ignores
    /// it.
    pub fn step(&mut self, input: Input) {
        if self.violation.is_some() {
            return;
        }
        let before = self.checkpoint();
        match input {
            Input::Tick { now_ms } => {
                self.now_ms = self.now_ms.max(now_ms);
                self.tick();
            }
            Input::Receive { from, message } => {
                if self.cfg.peers.contains(&from) {
                    self.receive(from, message);
                }
            }
            Input::Propose { token, command } => self.propose(token, command),
            Input::Read { token } => self.read(token),
            Input::LogPersisted { index, term } => self.log_persisted(index, term),
            Input::SnapshotPersisted { meta } => self.snapshot_persisted(meta),
        }
        // The planted bugs break these rules on purpose: with one on, the checks stay off.
        if self.violation.is_none() && self.cfg.bug.is_none() {
            self.check_invariants(&before);
        }
    }

    /// The actions queued since the last call. Entries appended by proposals since then
    /// are sent to followers here, so that a burst of proposals travels in one message.
    /// A stopped engine has nothing to do.
    pub fn drain_actions(&mut self) -> Vec<Action> {
        if self.violation.is_some() {
            self.actions.clear();
            return Vec::new();
        }
        if self.unsent_entries && self.role == Role::Leader {
            self.broadcast_append(false);
        }
        self.unsent_entries = false;
        std::mem::take(&mut self.actions)
    }

    fn send(&mut self, to: &NodeId, message: Message) {
        // Only a leader's replication traffic may leave before the local disk caught up;
        // every vote and every acknowledgement depends on what was persisted before it.
        let leader_traffic = matches!(message, Message::AppendEntries { .. });
        let after_persist = !leader_traffic && !self.bug(Bug::AckBeforeWrite);
        self.actions.push(Action::Send {
            to: to.clone(),
            message,
            after_persist,
        });
    }

    fn persist_hard_state(&mut self) {
        self.actions
            .push(Action::PersistHardState(self.hard.clone()));
    }

    fn reset_election_deadline(&mut self) {
        let timeout_ms = self
            .rng
            .random_range(self.cfg.election_timeout_min_ms..=self.cfg.election_timeout_max_ms);
        self.election_deadline_ms = self.now_ms + timeout_ms;
    }
}
