//! The client of faultline's Raft key-value store (API in `system-under-test`'s crate docs).
//!
//! It knows every node and keeps one leader *guess per logical thread*, as Jepsen binds each
//! worker to a node: thread `t` starts at its home node (node `t mod n`), moves to the leader
//! a `not-leader` refusal names, stays wherever it succeeds, and after a timeout, a broken
//! connection or a refusal that names nobody its *next* operation tries the next node. The
//! threads do not share one guess on purpose: a thread that is still talking to an isolated
//! old leader keeps doing so while others have moved on to the new one, which is exactly
//! how a real deployment's clients see a stale leader (and what makes stale reads findable).
//!
//! Within one operation it tries another node after a definite failure (`not-leader`, or a
//! connection that never opened). A write, cas or append whose outcome is unknown (timeout,
//! reset after sending, 5xx) is *re-sent with the same request id* to the next node
//! (`resend_unknown`, on by default), as a real client with request ids does: the store's
//! dedup must make that safe, and the planted bug `no-dedup` is what makes it unsafe. Each
//! attempt of such an op gets at most half the op's budget, so that a resend fits. Once any
//! attempt may have taken effect, the op can no longer end `fail` on a refusal that only
//! says *that attempt* did nothing (`not-leader`, connection refused): it ends `info`
//! unless the store answers for the request id itself (200, or a 4xx such as
//! `cas-mismatch`). All attempts of one operation share one deadline (`timeout_ms`) and a
//! bound (`max_attempts`); reads are never re-sent after a timeout (they end `fail`).
//!
//! A `txn` (Elle's micro-ops, [`crate::txn`]) is the store's `txn` request, its `ok` value
//! the micro-ops with the reads filled in; it carries a request id and is re-sent like a
//! write (a retry of a txn that already applied is answered `info` `txn-retried`).
//!
//! Writes, cas and appends carry request ids (`client`, `seq`) so that the store applies a
//! retried request once. `get` and `append` are the kv-append model's functions (sent as
//! the store's `read` and `append`). Ids come from *sessions*: a session is held by one operation at a time, so
//! its sequence numbers reach the store in order even when many operations share this client
//! (a store that remembers only each client's latest seq would otherwise answer an older
//! request with a newer one's outcome).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::classify::{Classified, NotSent, Transport, classify};
use super::pool::NodePool;
use super::status::{NodeStatus, fetch_status};
use super::{Client, Invocation, Outcome};
use crate::txn::TXN_F;

/// How many per-thread leader guesses a client keeps. Thread `t` uses slot
/// `t % GUESS_SLOTS`: threads beyond this count share guesses, which is harmless (they only
/// lose their independence) and keeps the client's memory bounded.
pub const GUESS_SLOTS: usize = 1024;

/// Errors of the client's own calls (construction, `/status`); operations never fail with
/// these: they end as an [`Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a Raft client needs at least one node address")]
    NoNodes,
    #[error("unknown node id {0:?}")]
    UnknownNode(String),
    #[error("GET /status on {node}: {detail}")]
    Status { node: String, detail: String },
}

/// Settings of a [`RaftClient`].
#[derive(Debug, Clone)]
pub struct RaftClientConfig {
    /// Prefix of request ids; must differ between clients of one cluster's lifetime.
    pub client_id: String,
    /// Deadline of one operation, all its attempts included.
    pub timeout_ms: u64,
    /// Attempts per operation (>= 1): after definite failures, and (with
    /// `resend_unknown`) re-sends of a write whose outcome is unknown.
    pub max_attempts: usize,
    /// Re-send a write, cas or append whose outcome is unknown, with the same request id.
    pub resend_unknown: bool,
    /// Idle keep-alive connections kept per node.
    pub max_idle_per_node: usize,
}

impl Default for RaftClientConfig {
    fn default() -> Self {
        Self {
            client_id: unique_client_id(),
            timeout_ms: 1000,
            max_attempts: 4,
            resend_unknown: true,
            max_idle_per_node: 64,
        }
    }
}

