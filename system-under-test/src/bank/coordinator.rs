//! The coordinator process: command line, recovery from the decision log (and delivery of
//! every decision not yet acknowledged), and the HTTP handlers: transfers as two-phase
//! commits, atomic reads through read leases, and the status queries of participants.
//! Decisions go to the local decision log, or with `--replicated-coordinator` to the Raft
//! decision store shared by several coordinators ([`super::decision_store`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::task::JoinSet;

use super::coordinator_state::{
    Begin, CoordinatorRecord, CoordinatorState, Decision, StatusAnswer, VoteResult, decide,
};
use super::decision_store::{DecisionStore, RetryPolicy, StoreError};
use super::http::{
    Api, ApiRequest, BadRequest, HttpResponse, JsonClient, RpcError, bad_request, json_response,
    method_not_allowed, not_found, ok_json, parse_listen, serve,
};
use super::participant::check_id;
use super::protocol::{
    Balances, Delta, ParticipantId, PrepareRequest, ReadLockReply, ReadLockRequest,
    ReadReleaseRequest, TransferRequest, TxnRef, TxnStatus, TxnStatusReply, VoteReply,
    account_index, shard_of,
};
use super::wal::{LogWriter, open_log};
use super::{BankBug, BankError};
use crate::http::{ServeError, bind};

const LOG_FILE: &str = "decisions.log";

/// `bank-node coordinator ...`: the transaction coordinator.
#[derive(Debug, Clone, clap::Args)]
pub struct CoordinatorArgs {
    /// Shown in /status.
    #[arg(long, default_value = "coordinator")]
    pub id: String,
    /// Address to serve on (host:port, or a port on 127.0.0.1).
    #[arg(long, value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// The participants in shard order as id=host:port, comma-separated: the k-th owns
    /// account i when i mod (number of participants) == k.
    #[arg(long, value_delimiter = ',', value_parser = crate::http::parse_named_addr, required = true)]
    pub participants: Vec<(ParticipantId, String)>,
    /// Directory of the decision log (created if missing). Required unless
    /// --replicated-coordinator, where it is not used.
    #[arg(long, required_unless_present = "replicated_coordinator")]
    pub data_dir: Option<PathBuf>,
    /// Keep the commit/abort decisions in the Raft group of --decision-store instead of
    /// the local log, so that several coordinators can serve the same bank.
    #[arg(long)]
    pub replicated_coordinator: bool,
    /// The decision store's Raft nodes as id=host:port, comma-separated (with
    /// --replicated-coordinator only).
    #[arg(long, value_delimiter = ',', value_parser = crate::http::parse_named_addr)]
    pub decision_store: Vec<(String, String)>,
    /// Requests to the decision store for one read or decision before giving up (the
    /// transfer's outcome is then unknown). Back-off as --retry-backoff-ms, up to 16x.
    #[arg(long, default_value_t = 20)]
    pub decision_store_attempts: u32,
    /// Accounts in the bank (a0 .. a{N-1}).
    #[arg(long)]
    pub accounts: u64,
    /// Timeout of every request to a participant (a prepare not answered in time is a
    /// missing vote). Keep it above the participants' --lock-wait-ms.
    #[arg(long, default_value_t = 500)]
    pub rpc_timeout_ms: u64,
    /// Attempts to deliver a decision to a participant before leaving it to the
    /// participant's own status queries.
    #[arg(long, default_value_t = 5)]
    pub decision_attempts: u32,
    /// First back-off between attempts (doubling).
    #[arg(long, default_value_t = 20)]
    pub retry_backoff_ms: u64,
    /// How long a read holds its locks on a participant at most.
    #[arg(long, default_value_t = 500)]
    pub read_lease_ms: u64,
    /// Attempts of a read whose locks were refused before answering 503 busy.
    #[arg(long, default_value_t = 5)]
    pub read_attempts: u32,
    /// Test-only: sleep this long between collecting the votes and logging the decision,
    /// to widen the window in which a crash leaves participants in doubt.
    #[arg(long, default_value_t = 0)]
    pub pause_after_prepare_ms: u64,
    /// Test-only: sleep this long between logging a decision and delivering it, to widen
    /// the window in which a crash leaves a decided transaction undelivered.
    #[arg(long, default_value_t = 0)]
    pub pause_after_decision_ms: u64,
    /// Turn on one planted bug. Off by default.
    #[arg(long, value_enum)]
    pub bug: Option<BankBug>,
}

