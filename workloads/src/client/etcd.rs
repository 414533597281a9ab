//! The client of etcd's v3 KV API (etcd 3.4), through etcd's JSON gateway.
//!
//! # Transport: the JSON gateway over the crate's connection pool
//!
//! etcd serves its gRPC API and, on the same client port, a JSON translation of it
//! (grpc-gateway): `POST /v3/kv/range`, `/v3/kv/put`, `/v3/kv/deleterange`, `/v3/kv/txn`,
//! with keys and values base64 in the JSON and 64-bit integers as strings. This client uses
//! the gateway, over hyper through [`NodePool`], and not gRPC through tonic + prost (or the
//! `etcd-client` crate built on them), because:
//!
//! - the gRPC route does not build here with nothing downloaded at build time: the crates
//!   generate their code from etcd's `.proto` files with `protoc`, which this machine does
//!   not have (and CI would need a package and about forty more crates for it);
//! - the pool reports precisely whether a request may have been sent (connect refused: it
//!   was not; handed back unsent: it was not; anything after that: it may have been), which
//!   the outcome classification needs and which an HTTP/2 gRPC channel that reconnects and
//!   multiplexes on its own hides;
//! - the gateway is what etcd's own docs and the lead's `wrk` measurements (issue 11) use.
//!
//! The cost: the gateway is an in-process gRPC client of the member itself, so every request
//! pays a JSON <-> protobuf translation and a loopback hop inside the member. It changes no
//! semantics: the gateway calls the same KV server the gRPC API does.
//!
//! # Members and threads
//!
//! Every etcd member serves every request (a follower forwards proposals to the leader and
//! asks the leader for a read index for a linearizable read), so there is no leader to find.
//! Each logical thread is bound to one member, as Jepsen binds a worker to a node: thread `t`
//! starts at member `t mod n` (one slot per thread, as the Raft client keeps its per-thread
//! guesses, [`GUESS_SLOTS`]) and by default stays there whatever happens, so that a thread
//! talking to a paused or isolated member keeps seeing what a client of that member sees
//! (timeouts, stale serializable reads). With `failover: true` a request that was not sent
//! (connection refused) or that the member refused with `no-leader` is tried on the next
//! member within the same operation (both are definite, so this is safe), and after a
//! timeout or a broken connection the thread's *next* operation starts at the next member.
//!
//! Every operation has one deadline (`timeout_ms`) shared by all its requests: a paused
//! member accepts the TCP connection (the kernel does) and never answers.
//!
//! # Operations
//!
//! One client serves one workload ([`EtcdWorkload`]), because `read` means a register read
//! in one and a set read in another; a function the workload does not have is a `fail`
//! `unsupported-function`. "Read mode" is `read_mode`: `linearizable` (etcd's default: the
//! member confirms its read index with the leader) or `serializable` (the member answers from
//! its own state, possibly stale; etcd documents it as not linearizable).
//!
//! | workload | function | etcd requests | `ok` value |
//! |---|---|---|---|
//! | register | `read` | range of the key (serializable per read mode) | the value, `null` if the key is missing |
//! | register | `write v` | put (a `write null` is a delete, so that `null` always means "missing") | `v` |
//! | register | `cas [from, to]` | one txn: compare the value with `from` (`from` = `null`: compare `create_revision = 0`, the key is missing), then put `to` (delete for `null`) | `[from, to]`; compare false: `fail` `cas-mismatch` |
//! | set | `add v` | put of the key `<set>/<v as JSON>` (value: the same JSON) | `v` |
//! | set | `read` | ranges over the prefix `<set>/`, keys only, pages of [`SET_PAGE_KEYS`] at the revision of the first page | the elements, in key order |
//! | append | `get` | range of the key (serializable per read mode) | the string, `null` if missing (the kv model reads it as `""`) |
//! | append | `put s` | put | `s` |
//! | append | `append s` | a serializable range, then txn: compare `mod_revision` with the one read, put old + `s`, else range the key; on a false compare again with what the txn read, at most `max_txn_attempts` txns | `s`; compares false every time: `fail` `conflict` |
//! | list-append, rw-register | `txn [[f, k, v], ...]` | see below | the micro-ops, reads filled in |
//!
//! Register values are stored as their compact JSON text, so a cas compares the bytes of
//! `from`'s JSON text with the stored bytes. A set is one key per element, so adds never
//! contend, an add applied twice is still one element (a set), and a read is one consistent
//! snapshot: the first page's revision pins every later page (later pages are serializable
//! reads *at that revision*, which a member answers from its MVCC history exactly). Append
//! values are the raw UTF-8 bytes of the string.
//!
//! `txn` (issue 13's list-append, as Jepsen's etcd test does it with mod-revision compares):
//! micro-ops `["append", k, v]` and `["r", k, null]` (list-append) or `["w", k, v]` and
//! `["r", k, null]` (rw-register). A key `k` (a string, or a number written in decimal) is
//! the etcd key of the same text; a list is stored as its JSON array text, a register value
//! as its JSON text.
//!
//! - A txn of reads only is one read-only etcd Txn of one range per key (serializable per
//!   read mode): etcd serves it at one revision, so the reads are one snapshot.
//! - Otherwise: one read-only Txn of every key involved (serializable: a stale answer only
//!   costs a retry), then one etcd Txn that compares every involved key's `mod_revision`
//!   with what was read, and on success puts each written key's new list (the micro-ops
//!   applied in order to what was read, which the compares make the state at the txn's own
//!   revision: reads inside it are as of that revision). On failure the Txn ranges every key
//!   and the next attempt starts from that, at most `max_txn_attempts` attempts within the
//!   deadline; then `fail` `conflict`. A key never written reads as `[]` (list-append) or
//!   `null` (rw-register).
//!
//! A request whose outcome is unknown is never retried: a guarded txn retried after a
//! timeout could apply twice (its first attempt changes the revision the retry reads).
//!
//! # Outcomes: the classification of etcd's answers
//!
//! Every request goes through the crate's one classification,
//! [`classify_etcd`](super::classify::classify_etcd): a 200 is the request's answer; the rest
//! is below. A read (a range, a read-only txn) has no effect, so every unknown outcome of a
//! read is a `fail` with the same error (the crate's rule); an operation whose first
//! request is such a read (append, txn) fails with it before writing anything. The error
//! bodies are grpc-gateway 1.9's `{"error": M, "message": M, "code": C}` (recorded from etcd
//! 3.4.23 where the table says so; the tests replay them). Where each error comes from is
//! etcd 3.4's source (`etcdserver/v3_server.go`, `etcdserver/server.go`,
//! `etcdserver/api/v3rpc/interceptor.go`, `api/v3rpc/rpctypes/error.go`).
//!
//! | what happened | write | read | error | why |
//! |---|---|---|---|---|
//! | connection refused, connect timed out or failed | fail | fail | `connection-refused`, `connect-timeout`, `connect-failed` | nothing was sent |
//! | no complete answer before the deadline (a paused member) | info | fail | `timeout` | it was sent |
//! | connection broke after sending | info | fail | `reset` | it may have been read |
//! | 200 whose body is not the request's answer | info | fail | `bad-response` | |
//! | `etcdserver: no leader` (14, 503; recorded) | fail | fail | `no-leader` | the interceptor refuses before the handler runs when the request asks for a leader (`Grpc-Metadata-Hasleader: true`, sent on writes when `require_leader`) and the member knows none |
//! | `etcdserver: not capable` (14) | fail | fail | `not-capable` | the interceptor, before the handler: the cluster version is not known yet (start-up) |
//! | `etcdserver: too many requests` (8) | fail | fail | `too-many-requests` | `processInternalRaftRequestOnce` returns it *before* `Propose` when applying lags committing |
//! | `etcdserver: rpc not supported for learner` (14) | fail | fail | `learner` | the interceptor |
//! | `raft proposal dropped` (2) | fail | fail | `proposal-dropped` | raft refused to append the proposal locally (no leader known, a leader transfer): it is in no log |
//! | `etcdserver: request timed out` (14, 503; recorded for a read) | info | fail | `etcd-timeout` | the proposal (or read index) was made and not applied within etcd's request timeout: it may still commit |
//! | `... request timed out, possibly due to previous leader failure` / `connection lost` / `waiting for the applied index took too long` (14) | info | fail | `etcd-timeout-leader-failure`, `etcd-timeout-connection-lost`, `etcd-timeout-applied-index` | the same, with etcd's guess of why |
//! | `etcdserver: leader changed` (14) | info | fail | `leader-changed` | 3.4 returns it from the read-index wait only; for a write it is kept unknown |
//! | `etcdserver: server stopped` (14) | info | fail | `server-stopped` | may come after `Propose` (the member is shutting down) |
//! | `context deadline exceeded` (2, 500; recorded for a put to a member without a leader), `context canceled`, `etcdserver: request cancelled` | info | fail | `deadline-exceeded`, `canceled` | `Propose` or the wait for its apply gave up: whether raft took it is not said |
//! | `etcdserver: duplicate key given in txn request`, `... key is not provided` (3, 400; recorded), `... too many operations in txn request`, `... request is too large` (3) | fail | fail | `duplicate-key`, `empty-key`, `too-many-ops`, `request-too-large` | validation before any proposal |
//! | `etcdserver: mvcc: database space exceeded` (8) | fail | fail | `no-space` | the NOSPACE alarm: the applier refuses the write, nothing changes |
//! | `... required revision has been compacted` / `is a future revision` (11) | fail | fail | `compacted`, `future-revision` | a read at a revision the member cannot serve |
//! | `etcdserver: permission denied`, `... invalid auth token` | fail | fail | `permission-denied`, `invalid-auth-token` | auth, before the handler |
//! | any other message, by gRPC code: 3, 5, 6, 7, 8, 9, 11, 12, 16 (e.g. the gateway's own JSON parse error, code 3, 400; recorded) | fail | fail | `grpc-<code name>`, e.g. `grpc-invalid-argument` | refusals of validation, auth or precondition |
//! | any other message, by gRPC code: 1, 2, 4, 10, 13, 14, 15 (the gateway losing its in-process gRPC connection, say) | info | fail | `grpc-<code name>`, e.g. `grpc-unavailable` | may come after a proposal |
//! | a body that is not etcd's error (the plain-text `Not Found` of an unknown path; recorded) | by status: 4xx fail, 5xx info | fail | `http-404`, `server-error`, `unavailable`, `timeout`, ... | the crate's status fallback |
//!
//! Answers that are definite by what they say, in this module: a txn whose compare was false
//! (`succeeded` absent) is a `fail` (`cas-mismatch` for a cas, `conflict` once an append's or
//! a txn's attempts are spent), and a read whose stored bytes are not what the workload
//! writes is a `fail` `bad-value`.
//!
//! `require_leader` (default on) sends the gRPC metadata `hasleader=true` on every request
//! that may write, as etcd's Go client does with `WithRequireLeader`: a member that knows no
//! leader (a minority after its election timeout) then refuses at once with `no-leader`, a
//! definite failure, instead of holding the proposal until the deadline (an `info` the
//! checker must carry). Reads never send it: a serializable read from a member without a
//! leader is exactly the stale read the serializable mode is there to show.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::classify::{Effect, Transport, classify_etcd};
use super::pool::NodePool;
use super::raft::GUESS_SLOTS;
use super::{Client, Invocation, Outcome};