/// A client id unlikely to repeat across processes and runs: pid, start time and a counter.
pub fn unique_client_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("c{}-{nanos}-{n}", std::process::id())
}

struct Node {
    id: String,
    pool: NodePool,
}

/// A source of request ids used by one operation at a time.
struct Session {
    id: String,
    next_seq: u64,
}

/// The Raft store's client. Cheap to share (`&self` everywhere); see the module docs.
pub struct RaftClient {
    nodes: Vec<Node>,
    config: RaftClientConfig,
    /// Per logical thread (slot `t % GUESS_SLOTS`): the index into `nodes` that the
    /// thread's next operation goes to first. Slot `s` starts at its home node `s % n`.
    guesses: Box<[AtomicUsize]>,
    idle_sessions: Mutex<Vec<Session>>,
    sessions_created: AtomicU64,
}

impl RaftClient {
    /// A client of the nodes `(id, client address)`.
    pub fn new(
        nodes: impl IntoIterator<Item = (String, SocketAddr)>,
        config: RaftClientConfig,
    ) -> Result<Self, ClientError> {
        let nodes: Vec<Node> = nodes
            .into_iter()
            .map(|(id, addr)| Node {
                id,
                pool: NodePool::new(addr, config.max_idle_per_node),
            })
            .collect();
        if nodes.is_empty() {
            return Err(ClientError::NoNodes);
        }
        let guesses = (0..GUESS_SLOTS)
            .map(|slot| AtomicUsize::new(slot % nodes.len()))
            .collect();
        Ok(Self {
            nodes,
            config,
            guesses,
            idle_sessions: Mutex::new(Vec::new()),
            sessions_created: AtomicU64::new(0),
        })
    }

