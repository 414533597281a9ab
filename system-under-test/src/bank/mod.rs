//! The two-phase-commit bank: accounts sharded over participant processes, and a
//! coordinator process that runs every transfer as a two-phase commit.
//!
//! # Processes and sharding
//!
//! ```text
//! bank-node coordinator --listen 127.0.0.1:7100 --data-dir DIR --accounts 10 \
//!     --participants p1=127.0.0.1:7101,p2=127.0.0.1:7102,p3=127.0.0.1:7103 \
//!     [--rpc-timeout-ms 500] [--decision-attempts 5] [--retry-backoff-ms 20] \
//!     [--read-lease-ms 500] [--read-attempts 5] [--pause-after-prepare-ms 0] \
//!     [--pause-after-decision-ms 0] \
//!     [--bug 2pc-commit-without-all-votes]
//! bank-node participant --id p1 --listen 127.0.0.1:7101 --coordinator 127.0.0.1:7100 \
//!     --data-dir DIR --accounts 10 --initial-balance 100 --shard 0 --shards 3 \
//!     [--rpc-timeout-ms 500] [--lock-wait-ms 100] [--in-doubt-after-ms 1000] \
//!     [--resolve-interval-ms 100] [--bug 2pc-forget-prepared]
//! ```
//!
//! Accounts are named `a0` .. `a{N-1}`; account `i` lives on the participant at position
//! `i mod P` of the coordinator's `--participants` list (that participant's `--shard`),
//! and starts with `--initial-balance`. `--listen` also takes a bare port (on 127.0.0.1).
//! Addresses given to a node are the addresses it uses to reach the others (with
//! faultline's proxy network, proxies). [`bank_main`] takes [`BankArgs`] (a clap
//! subcommand: `coordinator` or `participant`), so `faultline bank ...` can embed it;
//! the crate's thin binary is `bank-node`. Logs go to stderr (`RUST_LOG`, default `info`).
//!
//! # Client API (coordinator)
//!
//! `POST /transfer {"txn":"c1-17","from":"a3","to":"a7","amount":5}`. `txn` is chosen by
//! the client, unique per transfer and reused by retries: a retry of a decided transfer
//! gets the same outcome without running again.
//!
//! | status | body | outcome |
//! |---|---|---|
//! | 200 | `{"ok":true,"txn":"c1-17"}` | ok: committed |
//! | 409 | `{"error":"aborted","reason":R}` | fail: the abort was decided |
//! | 400 | `{"error":"bad-request","detail":...}` (unknown account, amount <= 0, same account, id reused for another transfer) | fail: refused before prepare |
//! | 500 | `{"error":"in-progress"}` (the same txn is being run) or `{"error":"log-failed"}` | info |
//! | timeout, reset | | info |
//!
//! Abort reasons: `insufficient-funds`, `locked` (an account stayed locked for the
//! participant's `--lock-wait-ms`), `vote-missing` (a participant did not answer the
//! prepare within `--rpc-timeout-ms`), `already-decided`, `txn-id-reused`, `log-failed`,
//! `aborted-earlier` (a retry of an aborted transfer).
//!
//! `GET /balances` answers `{"ok":true,"balances":{"a0":100,...}}` with every account, read
//! atomically (below), or 503 `{"error":"busy"}` when the read locks were refused
//! `--read-attempts` times (a read has no effect: fail or info are the same to a checker).
//!
//! `GET /status` answers `{"id":"coordinator","role":"coordinator","participants":[...],
//! "in_flight":0,"committed":12,"aborted":3,"unacknowledged":0,"owed_a_decision":[],"bug":null}`.
//!
//! # Participant API (internal)
//!
//! - `POST /prepare {"txn":T,"deltas":[{"account":"a3","delta":-5}]}` answers 200
//!   `{"vote":"yes"}` or `{"vote":"no","reason":R}`. Yes means: the accounts are locked
//!   and a `prepared` record is fsynced. A repeated prepare with the same deltas votes yes
//!   again; a prepare of a transaction already finished here votes no.
//! - `POST /commit {"txn":T}` / `POST /abort {"txn":T}` answer 200 `{"ok":true}` once the
//!   outcome record is fsynced (idempotent), or 409 `not-prepared` / `already-aborted` /
//!   `already-committed`. An abort of an unknown transaction is remembered, so that a late
//!   prepare is refused.
//! - `POST /read-lock {"read":R,"lease_ms":500}` answers 200 `{"balances":{...}}`, or 409
//!   `locked` while a transaction is prepared here; `POST /read-release {"read":R}`.
//! - `GET /status`: `{"id":"p1","role":"participant","shard":0,"shards":3,"accounts":[...],
//!   "prepared":["c1-17"],"read_locks":0,"bug":null}`.
//!
//! The coordinator answers participants on `POST /txn-status {"txn":T}` with
//! `{"txn":T,"status":"commit"|"abort"|"pending"}`.
//!
//! Every node refuses malformed requests with 400 and a JSON error, unknown paths with
//! 404 and wrong methods with 405; every outgoing request has `--rpc-timeout-ms`.
//!
//! # The protocol
//!
//! 1. The coordinator validates the transfer and sends `prepare` to the one or two
//!    participants owning the accounts, in parallel. Transfers between accounts of one
//!    participant also go through the coordinator (one participant, same protocol).
//! 2. A participant locks the accounts (no-wait locks retried for `--lock-wait-ms`, so
//!    distributed deadlocks end as `locked` aborts), checks that no balance goes negative,
//!    fsyncs `prepared` and votes yes; otherwise it votes no and keeps nothing.
//! 3. The coordinator decides commit only if every vote is yes (a missing vote aborts). A
//!    commit is fsynced to the decision log before anyone hears it; until then the
//!    transaction is `pending` to status queries. Aborts are presumed: the record is
//!    written but not waited for, and a transaction the coordinator does not know is
//!    answered `abort` (after logging that abort durably, so that a retry cannot commit it).
//! 4. The coordinator delivers the decision with `--decision-attempts` attempts and
//!    doubling back-off per participant, then gives up (no retrying forever); the client
//!    is answered from the decision, not the acknowledgements. When every participant
//!    acknowledged, a `done` record is appended.
//! 5. A participant asks the coordinator (`/txn-status`) about every transaction prepared
//!    longer than `--in-doubt-after-ms`, and at once about those recovered from its log
//!    after a restart; it keeps asking with back-off (up to 16x `--resolve-interval-ms`)
//!    because a participant that voted yes must not decide alone.
//! 6. A restarted coordinator reloads its decisions and delivers every one not `done`;
//!    transactions in flight at the crash are presumed aborted when asked about.
//!
//! # Atomic reads
//!
//! A read is a read-only transaction through the same locks: the coordinator asks every
//! participant for a read lock with a lease; a participant grants it only when no
//! transaction is prepared there, and while it holds it every prepare votes `locked`, so
//! its balances cannot change. If every participant granted within the lease (timed by
//! the coordinator from before its first request, so each lease ends later than that),
//! all locks were held at once when the last grant arrived, and no transfer was half
//! done anywhere: the merged balances are a consistent cut (strict two-phase locking).
//! Otherwise the coordinator releases what it got, backs off and tries again. Read locks
//! are not logged: a crash releases them, and the lease bounds how long a vanished
//! coordinator can hold them.
//!
//! # On disk
//!
//! Coordinator: `DATA_DIR/decisions.log`; participant: `DATA_DIR/prepare.log`. Both are
//! append-only files of CRC32-framed JSON records (the framing of [`crate::storage`]),
//! group-committed with one `fdatasync` per batch by [`wal`]; a torn tail is cut off at
//! recovery. Participant records: `genesis` (the sharding flags, checked at restart),
//! `prepared {txn, deltas}`, `committed {txn, deltas}`, `aborted {txn}`; balances are
//! rebuilt by replaying the committed deltas. Coordinator records: `decision {txn,
//! commit, participants}`, `done {txn}`. The logs are not compacted: they grow by one
//! to three records per transfer (fine for test runs of minutes).
//!
//! # Planted bugs (`--bug NAME`, off by default)
//!
//! - `2pc-commit-without-all-votes` (coordinator): a missing vote (timeout, unreachable
//!   participant, error answer) counts as yes; an explicit no still aborts. A participant
//!   that never prepared then receives a commit it cannot apply: money appears or vanishes.
//! - `2pc-forget-prepared` (participant): votes yes without logging `prepared`. After a
//!   crash it no longer holds the locks nor knows the deltas, so the commit is lost while
//!   the other side applied it.
//!
//! # Not built
//!
//! `--replicated-coordinator` (the coordinator's decisions in a Raft group, so that a
//! coordinator crash blocks no longer than an election) is not implemented: with one
//! coordinator, its crash blocks the transactions it had in flight, and every read and
//! transfer touching their locked accounts, until it returns.
//!
//! # Layout
//!
//! ```text
//! src/bank/protocol.rs           wire types, account names and sharding
//! src/bank/participant_state.rs  the participant's pure state machine (+ unit tests)
//! src/bank/coordinator_state.rs  the coordinator's pure state machine and decision rule
//! src/bank/wal.rs                the group-committed, CRC-framed logs
//! src/bank/http.rs               hyper server and JSON client with timeouts
//! src/bank/participant.rs        the participant process
//! src/bank/coordinator.rs        the coordinator process
//! src/bin/bank-node.rs           the thin binary
//! ```

