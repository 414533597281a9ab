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

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::log::Log;
use super::types::{Entry, HardState, Message, NodeId, Payload, SnapshotMeta};
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
        };
        engine.reset_election_deadline();
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

    /// Feeds one event to the engine.
    pub fn step(&mut self, input: Input) {
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
    }

    /// The actions queued since the last call. Entries appended by proposals since then
    /// are sent to followers here, so that a burst of proposals travels in one message.
    pub fn drain_actions(&mut self) -> Vec<Action> {
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

    // ----- time -----

    fn tick(&mut self) {
        if self.role == Role::Leader {
            if self.now_ms >= self.heartbeat_deadline_ms {
                self.heartbeat_deadline_ms = self.now_ms + self.cfg.heartbeat_ms;
                self.broadcast_append(true);
            }
            // The planted stale-read bug trusts a read lease it never checks: such a leader
            // keeps serving reads until it hears of a higher term, so it must not notice
            // its isolation through CheckQuorum either.
            if self.now_ms >= self.check_quorum_deadline_ms && !self.bug(Bug::StaleRead) {
                self.check_quorum();
            }
        } else if self.now_ms >= self.election_deadline_ms {
            self.start_pre_vote();
        }
    }

    /// CheckQuorum: a leader that has not heard from a majority within an election
    /// timeout steps down, so a partitioned leader stops accepting requests.
    fn check_quorum(&mut self) {
        self.check_quorum_deadline_ms = self.now_ms + self.cfg.election_timeout_max_ms;
        let active = 1 + self.progress.values().filter(|p| p.active).count();
        if active < self.quorum() {
            let term = self.hard.term;
            self.become_follower(term, None);
            return;
        }
        for progress in self.progress.values_mut() {
            progress.active = false;
        }
    }

    /// Leader stickiness: a node that heard from a live leader within the minimum election
    /// timeout (or is that leader) ignores attempts to replace it.
    fn in_lease(&self) -> bool {
        match self.role {
            Role::Leader => true,
            Role::Follower => {
                self.leader.is_some()
                    && self.leader_contact_ms.is_some_and(|contact_ms| {
                        self.now_ms.saturating_sub(contact_ms) < self.cfg.election_timeout_min_ms
                    })
            }
            Role::PreCandidate | Role::Candidate => false,
        }
    }

    // ----- elections -----

    /// PreVote (thesis section 9.6): ask whether an election could be won before
    /// disturbing anyone with a higher term.
    fn start_pre_vote(&mut self) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes = BTreeSet::from([self.cfg.id.clone()]);
        self.reset_election_deadline();
        if self.votes.len() >= self.quorum() {
            self.start_election();
            return;
        }
        let message = Message::PreVote {
            term: self.hard.term + 1,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.cfg.peers.clone() {
            self.send(&peer, message.clone());
        }
    }

    fn start_election(&mut self) {
        self.role = Role::Candidate;
        self.hard.term += 1;
        self.hard.voted_for = Some(self.cfg.id.clone());
        self.persist_hard_state();
        self.leader = None;
        self.votes = BTreeSet::from([self.cfg.id.clone()]);
        self.reset_election_deadline();
        if self.votes.len() >= self.quorum() {
            self.become_leader();
            return;
        }
        let message = Message::RequestVote {
            term: self.hard.term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.cfg.peers.clone() {
            self.send(&peer, message.clone());
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id.clone());
        let next_index = self.log.last_index() + 1;
        self.progress = self
            .cfg
            .peers
            .iter()
            .map(|peer| {
                let progress = Progress {
                    match_index: 0,
                    next_index,
                    state: ReplicationState::Probe { sent: false },
                    inflight: VecDeque::new(),
                    active: true,
                    read_seq_acked: 0,
                };
                (peer.clone(), progress)
            })
            .collect();
        self.heartbeat_deadline_ms = self.now_ms + self.cfg.heartbeat_ms;
        self.check_quorum_deadline_ms = self.now_ms + self.cfg.election_timeout_max_ms;
        if self.bug(Bug::CommitOldTerm) {
            // The planted bug is an implementation that commits by counting replicas of
            // any entry: it has no use for a term-start no-op (which exists to give a new
            // leader a current-term entry to commit), and trusts its commit index once the
            // log it was elected with is committed, by count. Without the no-op, an old
            // entry committed by count is not followed by a current-term entry on the same
            // majority, which is what leaves the figure 8 overwrite open.
            self.term_start_index = self.log.last_index();
        } else {
            let (index, _) = self.append_as_leader(Payload::Noop);
            self.term_start_index = index;
        }
        self.broadcast_append(false);
        self.maybe_commit();
    }

    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        let was_leader = self.role == Role::Leader;
        if term > self.hard.term {
            self.hard.term = term;
            self.hard.voted_for = None;
            self.persist_hard_state();
        }
        self.role = Role::Follower;
        if leader.is_some() {
            self.leader_contact_ms = Some(self.now_ms);
        }
        self.leader = leader;
        self.reset_election_deadline();
        if was_leader {
            self.lose_leadership();
        }
    }

    fn lose_leadership(&mut self) {
        self.progress.clear();
        let leader = self.leader.clone();
        let tokens = self
            .pending_reads
            .drain(..)
            .map(|read| read.token)
            .chain(self.reads_awaiting_term_commit.drain(..))
            .collect::<Vec<_>>();
        for token in tokens {
            self.actions.push(Action::ReadRefused {
                token,
                leader: leader.clone(),
            });
        }
        self.actions.push(Action::LeadershipLost {
            term: self.hard.term,
        });
    }

    /// The election restriction (section 5.4.1): the candidate's log must be at least as
    /// up to date as ours, comparing last terms first, then lengths.
    fn candidate_log_ok(&self, last_log_index: u64, last_log_term: u64) -> bool {
        if self.bug(Bug::VoteWithoutLogCheck) {
            return true;
        }
        let (our_index, our_term) = (self.log.last_index(), self.log.last_term());
        last_log_term > our_term || (last_log_term == our_term && last_log_index >= our_index)
    }

    // ----- messages -----

    fn receive(&mut self, from: NodeId, message: Message) {
        let term = message.term();
        if term > self.hard.term {
            match &message {
                // Neither changes our term: a pre-vote is only a question.
                Message::PreVote { .. } | Message::PreVoteResponse { granted: true, .. } => {}
                Message::RequestVote { .. } if self.in_lease() => return,
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => {
                    self.become_follower(term, Some(from.clone()))
                }
                _ => self.become_follower(term, None),
            }
        } else if term < self.hard.term {
            self.answer_stale(&from, &message);
            return;
        }
        match message {
            Message::PreVote {
                term,
                last_log_index,
                last_log_term,
            } => self.handle_pre_vote(&from, term, last_log_index, last_log_term),
            Message::PreVoteResponse { term, granted } => {
                self.handle_pre_vote_response(from, term, granted)
            }
            Message::RequestVote {
                last_log_index,
                last_log_term,
                ..
            } => self.handle_request_vote(&from, last_log_index, last_log_term),
            Message::RequestVoteResponse { granted, .. } => {
                self.handle_vote_response(from, granted)
            }
            Message::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
                ..
            } => self.handle_append_entries(
                from,
                AppendRequest {
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                    read_seq,
                },
            ),
            Message::AppendEntriesResponse {
                success,
                match_index,
                prev_log_index,
                conflict_index,
                conflict_term,
                read_seq,
                ..
            } => self.handle_append_response(
                &from,
                AppendResponse {
                    success,
                    match_index,
                    prev_log_index,
                    conflict_index,
                    conflict_term,
                    read_seq,
                },
            ),
            Message::InstallSnapshot {
                meta,
                data,
                read_seq,
                ..
            } => self.handle_install_snapshot(from, meta, data, read_seq),
            Message::InstallSnapshotResponse {
                match_index,
                read_seq,
                ..
            } => self.handle_snapshot_response(&from, match_index, read_seq),
        }
    }

    /// A message from an older term: a stale leader or candidate learns our term (so a
    /// returning partitioned leader steps down); anything else is ignored.
    fn answer_stale(&mut self, from: &NodeId, message: &Message) {
        let term = self.hard.term;
        let answer = match message {
            Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => {
                Message::AppendEntriesResponse {
                    term,
                    success: false,
                    match_index: 0,
                    prev_log_index: 0,
                    conflict_index: 0,
                    conflict_term: None,
                    read_seq: 0,
                }
            }
            Message::PreVote { .. } => Message::PreVoteResponse {
                term,
                granted: false,
            },
            Message::RequestVote { .. } => Message::RequestVoteResponse {
                term,
                granted: false,
            },
            _ => return,
        };
        self.send(from, answer);
    }

    fn handle_pre_vote(
        &mut self,
        from: &NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        let granted = term > self.hard.term
            && !self.in_lease()
            && self.candidate_log_ok(last_log_index, last_log_term);
        let answer_term = if granted { term } else { self.hard.term };
        self.send(
            from,
            Message::PreVoteResponse {
                term: answer_term,
                granted,
            },
        );
    }

    fn handle_pre_vote_response(&mut self, from: NodeId, term: u64, granted: bool) {
        if self.role != Role::PreCandidate || !granted || term != self.hard.term + 1 {
            return;
        }
        self.votes.insert(from);
        if self.votes.len() >= self.quorum() {
            self.start_election();
        }
    }

    /// Section 5.2 and 5.4.1: one vote per term, only for an up-to-date log; the vote is
    /// persisted before the answer leaves (`after_persist`).
    fn handle_request_vote(&mut self, from: &NodeId, last_log_index: u64, last_log_term: u64) {
        let can_vote = self.hard.voted_for.as_ref() == Some(from)
            || (self.hard.voted_for.is_none() && self.leader.is_none());
        let granted = can_vote
            && self.role != Role::Leader
            && self.candidate_log_ok(last_log_index, last_log_term);
        if granted && self.hard.voted_for.is_none() {
            self.hard.voted_for = Some(from.clone());
            self.persist_hard_state();
        }
        if granted {
            self.reset_election_deadline();
        }
        let term = self.hard.term;
        self.send(from, Message::RequestVoteResponse { term, granted });
    }

    fn handle_vote_response(&mut self, from: NodeId, granted: bool) {
        if self.role != Role::Candidate || !granted {
            return;
        }
        self.votes.insert(from);
        if self.votes.len() >= self.quorum() {
            self.become_leader();
        }
    }

    fn accept_leader(&mut self, from: NodeId) {
        if self.role == Role::Leader {
            // Two leaders in one term would break Election Safety; never act on it.
            tracing::error!(%from, term = self.hard.term, "second leader in the same term");
            return;
        }
        if self.role != Role::Follower {
            let term = self.hard.term;
            self.become_follower(term, Some(from.clone()));
        }
        self.leader = Some(from);
        self.leader_contact_ms = Some(self.now_ms);
        self.reset_election_deadline();
    }

    /// Section 5.3: the consistency check on (prevLogIndex, prevLogTerm), then append,
    /// cutting a conflicting suffix; refusals carry the conflict hint.
    fn handle_append_entries(&mut self, from: NodeId, mut request: AppendRequest) {
        if self.role == Role::Leader {
            tracing::error!(%from, term = self.hard.term, "append from another leader in our term");
            return;
        }
        self.accept_leader(from.clone());
        let original_prev = request.prev_log_index;
        if request.prev_log_index < self.log.offset() {
            // Everything up to our compaction point is committed, hence identical.
            let offset = self.log.offset();
            request.entries.retain(|e| e.index > offset);
            request.prev_log_index = offset;
            request.prev_log_term = self.log.offset_term();
        }
        let prev = request.prev_log_index;
        if prev > self.log.last_index() {
            let conflict_index = self.log.last_index() + 1;
            self.refuse_append(&from, original_prev, conflict_index, None, request.read_seq);
            return;
        }
        let our_prev_term = self.log.term_at(prev);
        if !self.bug(Bug::SkipPrevCheck) && our_prev_term != Some(request.prev_log_term) {
            let conflict_term = our_prev_term.unwrap_or(0);
            let conflict_index = self.log.first_index_of_term_run(prev, conflict_term);
            self.refuse_append(
                &from,
                original_prev,
                conflict_index,
                Some(conflict_term),
                request.read_seq,
            );
            return;
        }
        let match_index = prev + request.entries.len() as u64;
        self.append_from_leader(request.entries);
        let new_commit = request.leader_commit.min(match_index);
        if new_commit > self.commit_index {
            self.commit_index = new_commit;
            self.apply_committed();
        }
        let term = self.hard.term;
        self.send(
            &from,
            Message::AppendEntriesResponse {
                term,
                success: true,
                match_index,
                prev_log_index: original_prev,
                conflict_index: 0,
                conflict_term: None,
                read_seq: request.read_seq,
            },
        );
    }

    fn refuse_append(
        &mut self,
        to: &NodeId,
        prev_log_index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
        read_seq: u64,
    ) {
        let term = self.hard.term;
        self.send(
            to,
            Message::AppendEntriesResponse {
                term,
                success: false,
                match_index: 0,
                prev_log_index,
                conflict_index,
                conflict_term,
                read_seq,
            },
        );
    }

    fn append_from_leader(&mut self, entries: Vec<Entry>) {
        let mut new_entries = Vec::new();
        for entry in entries {
            if new_entries.is_empty() {
                match self.log.term_at(entry.index) {
                    Some(term) if term == entry.term => continue,
                    Some(_) => {
                        if entry.index <= self.commit_index {
                            tracing::error!(
                                index = entry.index,
                                commit = self.commit_index,
                                "leader overwrites a committed entry"
                            );
                        }
                        self.log.truncate_from(entry.index);
                        self.persisted_index = self.persisted_index.min(entry.index - 1);
                    }
                    None => {}
                }
            }
            self.log.push(entry.clone());
            new_entries.push(entry);
        }
        if !new_entries.is_empty() {
            if self.bug(Bug::AckBeforeWrite) {
                self.persisted_index = self.log.last_index();
            }
            self.actions.push(Action::AppendLog {
                entries: new_entries,
            });
        }
    }

    fn handle_append_response(&mut self, from: &NodeId, response: AppendResponse) {
        if self.role != Role::Leader {
            return;
        }
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(from) else {
            return;
        };
        progress.active = true;
        progress.read_seq_acked = progress.read_seq_acked.max(response.read_seq);
        if response.success {
            if response.match_index > progress.match_index {
                progress.match_index = response.match_index.min(last_index);
                while progress
                    .inflight
                    .front()
                    .is_some_and(|&sent| sent <= progress.match_index)
                {
                    progress.inflight.pop_front();
                }
            }
            progress.next_index = progress.next_index.max(progress.match_index + 1);
            if matches!(progress.state, ReplicationState::Probe { .. }) {
                progress.state = ReplicationState::Replicate;
                progress.inflight.clear();
            }
            self.maybe_commit();
            self.send_append(from, false);
        } else if response.prev_log_index >= progress.match_index
            && !matches!(progress.state, ReplicationState::Snapshot { .. })
        {
            let hinted = match response.conflict_term {
                Some(term) => match self.log.last_index_of_term(term) {
                    Some(index) => index + 1,
                    None => response.conflict_index,
                },
                None => response.conflict_index,
            };
            // Strictly below the refused prev index, so every refusal makes progress.
            let next_index = hinted
                .min(response.prev_log_index)
                .max(progress.match_index + 1);
            progress.next_index = next_index;
            progress.state = ReplicationState::Probe { sent: false };
            progress.inflight.clear();
            self.send_append(from, false);
        }
        self.advance_reads();
    }

    fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        data: String,
        read_seq: u64,
    ) {
        if self.role == Role::Leader {
            return;
        }
        self.accept_leader(from.clone());
        let match_index = if meta.index <= self.commit_index {
            self.commit_index
        } else if self.log.term_at(meta.index) == Some(meta.term) {
            // Our log already holds the snapshot's last entry, so it matches the leader's
            // up to there (section 7: "retain log entries following it"). Wiping the
            // suffix would drop entries we may already have acknowledged to this leader
            // (a delayed or duplicated InstallSnapshot arriving after them), and the
            // leader would count us toward committing entries we no longer have. The
            // entries up to the snapshot are in the log: commit and apply them from there.
            self.commit_index = meta.index;
            self.apply_committed();
            meta.index
        } else {
            self.log.reset(meta.index, meta.term);
            self.snapshot = meta;
            self.commit_index = meta.index;
            self.applied_index = meta.index;
            self.persisted_index = meta.index;
            self.actions.push(Action::InstallSnapshot { meta, data });
            meta.index
        };
        let term = self.hard.term;
        self.send(
            &from,
            Message::InstallSnapshotResponse {
                term,
                match_index,
                read_seq,
            },
        );
    }

    fn handle_snapshot_response(&mut self, from: &NodeId, match_index: u64, read_seq: u64) {
        if self.role != Role::Leader {
            return;
        }
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(from) else {
            return;
        };
        progress.active = true;
        progress.read_seq_acked = progress.read_seq_acked.max(read_seq);
        progress.match_index = progress.match_index.max(match_index.min(last_index));
        progress.next_index = progress.match_index + 1;
        progress.state = ReplicationState::Probe { sent: false };
        progress.inflight.clear();
        self.maybe_commit();
        self.send_append(from, false);
        self.advance_reads();
    }

    // ----- replication (leader) -----

    fn append_as_leader(&mut self, payload: Payload) -> (u64, u64) {
        let entry = Entry {
            term: self.hard.term,
            index: self.log.last_index() + 1,
            payload,
        };
        let position = (entry.index, entry.term);
        self.log.push(entry.clone());
        if self.bug(Bug::AckBeforeWrite) {
            self.persisted_index = self.log.last_index();
        }
        match self.actions.last_mut() {
            Some(Action::AppendLog { entries }) => entries.push(entry),
            _ => self.actions.push(Action::AppendLog {
                entries: vec![entry],
            }),
        }
        self.unsent_entries = true;
        position
    }

    fn broadcast_append(&mut self, heartbeat: bool) {
        for peer in self.cfg.peers.clone() {
            self.send_append(&peer, heartbeat);
        }
    }

    /// Sends what `peer` needs next. A heartbeat always sends something (an empty
    /// AppendEntries at worst), which also carries the ReadIndex round number.
    fn send_append(&mut self, peer: &NodeId, heartbeat: bool) {
        let Some(progress) = self.progress.get(peer) else {
            return;
        };
        match progress.state {
            ReplicationState::Snapshot { sent_at_ms } => {
                let overdue =
                    self.now_ms.saturating_sub(sent_at_ms) >= self.cfg.election_timeout_max_ms;
                if heartbeat && overdue {
                    self.send_snapshot(peer);
                }
                return;
            }
            ReplicationState::Probe { sent: true } if !heartbeat => return,
            _ => {}
        }
        let last_index = self.log.last_index();
        let mut sent_any = false;
        loop {
            let Some(progress) = self.progress.get(peer) else {
                return;
            };
            let prev = progress.next_index - 1;
            let Some(prev_term) = self.log.term_at(prev) else {
                self.send_snapshot(peer);
                return;
            };
            let replicate = progress.state == ReplicationState::Replicate;
            let window_full = progress.inflight.len() >= self.cfg.max_inflight_messages;
            let entries = if replicate && window_full {
                Vec::new()
            } else {
                self.log.slice(
                    progress.next_index,
                    last_index,
                    self.cfg.max_entries_per_message,
                )
            };
            if entries.is_empty() && (sent_any || !heartbeat) {
                return;
            }
            let last_sent = entries.last().map(|e| e.index);
            let message = Message::AppendEntries {
                term: self.hard.term,
                prev_log_index: prev,
                prev_log_term: prev_term,
                entries,
                leader_commit: self.commit_index,
                read_seq: self.read_seq,
            };
            self.send(peer, message);
            sent_any = true;
            let progress = self.progress.get_mut(peer).expect("checked above");
            match (progress.state, last_sent) {
                (ReplicationState::Replicate, Some(last_sent)) => {
                    progress.next_index = last_sent + 1;
                    progress.inflight.push_back(last_sent);
                }
                (ReplicationState::Probe { .. }, _) => {
                    progress.state = ReplicationState::Probe { sent: true };
                    return;
                }
                _ => return,
            }
        }
    }

    fn send_snapshot(&mut self, peer: &NodeId) {
        let now_ms = self.now_ms;
        if let Some(progress) = self.progress.get_mut(peer) {
            progress.state = ReplicationState::Snapshot { sent_at_ms: now_ms };
            progress.inflight.clear();
        }
        self.actions.push(Action::SendSnapshot {
            to: peer.clone(),
            term: self.hard.term,
            read_seq: self.read_seq,
        });
    }

    /// Section 5.3/5.4.2: the highest index stored on a majority (the leader counting
    /// itself only up to its own fsync) commits if its entry is of the current term.
    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut matched: Vec<u64> = self.progress.values().map(|p| p.match_index).collect();
        matched.push(self.persisted_index);
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.quorum() - 1];
        if candidate <= self.commit_index {
            return;
        }
        let current_term = self.log.term_at(candidate) == Some(self.hard.term);
        if !current_term {
            if !self.bug(Bug::CommitOldTerm) {
                return;
            }
            tracing::warn!(
                index = candidate,
                entry_term = ?self.log.term_at(candidate),
                term = self.hard.term,
                "planted bug: committing an entry of an earlier term by counting replicas"
            );
        }
        let had_term_commit = self.commit_index >= self.term_start_index;
        self.commit_index = candidate;
        self.apply_committed();
        if !had_term_commit && self.commit_index >= self.term_start_index {
            for token in std::mem::take(&mut self.reads_awaiting_term_commit) {
                self.start_read(token);
            }
        }
    }

    fn apply_committed(&mut self) {
        let upto = self.commit_index.min(self.log.last_index());
        if upto <= self.applied_index {
            return;
        }
        let entries = self.log.slice(self.applied_index + 1, upto, usize::MAX);
        self.applied_index = upto;
        if !entries.is_empty() {
            self.actions.push(Action::Apply { entries });
        }
    }

    fn log_persisted(&mut self, index: u64, term: u64) {
        if index > self.persisted_index && self.log.term_at(index) == Some(term) {
            self.persisted_index = index;
            self.maybe_commit();
        }
    }

    fn snapshot_persisted(&mut self, meta: SnapshotMeta) {
        if meta.index <= self.snapshot.index {
            return;
        }
        self.snapshot = meta;
        let compact_to = meta.index.saturating_sub(self.cfg.log_retain_entries);
        if compact_to > self.log.offset() && self.log.term_at(compact_to).is_some() {
            self.log.compact_to(compact_to);
            self.actions.push(Action::CompactLog {
                offset: self.log.offset(),
                offset_term: self.log.offset_term(),
                entries: self.log.entries(),
            });
        }
    }

    // ----- clients -----

    fn propose(&mut self, token: u64, command: Command) {
        if self.role != Role::Leader {
            let leader = self.leader.clone();
            self.actions.push(Action::ProposalRefused { token, leader });
            return;
        }
        let (index, term) = self.append_as_leader(Payload::Command { command });
        self.actions.push(Action::Proposed { token, index, term });
        self.maybe_commit();
    }

    /// ReadIndex (thesis section 6.4): remember the commit index, confirm leadership with
    /// a heartbeat round, then answer once that index is applied.
    fn read(&mut self, token: u64) {
        if self.role != Role::Leader {
            let leader = self.leader.clone();
            self.actions.push(Action::ReadRefused { token, leader });
            return;
        }
        if self.bug(Bug::StaleRead) {
            let index = self.applied_index;
            self.actions.push(Action::ReadReady { token, index });
            return;
        }
        if self.commit_index < self.term_start_index {
            self.reads_awaiting_term_commit.push(token);
            return;
        }
        self.start_read(token);
    }

    fn start_read(&mut self, token: u64) {
        let round_in_flight = self.quorum_read_seq() < self.read_seq;
        let seq = if round_in_flight {
            // Must be confirmed by a round that starts after this read arrived.
            self.read_seq + 1
        } else {
            self.read_seq += 1;
            self.broadcast_append(true);
            self.read_seq
        };
        self.pending_reads.push_back(PendingRead {
            token,
            index: self.commit_index,
            seq,
        });
        self.advance_reads();
    }

    /// The highest ReadIndex round a majority (this leader included) has confirmed.
    fn quorum_read_seq(&self) -> u64 {
        let mut acked: Vec<u64> = self.progress.values().map(|p| p.read_seq_acked).collect();
        acked.push(self.read_seq);
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked[self.quorum() - 1]
    }

    fn advance_reads(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        for _ in 0..2 {
            let confirmed = self.quorum_read_seq();
            while self
                .pending_reads
                .front()
                .is_some_and(|read| read.seq <= confirmed)
            {
                let read = self.pending_reads.pop_front().expect("front exists");
                self.actions.push(Action::ReadReady {
                    token: read.token,
                    index: read.index,
                });
            }
            match self.pending_reads.front() {
                Some(read) if read.seq > self.read_seq => {
                    self.read_seq += 1;
                    self.broadcast_append(true);
                }
                _ => break,
            }
        }
    }
}

struct AppendRequest {
    prev_log_index: u64,
    prev_log_term: u64,
    entries: Vec<Entry>,
    leader_commit: u64,
    read_seq: u64,
}

struct AppendResponse {
    success: bool,
    match_index: u64,
    prev_log_index: u64,
    conflict_index: u64,
    conflict_term: Option<u64>,
    read_seq: u64,
}
