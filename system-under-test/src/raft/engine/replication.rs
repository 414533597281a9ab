//! Replication on the leader: appending its own entries, what each follower is sent next
//! (probe, pipelined stream or snapshot), commitment by counting current-term replicas
//! (sections 5.3 and 5.4.2), applying, and what the storage layer reports back.

use super::{Action, Engine, ReplicationState, Role};
use crate::bug::Bug;
use crate::raft::types::{Entry, Message, NodeId, Payload, SnapshotMeta};

impl Engine {
    pub(super) fn append_as_leader(&mut self, payload: Payload) -> (u64, u64) {
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

    pub(super) fn broadcast_append(&mut self, heartbeat: bool) {
        for peer in self.cfg.peers.clone() {
            self.send_append(&peer, heartbeat);
        }
    }

    /// Sends what `peer` needs next. A heartbeat always sends something (an empty
    /// AppendEntries at worst), which also carries the ReadIndex round number.
    pub(super) fn send_append(&mut self, peer: &NodeId, heartbeat: bool) {
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
    pub(super) fn maybe_commit(&mut self) {
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

    pub(super) fn apply_committed(&mut self) {
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

    pub(super) fn log_persisted(&mut self, index: u64, term: u64) {
        if index > self.persisted_index && self.log.term_at(index) == Some(term) {
            self.persisted_index = index;
            self.maybe_commit();
        }
    }

    pub(super) fn snapshot_persisted(&mut self, meta: SnapshotMeta) {
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
}
