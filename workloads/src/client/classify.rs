//! The one classification of faultline: what happened on the wire -> ok / fail / info.
//!
//! The rule (DESIGN.md, "Clients and errors"; the Raft API table in `system-under-test`):
//!
//! | what happened | outcome | error |
//! |---|---|---|
//! | connection refused / connect timed out / connect failed (nothing sent) | fail | `connection-refused`, `connect-timeout`, `connect-failed` |
//! | no complete answer before the deadline, after sending | info | `timeout` |
//! | connection broke after the request may have been written | info | `reset` |
//! | 200 `{"ok":true,"value":V}` | ok | |
//! | 200 with a body that is not that | info | `bad-response` |
//! | 409 (`cas-mismatch`) | fail | the body's `error`, e.g. `cas-mismatch` |
//! | 503 `not-leader` | fail | `not-leader` (the leader hint is returned too) |
//! | 503 with any other body | info | `unavailable` |
//! | 504 | info | `timeout` |
//! | other 5xx | info | `server-error` |
//! | other 4xx | fail | the body's `error`, else `http-<status>` |
//! | any other status | info | `unexpected-status-<status>` |
//!
//! One refinement: a `read` (or `get`, the kv-append model's read) has no effect on the store, so a read whose outcome is unknown
//! "definitely did not take effect" and is classified `fail` with the same error string (as
//! Jepsen's clients do). This keeps timed-out reads from inflating the checker's search.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::{Invocation, Outcome};

/// Why a request was never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSent {
    /// The node refused the TCP connection (nothing listens: it is dead or not yet up).
    Refused,
    /// The TCP connection did not open before the deadline.
    ConnectTimeout,
    /// Any other failure to open the connection; the `io::ErrorKind`, for diagnostics.
    ConnectFailed(String),
}

/// What happened to one HTTP request on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// Nothing was sent; the request cannot have taken effect.
    NotSent(NotSent),
    /// The request was handed to an open connection and no complete answer arrived before
    /// the deadline.
    TimedOut,
    /// The connection failed after the request may have been written; the error text is
    /// for diagnostics only.
    Broken(String),
    /// A complete HTTP answer.
    Answered { status: u16, body: Bytes },
}

/// An outcome plus what the answer said about the leader (only for `not-leader`
/// refusals: `Some(id)` when the refusing node named one).
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub outcome: Outcome,
    pub leader_hint: Option<String>,
}

/// The fields a success or error body may carry.
#[derive(Debug, Deserialize)]
struct AnswerBody {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    leader: Option<String>,
}

/// Classifies what happened to the request that carried `inv`.
pub fn classify(inv: &Invocation, transport: &Transport) -> Classified {
    let classified = match transport {
        Transport::NotSent(reason) => plain(Outcome::Fail(not_sent_error(reason).into())),
        Transport::TimedOut => plain(Outcome::Info("timeout".into())),
        Transport::Broken(_) => plain(Outcome::Info("reset".into())),
        Transport::Answered { status, body } => classify_answer(inv, *status, body),
    };
    reads_have_no_effect(inv, classified)
}

fn plain(outcome: Outcome) -> Classified {
    Classified {
        outcome,
        leader_hint: None,
    }
}

fn not_sent_error(reason: &NotSent) -> &'static str {
    match reason {
        NotSent::Refused => "connection-refused",
        NotSent::ConnectTimeout => "connect-timeout",
        NotSent::ConnectFailed(_) => "connect-failed",
    }
}

fn classify_answer(inv: &Invocation, status: u16, body: &Bytes) -> Classified {
    let parsed: Option<AnswerBody> = serde_json::from_slice(body).ok();
    let body_error = parsed.as_ref().and_then(|b| b.error.clone());
    match status {
        200 => plain(success(inv, parsed)),
        503 if body_error.as_deref() == Some("not-leader") => Classified {
            outcome: Outcome::Fail("not-leader".into()),
            leader_hint: parsed.and_then(|b| b.leader),
        },
        503 => plain(Outcome::Info("unavailable".into())),
        504 => plain(Outcome::Info("timeout".into())),
        500..=599 => plain(Outcome::Info("server-error".into())),
        409 => plain(Outcome::Fail(
            body_error.unwrap_or_else(|| "conflict".into()),
        )),
        400..=499 => plain(Outcome::Fail(
            body_error.unwrap_or_else(|| format!("http-{status}")),
        )),
        _ => plain(Outcome::Info(format!("unexpected-status-{status}"))),
    }
}

/// The `ok` value of a 200 answer: the value read, or the invocation's own value for
/// write and cas. A 200 whose body is not `{"ok":true,...}` may still have taken effect.
fn success(inv: &Invocation, parsed: Option<AnswerBody>) -> Outcome {
    match parsed {
        Some(body) if body.ok => {
            if is_read(&inv.f) {
                Outcome::Ok(body.value)
            } else {
                Outcome::Ok(inv.value.clone())
            }
        }
        _ => Outcome::Info("bad-response".into()),
    }
}