    pub fn node_ids(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.id.clone()).collect()
    }

    /// The node that logical thread `thread`'s next operation goes to first.
    pub fn guess_of(&self, thread: usize) -> String {
        self.nodes[self.first_target(self.guess_slot(thread))]
            .id
            .clone()
    }

    fn guess_slot(&self, thread: usize) -> &AtomicUsize {
        &self.guesses[thread % GUESS_SLOTS]
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Runs one operation as logical thread 0 (see [`RaftClient::run_as`]): for callers
    /// with no threads of their own. Concurrent callers then share thread 0's guess.
    pub async fn run(&self, inv: &Invocation) -> Outcome {
        self.run_as(0, inv).await
    }

    /// Runs one operation of logical thread `thread`: first at that thread's guess, then
    /// at other nodes after definite failures and (see the module docs) unknown outcomes.
    pub async fn run_as(&self, thread: usize, inv: &Invocation) -> Outcome {
        let (body, session) = match self.prepare(inv) {
            Ok(prepared) => prepared,
            Err(refused) => return refused,
        };
        let resend = self.config.resend_unknown && session.is_some();
        let guess = self.guess_slot(thread);
        let deadline = Instant::now() + self.timeout();
        let attempt_budget = if resend {
            self.timeout() / 2
        } else {
            self.timeout()
        };
        let mut target = self.first_target(guess);
        let mut attempt = Attempted::default();
        for _ in 0..self.config.max_attempts.max(1) {
            let attempt_deadline = deadline.min(Instant::now() + attempt_budget);
            let transport = self.nodes[target]
                .pool
                .send(Method::POST, "/kv", body.clone(), attempt_deadline)
                .await;
            let classified = classify(inv, &transport);
            let next = self.learn(guess, target, &transport, &classified, resend);
            attempt.record(classified.outcome, &transport);
            match next {
                Some(next) if Instant::now() < deadline => target = next,
                _ => break,
            }
        }
        attempt.settle()
    }

    /// Runs one operation on node `id` only: no redirects, no retries, no thread's guess
    /// changed. For tests that must know which node answered (a paused or deposed leader).
    pub async fn run_on(&self, id: &str, inv: &Invocation) -> Outcome {
        let Some(target) = self.index_of(id) else {
            return Outcome::Fail("unknown-node".into());
        };
        let (body, _session) = match self.prepare(inv) {
            Ok(prepared) => prepared,
            Err(refused) => return refused,
        };
        let deadline = Instant::now() + self.timeout();
        let transport = self.nodes[target]
            .pool
            .send(Method::POST, "/kv", body, deadline)
            .await;
        classify(inv, &transport).outcome
    }

    /// `GET /status` of node `id`, within the client's timeout.
    pub async fn status(&self, id: &str) -> Result<NodeStatus, ClientError> {
        let target = self
            .index_of(id)
            .ok_or_else(|| ClientError::UnknownNode(id.into()))?;
        let deadline = Instant::now() + self.timeout();
        fetch_status(&self.nodes[target].pool, deadline)
            .await
            .map_err(|detail| ClientError::Status {
                node: id.into(),
                detail,
            })
    }

    /// Where an operation with this guess starts: a guess only ever holds a node index.
    fn first_target(&self, guess: &AtomicUsize) -> usize {
        guess.load(Ordering::Relaxed)
    }

    fn next_node(&self, index: usize) -> usize {
        (index + 1) % self.nodes.len()
    }

    /// Updates the thread's guess from one attempt and says where the same operation may go
    /// next: after a definite failure that another node might not give, or to resend a
    /// write whose outcome is unknown.
    fn learn(
        &self,
        guess: &AtomicUsize,
        target: usize,
        transport: &Transport,
        classified: &Classified,
        resend: bool,
    ) -> Option<usize> {
        match (&classified.outcome, transport) {
            (Outcome::Ok(_), _) => {
                guess.store(target, Ordering::Relaxed);
                None
            }
            (Outcome::Fail(error), _) if error == "not-leader" => {
                let named = classified
                    .leader_hint
                    .as_deref()
                    .and_then(|id| self.index_of(id));
                match named {
                    Some(leader) if leader != target => {
                        guess.store(leader, Ordering::Relaxed);
                        Some(leader)
                    }
                    // Nobody named: an election is under way; this thread's next op starts
                    // at the next node.
                    _ => {
                        guess.store(self.next_node(target), Ordering::Relaxed);
                        None
                    }
                }
            }
            (
                _,
                Transport::NotSent(
                    NotSent::Refused | NotSent::ConnectTimeout | NotSent::ConnectFailed(_),
                ),
            ) => {
                let next = self.next_node(target);
                guess.store(next, Ordering::Relaxed);
                Some(next)
            }
            // No answer in time (a paused, isolated or overloaded node) or a broken
            // connection: this thread's next request starts at the next node rather than
            // waiting on the same one again; a resend of an unknown write goes there too.
            (_, Transport::TimedOut | Transport::Broken(_)) => {
                let next = self.next_node(target);
                guess.store(next, Ordering::Relaxed);
                (resend && matches!(classified.outcome, Outcome::Info(_))).then_some(next)
            }
            // A 5xx after sending (the leader lost leadership, could not commit in time):
            // unknown. Only a resend moves on; otherwise the thread stays where it is.
            (Outcome::Info(_), _) if resend => {
                let next = self.next_node(target);
                guess.store(next, Ordering::Relaxed);
                Some(next)
            }
            _ => None,
        }
    }

    /// The JSON request of `inv` and the session whose id it carries (held until the
    /// operation ends), or the definite failure of an invocation that cannot be sent.
    fn prepare(&self, inv: &Invocation) -> Result<(Bytes, Option<SessionGuard<'_>>), Outcome> {
        let bad = || Outcome::Fail("bad-invocation".into());
        if inv.f == TXN_F {
            if !inv.value.is_array() {
                return Err(bad());
            }
            let mut session = self.checkout_session();
            let (client, seq) = session.next_id();
            let request = json!({"op": "txn", "ops": inv.value, "client": client, "seq": seq});
            return Ok((Bytes::from(request.to_string()), Some(session)));
        }
        let key = inv.key.as_deref().ok_or_else(bad)?;
        let (request, session) = match inv.f.as_str() {
            "read" | "get" => (json!({"op": "read", "key": key}), None),
            "append" => {
                let suffix = inv.value.as_str().ok_or_else(bad)?;
                let mut session = self.checkout_session();
                let (client, seq) = session.next_id();
                let request = json!({"op": "append", "key": key, "value": suffix, "client": client, "seq": seq});
                (request, Some(session))
            }
            "write" => {
                let mut session = self.checkout_session();
                let (client, seq) = session.next_id();
                let request = json!({"op": "write", "key": key, "value": inv.value, "client": client, "seq": seq});
                (request, Some(session))
            }
            "cas" => {
                let [from, to] = cas_pair(&inv.value).ok_or_else(bad)?;
                let mut session = self.checkout_session();
                let (client, seq) = session.next_id();
                let request = json!({"op": "cas", "key": key, "from": from, "to": to, "client": client, "seq": seq});
                (request, Some(session))
            }
            _ => return Err(Outcome::Fail("unsupported-function".into())),
        };
        Ok((Bytes::from(request.to_string()), session))
    }

    /// A session no other operation holds, so that its ids reach the store in order.
    fn checkout_session(&self) -> SessionGuard<'_> {
        let reused = self.lock_sessions().pop();
        let session = reused.unwrap_or_else(|| {
            let n = self.sessions_created.fetch_add(1, Ordering::Relaxed);
            Session {
                id: format!("{}-{n}", self.config.client_id),
                next_seq: 1,
            }
        });
        SessionGuard {
            client: self,
            session: Some(session),
        }
    }

    fn lock_sessions(&self) -> MutexGuard<'_, Vec<Session>> {
        self.idle_sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the attempts of one operation said so far.
