//! The system under test: a Raft key-value store and a two-phase-commit bank.
//!
//! It depends on nothing else in the workspace: faultline drives it only over the network,
//! exactly as it would drive any other system.
//!
//! # The Raft key-value store: HTTP/JSON API
//!
//! Each node serves one HTTP/1.1 port (`--listen`, default bind 127.0.0.1) for both clients
//! and peers. Values are arbitrary JSON values; keys are strings.
//!
//! Client operations, `POST /kv` with one JSON object:
//!
//! ```text
//! {"op":"read",  "key":"k3"}
//! {"op":"write", "key":"k3", "value":4,            "client":"c7", "seq":12}
//! {"op":"cas",   "key":"k3", "from":4, "to":5,     "client":"c7", "seq":13}
//! ```
//!
//! `client` and `seq` are optional request ids: a write or cas with the same (client, seq)
//! as one already applied is answered with the first outcome and not applied again, also
//! across leader changes (the dedup table is part of the replicated state and snapshots).
//!
//! Answers, and how a client must classify them (DESIGN.md, "Clients and errors"):
//!
//! | status | body | outcome |
//! |---|---|---|
//! | 200 | `{"ok":true,"value":V}` (read: the value, `null` if absent) | ok |
//! | 409 | `{"error":"cas-mismatch","current":V}` | fail: the compare did not hold |
//! | 503 | `{"error":"not-leader","leader":"n2"}` (leader may be `null`) | fail: never entered the log |
//! | 400 | `{"error":"bad-request","detail":"..."}` | fail |
//! | 504 | `{"error":"timeout"}`: proposed, not known to be committed | info |
//! | 500 | `{"error":"..."}` | info |
//!
//! A follower does not forward: it refuses with 503 `not-leader` and the leader's id, so
//! that a refusal is always a definite failure. Reads are linearizable (ReadIndex: the
//! leader confirms its leadership with a heartbeat round before answering).
//!
//! `GET /status` answers
//! `{"id":"n1","role":"leader","term":3,"leader":"n1","commit_index":10,"applied_index":10,"last_log_index":10}`
//! with role one of `follower`, `candidate`, `leader` (a pre-candidate reports `follower`).
//!
//! Peer RPCs are `POST /raft` with a JSON message; they are internal to the node.
//!
//! # Node command line
//!
//! ```text
//! faultline node --id n1 --listen 127.0.0.1:7001 --data-dir DIR \
//!     --peers n2=127.0.0.1:7002,n3=127.0.0.1:7003 \
//!     [--election-timeout-min-ms 150] [--election-timeout-max-ms 300] [--heartbeat-ms 50] \
//!     [--bug NAME]
//! ```
//!
//! `--peers` lists the *other* nodes and the address this node uses to reach each one: with
//! faultline's proxy network that is a controller-owned proxy for the directed link, not the
//! peer's own `--listen` address.

pub mod bug;
pub mod node;
pub mod raft;
pub mod state_machine;
pub mod storage;

pub use bug::Bug;
pub use node::{NodeArgs, NodeError, node_main, run_node};
