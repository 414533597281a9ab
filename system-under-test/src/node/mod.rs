//! The node process: command-line arguments, start-up (recovery, server, peer senders,
//! storage thread) and the driver, the single task that owns the [`Engine`] and the
//! [`StateMachine`], feeds the engine its inputs and carries out its actions.

mod http;
mod peers;
mod persist;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use self::http::HttpState;
pub use self::http::Status;
use self::peers::{PeerRouter, start_peer_senders};
use self::persist::{Completion, StorageJob, StorageOp, run_storage_thread};
use crate::bug::Bug;
use crate::http::{ServeError, bind, parse_listen, run_node_process};
use crate::raft::engine::{Action, Engine, EngineConfig, InitialState, Input, Role};
use crate::raft::types::{Entry, Envelope, Message, NodeId, Payload, SnapshotMeta};
use crate::state_machine::{Command, MicroOp, Outcome, StateMachine};
use crate::storage::{SnapshotFile, Storage, StorageError};

/// Engine ticks this often; timeouts are resolved to this granularity.
const TICK_MS: u64 = 5;
/// Inputs handled before the engine's actions are carried out (the batching window).
const MAX_INPUTS_PER_BATCH: usize = 1024;
const INPUT_QUEUE_CAPACITY: usize = 8192;
const STORAGE_QUEUE_CAPACITY: usize = 1024;

