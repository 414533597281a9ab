//! The client of the two-phase-commit bank (API in `system-under-test`'s `bank` docs).
//!
//! Two functions, in the history's vocabulary (DESIGN.md):
//!
//! - `transfer`, value `{"from":"a3","to":"a7","amount":5,"txn":"t17"}`: `POST /transfer`
//!   with that very body. The transaction id comes from the generator, unique per
//!   transfer; the bank applies a retried id once.
//! - `read`, value `null`: `GET /balances`; on `ok` the value is the balances map.
//!
//! Outcomes come from the one classification ([`classify`]): 200 is `ok`, 409 `aborted`
//! and 400 are definite failures, a timeout or 5xx after sending is `info`, and a read
//! never takes effect, so a read that did not answer is a `fail`. Two refinements: a 200
//! read whose body carries no balances map is `fail` `bad-response`, and an abort names its
//! reason (`aborted:locked`, `aborted:insufficient-funds`, `aborted:vote-missing`, ...), so
//! that a history shows why transfers failed during and after a fault.
//!
//! Several coordinators (a replicated coordinator) all accept transfers and reads. Like the
//! Raft client, each logical thread keeps its own guess of whom to ask: an operation whose
//! connection never opened tries the next coordinator at once (nothing was sent), and after
//! a timeout, a broken connection or a 5xx the thread's *next* operation starts at the next
//! coordinator (the operation itself ends: its fate is unknown and it is never re-sent).
//! Every attempt of one operation shares one deadline (`timeout_ms`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::Value;
use tokio::time::Instant;

use super::classify::{Transport, classify};
use super::pool::NodePool;
use super::raft::GUESS_SLOTS;
use super::{Client, Invocation, Outcome};

/// Errors of building a [`BankClient`]; operations never fail with these.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BankClientError {
    #[error("a bank client needs at least one coordinator address")]
    NoCoordinators,
}

/// Settings of a [`BankClient`].
#[derive(Debug, Clone)]
pub struct BankClientConfig {
    /// Deadline of one operation, all its attempts included.
    pub timeout_ms: u64,
    /// Idle keep-alive connections kept per coordinator.
    pub max_idle_per_node: usize,
}

impl Default for BankClientConfig {
    fn default() -> Self {
        BankClientConfig {
            timeout_ms: 1000,
            max_idle_per_node: 64,
        }
    }
}

struct Coordinator {
    id: String,
    pool: NodePool,
}

/// The bank's client; see the module docs.
pub struct BankClient {
    coordinators: Vec<Coordinator>,
    config: BankClientConfig,
    /// Per logical thread (slot `t % GUESS_SLOTS`): the coordinator its next op asks first.
    guesses: Box<[AtomicUsize]>,
}

/// A bank request: method, path and body.
struct Request {
    method: Method,
    path: &'static str,
    body: Bytes,
}

impl BankClient {
    /// A client of the coordinators `(id, client address)`.
    pub fn new(
        coordinators: impl IntoIterator<Item = (String, SocketAddr)>,
        config: BankClientConfig,
    ) -> Result<Self, BankClientError> {
        let coordinators: Vec<Coordinator> = coordinators
            .into_iter()
            .map(|(id, addr)| Coordinator {
                id,
                pool: NodePool::new(addr, config.max_idle_per_node),
            })
            .collect();
        if coordinators.is_empty() {
            return Err(BankClientError::NoCoordinators);
        }
        let guesses = (0..GUESS_SLOTS)
            .map(|slot| AtomicUsize::new(slot % coordinators.len()))
            .collect();
        Ok(BankClient {
            coordinators,
            config,
            guesses,
        })
    }

    /// The coordinator that logical thread `thread`'s next operation asks first.
    pub fn guess_of(&self, thread: usize) -> String {
        let index = self.guesses[thread % GUESS_SLOTS].load(Ordering::Relaxed);
        self.coordinators[index].id.clone()
    }

    /// Runs one operation of logical thread `thread` (see the module docs).
    pub async fn run_as(&self, thread: usize, inv: &Invocation) -> Outcome {
        let request = match request_of(inv) {
            Ok(request) => request,
            Err(refused) => return refused,
        };
        let guess = &self.guesses[thread % GUESS_SLOTS];
        let deadline = Instant::now() + Duration::from_millis(self.config.timeout_ms);
        let mut target = guess.load(Ordering::Relaxed);
        let mut outcome = Outcome::Fail("no-attempt".into());
        for _ in 0..self.coordinators.len() {
            let transport = self.coordinators[target]
                .pool
                .send(
                    request.method.clone(),
                    request.path,
                    request.body.clone(),
                    deadline,
                )
                .await;
            outcome = outcome_of(inv, &transport);
            let next = (target + 1) % self.coordinators.len();
            match transport {
                Transport::NotSent(_) if Instant::now() < deadline => {
                    guess.store(next, Ordering::Relaxed);
                    target = next;
                }
                Transport::NotSent(_) | Transport::TimedOut | Transport::Broken(_) => {
                    guess.store(next, Ordering::Relaxed);
                    break;
                }
                Transport::Answered { status, .. } if status >= 500 => {
                    guess.store(next, Ordering::Relaxed);
                    break;
                }
                Transport::Answered { .. } => break,
            }
        }
        outcome
    }
}

