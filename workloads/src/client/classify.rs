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
//! A `txn`'s `ok` value is the answer's (its micro-ops with the reads filled in), and a txn
//! of reads only counts as a read below.
//!
//! One refinement: a `read` (or `get`, the kv-append model's read) has no effect on the store, so a read whose outcome is unknown
//! "definitely did not take effect" and is classified `fail` with the same error string (as
//! Jepsen's clients do). This keeps timed-out reads from inflating the checker's search.
//!
//! # stdio adapters
//!
//! [`classify_adapter`] is the same rule for one exchange with a stdio adapter (the
//! protocol: `docs/adapter-protocol.md`, the client: `client/stdio.rs`). The adapter judges
//! its own database's answers and says `ok`, `fail` or `info`; faultline takes its word and
//! adds only what it sees itself:
//!
//! | what happened | outcome | error |
//! |---|---|---|
//! | the adapter could not be started (nothing sent) | fail | `adapter-not-started` |
//! | reply `{"type":"ok","value":V}` | ok | (V, or the invocation's value when V is absent for an op that is not a read) |
//! | reply `{"type":"fail","error":E}` | fail | E, else `adapter-fail` |
//! | reply `{"type":"info","error":E}` | info | E, else `adapter-info` |
//! | no reply within the workload timeout | info | `timeout` |
//! | the adapter exited (or closed its pipes) before replying | info | `adapter-exited` |
//! | a line that is not JSON, not an object, or a `type` other than those three | info | `adapter-garbage: LINE` |
//!
//! The read rule applies as everywhere: a `read` or `get` whose outcome is unknown is a
//! `fail` with the same error (it had no effect). Any other `f` (`write`, `cas`, `append`,
//! `add`, `txn`, ...) may write, so its unknown outcome stays `info`.
//!
//! # etcd
//!
//! [`classify_etcd`] is the same rule for one request to etcd's JSON gateway: the same
//! transport rows (nothing sent: `fail`; timed out or broken after sending: `info`), the
//! same status fallbacks for answers that are not etcd's, and a table of etcd's own errors
//! (the gateway's `{"error","message","code"}` bodies) that says which of them are refusals
//! before any proposal (`fail`) and which may hide a proposal that still commits (`info`).
//! It judges a *request* by its [`Effect`] rather than an invocation by its `f`, because one
//! etcd operation can be several requests (a read before a guarded txn). The whole table,
//! with the reasons from etcd 3.4's source, is in the docs of `client/etcd.rs`.

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
    let classified = match answer(transport) {
        Ok((status, body)) => classify_answer(inv, status, body),
        Err(unanswered) => plain(unanswered),
    };
    reads_have_no_effect(inv, classified)
}

/// The status and body of a complete answer, or the outcome of a request that got none.
fn answer(transport: &Transport) -> Result<(u16, &Bytes), Outcome> {
    match transport {
        Transport::Answered { status, body } => Ok((*status, body)),
        Transport::NotSent(reason) => Err(Outcome::Fail(not_sent_error(reason).into())),
        Transport::TimedOut => Err(Outcome::Info("timeout".into())),
        Transport::Broken(_) => Err(Outcome::Info("reset".into())),
    }
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
        _ => plain(status_outcome(status, body_error)),
    }
}

/// The outcome of a non-200 answer that says nothing more specific: 5xx after sending is
/// unknown, 4xx a refusal (named by the body's `error` when it has one), anything else
/// unknown.
fn status_outcome(status: u16, body_error: Option<String>) -> Outcome {
    match status {
        503 => Outcome::Info("unavailable".into()),
        504 => Outcome::Info("timeout".into()),
        500..=599 => Outcome::Info("server-error".into()),
        409 => Outcome::Fail(body_error.unwrap_or_else(|| "conflict".into())),
        400..=499 => Outcome::Fail(body_error.unwrap_or_else(|| format!("http-{status}"))),
        _ => Outcome::Info(format!("unexpected-status-{status}")),
    }
}

