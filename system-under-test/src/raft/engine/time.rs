//! Time: the leader's heartbeats and CheckQuorum on each tick, a follower's election
//! timeout, and leader stickiness (the lease a follower grants the leader it hears from).

use super::{Engine, Role};
use crate::bug::Bug;

impl Engine {
    pub(super) fn tick(&mut self) {
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
    pub(super) fn in_lease(&self) -> bool {
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
}
