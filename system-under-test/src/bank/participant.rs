//! The participant process: command line, recovery from the prepare log, the HTTP
//! handlers that drive [`ParticipantState`], and the resolver task that asks the
//! coordinator about transactions left in doubt (after a restart, or when a decision
//! did not arrive in time), going through the coordinators of `--coordinator` in turn.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;

use super::http::{
    Api, ApiRequest, BadRequest, HttpResponse, JsonClient, bad_request, json_response,
    method_not_allowed, not_found, ok_json, parse_listen, serve,
};
use super::participant_state::{
    AbortOutcome, CommitOutcome, ParticipantRecord, ParticipantState, PrepareOutcome,
};
use super::protocol::{
    MAX_ID_BYTES, NoReason, PrepareRequest, ReadLockReply, ReadLockRequest, ReadReleaseRequest,
    TxnRef, TxnStatus, TxnStatusReply, VoteReply, initial_balances,
};
use super::wal::{LogWriter, PendingWrite, open_log};
use super::{BankBug, BankError};
use crate::http::{ServeError, bind};

const LOG_FILE: &str = "prepare.log";
/// Pause between two attempts to take a lock held by someone else.
const LOCK_RETRY_MS: u64 = 2;
/// In-doubt transactions asked about per resolver round.
const MAX_RESOLVED_PER_ROUND: usize = 64;
/// The resolver's back-off grows up to this many times `--resolve-interval-ms`.
const MAX_RESOLVE_BACKOFF_FACTOR: u32 = 16;
/// `--in-doubt-after-ms` with one coordinator.
const DEFAULT_IN_DOUBT_AFTER_MS: u64 = 1000;
/// `--in-doubt-after-ms` with several coordinators: low, because this delay is most of how
/// long a dead coordinator's transactions stay blocked.
const DEFAULT_IN_DOUBT_AFTER_MS_REPLICATED: u64 = 500;
/// Longest read lease a participant grants.
const MAX_READ_LEASE_MS: u64 = 60_000;

/// `bank-node participant ...`: one shard of the bank.
#[derive(Debug, Clone, clap::Args)]
pub struct ParticipantArgs {
    /// This participant's id, e.g. p1 (as named in the coordinator's --participants).
    #[arg(long)]
    pub id: String,
    /// Address to serve on (host:port, or a port on 127.0.0.1).
    #[arg(long, value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// The coordinators' host:port, comma-separated, asked in turn about in-doubt
    /// transactions (the next one when one does not answer or refuses). Several only for
    /// replicated coordinators.
    #[arg(long, value_delimiter = ',', required = true)]
    pub coordinator: Vec<String>,
    /// Directory of the prepare log (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Accounts in the whole bank (a0 .. a{N-1}).
    #[arg(long)]
    pub accounts: u64,
    #[arg(long, default_value_t = 100)]
    pub initial_balance: i64,
    /// This participant's 0-based position in the coordinator's --participants list: it
    /// owns account i when i mod --shards == --shard.
    #[arg(long)]
    pub shard: u64,
    /// Number of participants.
    #[arg(long)]
    pub shards: u64,
    /// Timeout of every request to the coordinator.
    #[arg(long, default_value_t = 500)]
    pub rpc_timeout_ms: u64,
    /// How long a prepare or a read lock waits for a lock held by someone else before
    /// voting no (`locked`). Keep it well below the coordinator's --rpc-timeout-ms.
    #[arg(long, default_value_t = 100)]
    pub lock_wait_ms: u64,
    /// A prepared transaction without a decision after this long is asked about. Default
    /// 1000 with one coordinator, 500 with several (replicated coordinators: another
    /// coordinator resolves a dead one's transactions).
    #[arg(long)]
    pub in_doubt_after_ms: Option<u64>,
    /// Period of the in-doubt resolver (it backs off while the coordinator is away).
    #[arg(long, default_value_t = 100)]
    pub resolve_interval_ms: u64,
    /// Turn on one planted bug. Off by default.
    #[arg(long, value_enum)]
    pub bug: Option<BankBug>,
}

