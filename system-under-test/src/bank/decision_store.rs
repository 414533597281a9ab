//! The replicated coordinator's decision store: a small client of the project's Raft
//! key-value store (see the crate docs for its HTTP API) that records each transaction's
//! outcome as a CAS of key `txn/<txn>` from `null` to `"commit"` or `"abort"`, so that
//! the first decision wins and every coordinator reads the same one.
//!
//! Every request has the coordinator's `--rpc-timeout-ms`. A follower's 503 `not-leader`
//! names the leader, which is asked next; a node that does not answer is skipped for the
//! next one in the list. A CAS whose outcome is unknown (timeout, reset, 504, 500) is
//! retried with the same `(client, seq)`, so the store's dedup table answers it with the
//! first outcome if it was applied; a retry the store no longer remembers
//! (`request-expired`) is sent again under a fresh `seq`, which is harmless because a CAS
//! from `null` can only ever report what is stored. All of this is bounded by
//! `attempts`; after that the caller gets [`StoreError::Unavailable`] and must treat the
//! decision as unknown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{Value, json};

use super::http::{JsonClient, Reply, RpcError};

/// The key of a transaction's decision.
pub fn decision_key(txn: &str) -> String {
    format!("txn/{txn}")
}

const COMMIT: &str = "commit";
const ABORT: &str = "abort";

/// Why the store gave no decision.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// No definite answer within the attempts: for a CAS, the outcome is unknown.
    #[error("decision store unavailable after {attempts} attempts: {last}")]
    Unavailable { attempts: u32, last: String },
    /// The store refused the request as malformed (a bug on our side).
    #[error("decision store refused the request: {0}")]
    Refused(String),
    /// The key holds something that is not a decision.
    #[error("key {key} holds {value}, not a decision")]
    NotADecision { key: String, value: Value },
}

/// The retry policy of a [`DecisionStore`].
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// First pause after a failed round (doubling, up to 16 times this).
    pub backoff: Duration,
}

/// A client of the Raft group that holds the decisions.
pub struct DecisionStore {
    /// `(raft node id, address)` as given by `--decision-store`.
    nodes: Vec<(String, String)>,
    http: JsonClient,
    /// Unique per process start, so that dedup never confuses two coordinators.
    client_id: String,
    next_seq: AtomicU64,
    /// Index into `nodes` of the node believed to lead.
    leader_hint: Mutex<usize>,
    policy: RetryPolicy,
}

/// What one request to one node came to.
enum Step {
    /// A definite answer: the value stored under the key (`null` when none).
    Stored(Value),
    /// Definitely not applied: try elsewhere (named leader, or the next node).
    Redirect(Option<String>),
    /// Maybe applied: retry the same request.
    Unknown(String),
    /// The store forgot the request id: retry under a fresh one.
    Expired,
    Refused(String),
}

impl DecisionStore {
    pub fn new(
        coordinator_id: &str,
        nodes: Vec<(String, String)>,
        http: JsonClient,
        policy: RetryPolicy,
    ) -> DecisionStore {
        DecisionStore {
            nodes,
            http,
            client_id: format!("{coordinator_id}-{:016x}", rand::random::<u64>()),
            next_seq: AtomicU64::new(1),
            leader_hint: Mutex::new(0),
            policy,
        }
    }