/// `faultline node ...` / `raft-node ...`: one Raft key-value node.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// This node's id, e.g. n1.
    #[arg(long)]
    pub id: String,
    /// The OTHER nodes as id=host:port, comma-separated (empty for a one-node cluster).
    #[arg(long, value_delimiter = ',', value_parser = crate::http::parse_named_addr)]
    pub peers: Vec<(String, String)>,
    /// Address for clients and peers (host:port, or a port on 127.0.0.1).
    #[arg(long, value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// Directory holding the WAL and the snapshot (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long, default_value_t = 150)]
    pub election_timeout_min_ms: u64,
    #[arg(long, default_value_t = 300)]
    pub election_timeout_max_ms: u64,
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// A write proposed but not known committed after this long answers 504 (unknown).
    #[arg(long, default_value_t = 1000)]
    pub request_timeout_ms: u64,
    /// Timeout of one peer request.
    #[arg(long, default_value_t = 500)]
    pub rpc_timeout_ms: u64,
    /// Take a snapshot and compact the log every this many applied entries.
    #[arg(long, default_value_t = 1000)]
    pub snapshot_every: u64,
    /// Entries kept in the log below a snapshot for followers that are a little behind.
    #[arg(long, default_value_t = 500)]
    pub log_retain_entries: u64,
    /// Seed of the election-timeout jitter (random when absent).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Turn on one planted bug (see the crate docs). Off by default.
    #[arg(long, value_enum)]
    pub bug: Option<Bug>,
}

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("bad arguments: {0}")]
    BadArguments(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot start the storage thread: {0}")]
    StorageThread(std::io::Error),
    #[error("snapshot does not decode: {0}")]
    Snapshot(#[from] crate::state_machine::SnapshotDecodeError),
    #[error("the storage thread stopped")]
    StorageThreadGone,
    /// The engine found a state the Raft rules make impossible and stopped (never with a
    /// planted bug on); the node exits rather than act on it.
    #[error(transparent)]
    Invariant(#[from] crate::raft::engine::InvariantViolation),
}

impl NodeArgs {
    fn validate(&self) -> Result<(), NodeError> {
        let bad = |text: String| Err(NodeError::BadArguments(text));
        if self.election_timeout_min_ms == 0
            || self.election_timeout_min_ms > self.election_timeout_max_ms
        {
            return bad("need 0 < --election-timeout-min-ms <= --election-timeout-max-ms".into());
        }
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.election_timeout_min_ms {
            return bad("need 0 < --heartbeat-ms < --election-timeout-min-ms".into());
        }
        if self.snapshot_every == 0 || self.request_timeout_ms == 0 || self.rpc_timeout_ms == 0 {
            return bad("--snapshot-every and the timeouts must be positive".into());
        }
        let mut ids = HashSet::from([self.id.as_str()]);
        for (peer, _) in &self.peers {
            if !ids.insert(peer.as_str()) {
                return bad(format!("node id `{peer}` appears twice (or is this node)"));
            }
        }
        Ok(())
    }
}

/// Installs a stderr tracing subscriber (RUST_LOG, default `info`) unless one is set.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // An embedding binary may have installed its own subscriber already; keep that one.
    // Colours only on a terminal: under faultline, stderr is the node's log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Runs a node until it fails. Blocks; builds its own tokio runtime, so call it from a
/// plain (non-async) `main`.
pub fn node_main(args: NodeArgs) -> Result<(), NodeError> {
    run_node_process(run_node(args))
}

/// The async body of [`node_main`], for callers that already run a tokio runtime.
pub async fn run_node(args: NodeArgs) -> Result<(), NodeError> {
    args.validate()?;
    let (mut storage, recovered) = Storage::open(&args.data_dir)?;
    storage.set_skip_fsync(args.bug == Some(Bug::SkipFsync));
    tracing::info!(
        id = %args.id,
        term = recovered.hard_state.term,
        log_entries = recovered.entries.len(),
        snapshot_index = recovered.snapshot.as_ref().map_or(0, |s| s.meta.index),
        torn_bytes = recovered.torn_bytes,
        "recovered"
    );
    let dedup = args.bug != Some(Bug::NoDedup);
    let machine = match &recovered.snapshot {
        Some(snapshot) => StateMachine::from_snapshot_json(&snapshot.data, dedup)?,
        None => StateMachine::new(dedup),
    };
    let snapshot = recovered.snapshot.clone().map(Arc::new);
    let initial = InitialState {
        hard_state: recovered.hard_state,
        snapshot: snapshot.as_ref().map(|s| s.meta).unwrap_or_default(),
        log_offset: recovered.log_offset,
        log_offset_term: recovered.log_offset_term,
        entries: recovered.entries,
    };
    let engine = Engine::new(engine_config(&args), initial, 0);
    if let Some(violation) = engine.violation() {
        return Err(violation.clone().into());
    }

    let listener = bind(args.listen).await?;
    let peers = start_peer_senders(&args.peers, Duration::from_millis(args.rpc_timeout_ms));
    let (storage_tx, storage_rx) = mpsc::channel(STORAGE_QUEUE_CAPACITY);
    let (completion_tx, completion_rx) = mpsc::unbounded_channel();
    let storage_peers = peers.clone();
    let hold_last_batch = args.bug == Some(Bug::AckBeforeWrite);
    std::thread::Builder::new()
        .name("raft-storage".into())
        .spawn(move || {
            run_storage_thread(
                storage,
                storage_rx,
                completion_tx,
                storage_peers,
                hold_last_batch,
            )
        })
        .map_err(NodeError::StorageThread)?;

    let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE_CAPACITY);
    let mut driver = Driver::new(&args, engine, machine, snapshot, peers, storage_tx);
    let http_state = Arc::new(HttpState {
        id: args.id.clone(),
        peers: args.peers.iter().map(|(id, _)| id.clone()).collect(),
        inputs: input_tx,
        status: driver.status_rx(),
        request_timeout: Duration::from_millis(args.request_timeout_ms),
    });
    tracing::info!(id = %args.id, listen = %args.listen, bug = ?args.bug, "serving");
    let server = tokio::spawn(http::serve(listener, http_state));
    tokio::select! {
        result = driver.run(input_rx, completion_rx) => result,
        result = server => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(ServeError::Server(error).into()),
            Err(join_error) => Err(ServeError::Server(std::io::Error::other(join_error)).into()),
        },
    }
}

fn engine_config(args: &NodeArgs) -> EngineConfig {
    EngineConfig {
        id: args.id.clone(),
        peers: args.peers.iter().map(|(id, _)| id.clone()).collect(),
        election_timeout_min_ms: args.election_timeout_min_ms,
        election_timeout_max_ms: args.election_timeout_max_ms,
        heartbeat_ms: args.heartbeat_ms,
        max_entries_per_message: 1024,
        max_inflight_messages: 256,
        log_retain_entries: args.log_retain_entries,
        bug: args.bug,
        seed: args.seed.unwrap_or_else(rand::random),
    }
}