impl ParticipantArgs {
    fn validate(&self) -> Result<(), BankError> {
        let bad = |text: &str| Err(BankError::BadArguments(text.to_string()));
        if self.shards == 0 || self.shard >= self.shards {
            return bad("need --shard < --shards");
        }
        if self.accounts == 0 || self.initial_balance < 0 {
            return bad("need --accounts > 0 and --initial-balance >= 0");
        }
        if self
            .coordinator
            .iter()
            .any(|c| c.parse::<SocketAddr>().is_err())
        {
            return bad("--coordinator takes host:port[,host:port...]");
        }
        if self.rpc_timeout_ms == 0 || self.resolve_interval_ms == 0 {
            return bad("--rpc-timeout-ms and --resolve-interval-ms must be positive");
        }
        if self.bug == Some(BankBug::CommitWithoutAllVotes) {
            return bad("2pc-commit-without-all-votes is a coordinator bug");
        }
        Ok(())
    }

    fn in_doubt_after_ms(&self) -> u64 {
        match (self.in_doubt_after_ms, self.coordinator.len()) {
            (Some(ms), _) => ms,
            (None, 1) => DEFAULT_IN_DOUBT_AFTER_MS,
            (None, _) => DEFAULT_IN_DOUBT_AFTER_MS_REPLICATED,
        }
    }

    fn genesis(&self) -> ParticipantRecord {
        ParticipantRecord::Genesis {
            shard: self.shard,
            shards: self.shards,
            accounts: self.accounts,
            initial_balance: self.initial_balance,
        }
    }
}

/// Runs a participant until its server fails.
pub async fn run_participant(args: ParticipantArgs) -> Result<(), BankError> {
    args.validate()?;
    std::fs::create_dir_all(&args.data_dir).map_err(|source| BankError::DataDir {
        path: args.data_dir.clone(),
        source,
    })?;
    let (records, log) = open_log::<ParticipantRecord>(&args.data_dir.join(LOG_FILE))?;
    let genesis = args.genesis();
    match records.first() {
        None => {
            log.append(std::slice::from_ref(&genesis))?
                .durable()
                .await?
        }
        Some(first) if *first == genesis => {}
        Some(first) => {
            return Err(BankError::BadArguments(format!(
                "the data dir was created with {first:?}, not {genesis:?}"
            )));
        }
    }
    let initial = initial_balances(args.accounts, args.shard, args.shards, args.initial_balance);
    let state = ParticipantState::recover(initial, &records);
    tracing::info!(id = %args.id, records = records.len(), in_doubt = ?state.prepared_txns(), "recovered");
    let listener = bind(args.listen).await?;
    let participant = Arc::new(Participant {
        state: Mutex::new(state),
        log,
        start: Instant::now(),
        next_coordinator: AtomicUsize::new(0),
        args: args.clone(),
    });
    let client = JsonClient::new(Duration::from_millis(args.rpc_timeout_ms));
    tokio::spawn(participant.clone().resolve_in_doubt(client));
    tracing::info!(id = %args.id, listen = %args.listen, bug = ?args.bug, "participant serving");
    serve(listener, participant)
        .await
        .map_err(|error| ServeError::Server(error).into())
}

struct Participant {
    state: Mutex<ParticipantState>,
    log: LogWriter<ParticipantRecord>,
    start: Instant,
    /// Index into `--coordinator` of the coordinator to ask first (the last that answered).
    next_coordinator: AtomicUsize,
    args: ParticipantArgs,
}

/// What a prepare attempt leads to, decided under the state lock.
enum PrepareStep {
    Vote(VoteReply),
    WaitDurable(PendingWrite),
    RetryLock,
}