impl CoordinatorArgs {
    fn validate(&self) -> Result<(), BankError> {
        let bad = |text: &str| Err(BankError::BadArguments(text.to_string()));
        let mut ids: Vec<_> = self.participants.iter().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != self.participants.len() {
            return bad("participant ids must be distinct");
        }
        if self.accounts == 0 || self.rpc_timeout_ms == 0 || self.read_lease_ms == 0 {
            return bad("--accounts, --rpc-timeout-ms and --read-lease-ms must be positive");
        }
        if self.decision_attempts == 0 || self.read_attempts == 0 {
            return bad("--decision-attempts and --read-attempts must be positive");
        }
        if self.bug == Some(BankBug::ForgetPrepared) {
            return bad("2pc-forget-prepared is a participant bug");
        }
        if self.replicated_coordinator && self.decision_store.is_empty() {
            return bad("--replicated-coordinator needs --decision-store");
        }
        if !self.replicated_coordinator && !self.decision_store.is_empty() {
            return bad("--decision-store is only for --replicated-coordinator");
        }
        if !self.replicated_coordinator && self.data_dir.is_none() {
            return bad("--data-dir is required without --replicated-coordinator");
        }
        if self.decision_store_attempts == 0 {
            return bad("--decision-store-attempts must be positive");
        }
        Ok(())
    }
}

/// Runs the coordinator until its server fails.
pub async fn run_coordinator(args: CoordinatorArgs) -> Result<(), BankError> {
    args.validate()?;
    let client = JsonClient::new(Duration::from_millis(args.rpc_timeout_ms));
    let (state, decisions) = if args.replicated_coordinator {
        let store = DecisionStore::new(
            &args.id,
            args.decision_store.clone(),
            client.clone(),
            RetryPolicy {
                attempts: args.decision_store_attempts,
                backoff: Duration::from_millis(args.retry_backoff_ms.max(1)),
            },
        );
        (
            CoordinatorState::default(),
            Decisions::Replicated(Box::new(store)),
        )
    } else {
        let data_dir = args.data_dir.as_deref().ok_or_else(|| {
            BankError::BadArguments(
                "--data-dir is required without --replicated-coordinator".into(),
            )
        })?;
        recover_local(data_dir)?
    };
    let unfinished = state.unfinished();
    let listener = bind(args.listen).await?;
    let coordinator = Arc::new(Coordinator {
        state: Mutex::new(state),
        decisions,
        client,
        next_read: AtomicU64::new(0),
        incarnation: rand::random::<u32>(),
        args: args.clone(),
    });
    for (txn, commit, participants) in unfinished {
        tokio::spawn(
            coordinator
                .clone()
                .deliver_decision(txn, commit, participants),
        );
    }
    tracing::info!(id = %args.id, listen = %args.listen, replicated = args.replicated_coordinator,
        bug = ?args.bug, "coordinator serving");
    serve(listener, coordinator)
        .await
        .map_err(|error| ServeError::Server(error).into())
}