/// How the driver answers a client request (mapped to HTTP by the server).
#[derive(Debug)]
pub enum ClientReply {
    /// Done; the value read, or the value now stored.
    Ok(Value),
    CasMismatch(Value),
    /// An append to a value that is not a string (HTTP 409 `not-a-string`).
    NotAString(Value),
    /// A txn that changed nothing (HTTP 409 `txn-aborted`), and why.
    TxnAborted(String),
    NotLeader(Option<NodeId>),
    Timeout,
    /// Outcome unknown (HTTP 500 with this error).
    Unknown(String),
}

/// Work for the driver from the server.
pub enum DriverInput {
    Peer(Vec<Envelope>),
    Propose {
        command: Command,
        reply: oneshot::Sender<ClientReply>,
    },
    Read {
        key: String,
        reply: oneshot::Sender<ClientReply>,
    },
}

struct PendingWrite {
    term: u64,
    command: Command,
    reply: oneshot::Sender<ClientReply>,
    /// Under the planted bug `txn-reads-before-commit` only: a txn's micro-ops with the
    /// reads the leader answered from its applied state when it proposed the txn.
    early_reads: Option<Vec<MicroOp>>,
}

/// A proposal the engine has not yet placed at an index.
struct Proposal {
    command: Command,
    reply: oneshot::Sender<ClientReply>,
    early_reads: Option<Vec<MicroOp>>,
}

struct PendingRead {
    key: String,
    reply: oneshot::Sender<ClientReply>,
}

/// Owns the engine and the state machine; the only place either is touched.
struct Driver {
    engine: Engine,
    machine: StateMachine,
    id: NodeId,
    start: Instant,
    next_token: u64,
    proposing: HashMap<u64, Proposal>,
    writes: HashMap<u64, PendingWrite>,
    reads: HashMap<u64, PendingRead>,
    /// Reads confirmed at an index not yet applied.
    reads_waiting_apply: Vec<(u64, PendingRead)>,
    /// The last index applied to `machine`. The engine's applied index runs ahead of it
    /// while a batch of actions is being carried out, so reads are gated on this one.
    machine_applied_index: u64,
    snapshot: Option<Arc<SnapshotFile>>,
    snapshot_in_progress: bool,
    snapshot_every: u64,
    peers: PeerRouter,
    storage: mpsc::Sender<StorageJob>,
    dedup: bool,
    /// The planted bug `txn-reads-before-commit`.
    txn_reads_before_commit: bool,
    status: watch::Sender<Status>,
}

impl Driver {
    fn new(
        args: &NodeArgs,
        engine: Engine,
        machine: StateMachine,
        snapshot: Option<Arc<SnapshotFile>>,
        peers: PeerRouter,
        storage: mpsc::Sender<StorageJob>,
    ) -> Driver {
        let (status, _) = watch::channel(status_of(&engine));
        let machine_applied_index = engine.applied_index();
        Driver {
            engine,
            machine,
            id: args.id.clone(),
            start: Instant::now(),
            next_token: 0,
            proposing: HashMap::new(),
            writes: HashMap::new(),
            reads: HashMap::new(),
            reads_waiting_apply: Vec::new(),
            machine_applied_index,
            snapshot,
            snapshot_in_progress: false,
            snapshot_every: args.snapshot_every,
            peers,
            storage,
            dedup: args.bug != Some(Bug::NoDedup),
            txn_reads_before_commit: args.bug == Some(Bug::TxnReadsBeforeCommit),
            status,
        }
    }

