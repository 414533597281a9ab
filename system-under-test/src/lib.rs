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
//! {"op":"append","key":"a1", "value":" 17",        "client":"c7", "seq":14}
//! {"op":"txn",   "ops":[["append",3,7],["r",3,null],["w","x",1]], "client":"c7", "seq":15}
//! ```
//!
//! A successful write or cas answers 200 with `value` the value now stored (the written
//! value, or cas `to`). `append` concatenates a string to the key's string (an absent key
//! is the empty string) and answers 200 with `value` the appended string; appending to a
//! value that is not a string answers 409 `{"error":"not-a-string","current":V}` and changes
//! nothing. Append is not idempotent, which is what makes a retry applied twice visible.
//!
//! `txn` applies Elle's micro-ops (`["append",k,v]` to a list, `["w",k,v]`, `["r",k,null]`;
//! `k` a string or an integer, the same key as its decimal text) in order and atomically
//! in one log entry, and answers 200 with `value` the micro-ops with each read filled in
//! (the key's value at that point of the txn, `null` if absent): strict serializable. An
//! append to a key holding something other than a list answers 409
//! `{"error":"txn-aborted","reason":"..."}` and changes nothing (see `state_machine`).
//! A txn retried with the same request id after it applied is answered 500 `txn-retried`
//! (the dedup table keeps no reads) and not applied again.
//!
//! `client` and `seq` are optional request ids (give both or neither): a write, cas or append with the same (client, seq)
//! as one already applied is answered with the first outcome and not applied again, also
//! across leader changes (the dedup table is part of the replicated state and snapshots).
//!
//! Answers, and how a client must classify them (DESIGN.md, "Clients and errors"):
//!
//! | status | body | outcome |
//! |---|---|---|
//! | 200 | `{"ok":true,"value":V}` (read: the value, `null` if absent) | ok |
//! | 409 | `{"error":"cas-mismatch","current":V}` | fail: the compare did not hold |
//! | 409 | `{"error":"not-a-string","current":V}` | fail: append to a non-string |
//! | 409 | `{"error":"txn-aborted","reason":"..."}` | fail: the txn changed nothing |
//! | 503 | `{"error":"not-leader","leader":"n2"}` (leader may be `null`) | fail: never entered the log |
//! | 400 | `{"error":"bad-request","detail":"..."}` | fail |
//! | 504 | `{"error":"timeout"}`: proposed, not known to be committed | info |
//! | 500 | `{"error":"..."}` | info |
//!
//! 500 errors are `leadership-lost` (the leader stepped down with the write pending; it may
//! still commit), `superseded` (another entry took the write's log slot),
//! `request-expired` (a retry older than the 64 most recent requests of that client), and
//! `request id reused for a different command`. Unknown paths answer 404, wrong methods
//! 405, a `/raft` body that is not for this node 400, and an overloaded input queue 503
//! `overloaded` (for `/raft`: the messages were dropped).
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
//!     [--bug NAME] [--request-timeout-ms 1000] [--rpc-timeout-ms 500] \
//!     [--snapshot-every 1000] [--log-retain-entries 500] [--seed N]
//! ```
//!
//! `--listen` also accepts a bare port (bound on 127.0.0.1). The crate's own binary
//! `raft-node` takes the same flags; `faultline node` embeds [`NodeArgs`] and calls
//! [`node_main`] (which builds its own tokio runtime; [`run_node`] is the async form).
//! Logs go to stderr through `tracing` (`RUST_LOG`, default `info`).
//!
//! `--peers` lists the *other* nodes and the address this node uses to reach each one: with
//! faultline's proxy network that is a controller-owned proxy for the directed link, not the
//! peer's own `--listen` address.
//!
//! # Layout
//!
//! ```text
//! src/raft/types.rs      entries, hard state, snapshot metadata, peer messages
//! src/raft/log.rs        the engine's in-memory log (entries after the compaction point)
//! src/raft/engine/       the pure Raft engine: Input -> Actions; mod.rs (types, state,
//!                        step), time.rs, elections.rs, messages.rs, replication.rs,
//!                        clients.rs
//! src/state_machine.rs   the key-value map and the client-session (dedup) table
//! src/storage.rs         WAL, hard state, snapshot file; recovery
//! src/node/mod.rs        NodeArgs, start-up, the driver task that owns engine + machine
//! src/node/http.rs       the hyper server: /kv, /status, /raft
//! src/node/peers.rs      one sender task per peer, batching envelopes into one POST
//! src/node/persist.rs    the storage thread: one fsync per batch of jobs
//! src/bug.rs             the planted bugs
//! src/bin/raft-node.rs   the thin binary
//! ```
//!
//! # The engine
//!
//! [`raft::engine::Engine`] holds all protocol state and does no I/O: no sockets, files or
//! clock reads, and its election jitter comes from a seeded ChaCha8 generator.
//! `Engine::step(Input)` takes one event; `Engine::drain_actions()` returns what to do.
//!
//! Inputs: `Tick { now_ms }`, `Receive { from, message }`, `Propose { token, command }`,
//! `Read { token }`, `LogPersisted { index, term }`, `SnapshotPersisted { meta }`.
//!
//! Actions, to be carried out in order: `PersistHardState`, `AppendLog` (its first index
//! may cut the durable log back), `Send { to, message, after_persist }`, `SendSnapshot`,
//! `InstallSnapshot`, `CompactLog`, `Apply { entries }`, `Proposed` / `ProposalRefused`,
//! `ReadReady { token, index }` / `ReadRefused`, `LeadershipLost`.
//!
//! What it implements: randomized election timeouts; PreVote; CheckQuorum (a leader that
//! has not heard from a majority within `--election-timeout-max-ms` steps down); leader
//! stickiness (a follower that heard from its leader within `--election-timeout-min-ms`
//! ignores RequestVote and refuses PreVote, and a leader ignores RequestVote); the
//! election restriction; AppendEntries with the prev check and the conflict-term hint
//! (the leader backs off a whole term per refusal); commit only by counting replicas of a
//! current-term entry (a no-op is appended on election); per-follower flow control (probe,
//! then pipelined streaming with at most 256 unacknowledged messages, InstallSnapshot when
//! the needed entries are compacted; a follower whose log already holds the snapshot's
//! last entry keeps the entries after it and applies from its log); ReadIndex with batched heartbeat rounds (reads wait
//! for the leader's first commit in its term, record the commit index, and are answered
//! once a majority acknowledged a round that started after they arrived and the state
//! machine applied that index).
//!
//! Unit tests (`raft/engine_tests.rs`) are named after the paper section they check;
//! `raft/simulation_tests.rs` runs 3- and 5-node clusters of engines over a lossy,
//! reordering, duplicating, partitionable network (including long isolations of the
//! leader) with snapshots, log compaction and crash-restarts that lose unsynced writes
//! (also of the leader right after it appended a batch), and checks over many seeds
//! Election Safety, State Machine Safety (same entries and same state at every index),
//! that commit indexes never decrease, and that every ReadIndex read is answered at an
//! index at least as high as any commit known when it arrived. An ignored `soak` test
//! runs thousands of seeds (`RAFT_SIM_SEEDS=N cargo test --release -- --ignored soak`).
//!
//! # Batching and pipelining
//!
//! The driver task takes up to 1024 queued inputs (client requests, peer messages) before
//! asking the engine for actions, so a burst of proposals becomes one `AppendLog` and one
//! AppendEntries per follower. The leader sends AppendEntries at once, without waiting for
//! its own fsync; it counts itself toward a commit only when `LogPersisted` reports its own
//! fsync done. Persistence actions and every message that depends on them (votes,
//! acknowledgements: `after_persist`) go as one job to the storage thread, which drains
//! every job queued while its previous fsync ran, writes them, fsyncs once, and only then
//! releases those messages. So a follower fsyncs once per received batch, and the leader
//! once per batch of proposals. Each peer has one sender task that posts everything queued
//! for that peer as one `POST /raft` (one request in flight per peer, in order).
//!
//! # On-disk format
//!
//! See [`storage`]: `wal.log` holds CRC32-framed JSON records (`start`, `hard-state`,
//! `entry`); `snapshot.bin` one framed snapshot (metadata plus the state machine as
//! JSON, dedup table included). A torn last record is detected by length and CRC and cut
//! off at recovery. Snapshots are taken every `--snapshot-every` applied entries; the log
//! is then rewritten keeping `--log-retain-entries` entries below the snapshot. Both
//! rewrites go through a temp file, fsync, rename and a directory fsync.
//!
//! # Planted bugs (`--bug NAME`, all off by default)
//!
//! - `stale-read`: the leader trusts a read lease it never checks: it answers reads at once
//!   from its own state, without ReadIndex, and does not step down by CheckQuorum (only on
//!   seeing a higher term), so an isolated leader serves stale reads while partitioned.
//! - `vote-without-log-check`: votes ignore the election restriction.
//! - `skip-prev-check`: followers accept AppendEntries without comparing `prev_log_term`.
//! - `commit-old-term`: the leader commits earlier-term entries by counting replicas, and
//!   (having no use for it) appends no term-start no-op.
//! - `ack-before-write`: followers acknowledge (and every node votes) and the leader
//!   counts itself before the entries (and the hard state) reach the disk; each node's
//!   storage thread keeps its last batch in memory until the next one arrives, so a
//!   kill -9 loses it.
//! - `no-dedup`: the state machine ignores `(client, seq)`, so retries apply twice.
//! - `skip-fsync`: WAL appends are written but not fdatasynced: invisible to kill -9,
//!   lost when faultfs forgets what was not fsynced (a machine crash).
//! - `txn-reads-before-commit`: the leader answers a txn's reads from its applied state
//!   when it proposes the txn; the writes apply at the txn's entry, so what commits in
//!   between is missed by the reads and ordered before the writes (Elle: G-single,
//!   G2-item).
//!
//! # The two-phase-commit bank
//!
//! [`bank`]: accounts `a0..aN` sharded over participant processes (account `i` on
//! participant `i mod P`) and a coordinator that runs every transfer as a two-phase commit
//! (fsynced prepare and decision logs, presumed abort, bounded decision retries,
//! participants that ask about in-doubt transactions) and reads all balances atomically
//! through shard-wide read locks with a lease; with `--replicated-coordinator`, several
//! coordinators share their decisions through a Raft group of this store, so that a dead
//! coordinator blocks nothing. Binary `bank-node coordinator|participant`,
//! embeddable as [`bank::bank_main`]; API, logs and planted bugs in the [`bank`] docs.

pub mod bank;
pub mod bug;
pub mod http;
pub mod node;
pub mod raft;
pub mod state_machine;
pub mod storage;

pub use bug::Bug;
pub use node::{NodeArgs, NodeError, node_main, run_node};
