//! Elections (section 5.2, PreVote of thesis section 9.6): pre-votes, votes, becoming
//! leader or follower, and the election restriction of section 5.4.1.

use std::collections::{BTreeSet, VecDeque};

use super::{Action, Engine, Progress, ReplicationState, Role};
use crate::bug::Bug;
use crate::raft::types::{Message, NodeId, Payload};

impl Engine {
    /// PreVote (thesis section 9.6): ask whether an election could be won before
    /// disturbing anyone with a higher term.
    pub(super) fn start_pre_vote(&mut self) {
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

    pub(super) fn start_election(&mut self) {
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

    pub(super) fn become_leader(&mut self) {
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

    pub(super) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
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
    pub(super) fn candidate_log_ok(&self, last_log_index: u64, last_log_term: u64) -> bool {
        if self.bug(Bug::VoteWithoutLogCheck) {
            return true;
        }
        let (our_index, our_term) = (self.log.last_index(), self.log.last_term());
        last_log_term > our_term || (last_log_term == our_term && last_log_index >= our_index)
    }
}
