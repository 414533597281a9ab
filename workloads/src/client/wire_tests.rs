//! Tests of the Raft client against tiny real HTTP servers on 127.0.0.1: one per behaviour
//! (answer with a status, close the connection after reading, never answer, refuse).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{Client, Invocation, Outcome, RaftClient, RaftClientConfig};

#[derive(Clone, Copy)]
enum Behavior {
    /// Answer every request with this status and body.
    Respond { status: u16, body: &'static str },
    /// Like `Respond`, and ask the client to close the connection after each answer.
    RespondThenClose { status: u16, body: &'static str },
    /// Read the request, then close the connection without answering.
    CloseAfterRead,
    /// Read the request and never answer.
    NeverAnswer,
}

struct TestServer {
    addr: SocketAddr,
    /// Bodies of the requests received, as JSON (or a string if not JSON).
    requests: Arc<Mutex<Vec<Value>>>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start(behavior: Behavior) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (reqs, conns) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            // Held so that `NeverAnswer` sockets stay open until the server is dropped.
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                match behavior {
                    Behavior::Respond { status, body } => {
                        serve(stream, status, body, false, reqs.clone())
                    }
                    Behavior::RespondThenClose { status, body } => {
                        serve(stream, status, body, true, reqs.clone())
                    }
                    Behavior::CloseAfterRead => drop(read_some(stream, &reqs).await),
                    Behavior::NeverAnswer => held.push(read_some(stream, &reqs).await),
                }
            }
        });
        TestServer {
            addr,
            requests,
            connections,
            task,
        }
    }

    fn received(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads the first bytes of a request and records that something arrived.
async fn read_some(mut stream: TcpStream, requests: &Mutex<Vec<Value>>) -> TcpStream {
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the client sends its request within 5 s")
        .expect("read request");
    requests
        .lock()
        .unwrap()
        .push(Value::String(String::from_utf8_lossy(&buf[..n]).into()));
    stream
}

fn serve(
    stream: TcpStream,
    status: u16,
    body: &'static str,
    close: bool,
    requests: Arc<Mutex<Vec<Value>>>,
) {
    tokio::spawn(async move {
        let service = service_fn(move |req: Request<Incoming>| {
            let requests = requests.clone();
            async move {
                let bytes = req.into_body().collect().await?.to_bytes();
                let parsed = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
                requests.lock().unwrap().push(parsed);
                let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                *response.status_mut() = hyper::StatusCode::from_u16(status).expect("valid status");
                if close {
                    response
                        .headers_mut()
                        .insert("connection", "close".parse().unwrap());
                }
                Ok::<_, hyper::Error>(response)
            }
        });
        let served = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
        // A client closing a keep-alive connection is normal; anything else is a test bug.
        if let Err(err) = served {
            assert!(
                err.is_incomplete_message() || err.is_closed(),
                "test server: {err}"
            );
        }
    });
}

fn client(nodes: &[(&str, SocketAddr)], timeout_ms: u64) -> RaftClient {
    client_with(nodes, timeout_ms, true)
}

/// A client that never re-sends a write whose outcome is unknown.
fn client_without_resend(nodes: &[(&str, SocketAddr)], timeout_ms: u64) -> RaftClient {
    client_with(nodes, timeout_ms, false)
}

fn client_with(nodes: &[(&str, SocketAddr)], timeout_ms: u64, resend_unknown: bool) -> RaftClient {
    let config = RaftClientConfig {
        client_id: "t".into(),
        timeout_ms,
        resend_unknown,
        ..RaftClientConfig::default()
    };
    RaftClient::new(
        nodes.iter().map(|(id, addr)| (id.to_string(), *addr)),
        config,
    )
    .expect("client")
}

async fn outcome_against(behavior: Behavior, inv: &Invocation) -> Outcome {
    let server = TestServer::start(behavior).await;
    client(&[("n1", server.addr)], 300).invoke(0, inv).await
}

fn write() -> Invocation {
    Invocation::write("k", json!(4))
}

fn read() -> Invocation {
    Invocation::read("k")
}

fn respond(status: u16, body: &'static str) -> Behavior {
    Behavior::Respond { status, body }
}

#[tokio::test]
async fn each_status_is_classified() {
    let cas = Invocation::cas("k", json!(1), json!(2));
    let cases = [
        (
            write(),
            respond(200, r#"{"ok":true,"value":4}"#),
            Outcome::Ok(json!(4)),
        ),
        (
            read(),
            respond(200, r#"{"ok":true,"value":9}"#),
            Outcome::Ok(json!(9)),
        ),
        (
            cas.clone(),
            respond(200, r#"{"ok":true,"value":2}"#),
            Outcome::Ok(json!([1, 2])),
        ),
        (
            cas,
            respond(409, r#"{"error":"cas-mismatch","current":3}"#),
            Outcome::Fail("cas-mismatch".into()),
        ),
        (
            write(),
            respond(503, r#"{"error":"not-leader","leader":null}"#),
            Outcome::Fail("not-leader".into()),
        ),
        (
            write(),
            respond(400, r#"{"error":"bad-request","detail":"x"}"#),
            Outcome::Fail("bad-request".into()),
        ),
        (
            write(),
            respond(504, r#"{"error":"timeout"}"#),
            Outcome::Info("timeout".into()),
        ),
        (
            write(),
            respond(500, r#"{"error":"boom"}"#),
            Outcome::Info("server-error".into()),
        ),
        (
            read(),
            respond(500, r#"{"error":"boom"}"#),
            Outcome::Fail("server-error".into()),
        ),
    ];
    for (inv, behavior, expected) in cases {
        assert_eq!(outcome_against(behavior, &inv).await, expected, "{inv:?}");
    }
}

#[tokio::test]
async fn a_connection_closed_after_sending_is_unknown() {
    assert_eq!(
        outcome_against(Behavior::CloseAfterRead, &write()).await,
        Outcome::Info("reset".into())
    );
    assert_eq!(
        outcome_against(Behavior::CloseAfterRead, &read()).await,
        Outcome::Fail("reset".into())
    );
}

#[tokio::test]
async fn a_node_that_never_answers_times_out_as_unknown() {
    let server = TestServer::start(Behavior::NeverAnswer).await;
    let client = client(&[("n1", server.addr)], 200);
    let outcome = tokio::time::timeout(Duration::from_secs(10), client.invoke(0, &write()))
        .await
        .expect("the client's own timeout ends the operation");
    assert_eq!(outcome, Outcome::Info("timeout".into()));
    let received = server.received();
    assert_eq!(
        received.len(),
        2,
        "the request and its resend reached the server"
    );
    assert_eq!(
        received[0], received[1],
        "a resend is the same request, same id"
    );
}

/// An address where nothing listens: bind a port, then free it.
async fn refusing_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

#[tokio::test]
async fn connection_refused_is_a_definite_failure() {
    let client = client(&[("n1", refusing_addr().await)], 300);
    assert_eq!(
        client.invoke(0, &write()).await,
        Outcome::Fail("connection-refused".into())
    );
}

#[tokio::test]
async fn not_leader_redirects_once_to_the_named_leader_and_remembers_it() {
    let follower = TestServer::start(respond(503, r#"{"error":"not-leader","leader":"n2"}"#)).await;
    let leader = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client(&[("n1", follower.addr), ("n2", leader.addr)], 500);
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    assert_eq!(client.guess_of(0), "n2");
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    assert_eq!(
        follower.received().len(),
        1,
        "the second op went straight to the leader"
    );
    let at_leader = leader.received();
    assert_eq!(at_leader.len(), 2);
    // The retried request is the same request: same id.
    assert_eq!(follower.received()[0], at_leader[0]);
}

#[tokio::test]
async fn refused_moves_on_to_the_next_node() {
    let leader = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client(&[("n1", refusing_addr().await), ("n2", leader.addr)], 500);
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    assert_eq!(client.guess_of(0), "n2");
}

#[tokio::test]
async fn an_unknown_write_is_resent_with_the_same_id_to_the_next_node() {
    let lost = TestServer::start(Behavior::CloseAfterRead).await;
    let other = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client(&[("n1", lost.addr), ("n2", other.addr)], 500);
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    let resent = &other.received()[0];
    let first = lost.received()[0].as_str().unwrap().to_string();
    let client_id = resent["client"].as_str().unwrap();
    let seq = resent["seq"].as_u64().unwrap();
    assert!(
        first.contains(&format!(r#""client":"{client_id}""#))
            && first.contains(&format!(r#""seq":{seq}"#)),
        "the resend carries the first attempt's id: {first} vs {resent}"
    );
}

#[tokio::test]
async fn a_refusal_after_an_unknown_attempt_is_unknown_not_a_failure() {
    let lost = TestServer::start(Behavior::CloseAfterRead).await;
    let candidate =
        TestServer::start(respond(503, r#"{"error":"not-leader","leader":null}"#)).await;
    let client = client(&[("n1", lost.addr), ("n2", candidate.addr)], 500);
    assert_eq!(
        client.invoke(0, &write()).await,
        Outcome::Info("reset".into()),
        "the first attempt may have taken effect"
    );
    assert_eq!(candidate.received().len(), 1);
}

#[tokio::test]
async fn the_stores_own_answer_for_the_id_settles_a_resent_cas() {
    let lost = TestServer::start(Behavior::CloseAfterRead).await;
    let leader = TestServer::start(respond(409, r#"{"error":"cas-mismatch","current":7}"#)).await;
    let client = client(&[("n1", lost.addr), ("n2", leader.addr)], 500);
    let cas = Invocation::cas("k", json!(4), json!(5));
    assert_eq!(
        client.invoke(0, &cas).await,
        Outcome::Fail("cas-mismatch".into())
    );
}

#[tokio::test]
async fn reads_are_never_resent_after_a_timeout() {
    let paused = TestServer::start(Behavior::NeverAnswer).await;
    let live = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client(&[("n1", paused.addr), ("n2", live.addr)], 200);
    assert_eq!(
        client.invoke(0, &read()).await,
        Outcome::Fail("timeout".into())
    );
    assert!(live.received().is_empty());
}

#[tokio::test]
async fn gets_and_appends_use_the_stores_read_and_append() {
    let leader = TestServer::start(respond(200, r#"{"ok":true,"value":" 1 2"}"#)).await;
    let client = client(&[("n1", leader.addr)], 500);
    assert_eq!(
        client.invoke(0, &Invocation::get("a1")).await,
        Outcome::Ok(json!(" 1 2"))
    );
    assert_eq!(
        client.invoke(0, &Invocation::append("a1", " 3")).await,
        Outcome::Ok(json!(" 3")),
        "an append's ok value is its own suffix"
    );
    let received = leader.received();
    assert_eq!(received[0], json!({"op": "read", "key": "a1"}));
    assert_eq!(received[1]["op"], "append");
    assert_eq!(received[1]["value"], " 3");
    assert!(received[1]["seq"].is_u64(), "appends carry request ids");
    assert_eq!(
        client
            .invoke(0, &Invocation::append("a1", json!(3).to_string()))
            .await,
        Outcome::Ok(json!("3"))
    );
    let not_a_string = Invocation {
        f: "append".into(),
        key: Some("a1".into()),
        value: json!(3),
    };
    assert_eq!(
        client.invoke(0, &not_a_string).await,
        Outcome::Fail("bad-invocation".into())
    );
}

#[tokio::test]
async fn without_resend_nothing_is_retried_once_the_outcome_is_unknown() {
    let lost = TestServer::start(Behavior::CloseAfterRead).await;
    let other = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client_without_resend(&[("n1", lost.addr), ("n2", other.addr)], 500);
    assert_eq!(
        client.invoke(0, &write()).await,
        Outcome::Info("reset".into())
    );
    assert!(
        other.received().is_empty(),
        "an unknown op must not be sent again"
    );
}

#[tokio::test]
async fn writes_carry_request_ids_and_sequential_ops_reuse_one_connection() {
    let server = TestServer::start(respond(200, r#"{"ok":true,"value":1}"#)).await;
    let client = client(&[("n1", server.addr)], 500);
    for _ in 0..5 {
        assert!(client.invoke(0, &write()).await.is_ok());
    }
    assert!(client.invoke(0, &read()).await.is_ok());
    let received = server.received();
    let ids: Vec<(Value, Value)> = received[..5]
        .iter()
        .map(|r| (r["client"].clone(), r["seq"].clone()))
        .collect();
    let seqs: Vec<u64> = ids
        .iter()
        .map(|(_, s)| s.as_u64().expect("seq is a number"))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5], "one session, increasing seq");
    assert!(
        ids.iter()
            .all(|(c, _)| c == &ids[0].0 && c.as_str().is_some_and(|s| s.starts_with("t-")))
    );
    assert_eq!(received[0]["op"], "write");
    assert_eq!(received[0]["value"], 4);
    assert_eq!(received[5], json!({"op": "read", "key": "k"}));
    assert_eq!(server.connections.load(Ordering::SeqCst), 1, "keep-alive");
}

#[tokio::test]
async fn concurrent_writes_never_share_a_request_id() {
    let server = TestServer::start(respond(200, r#"{"ok":true,"value":1}"#)).await;
    let client = Arc::new(client(&[("n1", server.addr)], 2000));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    assert!(client.invoke(0, &write()).await.is_ok());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    let mut ids: Vec<String> = server
        .received()
        .iter()
        .map(|r| format!("{}/{}", r["client"], r["seq"]))
        .collect();
    assert_eq!(ids.len(), 160);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 160, "every request id is unique");
}

#[tokio::test]
async fn a_server_closing_keep_alive_connections_is_not_an_error() {
    let server = TestServer::start(Behavior::RespondThenClose {
        status: 200,
        body: r#"{"ok":true,"value":4}"#,
    })
    .await;
    let client = client(&[("n1", server.addr)], 500);
    for _ in 0..5 {
        assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    }
}

#[tokio::test]
async fn invalid_invocations_fail_without_sending() {
    let server = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client(&[("n1", server.addr)], 500);
    let no_key = Invocation {
        f: "write".into(),
        key: None,
        value: json!(1),
    };
    let bad_cas = Invocation {
        f: "cas".into(),
        key: Some("k".into()),
        value: json!(1),
    };
    let unknown = Invocation {
        f: "increment".into(),
        key: Some("k".into()),
        value: json!(1),
    };
    assert_eq!(
        client.invoke(0, &no_key).await,
        Outcome::Fail("bad-invocation".into())
    );
    assert_eq!(
        client.invoke(0, &bad_cas).await,
        Outcome::Fail("bad-invocation".into())
    );
    assert_eq!(
        client.invoke(0, &unknown).await,
        Outcome::Fail("unsupported-function".into())
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn status_is_parsed() {
    let body = r#"{"id":"n1","role":"leader","term":3,"leader":"n1","commit_index":10,"applied_index":9,"last_log_index":11}"#;
    let server = TestServer::start(respond(200, body)).await;
    let status = client(&[("n1", server.addr)], 500)
        .status("n1")
        .await
        .expect("status");
    assert_eq!(
        (status.role.as_str(), status.term, status.applied_index),
        ("leader", 3, 9)
    );
    assert_eq!(status.leader.as_deref(), Some("n1"));
}

#[tokio::test]
async fn after_a_timeout_the_next_operation_starts_at_another_node() {
    let paused = TestServer::start(Behavior::NeverAnswer).await;
    let live = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client_without_resend(&[("n1", paused.addr), ("n2", live.addr)], 200);
    // Thread 0's home node is n1.
    assert_eq!(
        client.invoke(0, &write()).await,
        Outcome::Info("timeout".into())
    );
    assert!(
        live.received().is_empty(),
        "an unknown op is not sent again"
    );
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    assert_eq!(
        paused.received().len(),
        1,
        "the second op did not wait on n1 again"
    );
}

#[tokio::test]
async fn each_thread_starts_at_its_home_node() {
    let n1 = TestServer::start(respond(200, r#"{"ok":true,"value":1}"#)).await;
    let n2 = TestServer::start(respond(200, r#"{"ok":true,"value":2}"#)).await;
    let n3 = TestServer::start(respond(200, r#"{"ok":true,"value":3}"#)).await;
    let client = client(&[("n1", n1.addr), ("n2", n2.addr), ("n3", n3.addr)], 500);
    for thread in 0..6 {
        let home = thread % 3 + 1;
        assert_eq!(client.guess_of(thread), format!("n{home}"));
        assert_eq!(
            client.invoke(thread, &read()).await,
            Outcome::Ok(json!(home)),
            "thread {thread} reads from its home node"
        );
    }
    let counts = [&n1, &n2, &n3].map(|server| server.received().len());
    assert_eq!(counts, [2, 2, 2]);
}

#[tokio::test]
async fn a_thread_follows_a_not_leader_hint_for_itself_only() {
    let follower = TestServer::start(respond(503, r#"{"error":"not-leader","leader":"n2"}"#)).await;
    let leader = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client(&[("n1", follower.addr), ("n2", leader.addr)], 500);
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    assert_eq!(client.guess_of(0), "n2");
    assert_eq!(
        client.guess_of(2),
        "n1",
        "thread 2 has not learnt anything yet"
    );
    assert_eq!(client.invoke(2, &write()).await, Outcome::Ok(json!(4)));
    assert_eq!(
        follower.received().len(),
        2,
        "each thread was redirected once"
    );
    assert_eq!(leader.received().len(), 2);
}

#[tokio::test]
async fn a_refusal_naming_no_leader_moves_that_threads_next_op_on() {
    let candidate =
        TestServer::start(respond(503, r#"{"error":"not-leader","leader":null}"#)).await;
    let leader = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client(&[("n1", candidate.addr), ("n2", leader.addr)], 500);
    assert_eq!(
        client.invoke(0, &write()).await,
        Outcome::Fail("not-leader".into())
    );
    assert!(leader.received().is_empty(), "no leader named: the op ends");
    assert_eq!(client.guess_of(0), "n2");
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
}

/// A thread bound to an unresponsive node (an isolated or paused leader) leaves it after a
/// timeout; the other threads' guesses are their own: a thread whose home is that node
/// still tries it. This is what lets some threads keep talking to a deposed leader while
/// others already use the new one.
#[tokio::test]
async fn a_timeout_moves_only_the_thread_that_saw_it() {
    let paused = TestServer::start(Behavior::NeverAnswer).await;
    let live = TestServer::start(respond(200, r#"{"ok":true,"value":4}"#)).await;
    let client = client_without_resend(&[("n1", paused.addr), ("n2", live.addr)], 200);
    assert_eq!(
        client.invoke(0, &write()).await,
        Outcome::Info("timeout".into())
    );
    assert_eq!(client.guess_of(0), "n2");
    assert_eq!(client.invoke(0, &write()).await, Outcome::Ok(json!(4)));
    assert_eq!(client.guess_of(2), "n1");
    assert_eq!(
        client.invoke(2, &write()).await,
        Outcome::Info("timeout".into()),
        "thread 2 still starts at its home node"
    );
    assert_eq!(paused.received().len(), 2);
    assert_eq!(live.received().len(), 1);
}