    fn status_rx(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    async fn run(
        &mut self,
        mut inputs: mpsc::Receiver<DriverInput>,
        mut completions: mpsc::UnboundedReceiver<Completion>,
    ) -> Result<(), NodeError> {
        let mut ticker = tokio::time::interval(Duration::from_millis(TICK_MS));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                completion = completions.recv() => {
                    let completion = completion.ok_or(NodeError::StorageThreadGone)?;
                    self.on_completion(completion)?;
                }
                _ = ticker.tick() => {
                    let now_ms = self.start.elapsed().as_millis() as u64;
                    self.engine.step(Input::Tick { now_ms });
                    self.forget_abandoned_requests();
                }
                input = inputs.recv() => {
                    let Some(input) = input else { return Ok(()) };
                    self.on_input(input);
                    for _ in 1..MAX_INPUTS_PER_BATCH {
                        match inputs.try_recv() {
                            Ok(input) => self.on_input(input),
                            Err(_) => break,
                        }
                    }
                }
            }
            let actions = self.engine.drain_actions();
            if let Some(violation) = self.engine.violation() {
                return Err(violation.clone().into());
            }
            self.execute(actions).await?;
            self.publish_status();
        }
    }

    fn on_completion(&mut self, completion: Completion) -> Result<(), NodeError> {
        match completion {
            Completion::LogPersisted { index, term } => {
                self.engine.step(Input::LogPersisted { index, term })
            }
            Completion::SnapshotPersisted(snapshot) => {
                self.snapshot_in_progress = false;
                let newer = self
                    .snapshot
                    .as_ref()
                    .is_none_or(|current| current.meta.index < snapshot.meta.index);
                if newer {
                    let meta = snapshot.meta;
                    self.snapshot = Some(snapshot);
                    self.engine.step(Input::SnapshotPersisted { meta });
                }
            }
            Completion::Failed(error) => return Err(error.into()),
        }
        Ok(())
    }

    fn on_input(&mut self, input: DriverInput) {
        match input {
            DriverInput::Peer(envelopes) => {
                for envelope in envelopes {
                    self.engine.step(Input::Receive {
                        from: envelope.from,
                        message: envelope.message,
                    });
                }
            }
            DriverInput::Propose { command, reply } => {
                let token = self.new_token();
                let early_reads = match &command {
                    Command::Txn { ops, .. } if self.txn_reads_before_commit => {
                        self.machine.preview_txn(ops).ok()
                    }
                    _ => None,
                };
                let proposal = Proposal {
                    command: command.clone(),
                    reply,
                    early_reads,
                };
                self.proposing.insert(token, proposal);
                self.engine.step(Input::Propose { token, command });
            }
            DriverInput::Read { key, reply } => {
                let token = self.new_token();
                self.reads.insert(token, PendingRead { key, reply });
                self.engine.step(Input::Read { token });
            }
        }
    }

    fn new_token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Drops requests whose client already gave up (timed out), so they do not pile up
    /// while no leader commits anything.
    fn forget_abandoned_requests(&mut self) {
        self.writes.retain(|_, write| !write.reply.is_closed());
        self.reads.retain(|_, read| !read.reply.is_closed());
    }

    async fn execute(&mut self, actions: Vec<Action>) -> Result<(), NodeError> {
        let mut job = StorageJob::default();
        for action in actions {
            self.execute_one(action, &mut job)?;
        }
        self.maybe_snapshot(&mut job);
        if !job.is_empty() {
            self.storage
                .send(job)
                .await
                .map_err(|_| NodeError::StorageThreadGone)?;
        }
        Ok(())
    }

    fn execute_one(&mut self, action: Action, job: &mut StorageJob) -> Result<(), NodeError> {
        match action {
            Action::PersistHardState(hard_state) => job.ops.push(StorageOp::HardState(hard_state)),
            Action::AppendLog { entries } => job.ops.push(StorageOp::Append(entries)),
            Action::Send {
                to,
                message,
                after_persist,
            } => {
                let envelope = self.envelope(to, message);
                if after_persist {
                    job.messages.push(envelope);
                } else {
                    self.peers.send(envelope);
                }
            }
            Action::SendSnapshot { to, term, read_seq } => self.send_snapshot(to, term, read_seq),
            Action::InstallSnapshot { meta, data } => self.install_snapshot(meta, data, job)?,
            Action::CompactLog {
                offset,
                offset_term,
                entries,
            } => job.ops.push(StorageOp::RewriteLog {
                offset,
                offset_term,
                entries,
            }),
            Action::Apply { entries } => self.apply(entries),
            Action::Proposed { token, index, term } => self.proposed(token, index, term),
            Action::ProposalRefused { token, leader } => {
                if let Some(proposal) = self.proposing.remove(&token) {
                    answer(proposal.reply, ClientReply::NotLeader(leader));
                }
            }
            Action::ReadReady { token, index } => self.read_ready(token, index),
            Action::ReadRefused { token, leader } => {
                if let Some(read) = self.reads.remove(&token) {
                    answer(read.reply, ClientReply::NotLeader(leader));
                }
            }
            Action::LeadershipLost { term } => self.leadership_lost(term),
        }
        Ok(())
    }

    fn envelope(&self, to: NodeId, message: Message) -> Envelope {
        Envelope {
            from: self.id.clone(),
            to,
            message,
        }
    }

    fn send_snapshot(&mut self, to: NodeId, term: u64, read_seq: u64) {
        let Some(snapshot) = &self.snapshot else {
            tracing::error!(%to, "engine asked to send a snapshot, but there is none");
            return;
        };
        let message = Message::InstallSnapshot {
            term,
            meta: snapshot.meta,
            data: snapshot.data.clone(),
            read_seq,
        };
        tracing::info!(%to, index = snapshot.meta.index, "sending snapshot");
        self.peers.send(self.envelope(to, message));
    }

    fn install_snapshot(
        &mut self,
        meta: SnapshotMeta,
        data: String,
        job: &mut StorageJob,
    ) -> Result<(), NodeError> {
        tracing::info!(
            index = meta.index,
            term = meta.term,
            "installing snapshot from leader"
        );
        self.machine = StateMachine::from_snapshot_json(&data, self.dedup)?;
        self.machine_applied_index = meta.index;
        let snapshot = Arc::new(SnapshotFile { meta, data });
        self.snapshot = Some(snapshot.clone());
        job.ops.push(StorageOp::InstallSnapshot(snapshot));
        self.answer_reads_waiting_apply();
        Ok(())
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        for entry in entries {
            self.machine_applied_index = entry.index;
            let Payload::Command { command } = &entry.payload else {
                continue;
            };
            let outcome = self.machine.apply(command);
            let Some(write) = self.writes.remove(&entry.index) else {
                continue;
            };
            if write.term == entry.term {
                let reply = match (write.early_reads, outcome) {
                    (Some(early), Outcome::TxnCommitted { .. }) => ClientReply::Ok(
                        serde_json::to_value(early).expect("micro-ops serialise"),
                    ),
                    (_, outcome) => reply_for(&write.command, outcome),
                };
                answer(write.reply, reply);
            } else {
                // Another entry took this slot; ours may sit at no other index, but say
                // "unknown" rather than risk a wrong definite answer.
                answer(write.reply, ClientReply::Unknown("superseded".into()));
            }
        }
        self.answer_reads_waiting_apply();
    }

    fn proposed(&mut self, token: u64, index: u64, term: u64) {
        let Some(proposal) = self.proposing.remove(&token) else {
            return;
        };
        let write = PendingWrite {
            term,
            command: proposal.command,
            reply: proposal.reply,
            early_reads: proposal.early_reads,
        };
        if let Some(older) = self.writes.insert(index, write) {
            answer(older.reply, ClientReply::Unknown("superseded".into()));
        }
    }

    fn read_ready(&mut self, token: u64, index: u64) {
        let Some(read) = self.reads.remove(&token) else {
            return;
        };
        if self.machine_applied_index >= index {
            let value = self.machine.read(&read.key);
            answer(read.reply, ClientReply::Ok(value));
        } else {
            self.reads_waiting_apply.push((index, read));
        }
    }

    fn answer_reads_waiting_apply(&mut self) {
        let applied = self.machine_applied_index;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_waiting_apply)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.reads_waiting_apply = waiting;
        for (_, read) in ready {
            let value = self.machine.read(&read.key);
            answer(read.reply, ClientReply::Ok(value));
        }
    }

    /// The fate of unanswered proposals is unknown once leadership is lost: they may
    /// still be committed by the next leader.
    fn leadership_lost(&mut self, term: u64) {
        tracing::info!(term, pending = self.writes.len(), "stepped down as leader");
        for (_, write) in self.writes.drain() {
            answer(write.reply, ClientReply::Unknown("leadership-lost".into()));
        }
        for (_, read) in self.reads_waiting_apply.drain(..) {
            answer(read.reply, ClientReply::NotLeader(None));
        }
    }

    fn maybe_snapshot(&mut self, job: &mut StorageJob) {
        let applied = self.machine_applied_index;
        let last_snapshot = self.engine.snapshot_meta().index;
        if self.snapshot_in_progress || applied < last_snapshot + self.snapshot_every {
            return;
        }
        let Some(term) = self.engine.term_at(applied) else {
            return;
        };
        let snapshot = SnapshotFile {
            meta: SnapshotMeta {
                index: applied,
                term,
            },
            data: self.machine.to_snapshot_json(),
        };
        self.snapshot_in_progress = true;
        job.ops.push(StorageOp::WriteSnapshot(Arc::new(snapshot)));
    }

    fn publish_status(&mut self) {
        let status = status_of(&self.engine);
        self.status.send_if_modified(|current| {
            if *current == status {
                return false;
            }
            if (current.role, current.term, &current.leader)
                != (status.role, status.term, &status.leader)
            {
                tracing::info!(role = status.role, term = status.term, leader = ?status.leader, "raft state");
            }
            *current = status;
            true
        });
    }
}

