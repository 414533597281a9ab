//! Plain data shared by the Raft engine, the storage layer and the node: log entries, the
//! persistent hard state, snapshot metadata and the peer-to-peer messages.
//!
//! Everything here is serde-serializable because it crosses the wire (`POST /raft`) or is
//! written to disk (the WAL and snapshot files).

use serde::{Deserialize, Serialize};

use crate::state_machine::Command;

/// A node's id as given by `--id` (e.g. `n1`).
pub type NodeId = String;

/// The part of a node's state that must survive a crash before it answers anything that
/// depends on it (Raft paper figure 2, "persistent state on all servers"; the log is
/// persisted separately, entry by entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<NodeId>,
}

/// What a log entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Payload {
    /// Appended by every new leader so that it can commit an entry of its own term
    /// (paper section 5.4.2; also what makes ReadIndex safe right after an election).
    Noop,
    /// A client write or cas for the state machine.
    Command { command: Command },
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub payload: Payload,
}

/// Identifies the last log entry a snapshot covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub index: u64,
    pub term: u64,
}

/// A Raft peer message. `term` is the sender's current term, except in a `pre-vote` (the
/// term the sender *would* campaign in) and in a granted `pre-vote-response` (that same
/// proposed term).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    PreVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    PreVoteResponse {
        term: u64,
        granted: bool,
    },
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    RequestVoteResponse {
        term: u64,
        granted: bool,
    },
    AppendEntries {
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        /// ReadIndex round number; echoed in the response so the leader knows which
        /// rounds a follower confirmed.
        read_seq: u64,
    },
    AppendEntriesResponse {
        term: u64,
        success: bool,
        /// On success: the follower's log matches the leader's up to here.
        match_index: u64,
        /// The `prev_log_index` of the request this answers (lets the leader drop stale
        /// rejections).
        prev_log_index: u64,
        /// On refusal: where the leader should retry (section 5.3's optimization).
        conflict_index: u64,
        /// On refusal: the follower's term at `prev_log_index`, if it has that entry.
        conflict_term: Option<u64>,
        read_seq: u64,
    },
    InstallSnapshot {
        term: u64,
        meta: SnapshotMeta,
        /// The state machine, as written by `StateMachine::to_snapshot_json`.
        data: String,
        read_seq: u64,
    },
    InstallSnapshotResponse {
        term: u64,
        match_index: u64,
        read_seq: u64,
    },
}

impl Message {
    /// The term carried by the message.
    pub fn term(&self) -> u64 {
        match self {
            Message::PreVote { term, .. }
            | Message::PreVoteResponse { term, .. }
            | Message::RequestVote { term, .. }
            | Message::RequestVoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendEntriesResponse { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::InstallSnapshotResponse { term, .. } => *term,
        }
    }
}

/// A message with its addressing, as carried in the body of `POST /raft` (a JSON array of
/// envelopes, all from the same sender).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub message: Message,
}
