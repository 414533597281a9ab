//! Messages from peers: the term rules every message obeys first (section 5.1), then one
//! handler per message kind: votes, AppendEntries with the consistency check of section
//! 5.3 (follower and leader side), InstallSnapshot (section 7).

use super::{Action, Engine, ReplicationState, Role};
use crate::bug::Bug;
use crate::raft::types::{Entry, Message, NodeId, SnapshotMeta};

impl Engine {
    pub(super) fn receive(&mut self, from: NodeId, message: Message) {
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

    /// Whether a leader's message (`kind`) from `from` in our own term reached us while we
    /// lead that term: two leaders in one term break Election Safety (section 5.2). A
    /// leader never acts on such a message; without a planted bug the engine stops.
    fn heard_a_second_leader(&mut self, from: &NodeId, kind: &str) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let term = self.hard.term;
        self.invariant_broken(format!(
            "second leader in the same term: {kind} from {from} while leading term {term}"
        ));
        true
    }

    fn accept_leader(&mut self, from: NodeId) {
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
        if self.heard_a_second_leader(&from, "AppendEntries") {
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
                        if entry.index <= self.commit_index
                            && self.invariant_broken(format!(
                                "leader overwrites a committed entry: index {} (commit index {})",
                                entry.index, self.commit_index
                            ))
                        {
                            return;
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
        if self.heard_a_second_leader(&from, "InstallSnapshot") {
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