/// The HTTP request of `inv`, or the definite failure of one that cannot be sent.
fn request_of(inv: &Invocation) -> Result<Request, Outcome> {
    match inv.f.as_str() {
        "read" => Ok(Request {
            method: Method::GET,
            path: "/balances",
            body: Bytes::new(),
        }),
        "transfer" => {
            let value = &inv.value;
            let complete = value["txn"].is_string()
                && value["from"].is_string()
                && value["to"].is_string()
                && value["amount"].is_i64();
            if !complete {
                return Err(Outcome::Fail("bad-invocation".into()));
            }
            Ok(Request {
                method: Method::POST,
                path: "/transfer",
                body: Bytes::from(value.to_string()),
            })
        }
        _ => Err(Outcome::Fail("unsupported-function".into())),
    }
}

/// The one classification, plus the balances of an `ok` read.
fn outcome_of(inv: &Invocation, transport: &Transport) -> Outcome {
    let outcome = classify(inv, transport).outcome;
    match (&outcome, transport) {
        (Outcome::Ok(_), Transport::Answered { body, .. }) if inv.f == "read" => {
            match balances_of(body) {
                Some(balances) => Outcome::Ok(balances),
                None => Outcome::Fail("bad-response".into()),
            }
        }
        (Outcome::Fail(error), Transport::Answered { body, .. }) if error == "aborted" => {
            match abort_reason(body) {
                Some(reason) => Outcome::Fail(format!("aborted:{reason}")),
                None => outcome,
            }
        }
        _ => outcome,
    }
}

/// The `reason` of a 409 `{"error":"aborted","reason":R}`, if it is a short plain word.
fn abort_reason(body: &Bytes) -> Option<String> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    let reason = parsed.get("reason")?.as_str()?;
    let plain = reason.len() <= 40
        && reason
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plain.then(|| reason.to_string())
}

/// The `balances` object of a `GET /balances` answer.
fn balances_of(body: &Bytes) -> Option<Value> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    let balances = parsed.get("balances")?;
    balances.is_object().then(|| balances.clone())
}

impl Client for BankClient {
    async fn invoke(&self, thread: usize, inv: &Invocation) -> Outcome {
        self.run_as(thread, inv).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answered(status: u16, body: &str) -> Transport {
        Transport::Answered {
            status,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn transfer() -> Invocation {
        Invocation {
            f: "transfer".into(),
            key: None,
            value: json!({"from": "a1", "to": "a2", "amount": 3, "txn": "t1"}),
        }
    }

    fn read() -> Invocation {
        Invocation {
            f: "read".into(),
            key: None,
            value: Value::Null,
        }
    }

    #[test]
    fn outcomes_follow_the_one_classification() {
        let cases = [
            (
                transfer(),
                answered(200, r#"{"ok":true,"txn":"t1"}"#),
                Outcome::Ok(transfer().value),
            ),
            (
                transfer(),
                answered(409, r#"{"error":"aborted","reason":"locked"}"#),
                Outcome::Fail("aborted:locked".into()),
            ),
            (
                transfer(),
                answered(409, r#"{"error":"aborted"}"#),
                Outcome::Fail("aborted".into()),
            ),
            (
                transfer(),
                answered(400, r#"{"error":"bad-request","detail":"x"}"#),
                Outcome::Fail("bad-request".into()),
            ),
            (
                transfer(),
                answered(500, r#"{"error":"in-progress"}"#),
                Outcome::Info("server-error".into()),
            ),
            (
                transfer(),
                Transport::TimedOut,
                Outcome::Info("timeout".into()),
            ),
            (
                read(),
                answered(200, r#"{"ok":true,"balances":{"a0":100,"a1":100}}"#),
                Outcome::Ok(json!({"a0": 100, "a1": 100})),
            ),
            (
                read(),
                answered(200, r#"{"ok":true}"#),
                Outcome::Fail("bad-response".into()),
            ),
            (
                read(),
                answered(503, r#"{"error":"busy"}"#),
                Outcome::Fail("unavailable".into()),
            ),
            (read(), Transport::TimedOut, Outcome::Fail("timeout".into())),
        ];
        for (inv, transport, expected) in cases {
            assert_eq!(outcome_of(&inv, &transport), expected, "{transport:?}");
        }
    }

    #[test]
    fn malformed_invocations_are_refused_before_sending() {
        let mut no_txn = transfer();
        no_txn.value = json!({"from": "a1", "to": "a2", "amount": 3});
        assert!(matches!(request_of(&no_txn), Err(Outcome::Fail(e)) if e == "bad-invocation"));
        let mut other = read();
        other.f = "cas".into();
        assert!(request_of(&other).is_err());
        assert!(
            BankClient::new(Vec::new(), BankClientConfig::default()).is_err(),
            "no coordinators"
        );
    }

    /// A dead first coordinator (nothing listens) is skipped within the same operation,
    /// and the thread's guess moves on.
    #[tokio::test]
    async fn a_refused_connection_moves_on_to_the_next_coordinator() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = live.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let body = r#"{"ok":true,"balances":{"a0":5}}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/json\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let client = BankClient::new(
            [("c1".to_string(), dead_addr), ("c2".to_string(), live_addr)],
            BankClientConfig {
                timeout_ms: 2000,
                max_idle_per_node: 0,
            },
        )
        .unwrap();
        assert_eq!(client.guess_of(0), "c1");
        let outcome = client.run_as(0, &read()).await;
        assert_eq!(outcome, Outcome::Ok(json!({"a0": 5})));
        assert_eq!(client.guess_of(0), "c2");
    }
}