fn status_of(engine: &Engine) -> Status {
    let role = match engine.role() {
        Role::Follower | Role::PreCandidate => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    };
    Status {
        id: engine.id().clone(),
        role,
        term: engine.term(),
        leader: engine.leader().cloned(),
        commit_index: engine.commit_index(),
        applied_index: engine.applied_index(),
        last_log_index: engine.last_log_index(),
    }
}

fn reply_for(command: &Command, outcome: Outcome) -> ClientReply {
    match (outcome, command) {
        (Outcome::Written, Command::Write { value, .. }) => ClientReply::Ok(value.clone()),
        (Outcome::CasSucceeded, Command::Cas { to, .. }) => ClientReply::Ok(to.clone()),
        (Outcome::Appended, Command::Append { value, .. }) => {
            ClientReply::Ok(Value::String(value.clone()))
        }
        (Outcome::TxnCommitted { ops }, Command::Txn { .. }) => {
            ClientReply::Ok(serde_json::to_value(ops).expect("micro-ops serialise"))
        }
        (Outcome::TxnAborted { reason }, _) => ClientReply::TxnAborted(reason),
        // The dedup table keeps no reads (state_machine's docs): whether the first attempt's
        // answer reached the client is not known here, so the retry's is "unknown".
        (Outcome::TxnApplied, _) => ClientReply::Unknown("txn-retried".into()),
        (Outcome::CasMismatch { current }, _) => ClientReply::CasMismatch(current),
        (Outcome::NotAString { current }, _) => ClientReply::NotAString(current),
        (Outcome::Expired, _) => ClientReply::Unknown("request-expired".into()),
        // A duplicate answered with an outcome of the other kind cannot be told apart
        // from a client reusing a request id for a different command.
        (
            Outcome::Written
            | Outcome::CasSucceeded
            | Outcome::Appended
            | Outcome::TxnCommitted { .. },
            _,
        ) => {
            ClientReply::Unknown("request id reused for a different command".into())
        }
    }
}