    /// The node ids, for `/status`.
    pub fn node_ids(&self) -> Vec<String> {
        self.nodes.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The stored decision of `txn` (`Some(true)` commit, `Some(false)` abort), or `None`
    /// when none is stored. The read is linearizable (the leader's ReadIndex).
    pub async fn read(&self, txn: &str) -> Result<Option<bool>, StoreError> {
        let key = decision_key(txn);
        let body = json!({"op": "read", "key": key});
        let stored = self.exchange(|_| body.clone()).await?;
        parse_decision(&key, stored)
    }

    /// Records `commit` as the decision of `txn` unless one is stored already, and
    /// returns the decision that is stored now (ours, or the one that won).
    pub async fn decide(&self, txn: &str, commit: bool) -> Result<bool, StoreError> {
        let key = decision_key(txn);
        let decision = if commit { COMMIT } else { ABORT };
        let client = self.client_id.clone();
        let body = |seq: u64| {
            json!({"op": "cas", "key": key, "from": null, "to": decision,
                   "client": client, "seq": seq})
        };
        let stored = self.exchange(body).await?;
        parse_decision(&key, stored)?.ok_or_else(|| StoreError::NotADecision {
            key: key.clone(),
            value: Value::Null,
        })
    }

    /// Sends `body(seq)` until a definite answer, within the retry policy.
    async fn exchange(&self, body: impl Fn(u64) -> Value) -> Result<Value, StoreError> {
        let mut seq = self.fresh_seq();
        let mut pause = self.policy.backoff;
        let mut last = String::from("no attempt");
        // Two nodes with stale views could send us back and forth: only a redirect that
        // does not follow another one skips the pause.
        let mut after_redirect = false;
        for attempt in 1..=self.policy.attempts {
            let node = self.current_leader();
            let (id, address) = &self.nodes[node];
            let reply = self.http.post(address, "/kv", &body(seq)).await;
            let back_off = match classify(reply) {
                Step::Stored(value) => return Ok(value),
                Step::Refused(detail) => return Err(StoreError::Refused(detail)),
                Step::Redirect(Some(leader)) if leader != *id && self.point_to(&leader) => {
                    last = format!("{id}: not the leader, {leader} is");
                    std::mem::replace(&mut after_redirect, true)
                }
                Step::Redirect(leader) => {
                    after_redirect = false;
                    last = format!("{id}: not the leader (leader {leader:?})");
                    self.skip(node);
                    true
                }
                Step::Unknown(detail) => {
                    after_redirect = false;
                    last = format!("{id}: {detail}");
                    self.skip(node);
                    true
                }
                Step::Expired => {
                    after_redirect = false;
                    last = format!("{id}: request expired");
                    seq = self.fresh_seq();
                    false
                }
            };
            tracing::debug!(attempt, %last, "decision store request not answered");
            if back_off && attempt < self.policy.attempts {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(self.policy.backoff * 16);
            }
        }
        Err(StoreError::Unavailable {
            attempts: self.policy.attempts,
            last,
        })
    }

    fn fresh_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    fn current_leader(&self) -> usize {
        *self
            .leader_hint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Points the hint at the node named `leader`; false if no such node is configured.
    fn point_to(&self, leader: &str) -> bool {
        let Some(index) = self.nodes.iter().position(|(id, _)| id == leader) else {
            return false;
        };
        *self
            .leader_hint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = index;
        true
    }

    /// Moves the hint past `node` (unless another request moved it already).
    fn skip(&self, node: usize) {
        let mut hint = self
            .leader_hint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *hint == node {
            *hint = (node + 1) % self.nodes.len();
        }
    }
}

fn classify(reply: Result<Reply, RpcError>) -> Step {
    let reply = match reply {
        Ok(reply) => reply,
        Err(RpcError::Connect(detail)) => {
            // Nothing was sent: a definite failure, try another node.
            tracing::debug!(%detail, "decision store node unreachable");
            return Step::Redirect(None);
        }
        Err(error) => return Step::Unknown(error.to_string()),
    };
    let error = reply.body["error"].as_str().unwrap_or_default();
    match reply.status {
        StatusCode::OK => Step::Stored(reply.body["value"].clone()),
        StatusCode::CONFLICT if error == "cas-mismatch" => {
            Step::Stored(reply.body["current"].clone())
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            Step::Redirect(reply.body["leader"].as_str().map(str::to_string))
        }
        StatusCode::BAD_REQUEST => Step::Refused(reply.body.to_string()),
        StatusCode::INTERNAL_SERVER_ERROR if error == "request-expired" => Step::Expired,
        status => Step::Unknown(format!("{status} {}", reply.body)),
    }
}

fn parse_decision(key: &str, value: Value) -> Result<Option<bool>, StoreError> {
    match value.as_str() {
        _ if value.is_null() => Ok(None),
        Some(COMMIT) => Ok(Some(true)),
        Some(ABORT) => Ok(Some(false)),
        _ => Err(StoreError::NotADecision {
            key: key.to_string(),
            value,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: Value) -> Result<Reply, RpcError> {
        Ok(Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body,
        })
    }

    #[test]
    fn answers_are_classified_by_what_they_say_about_the_store() {
        assert!(matches!(
            classify(reply(200, json!({"ok": true, "value": "commit"}))),
            Step::Stored(v) if v == "commit"
        ));
        assert!(matches!(
            classify(reply(409, json!({"error": "cas-mismatch", "current": "abort"}))),
            Step::Stored(v) if v == "abort"
        ));
        assert!(matches!(
            classify(reply(503, json!({"error": "not-leader", "leader": "r2"}))),
            Step::Redirect(Some(l)) if l == "r2"
        ));
        assert!(matches!(
            classify(reply(503, json!({"error": "not-leader", "leader": null}))),
            Step::Redirect(None)
        ));
        assert!(matches!(
            classify(reply(504, json!({"error": "timeout"}))),
            Step::Unknown(_)
        ));
        assert!(matches!(
            classify(reply(500, json!({"error": "leadership-lost"}))),
            Step::Unknown(_)
        ));
        assert!(matches!(
            classify(reply(500, json!({"error": "request-expired"}))),
            Step::Expired
        ));
        assert!(matches!(
            classify(Err(RpcError::Timeout(Duration::from_millis(5)))),
            Step::Unknown(_)
        ));
        assert!(matches!(
            classify(Err(RpcError::Connect("refused".into()))),
            Step::Redirect(None)
        ));
    }

    #[test]
    fn only_commit_abort_and_null_are_decisions() {
        assert_eq!(parse_decision("k", json!("commit")).unwrap(), Some(true));
        assert_eq!(parse_decision("k", json!("abort")).unwrap(), Some(false));
        assert_eq!(parse_decision("k", Value::Null).unwrap(), None);
        assert!(parse_decision("k", json!(3)).is_err());
        assert_eq!(decision_key("c1-7"), "txn/c1-7");
    }

    /// A fake Raft node on 127.0.0.1: answers every `/kv` request with `answer(body)`
    /// after `delay(body)`, recording the bodies it received.
    async fn fake_node(
        answer: impl Fn(&Value) -> (StatusCode, Value) + Send + Sync + 'static,
        delay: impl Fn(&Value) -> Duration + Send + Sync + 'static,
    ) -> (String, std::sync::Arc<Mutex<Vec<Value>>>) {
        use std::sync::Arc;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answer, delay, log) = (Arc::new(answer), Arc::new(delay), seen.clone());
        let handler = Arc::new(move |request: hyper::Request<hyper::body::Incoming>| {
            let (answer, delay, log) = (answer.clone(), delay.clone(), log.clone());
            async move {
                let body = crate::http::read_body(request, 4096).await.unwrap();
                let body: Value = serde_json::from_slice(&body).unwrap();
                log.lock().unwrap().push(body.clone());
                tokio::time::sleep(delay(&body)).await;
                let (status, reply) = answer(&body);
                crate::http::json_response(status, &reply)
            }
        });
        tokio::spawn(crate::http::serve(listener, handler));
        (address, seen)
    }

    #[tokio::test]
    async fn follows_the_named_leader_and_retries_an_unknown_cas_with_the_same_request_id() {
        let (follower, _) = fake_node(
            |_| {
                let body = json!({"error": "not-leader", "leader": "r2"});
                (StatusCode::SERVICE_UNAVAILABLE, body)
            },
            |_| Duration::ZERO,
        )
        .await;
        let first_cas = std::sync::atomic::AtomicBool::new(true);
        let (leader, seen) = fake_node(
            |body| {
                let value = if body["op"] == "read" {
                    json!("commit")
                } else {
                    body["to"].clone()
                };
                (StatusCode::OK, json!({"ok": true, "value": value}))
            },
            // The first CAS outlives the client's timeout: its outcome is unknown.
            move |body| {
                let slow = body["op"] == "cas" && first_cas.swap(false, Ordering::Relaxed);
                Duration::from_millis(if slow { 400 } else { 0 })
            },
        )
        .await;
        let store = DecisionStore::new(
            "c1",
            vec![("r1".into(), follower), ("r2".into(), leader)],
            JsonClient::new(Duration::from_millis(150)),
            RetryPolicy {
                attempts: 5,
                backoff: Duration::from_millis(1),
            },
        );
        assert!(
            store.decide("t1", true).await.unwrap(),
            "the commit is stored"
        );
        assert_eq!(store.read("t1").await.unwrap(), Some(true));
        let seen = seen.lock().unwrap().clone();
        let cases: Vec<_> = seen.iter().filter(|b| b["op"] == "cas").collect();
        assert!(cases.len() >= 2, "the unknown CAS was retried: {seen:?}");
        assert!(
            cases
                .iter()
                .all(|b| b["seq"] == cases[0]["seq"] && b["client"] == cases[0]["client"]),
            "every retry carries the first request id: {cases:?}"
        );
        assert_eq!(cases[0]["from"], Value::Null);
        assert_eq!(cases[0]["key"], "txn/t1");
    }

    #[tokio::test]
    async fn gives_up_after_its_attempts_when_no_node_answers() {
        let unreachable = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let store = DecisionStore::new(
            "c1",
            vec![("r1".into(), unreachable)],
            JsonClient::new(Duration::from_millis(100)),
            RetryPolicy {
                attempts: 3,
                backoff: Duration::from_millis(1),
            },
        );
        let error = store.decide("t1", false).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Unavailable { attempts: 3, .. }),
            "{error}"
        );
    }
}