/// The `ok` value of a 200 answer: the value read, or the invocation's own value for
/// write and cas. A 200 whose body is not `{"ok":true,...}` may still have taken effect.
fn success(inv: &Invocation, parsed: Option<AnswerBody>) -> Outcome {
    match parsed {
        Some(body) if body.ok => {
            if is_read(&inv.f) || inv.f == crate::txn::TXN_F {
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

/// Whether `inv` is a `txn` whose micro-ops are all reads (`["r", k, v]`).
pub fn is_read_only_txn(inv: &Invocation) -> bool {
    inv.f == crate::txn::TXN_F
        && inv.value.as_array().is_some_and(|ops| {
            ops.iter()
                .all(|op| op.get(0).and_then(|f| f.as_str()) == Some("r"))
        })
}

fn reads_have_no_effect(inv: &Invocation, classified: Classified) -> Classified {
    let effect = if is_read(&inv.f) || is_read_only_txn(inv) {
        Effect::ReadOnly
    } else {
        Effect::MayWrite
    };
    Classified {
        outcome: settle(effect, classified.outcome),
        leader_hint: classified.leader_hint,
    }
}

/// The rule that a request with no effect cannot be unknown: its `info` becomes `fail`.
fn settle(effect: Effect, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Info(error) if effect == Effect::ReadOnly => Outcome::Fail(error),
        other => other,
    }
}

/// Whether a request can change the store; decides what an unknown outcome means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Only observes (a range, a read-only txn): an unknown outcome is a `fail`.
    ReadOnly,
    /// May change the store (a put, a txn with puts): an unknown outcome stays `info`.
    MayWrite,
}

/// An error body of etcd's gRPC gateway: `{"error":M,"message":M,"code":C}` (grpc-gateway
/// 1.9's `errorBody`, as etcd 3.4 serves it; `message` repeats `error`).
#[derive(Debug, Deserialize)]
struct EtcdErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    code: i32,
}

/// etcd's error strings (`api/v3rpc/rpctypes/error.go`, `etcdserver/errors.go`, raft's
/// `ErrProposalDropped`, Go's context errors as the gateway passes them on): the error
/// written to the history and whether the request definitely had no effect. The reasons
/// are in the table of `client/etcd.rs`.
const ETCD_ERRORS: &[(&str, &str, Definite)] = &[
    ("etcdserver: no leader", "no-leader", Definite::Yes),
    ("etcdserver: not capable", "not-capable", Definite::Yes),
    (
        "etcdserver: too many requests",
        "too-many-requests",
        Definite::Yes,
    ),
    (
        "etcdserver: rpc not supported for learner",
        "learner",
        Definite::Yes,
    ),
    ("raft proposal dropped", "proposal-dropped", Definite::Yes),
    (
        "etcdserver: request is too large",
        "request-too-large",
        Definite::Yes,
    ),
    (
        "etcdserver: mvcc: database space exceeded",
        "no-space",
        Definite::Yes,
    ),
    (
        "etcdserver: duplicate key given in txn request",
        "duplicate-key",
        Definite::Yes,
    ),
    (
        "etcdserver: too many operations in txn request",
        "too-many-ops",
        Definite::Yes,
    ),
    (
        "etcdserver: key is not provided",
        "empty-key",
        Definite::Yes,
    ),
    (
        "etcdserver: mvcc: required revision has been compacted",
        "compacted",
        Definite::Yes,
    ),
    (
        "etcdserver: mvcc: required revision is a future revision",
        "future-revision",
        Definite::Yes,
    ),
    (
        "etcdserver: permission denied",
        "permission-denied",
        Definite::Yes,
    ),
    (
        "etcdserver: invalid auth token",
        "invalid-auth-token",
        Definite::Yes,
    ),
    (
        "etcdserver: request timed out",
        "etcd-timeout",
        Definite::No,
    ),
    (
        "etcdserver: request timed out, possibly due to previous leader failure",
        "etcd-timeout-leader-failure",
        Definite::No,
    ),
    (
        "etcdserver: request timed out, possibly due to connection lost",
        "etcd-timeout-connection-lost",
        Definite::No,
    ),
    (
        "etcdserver: request timed out, waiting for the applied index took too long",
        "etcd-timeout-applied-index",
        Definite::No,
    ),
    ("etcdserver: leader changed", "leader-changed", Definite::No),
    ("etcdserver: server stopped", "server-stopped", Definite::No),
    ("etcdserver: request cancelled", "canceled", Definite::No),
    (
        "context deadline exceeded",
        "deadline-exceeded",
        Definite::No,
    ),
    ("context canceled", "canceled", Definite::No),
];

/// Whether an etcd error says the request had no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Definite {
    Yes,
    No,
}