#[derive(Debug)]
struct Attempted {
    last: Outcome,
    /// The last refusal was the store answering for the request itself (a 4xx such as
    /// `cas-mismatch`), not a node saying only that this attempt did nothing.
    last_is_authoritative: bool,
    /// The latest unknown outcome: some attempt may have taken effect.
    unknown: Option<Outcome>,
}

impl Default for Attempted {
    fn default() -> Self {
        Attempted {
            last: Outcome::Fail("no-attempt".into()),
            last_is_authoritative: false,
            unknown: None,
        }
    }
}

impl Attempted {
    fn record(&mut self, outcome: Outcome, transport: &Transport) {
        if matches!(outcome, Outcome::Info(_)) {
            self.unknown = Some(outcome.clone());
        }
        self.last_is_authoritative = matches!(
            transport,
            Transport::Answered {
                status: 400..=499,
                ..
            }
        );
        self.last = outcome;
    }

    /// The operation's outcome: a refusal of the last attempt does not undo an earlier
    /// attempt that may have taken effect.
    fn settle(self) -> Outcome {
        match (self.last, self.unknown) {
            (Outcome::Fail(_), Some(unknown)) if !self.last_is_authoritative => unknown,
            (last, _) => last,
        }
    }
}

/// Holds a session for one operation and gives it back when the operation ends (also when
/// its future is dropped: the ids it drew are spent either way).
struct SessionGuard<'a> {
    client: &'a RaftClient,
    session: Option<Session>,
}

impl SessionGuard<'_> {
    fn next_id(&mut self) -> (String, u64) {
        let session = self
            .session
            .as_mut()
            .expect("a guard holds its session until dropped");
        let seq = session.next_seq;
        session.next_seq += 1;
        (session.id.clone(), seq)
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.client.lock_sessions().push(session);
        }
    }
}

fn cas_pair(value: &Value) -> Option<[&Value; 2]> {
    match value.as_array()?.as_slice() {
        [from, to] => Some([from, to]),
        _ => None,
    }
}

impl Client for RaftClient {
    async fn invoke(&self, thread: usize, inv: &Invocation) -> Outcome {
        self.run_as(thread, inv).await
    }
}