impl Api for Participant {
    async fn handle(self: Arc<Self>, request: ApiRequest) -> HttpResponse {
        let post = request.method == Method::POST;
        match (request.path.as_str(), post) {
            ("/status", false) if request.method == Method::GET => self.status(),
            ("/prepare", true) => match request.json::<PrepareRequest>() {
                Ok(prepare) => self.prepare_handler(prepare).await,
                Err(bad) => bad.into_response(),
            },
            ("/commit", true) => match parse_txn(&request) {
                Ok(txn) => self.commit(&txn.txn).await,
                Err(bad) => bad.into_response(),
            },
            ("/abort", true) => match parse_txn(&request) {
                Ok(txn) => self.abort(&txn.txn).await,
                Err(bad) => bad.into_response(),
            },
            ("/read-lock", true) => match request.json::<ReadLockRequest>() {
                Ok(read) => self.read_lock(read).await,
                Err(bad) => bad.into_response(),
            },
            ("/read-release", true) => match request.json::<ReadReleaseRequest>() {
                Ok(read) => {
                    self.lock_state().read_release(&read.read);
                    ok_json(&json!({"ok": true}))
                }
                Err(bad) => bad.into_response(),
            },
            ("/status" | "/prepare" | "/commit" | "/abort" | "/read-lock" | "/read-release", _) => {
                method_not_allowed()
            }
            _ => not_found(),
        }
    }
}

fn parse_txn(request: &ApiRequest) -> Result<TxnRef, BadRequest> {
    let txn: TxnRef = request.json()?;
    check_id(&txn.txn)?;
    Ok(txn)
}

/// Ids must be non-empty and short.
pub(super) fn check_id(id: &str) -> Result<(), BadRequest> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(BadRequest(format!(
            "ids must have 1 to {MAX_ID_BYTES} bytes"
        )));
    }
    Ok(())
}