/// Sends an answer; a client that stopped waiting (timed out) is no error.
fn answer(reply: oneshot::Sender<ClientReply>, outcome: ClientReply) {
    if reply.send(outcome).is_err() {
        tracing::trace!("client stopped waiting before the answer");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state_machine::RequestId;

    fn write(seq: u64) -> Command {
        Command::Write {
            key: "k".into(),
            value: json!(seq),
            request: Some(RequestId {
                client: "c1".into(),
                seq,
            }),
        }
    }

    /// A retry older than the dedup window is neither applied again nor reported as a
    /// definite outcome: the client must classify it as unknown (HTTP 500).
    #[test]
    fn expired_retry_is_answered_unknown_and_not_applied() {
        let mut machine = StateMachine::new(true);
        for seq in 0..100 {
            machine.apply(&write(seq));
        }
        let retry = Command::Write {
            key: "k".into(),
            value: json!("retried"),
            request: Some(RequestId {
                client: "c1".into(),
                seq: 3,
            }),
        };
        let outcome = machine.apply(&retry);
        assert!(
            matches!(reply_for(&retry, outcome), ClientReply::Unknown(ref e) if e == "request-expired")
        );
        assert_eq!(machine.read("k"), json!(99));
    }

    #[test]
    fn duplicate_of_another_kind_is_unknown_not_a_definite_answer() {
        let cas = Command::Cas {
            key: "k".into(),
            from: json!(1),
            to: json!(2),
            request: None,
        };
        assert!(matches!(
            reply_for(&cas, Outcome::Written),
            ClientReply::Unknown(_)
        ));
        assert!(matches!(
            reply_for(&cas, Outcome::CasSucceeded),
            ClientReply::Ok(ref v) if *v == json!(2)
        ));
    }
}