/// gRPC's status codes by number, as the history names them, and whether a request
/// refused with that code (and a message not in [`ETCD_ERRORS`]) definitely had no effect:
/// validation, auth and precondition refusals come before any proposal; `Unknown`,
/// `Unavailable`, `Internal`, `DeadlineExceeded`, ... may come after one.
const GRPC_CODES: [(&str, Definite); 17] = [
    ("ok", Definite::No),
    ("canceled", Definite::No),
    ("unknown", Definite::No),
    ("invalid-argument", Definite::Yes),
    ("deadline-exceeded", Definite::No),
    ("not-found", Definite::Yes),
    ("already-exists", Definite::Yes),
    ("permission-denied", Definite::Yes),
    ("resource-exhausted", Definite::Yes),
    ("failed-precondition", Definite::Yes),
    ("aborted", Definite::No),
    ("out-of-range", Definite::Yes),
    ("unimplemented", Definite::Yes),
    ("internal", Definite::No),
    ("unavailable", Definite::No),
    ("data-loss", Definite::No),
    ("unauthenticated", Definite::Yes),
];

/// Classifies one request to etcd's JSON gateway (see the etcd section above): `Ok` with
/// what `parse` made of a 200 body, or the request's outcome. A 200 body that `parse`
/// refuses (`None`) is `bad-response`: unknown for a request that may write.
pub fn classify_etcd<T>(
    effect: Effect,
    transport: &Transport,
    parse: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<T, Outcome> {
    let outcome = match answer(transport) {
        Ok((200, body)) => match parse(body) {
            Some(parsed) => return Ok(parsed),
            None => Outcome::Info("bad-response".into()),
        },
        Ok((status, body)) => etcd_error_outcome(status, body),
        Err(unanswered) => unanswered,
    };
    Err(settle(effect, outcome))
}

/// The outcome of a non-200 gateway answer, before the read rule.
fn etcd_error_outcome(status: u16, body: &Bytes) -> Outcome {
    let Ok(parsed) = serde_json::from_slice::<EtcdErrorBody>(body) else {
        // Not etcd's error body (a 404 of an unknown path, something else answering).
        return status_outcome(status, None);
    };
    let message = parsed.message.or(parsed.error).unwrap_or_default();
    let (error, definite) = match ETCD_ERRORS.iter().find(|(m, _, _)| *m == message) {
        Some((_, error, definite)) => ((*error).to_string(), *definite),
        None => match usize::try_from(parsed.code)
            .ok()
            .and_then(|code| GRPC_CODES.get(code))
        {
            Some((name, definite)) => (format!("grpc-{name}"), *definite),
            None => (format!("grpc-code-{}", parsed.code), Definite::No),
        },
    };
    match definite {
        Definite::Yes => Outcome::Fail(error),
        Definite::No => Outcome::Info(error),
    }
}

/// What came back from a stdio adapter for one request ([`classify_adapter`]).
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterAnswer {
    /// A reply line of the protocol.
    Reply {
        kind: AdapterReplyType,
        /// The reply's `value`, `None` when the key is absent.
        value: Option<Value>,
        error: Option<String>,
    },
    /// The adapter could not be started: nothing was sent. The text is for diagnostics.
    NotStarted(String),
    /// No reply within the timeout.
    TimedOut,
    /// The adapter exited (end of its stdout, or its stdin closed) before replying.
    Exited,
    /// A line that is not a reply: not JSON, not an object, or an unknown `type`.
    Garbage(String),
}

/// The `type` of an adapter's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterReplyType {
    Ok,
    Fail,
    Info,
}