/// Keys per page of a set read: about 100 bytes of JSON each, far below the pool's answer
/// limit.
pub const SET_PAGE_KEYS: usize = 1000;
/// Pages a set read may take (10 million elements): bounds the loop besides the deadline.
pub const MAX_SET_PAGES: usize = 10_000;
/// The most txn attempts an `append` or `txn` may be configured to make.
pub const MAX_TXN_ATTEMPTS_LIMIT: usize = 64;

/// The gRPC metadata a request that needs a leader carries (etcd's `rpctypes.MetadataRequireLeaderKey`),
/// as the gateway reads metadata from `Grpc-Metadata-*` headers.
const REQUIRE_LEADER_HEADER: &str = "grpc-metadata-hasleader";

/// How a read is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// The member confirms with the leader that its state is current (etcd's default).
    #[default]
    Linearizable,
    /// The member answers from its own state (`serializable: true`), possibly stale.
    Serializable,
}

/// The workload a client serves: it decides what `read` means and how values are stored
/// (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EtcdWorkload {
    /// `read`, `write`, `cas` on JSON values.
    #[default]
    Register,
    /// `add`, `read` on sets of JSON values, one key per element.
    Set,
    /// The kv-append model: `get`, `put`, `append` on strings.
    Append,
    /// `txn` of `append` and `r` micro-ops on lists.
    ListAppend,
    /// `txn` of `w` and `r` micro-ops on registers.
    RwRegister,
}