/// Whether `f` only observes the store: `read` (registers) or `get` (kv-append).
pub fn is_read(f: &str) -> bool {
    f == "read" || f == "get"
}

fn reads_have_no_effect(inv: &Invocation, classified: Classified) -> Classified {
    match classified.outcome {
        Outcome::Info(error) if is_read(&inv.f) => Classified {
            outcome: Outcome::Fail(error),
            leader_hint: classified.leader_hint,
        },
        _ => classified,
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

    fn write() -> Invocation {
        Invocation::write("k", json!(4))
    }

    fn cas() -> Invocation {
        Invocation::cas("k", json!(4), json!(5))
    }

    fn read() -> Invocation {
        Invocation::read("k")
    }

    fn ok(v: Value) -> Outcome {
        Outcome::Ok(v)
    }

    fn fail(e: &str) -> Outcome {
        Outcome::Fail(e.into())
    }

    fn info(e: &str) -> Outcome {
        Outcome::Info(e.into())
    }

    #[test]
    fn table() {
        let cases: Vec<(Invocation, Transport, Outcome)> = vec![
            (
                write(),
                Transport::NotSent(NotSent::Refused),
                fail("connection-refused"),
            ),
            (
                write(),
                Transport::NotSent(NotSent::ConnectTimeout),
                fail("connect-timeout"),
            ),
            (
                write(),
                Transport::NotSent(NotSent::ConnectFailed("Other".into())),
                fail("connect-failed"),
            ),
            (write(), Transport::TimedOut, info("timeout")),
            (cas(), Transport::TimedOut, info("timeout")),
            (
                write(),
                Transport::Broken("connection reset".into()),
                info("reset"),
            ),
            (
                write(),
                answered(200, r#"{"ok":true,"value":4}"#),
                ok(json!(4)),
            ),
            (
                cas(),
                answered(200, r#"{"ok":true,"value":5}"#),
                ok(json!([4, 5])),
            ),
            (
                read(),
                answered(200, r#"{"ok":true,"value":7}"#),
                ok(json!(7)),
            ),
            (
                read(),
                answered(200, r#"{"ok":true,"value":null}"#),
                ok(Value::Null),
            ),
            (write(), answered(200, "garbage"), info("bad-response")),
            (
                write(),
                answered(200, r#"{"ok":false}"#),
                info("bad-response"),
            ),
            (
                cas(),
                answered(409, r#"{"error":"cas-mismatch","current":3}"#),
                fail("cas-mismatch"),
            ),
            (cas(), answered(409, ""), fail("conflict")),
            (
                write(),
                answered(503, r#"{"error":"not-leader","leader":"n2"}"#),
                fail("not-leader"),
            ),
            (
                write(),
                answered(503, r#"{"error":"not-leader","leader":null}"#),
                fail("not-leader"),
            ),
            (write(), answered(503, "overloaded"), info("unavailable")),
            (
                write(),
                answered(400, r#"{"error":"bad-request","detail":"x"}"#),
                fail("bad-request"),
            ),
            (write(), answered(404, ""), fail("http-404")),
            (
                write(),
                answered(504, r#"{"error":"timeout"}"#),
                info("timeout"),
            ),
            (
                write(),
                answered(500, r#"{"error":"disk"}"#),
                info("server-error"),
            ),
            (write(), answered(502, ""), info("server-error")),
            (write(), answered(302, ""), info("unexpected-status-302")),
            // A read has no effect: unknown becomes a definite failure, same error.
            (read(), Transport::TimedOut, fail("timeout")),
            (read(), Transport::Broken("eof".into()), fail("reset")),
            (read(), answered(504, ""), fail("timeout")),
            (read(), answered(500, ""), fail("server-error")),
            (read(), answered(200, "{"), fail("bad-response")),
        ];
        for (inv, transport, expected) in cases {
            let got = classify(&inv, &transport).outcome;
            assert_eq!(got, expected, "f={} transport={transport:?}", inv.f);
        }
    }

    #[test]
    fn not_leader_carries_the_hint() {
        let named = classify(
            &write(),
            &answered(503, r#"{"error":"not-leader","leader":"n2"}"#),
        );
        assert_eq!(named.leader_hint.as_deref(), Some("n2"));
        let unknown = classify(
            &write(),
            &answered(503, r#"{"error":"not-leader","leader":null}"#),
        );
        assert_eq!(unknown.leader_hint, None);
        let other = classify(&write(), &answered(400, r#"{"error":"x","leader":"n2"}"#));
        assert_eq!(
            other.leader_hint, None,
            "only not-leader refusals name a leader"
        );
    }
}