mod coordinator;
pub mod coordinator_state;
pub mod decision_store;
pub mod http;
mod participant;
pub mod participant_state;
pub mod protocol;
pub mod wal;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use coordinator::{CoordinatorArgs, run_coordinator};
pub use participant::{ParticipantArgs, run_participant};

/// A planted defect of the bank, selected with `--bug NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BankBug {
    /// Coordinator: a missing prepare vote counts as yes.
    #[value(name = "2pc-commit-without-all-votes")]
    CommitWithoutAllVotes,
    /// Participant: votes yes without making the prepared state durable.
    #[value(name = "2pc-forget-prepared")]
    ForgetPrepared,
}

impl fmt::Display for BankBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BankBug::CommitWithoutAllVotes => "2pc-commit-without-all-votes",
            BankBug::ForgetPrepared => "2pc-forget-prepared",
        })
    }
}

/// Why a bank node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    #[error("bad arguments: {0}")]
    BadArguments(String),
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] wal::LogError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Server(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// `faultline bank ...` / `bank-node ...`.
#[derive(Debug, Clone, clap::Args)]
pub struct BankArgs {
    #[command(subcommand)]
    pub role: BankRole,
}

/// Which bank process to run.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BankRole {
    /// The transaction coordinator.
    Coordinator(CoordinatorArgs),
    /// One shard of the accounts.
    Participant(ParticipantArgs),
}

/// Runs a bank node until it fails. Blocks; builds its own tokio runtime, so call it from
/// a plain (non-async) `main`.
pub fn bank_main(args: BankArgs) -> Result<(), BankError> {
    crate::node::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(BankError::Runtime)?;
    runtime.block_on(run_bank(args))
}

/// The async body of [`bank_main`].
pub async fn run_bank(args: BankArgs) -> Result<(), BankError> {
    match args.role {
        BankRole::Coordinator(args) => run_coordinator(args).await,
        BankRole::Participant(args) => run_participant(args).await,
    }
}