/// Settings of an [`EtcdClient`].
#[derive(Debug, Clone)]
pub struct EtcdClientConfig {
    /// Deadline of one operation, all its requests included.
    pub timeout_ms: u64,
    pub read_mode: ReadMode,
    pub workload: EtcdWorkload,
    /// Ask for a leader on requests that may write (see the module docs).
    pub require_leader: bool,
    /// Move a thread to another member after failures (see the module docs); off: every
    /// thread stays bound to its member, as Jepsen's workers are.
    pub failover: bool,
    /// Guarded txns an `append` or `txn` makes at most (1 to [`MAX_TXN_ATTEMPTS_LIMIT`]).
    pub max_txn_attempts: usize,
    /// Idle keep-alive connections kept per member.
    pub max_idle_per_node: usize,
}

impl Default for EtcdClientConfig {
    fn default() -> Self {
        EtcdClientConfig {
            timeout_ms: 1000,
            read_mode: ReadMode::Linearizable,
            workload: EtcdWorkload::Register,
            require_leader: true,
            failover: false,
            max_txn_attempts: 8,
            max_idle_per_node: 64,
        }
    }
}

/// Errors of building an [`EtcdClient`]; operations never fail with these.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EtcdClientError {
    #[error("an etcd client needs at least one member address")]
    NoMembers,
    #[error("member id {0:?} is given twice")]
    DuplicateMember(String),
}

struct Member {
    id: String,
    pool: NodePool,
}

/// etcd's client; see the module docs.
pub struct EtcdClient {
    members: Vec<Member>,
    config: EtcdClientConfig,
    /// Per logical thread (slot `t % GUESS_SLOTS`): the index into `members` that the
    /// thread's next operation goes to. Slot `s` starts at member `s % n`.
    bindings: Box<[AtomicUsize]>,
}

/// Where an operation's requests go.
#[derive(Clone, Copy)]
enum Route<'a> {
    /// The member a thread is bound to (moved under `failover`).
    Thread(&'a AtomicUsize),
    /// One member, whatever happens.
    Member(usize),
}

/// One gateway request.
struct Call {
    path: &'static str,
    body: Value,
    effect: Effect,
}

impl EtcdClient {
    /// A client of the members `(id, client address)`.
    pub fn new(
        members: impl IntoIterator<Item = (String, SocketAddr)>,
        config: EtcdClientConfig,
    ) -> Result<Self, EtcdClientError> {
        let mut list: Vec<Member> = Vec::new();
        for (id, addr) in members {
            if list.iter().any(|m| m.id == id) {
                return Err(EtcdClientError::DuplicateMember(id));
            }
            list.push(Member {
                id,
                pool: NodePool::new(addr, config.max_idle_per_node),
            });
        }
        if list.is_empty() {
            return Err(EtcdClientError::NoMembers);
        }
        let bindings = (0..GUESS_SLOTS)
            .map(|slot| AtomicUsize::new(slot % list.len()))
            .collect();
        Ok(EtcdClient {
            members: list,
            config,
            bindings,
        })
    }

    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    pub fn config(&self) -> &EtcdClientConfig {
        &self.config
    }

    /// The member logical thread `thread`'s next operation goes to.
    pub fn member_of(&self, thread: usize) -> String {
        let index = self.binding(thread).load(Ordering::Relaxed);
        self.members[index].id.clone()
    }

    fn binding(&self, thread: usize) -> &AtomicUsize {
        &self.bindings[thread % GUESS_SLOTS]
    }

    /// Runs one operation of logical thread `thread` at the member it is bound to.
    pub async fn run_as(&self, thread: usize, inv: &Invocation) -> Outcome {
        self.run(Route::Thread(self.binding(thread)), inv).await
    }

    /// Runs one operation on member `id` only: no failover, no thread's binding changed.
    /// For tests that must know which member answered (a paused or killed one).
    pub async fn run_on(&self, id: &str, inv: &Invocation) -> Outcome {
        match self.members.iter().position(|m| m.id == id) {
            Some(index) => self.run(Route::Member(index), inv).await,
            None => Outcome::Fail("unknown-node".into()),
        }
    }

    async fn run(&self, route: Route<'_>, inv: &Invocation) -> Outcome {
        let op = match Op::parse(self.config.workload, inv) {
            Ok(op) => op,
            Err(refused) => return refused,
        };
        let deadline = Instant::now() + Duration::from_millis(self.config.timeout_ms);
        let result = match op {
            Op::RegisterRead(key) => self.register_read(route, key, deadline).await,
            Op::RegisterWrite(key, value) => self.register_write(route, key, value, deadline).await,
            Op::Cas(key, from, to) => self.cas(route, key, from, to, deadline).await,
            Op::SetAdd(key, element) => self.set_add(route, key, element, deadline).await,
            Op::SetRead(key) => self.set_read(route, key, deadline).await,
            Op::Get(key) => self.get(route, key, deadline).await,
            Op::Put(key, value) => self.put_string(route, key, value, deadline).await,
            Op::Append(key, suffix) => self.append(route, key, suffix, deadline).await,
            Op::Txn(micro_ops) => self.txn(route, &micro_ops, deadline).await,
        };
        result.unwrap_or_else(|outcome| outcome)
    }