/// Opens (creating it if needed) the local decision log and rebuilds the state from it.
fn recover_local(data_dir: &std::path::Path) -> Result<(CoordinatorState, Decisions), BankError> {
    std::fs::create_dir_all(data_dir).map_err(|source| BankError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let (records, log) = open_log::<CoordinatorRecord>(&data_dir.join(LOG_FILE))?;
    let state = CoordinatorState::recover(&records);
    tracing::info!(
        records = records.len(),
        unfinished = state.unfinished().len(),
        "recovered"
    );
    Ok((state, Decisions::Local(log)))
}

/// Where decisions are made durable.
enum Decisions {
    /// `decisions.log` in `--data-dir`: this coordinator alone decides.
    Local(LogWriter<CoordinatorRecord>),
    /// The Raft group of `--decision-store`, shared by every coordinator of the bank.
    Replicated(Box<DecisionStore>),
}

struct Coordinator {
    state: Mutex<CoordinatorState>,
    decisions: Decisions,
    client: JsonClient,
    next_read: AtomicU64,
    /// Makes read ids unique across restarts.
    incarnation: u32,
    args: CoordinatorArgs,
}

impl Api for Coordinator {
    async fn handle(self: Arc<Self>, request: ApiRequest) -> HttpResponse {
        match (request.path.as_str(), &request.method) {
            ("/status", &Method::GET) => self.status(),
            ("/balances", &Method::GET) => self.read().await,
            ("/transfer", &Method::POST) => match request.json::<TransferRequest>() {
                Ok(transfer) => self.transfer(transfer).await,
                Err(bad) => bad.into_response(),
            },
            ("/txn-status", &Method::POST) => match request.json::<TxnRef>() {
                Ok(txn) => self.txn_status(txn.txn).await,
                Err(bad) => bad.into_response(),
            },
            ("/status" | "/balances" | "/transfer" | "/txn-status", _) => method_not_allowed(),
            _ => not_found(),
        }
    }
}

/// A transfer's deltas grouped by the participant (index) that owns the accounts.
type Plan = Vec<(usize, Vec<Delta>)>;

fn aborted(reason: &str) -> HttpResponse {
    json_response(
        StatusCode::CONFLICT,
        &json!({"error": "aborted", "reason": reason}),
    )
}

/// The answer when the decision store gave no definite answer: the outcome is unknown.
const STORE_UNAVAILABLE: &str = "decision-store-unavailable";

/// The participants that must hear a decision: every one, unless it aborts, when those
/// that voted no hold nothing (a missing vote may still turn into a prepare).
fn to_tell(
    participants: &[(ParticipantId, String)],
    plan: &Plan,
    votes: &[VoteResult],
    commit: bool,
) -> Vec<ParticipantId> {
    plan.iter()
        .zip(votes)
        .filter(|(_, vote)| commit || !matches!(vote, VoteResult::No(_)))
        .map(|((shard, _), _)| participants[*shard].0.clone())
        .collect()
}

fn unknown(error: &str) -> HttpResponse {
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({ "error": error }),
    )
}

