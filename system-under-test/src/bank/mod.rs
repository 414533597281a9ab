//! The two-phase-commit bank: accounts sharded over participant processes, and a
//! coordinator process that runs every transfer as a two-phase commit.
//!
//! # Processes and sharding
//!
//! ```text
//! bank-node coordinator --listen 127.0.0.1:7100 --data-dir DIR --accounts 10 \
//!     --participants p1=127.0.0.1:7101,p2=127.0.0.1:7102,p3=127.0.0.1:7103 \
//!     [--id coordinator] \
//!     [--replicated-coordinator --decision-store r1=ADDR,r2=ADDR,r3=ADDR] \
//!     [--decision-store-attempts 20] \
//!     [--rpc-timeout-ms 500] [--decision-attempts 5] [--retry-backoff-ms 20] \
//!     [--read-lease-ms 500] [--read-attempts 5] [--pause-after-prepare-ms 0] \
//!     [--pause-after-decision-ms 0] \
//!     [--bug 2pc-commit-without-all-votes]
//! bank-node participant --id p1 --listen 127.0.0.1:7101 --coordinator 127.0.0.1:7100[,ADDR...] \
//!     --data-dir DIR --accounts 10 --initial-balance 100 --shard 0 --shards 3 \
//!     [--rpc-timeout-ms 500] [--lock-wait-ms 100] [--in-doubt-after-ms 1000|500] \
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
//! | 500 | `{"error":"in-progress"}` (the same txn is being run), `{"error":"log-failed"}` or `{"error":"decision-store-unavailable"}` | info |
//! | timeout, reset | | info |
//!
//! Abort reasons: `insufficient-funds`, `locked` (an account stayed locked for the
//! participant's `--lock-wait-ms`), `vote-missing` (a participant did not answer the
//! prepare within `--rpc-timeout-ms`), `already-decided`, `txn-id-reused`, `log-failed`,
//! `aborted-earlier` (a retry of an aborted transfer), `decided-elsewhere` (replicated
//! mode: another coordinator stored an abort first, see below).
//!
//! `GET /balances` answers `{"ok":true,"balances":{"a0":100,...}}` with every account, read
//! atomically (below), or 503 `{"error":"busy"}` when the read locks were refused
//! `--read-attempts` times (a read has no effect: fail or info are the same to a checker).
//!
//! `GET /status` answers `{"id":"coordinator","role":"coordinator","replicated":false,
//! "decision_store":[],"participants":[...],
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
//!    is answered from the decision, not the acknowledgements. Each transfer runs in a task
//!    of its own, so a client that gives up and closes its connection does not cancel a
//!    transaction half way (which would leave it `pending` and its accounts locked). When every participant
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
//! Coordinator: `DATA_DIR/decisions.log` (none in replicated mode); participant:
//! `DATA_DIR/prepare.log`. Both are append-only files of CRC32-framed JSON records (the
//! framing of [`crate::storage`]), group-committed with one `fdatasync` per batch by
//! [`wal`]; a torn tail is cut off at recovery. Participant records: `genesis` (the sharding flags, checked at restart),
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
//! # Replicated coordinators (`--replicated-coordinator`)
//!
//! Two-phase commit blocks when its coordinator dies: every participant that voted yes
//! keeps its locks until the coordinator returns (a participant must not decide alone).
//! With one coordinator that is the behaviour above: its crash blocks the transactions
//! it had in flight, and every read and transfer touching their locked accounts, until
//! it returns. With `--replicated-coordinator` the decisions live in a Raft group
//! instead: the project's own key-value store, running as separate `raft-node` processes
//! (`r1..r3` in faultline's clusters) named by `--decision-store r1=ADDR,...` (required
//! with the flag, refused without it; addresses as this coordinator reaches them).
//! Several coordinator processes `c1..cK` (`--id`, shown in `/status` and the logs) run
//! at once with the same `--participants` and `--decision-store`, and every one serves
//! `/transfer`, `/balances` and `/txn-status`.
//!
//! - The decision of transaction T is a CAS of key `txn/T` from `null` to the string
//!   `"commit"` or `"abort"`: the first decision stored wins, and a coordinator whose CAS
//!   loses (409 `cas-mismatch`) takes the stored one (a transfer it wanted to commit
//!   then answers 409 aborted, reason `decided-elsewhere`). The CAS is the commit point:
//!   no participant hears a commit before it is committed in the Raft log.
//! - `/transfer` first reads `txn/T` (a linearizable read): a transfer decided at any
//!   coordinator gets the stored outcome (`ok`, or 409 `aborted-earlier`) without running
//!   again. Otherwise it runs both phases as above. Because any coordinator may run a
//!   retry, a reused txn id is caught only by the participants (they vote no to a
//!   prepare with other deltas) or by the coordinator that ran the first transfer.
//! - Presumed abort stays: `/txn-status` for a transaction this coordinator is running
//!   answers `pending`; for one it knows decided, the decision; otherwise it CASes
//!   `null -> "abort"` through Raft and answers what is stored then. So a dead
//!   coordinator's transactions are aborted by any other coordinator as soon as a
//!   participant asks, and a late commit CAS of the dead one (were it to come back)
//!   loses. A live coordinator whose transaction takes longer than the participants'
//!   `--in-doubt-after-ms` between prepare and decision can lose it the same way (safe:
//!   an abort, answered as such).
//! - The decision store client ([`decision_store`]): a client id unique per process start
//!   (`<id>-<random u64>`) with an increasing `seq` on every CAS; every request with
//!   `--rpc-timeout-ms`; a 503 `not-leader` sends the next request to the named leader,
//!   an unreachable node to the next one; a CAS whose outcome is unknown (timeout, reset,
//!   504, 500) is retried with the same `(client, seq)`, so the store's dedup answers it
//!   with the first outcome. After `--decision-store-attempts` requests (back-off from
//!   `--retry-backoff-ms`, doubling up to 16x) the coordinator gives up: the transfer
//!   answers 500 `decision-store-unavailable` (info), the transaction stays undecided
//!   (and no longer `pending` here), and the participants' status queries decide it
//!   later. A `/txn-status` that cannot reach the store answers 500, and the participant
//!   asks the next coordinator.
//! - Locally the coordinator keeps nothing durable in this mode: no `decisions.log` is
//!   written, and `--data-dir` is optional and unused. In memory it keeps the
//!   transactions it is running and a cache of the decisions it stored or read (final,
//!   so never stale). A restarted coordinator therefore re-delivers nothing: a
//!   participant asks for what it did not hear (step 5), and any coordinator answers from
//!   the store.
//! - Participants take `--coordinator ADDR[,ADDR...]`: in-doubt queries go to the
//!   coordinator that last answered, and to the next in the list on a timeout, a refused
//!   connection or an error answer (one address behaves exactly as before). With several
//!   coordinators `--in-doubt-after-ms` defaults to 500 instead of 1000, because that
//!   delay is most of how long a dead coordinator's transactions stay locked: after a
//!   kill they are resolved about `--in-doubt-after-ms` after their prepare (plus up to
//!   one `--resolve-interval-ms` and a Raft round trip), without the dead coordinator. A
//!   dead decision-store leader stalls decisions for one election (the coordinators'
//!   bounded retries span it), and clients of a dead coordinator simply go to another.
//!
//! Measured on the shared 2-core test machine (`cargo test -p tests --test
//! bank_replicated --test bank_recovery -- --nocapture`, which print the numbers): after
//! kill -9 of a coordinator holding three prepared, undecided transactions, they were
//! resolved 0.3 to 0.45 s after the kill (they had been prepared 0.2 s before it) with
//! replicated coordinators and no restart, against however long the coordinator stays
//! down plus about 0.1 s of recovery with one coordinator. A killed decision-store
//! leader: a new leader 0.17 to 0.48 s after the kill, the next transfer committed 0.22
//! to 1.5 s after it.
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
//! src/bank/decision_store.rs     the replicated mode's client of the Raft decision store
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
use std::path::PathBuf;

use crate::http::{ServeError, run_node_process};

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
    #[error(transparent)]
    Serve(#[from] ServeError),
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
    run_node_process(run_bank(args))
}

/// The async body of [`bank_main`].
pub async fn run_bank(args: BankArgs) -> Result<(), BankError> {
    match args.role {
        BankRole::Coordinator(args) => run_coordinator(args).await,
        BankRole::Participant(args) => run_participant(args).await,
    }
}