    fn serializable(&self) -> bool {
        self.config.read_mode == ReadMode::Serializable
    }

    fn txn_attempts(&self) -> usize {
        self.config
            .max_txn_attempts
            .clamp(1, MAX_TXN_ATTEMPTS_LIMIT)
    }

    async fn register_read(&self, route: Route<'_>, key: &str, deadline: Instant) -> OpResult {
        let kv = self
            .range_one(route, key.as_bytes(), self.serializable(), deadline)
            .await?;
        match kv {
            None => Ok(Outcome::Ok(Value::Null)),
            Some(kv) => Ok(Outcome::Ok(json_value(&kv.value)?)),
        }
    }

    async fn register_write(
        &self,
        route: Route<'_>,
        key: &str,
        value: &Value,
        deadline: Instant,
    ) -> OpResult {
        let key = b64(key.as_bytes());
        let call = if value.is_null() {
            Call {
                path: "/v3/kv/deleterange",
                body: json!({"key": key}),
                effect: Effect::MayWrite,
            }
        } else {
            Call {
                path: "/v3/kv/put",
                body: json!({"key": key, "value": b64(&json_bytes(value))}),
                effect: Effect::MayWrite,
            }
        };
        self.call(route, &call, deadline, parse_put).await?;
        Ok(Outcome::Ok(value.clone()))
    }

    async fn cas(
        &self,
        route: Route<'_>,
        key: &str,
        from: &Value,
        to: &Value,
        deadline: Instant,
    ) -> OpResult {
        let compare = if from.is_null() {
            json!({"target": "CREATE", "key": b64(key.as_bytes()), "create_revision": "0", "result": "EQUAL"})
        } else {
            json!({"target": "VALUE", "key": b64(key.as_bytes()), "value": b64(&json_bytes(from)), "result": "EQUAL"})
        };
        let call = Call {
            path: "/v3/kv/txn",
            body: json!({ "compare": [compare], "success": [store_op(key.as_bytes(), to)] }),
            effect: Effect::MayWrite,
        };
        let answer = self.call(route, &call, deadline, parse_txn).await?;
        if answer.succeeded {
            Ok(Outcome::Ok(json!([from, to])))
        } else {
            Ok(Outcome::Fail("cas-mismatch".into()))
        }
    }

    async fn set_add(
        &self,
        route: Route<'_>,
        set: &str,
        element: &Value,
        deadline: Instant,
    ) -> OpResult {
        let mut key = set_prefix(set);
        key.extend_from_slice(&json_bytes(element));
        let call = Call {
            path: "/v3/kv/put",
            body: json!({"key": b64(&key), "value": b64(&json_bytes(element))}),
            effect: Effect::MayWrite,
        };
        self.call(route, &call, deadline, parse_put).await?;
        Ok(Outcome::Ok(element.clone()))
    }

    async fn set_read(&self, route: Route<'_>, set: &str, deadline: Instant) -> OpResult {
        let prefix = set_prefix(set);
        let range_end = prefix_end(&prefix);
        let mut start = prefix.clone();
        let mut revision: Option<i64> = None;
        let mut elements = Vec::new();
        for _ in 0..MAX_SET_PAGES {
            let mut body = json!({
                "key": b64(&start),
                "range_end": b64(&range_end),
                "keys_only": true,
                "limit": SET_PAGE_KEYS.to_string(),
                "serializable": revision.is_some() || self.serializable(),
            });
            if let Some(revision) = revision {
                body["revision"] = json!(revision.to_string());
            }
            let call = Call {
                path: "/v3/kv/range",
                body,
                effect: Effect::ReadOnly,
            };
            let page = self.call(route, &call, deadline, parse_range).await?;
            revision.get_or_insert(page.header.unwrap_or_default().revision);
            for kv in &page.kvs {
                let element = kv
                    .key
                    .strip_prefix(prefix.as_slice())
                    .ok_or_else(bad_value)?;
                elements.push(json_value(element)?);
            }
            match page.kvs.last() {
                Some(last) if page.more => {
                    start = last.key.clone();
                    start.push(0);
                }
                _ => return Ok(Outcome::Ok(Value::Array(elements))),
            }
        }
        Ok(Outcome::Fail("too-many-pages".into()))
    }

    async fn get(&self, route: Route<'_>, key: &str, deadline: Instant) -> OpResult {
        let kv = self
            .range_one(route, key.as_bytes(), self.serializable(), deadline)
            .await?;
        match kv {
            None => Ok(Outcome::Ok(Value::Null)),
            Some(kv) => Ok(Outcome::Ok(Value::String(utf8(kv.value)?))),
        }
    }

    async fn put_string(
        &self,
        route: Route<'_>,
        key: &str,
        value: &str,
        deadline: Instant,
    ) -> OpResult {
        let call = Call {
            path: "/v3/kv/put",
            body: json!({"key": b64(key.as_bytes()), "value": b64(value.as_bytes())}),
            effect: Effect::MayWrite,
        };
        self.call(route, &call, deadline, parse_put).await?;
        Ok(Outcome::Ok(Value::String(value.into())))
    }