impl Participant {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn lock_state(&self) -> MutexGuard<'_, ParticipantState> {
        // A panic while holding the lock leaves no half-applied change: every state
        // method either completes or changes nothing.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn status(&self) -> HttpResponse {
        let state = self.lock_state();
        ok_json(&json!({
            "id": self.args.id,
            "role": "participant",
            "shard": self.args.shard,
            "shards": self.args.shards,
            "accounts": state.balances().keys().collect::<Vec<_>>(),
            "prepared": state.prepared_txns(),
            "read_locks": state.read_lock_count(),
            "bug": self.args.bug.map(|b| b.to_string()),
        }))
    }

    async fn prepare_handler(&self, prepare: PrepareRequest) -> HttpResponse {
        if let Err(bad) = check_id(&prepare.txn) {
            return bad.into_response();
        }
        let vote = self.prepare(&prepare).await;
        ok_json(&vote)
    }

    async fn prepare(&self, prepare: &PrepareRequest) -> VoteReply {
        let deadline = Instant::now() + Duration::from_millis(self.args.lock_wait_ms);
        loop {
            match self.prepare_step(prepare, Instant::now() < deadline) {
                PrepareStep::Vote(vote) => return vote,
                PrepareStep::RetryLock => {
                    tokio::time::sleep(Duration::from_millis(LOCK_RETRY_MS)).await;
                }
                PrepareStep::WaitDurable(pending) => {
                    return match pending.durable().await {
                        Ok(()) => VoteReply::Yes,
                        Err(error) => {
                            tracing::error!(txn = %prepare.txn, %error, "prepare record not durable; voting no");
                            self.lock_state().undo_prepare(&prepare.txn);
                            VoteReply::No {
                                reason: NoReason::LogFailed,
                            }
                        }
                    };
                }
            }
        }
    }

    fn prepare_step(&self, prepare: &PrepareRequest, may_wait: bool) -> PrepareStep {
        let mut state = self.lock_state();
        let outcome = state.prepare(&prepare.txn, &prepare.deltas, self.now_ms());
        let pending = match outcome {
            PrepareOutcome::No(NoReason::Locked) if may_wait => return PrepareStep::RetryLock,
            PrepareOutcome::No(reason) => return PrepareStep::Vote(VoteReply::No { reason }),
            PrepareOutcome::Prepared if self.args.bug == Some(BankBug::ForgetPrepared) => {
                // The planted bug: the yes vote is not backed by a durable record.
                return PrepareStep::Vote(VoteReply::Yes);
            }
            PrepareOutcome::Prepared => self.log.append(&[ParticipantRecord::Prepared {
                txn: prepare.txn.clone(),
                deltas: prepare.deltas.clone(),
            }]),
            // The first prepare's record may still be in flight: wait for it.
            PrepareOutcome::AlreadyPrepared => self.log.barrier(),
        };
        match pending {
            Ok(pending) => PrepareStep::WaitDurable(pending),
            Err(error) => {
                tracing::error!(txn = %prepare.txn, %error, "cannot log the prepare; voting no");
                state.undo_prepare(&prepare.txn);
                PrepareStep::Vote(VoteReply::No {
                    reason: NoReason::LogFailed,
                })
            }
        }
    }

    async fn commit(&self, txn: &str) -> HttpResponse {
        let pending = {
            let mut state = self.lock_state();
            match state.commit(txn) {
                CommitOutcome::Applied(deltas) => {
                    tracing::debug!(%txn, "committed");
                    self.log.append(&[ParticipantRecord::Committed {
                        txn: txn.to_string(),
                        deltas,
                    }])
                }
                CommitOutcome::AlreadyCommitted => self.log.barrier(),
                CommitOutcome::NotPrepared => {
                    tracing::error!(%txn, "commit of a transaction not prepared here: its changes are lost");
                    return conflict("not-prepared");
                }
                CommitOutcome::WasAborted => {
                    tracing::error!(%txn, "commit of a transaction aborted here");
                    return conflict("already-aborted");
                }
            }
        };
        durable_answer(pending).await
    }

    async fn abort(&self, txn: &str) -> HttpResponse {
        let pending = {
            let mut state = self.lock_state();
            match state.abort(txn) {
                AbortOutcome::Aborted => self.log.append(&[ParticipantRecord::Aborted {
                    txn: txn.to_string(),
                }]),
                AbortOutcome::AlreadyAborted => self.log.barrier(),
                AbortOutcome::WasCommitted => {
                    tracing::error!(%txn, "abort of a transaction committed here");
                    return conflict("already-committed");
                }
            }
        };
        durable_answer(pending).await
    }

    async fn read_lock(&self, read: ReadLockRequest) -> HttpResponse {
        if let Err(bad) = check_id(&read.read) {
            return bad.into_response();
        }
        if read.lease_ms == 0 || read.lease_ms > MAX_READ_LEASE_MS {
            return bad_request(format!("need 0 < lease_ms <= {MAX_READ_LEASE_MS}"));
        }
        let deadline = Instant::now() + Duration::from_millis(self.args.lock_wait_ms);
        loop {
            let granted = self
                .lock_state()
                .read_lock(&read.read, read.lease_ms, self.now_ms());
            match granted {
                Ok(balances) => return ok_json(&ReadLockReply { balances }),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(LOCK_RETRY_MS)).await;
                }
                Err(_) => return conflict("locked"),
            }
        }
    }

    /// Asks the coordinator, forever but with back-off, about every prepared transaction
    /// whose decision did not arrive: a participant that voted yes cannot decide alone.
    async fn resolve_in_doubt(self: Arc<Self>, client: JsonClient) {
        let interval = Duration::from_millis(self.args.resolve_interval_ms);
        let mut pause = interval;
        loop {
            tokio::time::sleep(pause).await;
            let in_doubt = self.lock_state().in_doubt(
                self.now_ms(),
                self.args.in_doubt_after_ms(),
                MAX_RESOLVED_PER_ROUND,
            );
            let mut coordinator_answered = true;
            for txn in in_doubt {
                coordinator_answered &= self.resolve_one(&client, txn).await;
            }
            pause = if coordinator_answered {
                interval
            } else {
                (pause * 2).min(interval * MAX_RESOLVE_BACKOFF_FACTOR)
            };
        }
    }

    /// Asks the coordinators in turn, starting with the last one that answered, until one
    /// answers; returns whether one did.
    async fn resolve_one(&self, client: &JsonClient, txn: String) -> bool {
        let coordinators = &self.args.coordinator;
        let first = self.next_coordinator.load(Ordering::Relaxed);
        for offset in 0..coordinators.len() {
            let index = (first + offset) % coordinators.len();
            let Some(status) = ask_status(client, &coordinators[index], &txn).await else {
                continue;
            };
            self.next_coordinator.store(index, Ordering::Relaxed);
            let response = match status {
                TxnStatus::Commit => self.commit(&txn).await,
                TxnStatus::Abort => self.abort(&txn).await,
                TxnStatus::Pending => return true,
            };
            tracing::info!(%txn, ?status, coordinator = %coordinators[index], outcome = %response.status(), "resolved an in-doubt transaction");
            return true;
        }
        false
    }
}