impl Coordinator {
    fn lock_state(&self) -> MutexGuard<'_, CoordinatorState> {
        // Every state method either completes or changes nothing, so a poisoned lock
        // holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn status(&self) -> HttpResponse {
        let state = self.lock_state();
        let (committed, aborted) = state.decided_counts();
        ok_json(&json!({
            "id": self.args.id,
            "role": "coordinator",
            "replicated": self.args.replicated_coordinator,
            "decision_store": match &self.decisions {
                Decisions::Replicated(store) => store.node_ids(),
                Decisions::Local(_) => Vec::new(),
            },
            "participants": self.args.participants.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            "in_flight": state.in_flight_count(),
            "committed": committed,
            "aborted": aborted,
            "unacknowledged": state.unfinished().len(),
            "owed_a_decision": state.participants_owed_a_decision(),
            "bug": self.args.bug.map(|b| b.to_string()),
        }))
    }

    fn plan(&self, transfer: &TransferRequest) -> Result<Plan, BadRequest> {
        check_id(&transfer.txn)?;
        let accounts = self.args.accounts;
        let from = account_index(&transfer.from, accounts);
        let to = account_index(&transfer.to, accounts);
        let (Some(from), Some(to)) = (from, to) else {
            return Err(BadRequest(format!("accounts are a0 .. a{}", accounts - 1)));
        };
        if from == to || transfer.amount <= 0 {
            return Err(BadRequest(
                "need two different accounts and amount > 0".into(),
            ));
        }
        let shards = self.args.participants.len() as u64;
        let mut plan: Plan = Vec::new();
        for (index, name, delta) in [
            (from, &transfer.from, -transfer.amount),
            (to, &transfer.to, transfer.amount),
        ] {
            let shard = shard_of(index, shards) as usize;
            let delta = Delta {
                account: name.clone(),
                delta,
            };
            match plan.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, deltas)) => deltas.push(delta),
                None => plan.push((shard, vec![delta])),
            }
        }
        Ok(plan)
    }

    async fn transfer(self: Arc<Self>, transfer: TransferRequest) -> HttpResponse {
        let plan = match self.plan(&transfer) {
            Ok(plan) => plan,
            Err(bad) => return bad.into_response(),
        };
        let begin = self.lock_state().begin(&transfer);
        match begin {
            Begin::Start => {
                // The transaction runs in a task of its own: when a client gives up, hyper
                // drops this handler's future, and a transaction cancelled half way would
                // stay in flight forever (answered `pending` to every participant that
                // asks, its accounts locked there for good).
                let run = tokio::spawn(self.run_transfer(transfer.txn, plan));
                match run.await {
                    Ok(answer) => answer,
                    Err(error) => {
                        tracing::error!(%error, "transfer task failed");
                        unknown("internal-error")
                    }
                }
            }
            Begin::Decided { commit: true } => ok_json(&json!({"ok": true, "txn": transfer.txn})),
            Begin::Decided { commit: false } => aborted("aborted-earlier"),
            Begin::InProgress => unknown("in-progress"),
            Begin::TxnIdReused => bad_request("txn id already used for another transfer"),
        }
    }

    async fn run_transfer(self: Arc<Self>, txn: String, plan: Plan) -> HttpResponse {
        match &self.decisions {
            Decisions::Local(_) => self.run_two_phases(txn, plan).await,
            Decisions::Replicated(_) => self.start_replicated(txn, plan).await,
        }
    }

    /// Replicated mode: a transaction another coordinator (or an earlier incarnation)
    /// decided gets the stored outcome; only an undecided one runs.
    async fn start_replicated(self: Arc<Self>, txn: String, plan: Plan) -> HttpResponse {
        let Decisions::Replicated(store) = &self.decisions else {
            return self.run_two_phases(txn, plan).await;
        };
        match store.read(&txn).await {
            Ok(None) => self.run_two_phases(txn, plan).await,
            Ok(Some(commit)) => {
                self.lock_state().record_stored(&txn, commit);
                if commit {
                    ok_json(&json!({"ok": true, "txn": txn}))
                } else {
                    aborted("aborted-earlier")
                }
            }
            Err(error) => {
                tracing::warn!(%txn, %error, "cannot read the decision store");
                self.lock_state().abandon(&txn);
                unknown(STORE_UNAVAILABLE)
            }
        }
    }

    async fn run_two_phases(self: Arc<Self>, txn: String, plan: Plan) -> HttpResponse {
        let votes = self.collect_votes(&txn, &plan).await;
        if self.args.pause_after_prepare_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.args.pause_after_prepare_ms)).await;
        }
        let count_missing_as_yes = self.args.bug == Some(BankBug::CommitWithoutAllVotes);
        let proposed = decide(&votes, count_missing_as_yes);
        let decision = match &self.decisions {
            Decisions::Local(log) => {
                let participants = to_tell(&self.args.participants, &plan, &votes, proposed.commit);
                if let Err(answer) = log_decision(log, &txn, proposed.commit, participants).await {
                    return answer;
                }
                proposed
            }
            Decisions::Replicated(store) => match store_decision(store, &txn, proposed).await {
                Ok(decision) => decision,
                Err(error) => {
                    tracing::error!(%txn, %error, "decision not stored; outcome left open");
                    self.lock_state().abandon(&txn);
                    return unknown(STORE_UNAVAILABLE);
                }
            },
        };
        let participants = to_tell(&self.args.participants, &plan, &votes, decision.commit);
        self.lock_state()
            .record_decision(&txn, decision.commit, participants.clone());
        if self.args.pause_after_decision_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.args.pause_after_decision_ms)).await;
        }
        let delivery = tokio::spawn(self.clone().deliver_decision(
            txn.clone(),
            decision.commit,
            participants,
        ));
        // The answer does not depend on the acknowledgements; waiting a little only lets
        // the locks go before the client sends its next transfer.
        let _delivered_in_time =
            tokio::time::timeout(Duration::from_millis(self.args.rpc_timeout_ms), delivery).await;
        match decision.reason {
            None => ok_json(&json!({"ok": true, "txn": txn})),
            Some(reason) => aborted(&reason),
        }
    }

    async fn collect_votes(&self, txn: &str, plan: &Plan) -> Vec<VoteResult> {
        let mut requests = JoinSet::new();
        for (position, (shard, deltas)) in plan.iter().enumerate() {
            let client = self.client.clone();
            let address = self.args.participants[*shard].1.clone();
            let prepare = PrepareRequest {
                txn: txn.to_string(),
                deltas: deltas.clone(),
            };
            requests.spawn(async move {
                let reply = client.post(&address, "/prepare", &prepare).await;
                (position, vote_of(reply))
            });
        }
        let mut votes = vec![VoteResult::Missing("not asked".into()); plan.len()];
        while let Some(joined) = requests.join_next().await {
            match joined {
                Ok((position, vote)) => votes[position] = vote,
                Err(error) => tracing::error!(%error, "prepare task failed"),
            }
        }
        votes
    }

    /// Tells `participants` the decision, each with bounded attempts and doubling
    /// back-off; a participant not reached finds the decision itself by asking.
    async fn deliver_decision(
        self: Arc<Self>,
        txn: String,
        commit: bool,
        participants: Vec<ParticipantId>,
    ) {
        let mut deliveries = JoinSet::new();
        for id in &participants {
            let Some((_, address)) = self.args.participants.iter().find(|(p, _)| p == id) else {
                tracing::error!(%txn, participant = %id, "decision for an unknown participant");
                continue;
            };
            let this = self.clone();
            let (txn, address) = (txn.clone(), address.clone());
            deliveries.spawn(async move { this.deliver_to(&txn, commit, &address).await });
        }
        let mut all_acknowledged = true;
        while let Some(joined) = deliveries.join_next().await {
            all_acknowledged &= joined.unwrap_or(false);
        }
        if all_acknowledged {
            self.lock_state().mark_done(&txn);
            // Only an optimisation of recovery (fewer re-deliveries): not waited for. The
            // replicated mode keeps no such record (participants ask for what they miss).
            if let Decisions::Local(log) = &self.decisions
                && let Err(error) = log.append(&[CoordinatorRecord::Done { txn }])
            {
                tracing::warn!(%error, "cannot log a finished transaction");
            }
        }
    }

    async fn deliver_to(&self, txn: &str, commit: bool, address: &str) -> bool {
        let path = if commit { "/commit" } else { "/abort" };
        let body = TxnRef {
            txn: txn.to_string(),
        };
        let mut backoff = Duration::from_millis(self.args.retry_backoff_ms);
        for attempt in 1..=self.args.decision_attempts {
            match self.client.post(address, path, &body).await {
                Ok(reply) if reply.status == StatusCode::OK => return true,
                Ok(reply) if reply.status == StatusCode::CONFLICT => {
                    // A definite refusal (not prepared there, or the other outcome):
                    // retrying cannot help.
                    tracing::error!(%txn, %address, body = %reply.body, "participant refused the decision");
                    return false;
                }
                Ok(reply) => {
                    tracing::debug!(%txn, %address, attempt, status = %reply.status, "decision not acknowledged")
                }
                Err(error) => {
                    tracing::debug!(%txn, %address, attempt, %error, "decision not delivered")
                }
            }
            if attempt < self.args.decision_attempts {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        tracing::warn!(%txn, %address, attempts = self.args.decision_attempts, "giving up delivering the decision; the participant will ask");
        false
    }

    async fn txn_status(&self, txn: String) -> HttpResponse {
        if let Err(bad) = check_id(&txn) {
            return bad.into_response();
        }
        let status = match &self.decisions {
            Decisions::Local(log) => self.local_txn_status(log, &txn).await,
            Decisions::Replicated(store) => self.replicated_txn_status(store, &txn).await,
        };
        match status {
            Ok(status) => ok_json(&TxnStatusReply { txn, status }),
            Err(answer) => answer,
        }
    }

    async fn local_txn_status(
        &self,
        log: &LogWriter<CoordinatorRecord>,
        txn: &str,
    ) -> Result<TxnStatus, HttpResponse> {
        let answer = self.lock_state().status(txn);
        match answer {
            StatusAnswer::Known(status) => Ok(status),
            StatusAnswer::PresumedAbort => {
                let record = CoordinatorRecord::Decision {
                    txn: txn.to_string(),
                    commit: false,
                    participants: Vec::new(),
                };
                // Durable before answering, so that a retried transfer cannot commit it.
                let durable = match log.append(&[record]) {
                    Ok(pending) => pending.durable().await,
                    Err(error) => Err(error),
                };
                if let Err(error) = durable {
                    return Err(unknown(&format!("log-failed: {error}")));
                }
                tracing::info!(%txn, "presumed abort of an unknown transaction");
                Ok(TxnStatus::Abort)
            }
        }
    }

    /// Pending while this coordinator runs `txn`; otherwise the stored decision, after
    /// storing an abort if there was none (presumed abort, first decision wins).
    async fn replicated_txn_status(
        &self,
        store: &DecisionStore,
        txn: &str,
    ) -> Result<TxnStatus, HttpResponse> {
        if let Some(status) = self.lock_state().lookup(txn) {
            return Ok(status);
        }
        match store.decide(txn, false).await {
            Ok(commit) => {
                self.lock_state().record_stored(txn, commit);
                tracing::info!(%txn, commit, "status query answered from the decision store");
                Ok(if commit {
                    TxnStatus::Commit
                } else {
                    TxnStatus::Abort
                })
            }
            Err(error) => {
                tracing::warn!(%txn, %error, "cannot answer a status query");
                Err(unknown(STORE_UNAVAILABLE))
            }
        }
    }

    /// An atomic read of every balance. Each participant locks its whole shard against
    /// prepares for the read lease and answers its balances; when every participant
    /// granted its lock before the lease (timed from before the first request) ran out,
    /// all locks were held at once at the moment the last answer arrived, and no
    /// transaction was prepared anywhere then: the balances are a consistent cut.
    async fn read(&self) -> HttpResponse {
        let mut backoff = Duration::from_millis(self.args.retry_backoff_ms);
        for attempt in 1..=self.args.read_attempts {
            if let Some(balances) = self.try_read().await {
                return ok_json(&json!({"ok": true, "balances": balances}));
            }
            if attempt < self.args.read_attempts {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "busy", "detail": "read locks refused; try again"}),
        )
    }

    async fn try_read(&self) -> Option<Balances> {
        let read = format!(
            "r-{}-{}-{}",
            self.args.id,
            self.incarnation,
            self.next_read.fetch_add(1, Ordering::Relaxed)
        );
        let lease = Duration::from_millis(self.args.read_lease_ms);
        let started = Instant::now();
        let mut requests = JoinSet::new();
        for (_, address) in &self.args.participants {
            let client = self.client.clone();
            let address = address.clone();
            let body = ReadLockRequest {
                read: read.clone(),
                lease_ms: self.args.read_lease_ms,
            };
            requests.spawn(async move {
                let reply = client.post(&address, "/read-lock", &body).await;
                (address, reply)
            });
        }
        let mut merged = Balances::new();
        let mut complete = true;
        let mut locked_at = Vec::new();
        while let Some(joined) = requests.join_next().await {
            let Ok((address, reply)) = joined else {
                complete = false;
                continue;
            };
            let granted = reply
                .ok()
                .filter(|r| r.status == StatusCode::OK)
                .and_then(|r| serde_json::from_value::<ReadLockReply>(r.body).ok());
            match granted {
                Some(granted) => {
                    merged.extend(granted.balances);
                    locked_at.push(address);
                }
                None => complete = false,
            }
        }
        let in_time = started.elapsed() < lease;
        self.release_read_locks(read, locked_at);
        (complete && in_time).then_some(merged)
    }

    /// Lets the read locks go early (they expire with the lease anyway).
    fn release_read_locks(&self, read: String, addresses: Vec<String>) {
        for address in addresses {
            let client = self.client.clone();
            let body = ReadReleaseRequest { read: read.clone() };
            tokio::spawn(async move {
                if let Err(error) = client.post(&address, "/read-release", &body).await {
                    tracing::debug!(%address, %error, "read release not delivered; the lease will expire");
                }
            });
        }
    }
}