    async fn append(
        &self,
        route: Route<'_>,
        key: &str,
        suffix: &str,
        deadline: Instant,
    ) -> OpResult {
        let key = key.as_bytes();
        let mut current = self.range_one(route, key, true, deadline).await?;
        for attempt in 0..self.txn_attempts() {
            if attempt > 0 && Instant::now() >= deadline {
                break;
            }
            let (mut value, mod_revision) = match current {
                Some(kv) => (kv.value, kv.mod_revision),
                None => (Vec::new(), 0),
            };
            value.extend_from_slice(suffix.as_bytes());
            let call = Call {
                path: "/v3/kv/txn",
                body: json!({
                    "compare": [mod_revision_compare(key, mod_revision)],
                    "success": [{"request_put": {"key": b64(key), "value": b64(&value)}}],
                    "failure": [range_op(key, true)],
                }),
                effect: Effect::MayWrite,
            };
            let answer = self.call(route, &call, deadline, parse_txn).await?;
            if answer.succeeded {
                return Ok(Outcome::Ok(Value::String(suffix.into())));
            }
            // The compare was false: nothing was written; start again from what the txn
            // read at its own revision.
            current = answer.ranges().next().ok_or_else(bad_failure_branch)?;
        }
        Ok(Outcome::Fail("conflict".into()))
    }

    async fn txn(&self, route: Route<'_>, micro_ops: &[MicroOp], deadline: Instant) -> OpResult {
        let model = match self.config.workload {
            EtcdWorkload::RwRegister => TxnModel::Register,
            _ => TxnModel::List,
        };
        let keys = distinct_keys(micro_ops);
        let read_only = micro_ops.iter().all(|op| op.f == MicroF::Read);
        let serializable = !read_only || self.serializable();
        let snapshot = self.read_keys(route, &keys, serializable, deadline).await?;
        let mut states = KeyStates::new(model, &keys, snapshot)?;
        if read_only {
            let (done, _) = states.apply(micro_ops);
            return Ok(Outcome::Ok(done));
        }
        for attempt in 0..self.txn_attempts() {
            if attempt > 0 && Instant::now() >= deadline {
                break;
            }
            let (done, written) = states.apply(micro_ops);
            let compares: Vec<Value> = keys
                .iter()
                .zip(&states.mod_revisions)
                .map(|(key, rev)| mod_revision_compare(key.as_bytes(), *rev))
                .collect();
            let puts: Vec<Value> = written
                .iter()
                .map(|(key, value)| json!({"request_put": {"key": b64(key.as_bytes()), "value": b64(value)}}))
                .collect();
            let call = Call {
                path: "/v3/kv/txn",
                body: json!({
                    "compare": compares,
                    "success": puts,
                    "failure": keys.iter().map(|k| range_op(k.as_bytes(), true)).collect::<Vec<_>>(),
                }),
                effect: Effect::MayWrite,
            };
            let answer = self.call(route, &call, deadline, parse_txn).await?;
            if answer.succeeded {
                return Ok(Outcome::Ok(done));
            }
            let fresh: Vec<Option<KeyValue>> = answer.ranges().collect();
            if fresh.len() != keys.len() {
                return Err(bad_failure_branch());
            }
            states = KeyStates::new(model, &keys, fresh)?;
        }
        Ok(Outcome::Fail("conflict".into()))
    }

    /// The one key `key`, or `None` if it is missing.
    async fn range_one(
        &self,
        route: Route<'_>,
        key: &[u8],
        serializable: bool,
        deadline: Instant,
    ) -> Result<Option<KeyValue>, Outcome> {
        let call = Call {
            path: "/v3/kv/range",
            body: json!({"key": b64(key), "serializable": serializable}),
            effect: Effect::ReadOnly,
        };
        let page = self.call(route, &call, deadline, parse_range).await?;
        Ok(page.kvs.into_iter().find(|kv| kv.key == key))
    }

    /// `keys` in one read-only txn (one snapshot), in order.
    async fn read_keys(
        &self,
        route: Route<'_>,
        keys: &[String],
        serializable: bool,
        deadline: Instant,
    ) -> Result<Vec<Option<KeyValue>>, Outcome> {
        let call = Call {
            path: "/v3/kv/txn",
            body: json!({
                "success": keys.iter().map(|k| range_op(k.as_bytes(), serializable)).collect::<Vec<_>>(),
            }),
            effect: Effect::ReadOnly,
        };
        let answer = self.call(route, &call, deadline, parse_txn).await?;
        let ranges: Vec<Option<KeyValue>> = answer.ranges().collect();
        if !answer.succeeded || ranges.len() != keys.len() {
            return Err(Outcome::Fail("bad-response".into()));
        }
        Ok(ranges)
    }