fn conflict(error: &str) -> HttpResponse {
    json_response(StatusCode::CONFLICT, &json!({ "error": error }))
}

async fn durable_answer(pending: Result<PendingWrite, super::wal::LogError>) -> HttpResponse {
    let durable = match pending {
        Ok(pending) => pending.durable().await,
        Err(error) => Err(error),
    };
    match durable {
        Ok(()) => ok_json(&json!({"ok": true})),
        Err(error) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "log-failed", "detail": error.to_string()}),
        ),
    }
}

/// One `/txn-status` query; `None` when the coordinator did not answer or refused.
async fn ask_status(client: &JsonClient, coordinator: &str, txn: &str) -> Option<TxnStatus> {
    let reply = client
        .post(
            coordinator,
            "/txn-status",
            &TxnRef {
                txn: txn.to_string(),
            },
        )
        .await;
    match reply {
        Ok(reply) if reply.status == StatusCode::OK => {
            match serde_json::from_value::<TxnStatusReply>(reply.body) {
                Ok(answer) => Some(answer.status),
                Err(error) => {
                    tracing::warn!(%txn, %coordinator, %error, "unreadable status answer");
                    None
                }
            }
        }
        Ok(reply) => {
            tracing::warn!(%txn, %coordinator, status = %reply.status, body = %reply.body, "coordinator refused a status query");
            None
        }
        Err(error) => {
            tracing::debug!(%txn, %coordinator, %error, "coordinator unreachable for a status query");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ParticipantArgs,
    }

    fn parse(flags: &str) -> ParticipantArgs {
        let argv = format!(
            "p --id p0 --listen 7101 --data-dir /tmp/x --accounts 4 --shard 0 --shards 1 {flags}"
        );
        let args = Cli::try_parse_from(argv.split_whitespace()).unwrap().args;
        args.validate().unwrap();
        args
    }

    #[test]
    fn several_coordinators_lower_the_default_in_doubt_delay() {
        let one = parse("--coordinator 127.0.0.1:7100");
        assert_eq!(one.coordinator, vec!["127.0.0.1:7100".to_string()]);
        assert_eq!(one.in_doubt_after_ms(), DEFAULT_IN_DOUBT_AFTER_MS);
        let several = parse("--coordinator 127.0.0.1:7100,127.0.0.1:7200");
        assert_eq!(several.coordinator.len(), 2);
        assert_eq!(
            several.in_doubt_after_ms(),
            DEFAULT_IN_DOUBT_AFTER_MS_REPLICATED
        );
        let explicit = parse("--coordinator 127.0.0.1:7100,127.0.0.1:7200 --in-doubt-after-ms 70");
        assert_eq!(explicit.in_doubt_after_ms(), 70);
        let argv = "p --id p0 --listen 7101 --data-dir /tmp/x --accounts 4 --shard 0 --shards 1 \
                    --coordinator 127.0.0.1:7100,nowhere";
        let bad = Cli::try_parse_from(argv.split_whitespace()).unwrap().args;
        assert!(bad.validate().is_err());
    }
}