fn vote_of(reply: Result<super::http::Reply, RpcError>) -> VoteResult {
    match reply {
        Ok(reply) if reply.status == StatusCode::OK => {
            match serde_json::from_value::<VoteReply>(reply.body) {
                Ok(VoteReply::Yes) => VoteResult::Yes,
                Ok(VoteReply::No { reason }) => VoteResult::No(reason),
                Err(error) => VoteResult::Missing(format!("unreadable vote: {error}")),
            }
        }
        Ok(reply) => VoteResult::Missing(format!("prepare answered {}", reply.status)),
        Err(error) => VoteResult::Missing(error.to_string()),
    }
}

/// Makes a local decision durable (commits awaited, aborts presumed); the answer to give
/// when a commit could not be logged.
async fn log_decision(
    log: &LogWriter<CoordinatorRecord>,
    txn: &str,
    commit: bool,
    participants: Vec<ParticipantId>,
) -> Result<(), HttpResponse> {
    let record = CoordinatorRecord::Decision {
        txn: txn.to_string(),
        commit,
        participants,
    };
    let logged = log.append(&[record]);
    if commit {
        // The commit point: nobody hears of the commit before it is durable. Until then
        // the transaction stays in flight, so status queries answer `pending`.
        let durable = match logged {
            Ok(pending) => pending.durable().await,
            Err(error) => Err(error),
        };
        if let Err(error) = durable {
            tracing::error!(%txn, %error, "commit decision not durable; outcome left open");
            return Err(unknown("log-failed"));
        }
    } else if let Err(error) = logged {
        // Presumed abort: a lost abort record reads as an abort anyway.
        tracing::warn!(%txn, %error, "abort decision not logged");
    }
    Ok(())
}