    /// Sends one request along `route` and classifies it (see the module docs for
    /// failover).
    async fn call<T>(
        &self,
        route: Route<'_>,
        call: &Call,
        deadline: Instant,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<T, Outcome> {
        let body = Bytes::from(call.body.to_string());
        let headers: Vec<(HeaderName, HeaderValue)> =
            if self.config.require_leader && call.effect == Effect::MayWrite {
                vec![(
                    HeaderName::from_static(REQUIRE_LEADER_HEADER),
                    HeaderValue::from_static("true"),
                )]
            } else {
                Vec::new()
            };
        let (slot, mut target) = match route {
            Route::Member(index) => (None, index),
            Route::Thread(slot) => (Some(slot), slot.load(Ordering::Relaxed)),
        };
        let failover = slot.filter(|_| self.config.failover);
        let mut tries = 0;
        loop {
            tries += 1;
            let transport = self.members[target]
                .pool
                .send_with_headers(Method::POST, call.path, body.clone(), &headers, deadline)
                .await;
            let result = classify_etcd(call.effect, &transport, &parse);
            let Some(slot) = failover else {
                return result;
            };
            let next = (target + 1) % self.members.len();
            let refused_here = matches!(transport, Transport::NotSent(_))
                || matches!(&result, Err(Outcome::Fail(e)) if e == "no-leader");
            if refused_here {
                slot.store(next, Ordering::Relaxed);
                if tries < self.members.len() && Instant::now() < deadline {
                    target = next;
                    continue;
                }
            } else if matches!(transport, Transport::TimedOut | Transport::Broken(_)) {
                slot.store(next, Ordering::Relaxed);
            }
            return result;
        }
    }
}

impl Client for EtcdClient {
    async fn invoke(&self, thread: usize, inv: &Invocation) -> Outcome {
        self.run_as(thread, inv).await
    }
}

/// An operation's outcome; `Err` is an outcome decided by a request on the way.
type OpResult = Result<Outcome, Outcome>;

/// An invocation, checked against the workload.
#[derive(Debug)]
enum Op<'a> {
    RegisterRead(&'a str),
    RegisterWrite(&'a str, &'a Value),
    Cas(&'a str, &'a Value, &'a Value),
    SetAdd(&'a str, &'a Value),
    SetRead(&'a str),
    Get(&'a str),
    Put(&'a str, &'a str),
    Append(&'a str, &'a str),
    Txn(Vec<MicroOp>),
}

impl<'a> Op<'a> {
    fn parse(workload: EtcdWorkload, inv: &'a Invocation) -> Result<Op<'a>, Outcome> {
        let bad = || Outcome::Fail("bad-invocation".into());
        let key = || inv.key.as_deref().filter(|k| !k.is_empty()).ok_or_else(bad);
        let string = || inv.value.as_str().ok_or_else(bad);
        Ok(match (workload, inv.f.as_str()) {
            (EtcdWorkload::Register, "read") => Op::RegisterRead(key()?),
            (EtcdWorkload::Register, "write") => Op::RegisterWrite(key()?, &inv.value),
            (EtcdWorkload::Register, "cas") => match inv.value.as_array().map(Vec::as_slice) {
                Some([from, to]) => Op::Cas(key()?, from, to),
                _ => return Err(bad()),
            },
            (EtcdWorkload::Set, "add") => Op::SetAdd(key()?, &inv.value),
            (EtcdWorkload::Set, "read") => Op::SetRead(key()?),
            (EtcdWorkload::Append, "get") => Op::Get(key()?),
            (EtcdWorkload::Append, "put") => Op::Put(key()?, string()?),
            (EtcdWorkload::Append, "append") => Op::Append(key()?, string()?),
            (EtcdWorkload::ListAppend, "txn") => {
                Op::Txn(MicroOp::parse_all(&inv.value, TxnModel::List)?)
            }
            (EtcdWorkload::RwRegister, "txn") => {
                Op::Txn(MicroOp::parse_all(&inv.value, TxnModel::Register)?)
            }
            _ => return Err(Outcome::Fail("unsupported-function".into())),
        })
    }
}

/// Lists (list-append) or registers (rw-register) under a txn's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnModel {
    List,
    Register,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MicroF {
    Append,
    Write,
    Read,
}

/// One micro-op of a `txn`: `[f, k, v]`.
#[derive(Debug, Clone, PartialEq)]
struct MicroOp {
    f: MicroF,
    /// The etcd key (the history key's text).
    key: String,
    /// The history's key, as given.
    key_value: Value,
    value: Value,
}

/// The most micro-ops a `txn` may have (etcd's default `--max-txn-ops` is 128 operations
/// per txn, compares not counted; a txn compares and puts each key once).
const MAX_MICRO_OPS: usize = 128;

impl MicroOp {
    fn parse_all(value: &Value, model: TxnModel) -> Result<Vec<MicroOp>, Outcome> {
        let bad = || Outcome::Fail("bad-invocation".into());
        let ops = value.as_array().ok_or_else(bad)?;
        if ops.is_empty() || ops.len() > MAX_MICRO_OPS {
            return Err(bad());
        }
        ops.iter()
            .map(|op| {
                let [f, k, v] = op.as_array().map(Vec::as_slice).ok_or_else(bad)? else {
                    return Err(bad());
                };
                let f = match (f.as_str(), model) {
                    (Some("append"), TxnModel::List) => MicroF::Append,
                    (Some("w"), TxnModel::Register) => MicroF::Write,
                    (Some("r"), _) => MicroF::Read,
                    _ => return Err(bad()),
                };
                let key = match k {
                    Value::String(s) if !s.is_empty() => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(bad()),
                };
                Ok(MicroOp {
                    f,
                    key,
                    key_value: k.clone(),
                    value: v.clone(),
                })
            })
            .collect()
    }
}

/// A txn's keys, each once, in the order they first appear.
fn distinct_keys(micro_ops: &[MicroOp]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for op in micro_ops {
        if !keys.contains(&op.key) {
            keys.push(op.key.clone());
        }
    }
    keys
}

/// What a txn read of its keys: each key's value (a list or a register) and `mod_revision`
/// (0: missing), in the order of [`distinct_keys`].
#[derive(Debug, Clone, PartialEq)]
struct KeyStates<'k> {
    model: TxnModel,
    keys: &'k [String],
    values: Vec<Value>,
    mod_revisions: Vec<i64>,
}

impl<'k> KeyStates<'k> {
    fn new(
        model: TxnModel,
        keys: &'k [String],
        read: Vec<Option<KeyValue>>,
    ) -> Result<Self, Outcome> {
        let mut values = Vec::with_capacity(keys.len());
        let mut mod_revisions = Vec::with_capacity(keys.len());
        for kv in read {
            match kv {
                None => {
                    values.push(match model {
                        TxnModel::List => Value::Array(Vec::new()),
                        TxnModel::Register => Value::Null,
                    });
                    mod_revisions.push(0);
                }
                Some(kv) => {
                    let value = json_value(&kv.value)?;
                    if model == TxnModel::List && !value.is_array() {
                        return Err(bad_value());
                    }
                    values.push(value);
                    mod_revisions.push(kv.mod_revision);
                }
            }
        }
        Ok(KeyStates {
            model,
            keys,
            values,
            mod_revisions,
        })
    }

    /// The micro-ops applied in order to these states: the completed micro-ops (reads
    /// filled in) and each written key's new stored bytes, in key order.
    fn apply(&self, micro_ops: &[MicroOp]) -> (Value, Vec<(String, Vec<u8>)>) {
        let mut values = self.values.clone();
        let mut written = vec![false; self.keys.len()];
        let mut done = Vec::with_capacity(micro_ops.len());
        for op in micro_ops {
            let index = self
                .keys
                .iter()
                .position(|k| *k == op.key)
                .expect("every micro-op's key is among the txn's keys");
            let value = match op.f {
                MicroF::Read => values[index].clone(),
                MicroF::Write => {
                    values[index] = op.value.clone();
                    written[index] = true;
                    op.value.clone()
                }
                MicroF::Append => {
                    if let Value::Array(list) = &mut values[index] {
                        list.push(op.value.clone());
                    }
                    written[index] = true;
                    op.value.clone()
                }
            };
            let f = match op.f {
                MicroF::Append => "append",
                MicroF::Write => "w",
                MicroF::Read => "r",
            };
            done.push(json!([f, op.key_value, value]));
        }
        let writes = self
            .keys
            .iter()
            .zip(&values)
            .zip(&written)
            .filter(|(_, written)| **written)
            .map(|((key, value), _)| (key.clone(), json_bytes(value)))
            .collect();
        (Value::Array(done), writes)
    }
}

// ---- wire types (grpc-gateway's JSON of etcd's protobuf messages) ----

/// `ResponseHeader`: only the store revision is used.
#[derive(Debug, Default, Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "int64")]
    revision: i64,
}

/// `mvccpb.KeyValue`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct KeyValue {
    #[serde(default, deserialize_with = "base64_bytes")]
    key: Vec<u8>,
    #[serde(default, deserialize_with = "base64_bytes")]
    value: Vec<u8>,
    #[serde(default, deserialize_with = "int64")]
    mod_revision: i64,
}

/// `RangeResponse`; fields at their default value are left out of the JSON.
#[derive(Debug, Deserialize)]
struct RangeResponse {
    #[serde(default)]
    header: Option<Header>,
    #[serde(default)]
    kvs: Vec<KeyValue>,
    #[serde(default)]
    more: bool,
}

/// `TxnResponse`; `succeeded` is left out when false.
#[derive(Debug, Deserialize)]
struct TxnResponse {
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<ResponseOp>,
}

/// `ResponseOp`: only ranges are read back.
#[derive(Debug, Deserialize)]
struct ResponseOp {
    #[serde(default)]
    response_range: Option<RangeResponse>,
}

impl TxnResponse {
    /// The first key of each range response, in order (`None`: the range was empty).
    fn ranges(&self) -> impl Iterator<Item = Option<KeyValue>> + '_ {
        self.responses.iter().filter_map(|r| {
            r.response_range
                .as_ref()
                .map(|range| range.kvs.first().cloned())
        })
    }
}

/// Answers carry a header; a 200 without one is not etcd's answer.
#[derive(Debug, Deserialize)]
struct WithHeader {
    #[allow(dead_code)]
    header: Header,
}

fn parse_range(body: &[u8]) -> Option<RangeResponse> {
    let parsed: RangeResponse = serde_json::from_slice(body).ok()?;
    parsed.header.is_some().then_some(parsed)
}

fn parse_put(body: &[u8]) -> Option<()> {
    serde_json::from_slice::<WithHeader>(body).ok().map(|_| ())
}

fn parse_txn(body: &[u8]) -> Option<TxnResponse> {
    serde_json::from_slice::<WithHeader>(body).ok()?;
    serde_json::from_slice(body).ok()
}

/// An int64 as jsonpb writes it (a string) or as a number.
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Number(i64),
        Text(String),
    }
    match Int64::deserialize(deserializer)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