/// The outcome of `inv` from what its adapter answered (the table in the module docs).
pub fn classify_adapter(inv: &Invocation, answer: &AdapterAnswer) -> Outcome {
    let outcome = match answer {
        AdapterAnswer::Reply {
            kind: AdapterReplyType::Ok,
            value,
            ..
        } => Outcome::Ok(match value {
            Some(value) => value.clone(),
            None if is_read(&inv.f) => Value::Null,
            None => inv.value.clone(),
        }),
        AdapterAnswer::Reply {
            kind: AdapterReplyType::Fail,
            error,
            ..
        } => Outcome::Fail(error.clone().unwrap_or_else(|| "adapter-fail".into())),
        AdapterAnswer::Reply {
            kind: AdapterReplyType::Info,
            error,
            ..
        } => Outcome::Info(error.clone().unwrap_or_else(|| "adapter-info".into())),
        AdapterAnswer::NotStarted(_) => Outcome::Fail("adapter-not-started".into()),
        AdapterAnswer::TimedOut => Outcome::Info("timeout".into()),
        AdapterAnswer::Exited => Outcome::Info("adapter-exited".into()),
        AdapterAnswer::Garbage(line) => Outcome::Info(format!("adapter-garbage: {line}")),
    };
    let effect = if is_read(&inv.f) {
        Effect::ReadOnly
    } else {
        Effect::MayWrite
    };
    settle(effect, outcome)
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

    /// A txn's `ok` value is the store's (reads filled in); one of reads only is a read.
    #[test]
    fn txn_values_come_from_the_answer_and_read_only_txns_cannot_be_unknown() {
        let txn = |ops: Value| crate::txn::txn(ops.as_array().expect("list").clone());
        let writing = txn(json!([["append", 1, 5], ["r", 1, null]]));
        let reading = txn(json!([["r", 1, null], ["r", 2, null]]));
        let body = r#"{"ok":true,"value":[["append",1,5],["r",1,[3,5]]]}"#;
        assert_eq!(
            classify(&writing, &answered(200, body)).outcome,
            ok(json!([["append", 1, 5], ["r", 1, [3, 5]]]))
        );
        assert_eq!(
            classify(&writing, &Transport::TimedOut).outcome,
            info("timeout")
        );
        assert_eq!(
            classify(&writing, &answered(409, r#"{"error":"txn-aborted","reason":"x"}"#)).outcome,
            fail("txn-aborted")
        );
        assert_eq!(
            classify(&reading, &Transport::TimedOut).outcome,
            fail("timeout")
        );
        assert_eq!(
            classify(&reading, &answered(500, r#"{"error":"leadership-lost"}"#)).outcome,
            fail("server-error")
        );
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

    /// Error bodies etcd 3.4.23's gateway answered (recorded by hand with curl against a
    /// 3-member cluster: no leader after killing two members, a linearizable read timing
    /// out there, a put to it without `hasleader`, validation refusals, an unknown path).
    const RECORDED_NO_LEADER: &str =
        r#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#;
    const RECORDED_TIMED_OUT: &str = r#"{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}"#;
    const RECORDED_DEADLINE: &str =
        r#"{"error":"context deadline exceeded","message":"context deadline exceeded","code":2}"#;
    const RECORDED_DUPLICATE_KEY: &str = r#"{"error":"etcdserver: duplicate key given in txn request","message":"etcdserver: duplicate key given in txn request","code":3}"#;
    const RECORDED_EMPTY_KEY: &str = r#"{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}"#;
    const RECORDED_BAD_JSON: &str = r#"{"error":"invalid character 'g' looking for beginning of value","message":"invalid character 'g' looking for beginning of value","code":3}"#;

    /// Built from etcd 3.4's `rpctypes/error.go` strings (not provoked by hand).
    fn etcd_body(message: &str, code: i32) -> String {
        serde_json::json!({"error": message, "message": message, "code": code}).to_string()
    }

    fn etcd(effect: Effect, transport: &Transport) -> Result<String, Outcome> {
        classify_etcd(effect, transport, |body| {
            std::str::from_utf8(body)
                .ok()
                .filter(|b| b.starts_with('{'))
                .map(str::to_string)
        })
    }

    #[test]
    fn etcd_table() {
        use Effect::{MayWrite, ReadOnly};
        let leader_fail = etcd_body(
            "etcdserver: request timed out, possibly due to previous leader failure",
            14,
        );
        let lost = etcd_body(
            "etcdserver: request timed out, possibly due to connection lost",
            14,
        );
        let cases: Vec<(Effect, Transport, Outcome)> = vec![
            (
                MayWrite,
                Transport::NotSent(NotSent::Refused),
                fail("connection-refused"),
            ),
            (
                ReadOnly,
                Transport::NotSent(NotSent::ConnectTimeout),
                fail("connect-timeout"),
            ),
            (MayWrite, Transport::TimedOut, info("timeout")),
            (ReadOnly, Transport::TimedOut, fail("timeout")),
            (MayWrite, Transport::Broken("eof".into()), info("reset")),
            (ReadOnly, Transport::Broken("eof".into()), fail("reset")),
            (MayWrite, answered(200, "garbage"), info("bad-response")),
            (ReadOnly, answered(200, "garbage"), fail("bad-response")),
            // Recorded.
            (
                MayWrite,
                answered(503, RECORDED_NO_LEADER),
                fail("no-leader"),
            ),
            (
                ReadOnly,
                answered(503, RECORDED_NO_LEADER),
                fail("no-leader"),
            ),
            (
                MayWrite,
                answered(503, RECORDED_TIMED_OUT),
                info("etcd-timeout"),
            ),
            (
                ReadOnly,
                answered(503, RECORDED_TIMED_OUT),
                fail("etcd-timeout"),
            ),
            (
                MayWrite,
                answered(500, RECORDED_DEADLINE),
                info("deadline-exceeded"),
            ),
            (
                ReadOnly,
                answered(500, RECORDED_DEADLINE),
                fail("deadline-exceeded"),
            ),
            (
                MayWrite,
                answered(400, RECORDED_DUPLICATE_KEY),
                fail("duplicate-key"),
            ),
            (
                MayWrite,
                answered(400, RECORDED_EMPTY_KEY),
                fail("empty-key"),
            ),
            (
                MayWrite,
                answered(400, RECORDED_BAD_JSON),
                fail("grpc-invalid-argument"),
            ),
            (MayWrite, answered(404, "Not Found\n"), fail("http-404")),
            // From etcd's source.
            (
                MayWrite,
                answered(503, &etcd_body("etcdserver: leader changed", 14)),
                info("leader-changed"),
            ),
            (
                ReadOnly,
                answered(503, &etcd_body("etcdserver: leader changed", 14)),
                fail("leader-changed"),
            ),
            (
                MayWrite,
                answered(503, &leader_fail),
                info("etcd-timeout-leader-failure"),
            ),
            (
                MayWrite,
                answered(503, &lost),
                info("etcd-timeout-connection-lost"),
            ),
            (
                MayWrite,
                answered(503, &etcd_body("etcdserver: server stopped", 14)),
                info("server-stopped"),
            ),
            (
                MayWrite,
                answered(503, &etcd_body("etcdserver: not capable", 14)),
                fail("not-capable"),
            ),
            (
                MayWrite,
                answered(429, &etcd_body("etcdserver: too many requests", 8)),
                fail("too-many-requests"),
            ),
            (
                MayWrite,
                answered(500, &etcd_body("raft proposal dropped", 2)),
                fail("proposal-dropped"),
            ),
            (
                MayWrite,
                answered(
                    429,
                    &etcd_body("etcdserver: mvcc: database space exceeded", 8),
                ),
                fail("no-space"),
            ),
            (
                MayWrite,
                answered(
                    503,
                    &etcd_body("etcdserver: rpc not supported for learner", 14),
                ),
                fail("learner"),
            ),
            // Unlisted messages go by their gRPC code.
            (
                MayWrite,
                answered(503, &etcd_body("all SubConns are in TransientFailure", 14)),
                info("grpc-unavailable"),
            ),
            (
                ReadOnly,
                answered(503, &etcd_body("all SubConns are in TransientFailure", 14)),
                fail("grpc-unavailable"),
            ),
            (
                MayWrite,
                answered(500, &etcd_body("something new", 2)),
                info("grpc-unknown"),
            ),
            (
                MayWrite,
                answered(412, &etcd_body("etcdserver: something refused", 9)),
                fail("grpc-failed-precondition"),
            ),
            (
                MayWrite,
                answered(403, &etcd_body("x", 7)),
                fail("grpc-permission-denied"),
            ),
            (
                MayWrite,
                answered(500, &etcd_body("x", 99)),
                info("grpc-code-99"),
            ),
            // Not etcd's bodies: the status fallback.
            (MayWrite, answered(502, "bad gateway"), info("server-error")),
            (MayWrite, answered(503, ""), info("unavailable")),
            (ReadOnly, answered(503, ""), fail("unavailable")),
            (MayWrite, answered(302, ""), info("unexpected-status-302")),
        ];
        for (effect, transport, expected) in cases {
            assert_eq!(
                etcd(effect, &transport),
                Err(expected),
                "{effect:?} {transport:?}"
            );
        }
        assert_eq!(
            etcd(MayWrite, &answered(200, "{}")),
            Ok("{}".to_string()),
            "a 200 the parser takes is the answer"
        );
    }
}