/// Stores `proposed` in the decision store (the commit point of the replicated mode: a
/// commit is in the Raft log before anyone hears it) and returns the decision that holds:
/// ours, or the one another coordinator stored first.
async fn store_decision(
    store: &DecisionStore,
    txn: &str,
    proposed: Decision,
) -> Result<Decision, StoreError> {
    let stored = store.decide(txn, proposed.commit).await?;
    if stored == proposed.commit {
        return Ok(proposed);
    }
    tracing::info!(%txn, wanted = proposed.commit, stored, "another coordinator decided first");
    Ok(Decision {
        commit: stored,
        reason: (!stored).then(|| "decided-elsewhere".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CoordinatorArgs,
    }

    fn parse(flags: &str) -> Result<CoordinatorArgs, String> {
        let argv = format!("c --listen 7100 --accounts 4 --participants p0=127.0.0.1:1 {flags}");
        let cli = Cli::try_parse_from(argv.split_whitespace()).map_err(|e| e.to_string())?;
        cli.args.validate().map_err(|e| e.to_string())?;
        Ok(cli.args)
    }

    #[test]
    fn the_decision_store_goes_with_the_replicated_mode_only() {
        let args = parse("--replicated-coordinator --decision-store r1=127.0.0.1:2,r2=127.0.0.1:3")
            .unwrap();
        assert_eq!(args.decision_store.len(), 2);
        assert_eq!(args.data_dir, None, "no data dir needed when replicated");
        let missing_store = parse("--replicated-coordinator").unwrap_err();
        assert!(
            missing_store.contains("--decision-store"),
            "{missing_store}"
        );
        let store_alone = parse("--data-dir /tmp/x --decision-store r1=127.0.0.1:2").unwrap_err();
        assert!(store_alone.contains("only for"), "{store_alone}");
        assert!(
            parse("").is_err(),
            "--data-dir is required without replication"
        );
        assert!(parse("--data-dir /tmp/x").is_ok());
    }
}