fn base64_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    BASE64.decode(text).map_err(serde::de::Error::custom)
}

// ---- request pieces ----

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// The compact JSON text a value is stored as.
fn json_bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn json_value(bytes: &[u8]) -> Result<Value, Outcome> {
    serde_json::from_slice(bytes).map_err(|_| bad_value())
}

fn utf8(bytes: Vec<u8>) -> Result<String, Outcome> {
    String::from_utf8(bytes).map_err(|_| bad_value())
}

fn bad_value() -> Outcome {
    Outcome::Fail("bad-value".into())
}

/// A txn whose compare was false answered without the ranges of its failure branch:
/// nothing was written (etcd said so), but the next attempt has nothing to start from.
fn bad_failure_branch() -> Outcome {
    Outcome::Fail("bad-response".into())
}

/// The txn op that stores `value` under `key`: a put of its JSON text, a delete for `null`.
fn store_op(key: &[u8], value: &Value) -> Value {
    if value.is_null() {
        json!({"request_delete_range": {"key": b64(key)}})
    } else {
        json!({"request_put": {"key": b64(key), "value": b64(&json_bytes(value))}})
    }
}

fn range_op(key: &[u8], serializable: bool) -> Value {
    json!({"request_range": {"key": b64(key), "serializable": serializable}})
}

fn mod_revision_compare(key: &[u8], mod_revision: i64) -> Value {
    json!({"target": "MOD", "key": b64(key), "mod_revision": mod_revision.to_string(), "result": "EQUAL"})
}

/// The key prefix of a set's elements: `<set>/`.
fn set_prefix(set: &str) -> Vec<u8> {
    let mut prefix = set.as_bytes().to_vec();
    prefix.push(b'/');
    prefix
}

