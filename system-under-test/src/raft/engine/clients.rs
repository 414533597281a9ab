//! Client requests on the leader: proposals, and ReadIndex reads (thesis section 6.4)
//! with batched heartbeat rounds.

use super::{Action, Engine, PendingRead, Role};
use crate::bug::Bug;
use crate::raft::types::Payload;
use crate::state_machine::Command;

impl Engine {
    pub(super) fn propose(&mut self, token: u64, command: Command) {
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
    pub(super) fn read(&mut self, token: u64) {
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

    pub(super) fn start_read(&mut self, token: u64) {
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

    pub(super) fn advance_reads(&mut self) {
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