/// The end of the range of keys starting with `prefix` (etcd's `clientv3.GetPrefixRangeEnd`:
/// the prefix with its last byte below 0xff incremented and the rest cut).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff: the range runs to the end of the key space ("\0").
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(ops: Value, model: TxnModel) -> Vec<MicroOp> {
        MicroOp::parse_all(&ops, model).expect("valid micro-ops")
    }

    fn kv(key: &str, value: &str, mod_revision: i64) -> Option<KeyValue> {
        Some(KeyValue {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            mod_revision,
        })
    }

    #[test]
    fn list_append_micro_ops_apply_in_order_to_what_was_read() {
        let ops = txn(
            json!([
                ["r", 1, null],
                ["append", 1, 7],
                ["r", 1, null],
                ["append", "x", 8],
                ["r", 2, null]
            ]),
            TxnModel::List,
        );
        let keys = distinct_keys(&ops);
        assert_eq!(keys, ["1", "x", "2"]);
        let states = KeyStates::new(TxnModel::List, &keys, vec![kv("1", "[3,5]", 9), None, None])
            .expect("states");
        assert_eq!(states.mod_revisions, [9, 0, 0]);
        let (done, written) = states.apply(&ops);
        assert_eq!(
            done,
            json!([
                ["r", 1, [3, 5]],
                ["append", 1, 7],
                ["r", 1, [3, 5, 7]],
                ["append", "x", 8],
                ["r", 2, []]
            ])
        );
        assert_eq!(
            written,
            [
                ("1".to_string(), b"[3,5,7]".to_vec()),
                ("x".to_string(), b"[8]".to_vec())
            ]
        );
    }

    #[test]
    fn rw_register_micro_ops() {
        let ops = txn(
            json!([["r", "a", null], ["w", "a", 4], ["r", "a", null]]),
            TxnModel::Register,
        );
        let keys = distinct_keys(&ops);
        let states =
            KeyStates::new(TxnModel::Register, &keys, vec![kv("a", "2", 3)]).expect("states");
        let (done, written) = states.apply(&ops);
        assert_eq!(done, json!([["r", "a", 2], ["w", "a", 4], ["r", "a", 4]]));
        assert_eq!(written, [("a".to_string(), b"4".to_vec())]);
    }

    #[test]
    fn micro_ops_of_the_other_model_or_malformed_are_refused() {
        let bad = Outcome::Fail("bad-invocation".into());
        for (ops, model) in [
            (json!([["w", 1, 2]]), TxnModel::List),
            (json!([["append", 1, 2]]), TxnModel::Register),
            (json!([["r", 1]]), TxnModel::List),
            (json!([["r", null, null]]), TxnModel::List),
            (json!([["r", "", null]]), TxnModel::List),
            (json!([]), TxnModel::List),
            (json!("r"), TxnModel::List),
        ] {
            assert_eq!(MicroOp::parse_all(&ops, model), Err(bad.clone()), "{ops}");
        }
    }

    #[test]
    fn a_stored_list_that_is_not_a_list_is_a_bad_value() {
        let keys = vec!["k".to_string()];
        assert_eq!(
            KeyStates::new(TxnModel::List, &keys, vec![kv("k", "7", 2)]),
            Err(Outcome::Fail("bad-value".into()))
        );
    }

    #[test]
    fn functions_outside_the_workload_are_unsupported() {
        let unsupported = Outcome::Fail("unsupported-function".into());
        let cases = [
            (EtcdWorkload::Register, Invocation::get("k")),
            (EtcdWorkload::Set, Invocation::write("k", json!(1))),
            (EtcdWorkload::Append, Invocation::read("k")),
            (EtcdWorkload::ListAppend, Invocation::read("k")),
        ];
        for (workload, inv) in cases {
            assert_eq!(
                Op::parse(workload, &inv).err(),
                Some(unsupported.clone()),
                "{workload:?} {}",
                inv.f
            );
        }
        let no_key = Invocation {
            f: "read".into(),
            key: None,
            value: Value::Null,
        };
        assert_eq!(
            Op::parse(EtcdWorkload::Register, &no_key).err(),
            Some(Outcome::Fail("bad-invocation".into()))
        );
        let bad_cas = Invocation {
            f: "cas".into(),
            key: Some("k".into()),
            value: json!([1]),
        };
        assert_eq!(
            Op::parse(EtcdWorkload::Register, &bad_cas).err(),
            Some(Outcome::Fail("bad-invocation".into()))
        );
    }

    #[test]
    fn prefix_ends_as_etcd_computes_them() {
        assert_eq!(prefix_end(b"s0/"), b"s00");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    }

    /// Bodies recorded from etcd 3.4.23's gateway.
    #[test]
    fn parses_recorded_answers() {
        let range = br#"{"header":{"cluster_id":"9827810879158008203","member_id":"15939971115978078613","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}"#;
        let parsed = parse_range(range).expect("a range answer");
        assert_eq!(parsed.header.expect("header").revision, 2);
        assert_eq!(parsed.kvs, [kv("foo", "bar", 2).expect("kv")]);
        assert!(!parsed.more);

        let empty = br#"{"header":{"cluster_id":"9827810879158008203","member_id":"15939971115978078613","revision":"2","raft_term":"2"}}"#;
        assert!(parse_range(empty).expect("an empty range").kvs.is_empty());
        assert!(parse_put(empty).is_some());

        let compare_false = br#"{"header":{"cluster_id":"9827810879158008203","member_id":"16686299509184719385","revision":"2","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}}]}"#;
        let failed = parse_txn(compare_false).expect("a txn answer");
        assert!(!failed.succeeded, "succeeded is left out when false");
        assert_eq!(failed.ranges().collect::<Vec<_>>(), [kv("foo", "bar", 2)]);

        let succeeded = br#"{"header":{"cluster_id":"9827810879158008203","member_id":"16686299509184719385","revision":"3","raft_term":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}}]}"#;
        let ok = parse_txn(succeeded).expect("a txn answer");
        assert!(ok.succeeded);
        assert_eq!(ok.ranges().count(), 0, "a put's response is no range");

        assert!(parse_txn(b"{}").is_none(), "no header: not etcd's answer");
        assert!(
            parse_range(br#"{"header":{},"kvs":[{"key":"!!"}]}"#).is_none(),
            "bad base64"
        );
    }
}
