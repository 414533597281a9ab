//! The node's HTTP/1.1 server (hyper 1): `POST /kv` for clients, `GET /status`, and
//! `POST /raft` for peers. Handlers only parse, validate and hand work to the driver over
//! bounded channels; every wait for an answer has the request timeout.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::{ClientReply, DriverInput};
use crate::raft::types::{Envelope, NodeId};
use crate::state_machine::{Command, RequestId};

const MAX_KV_BODY_BYTES: usize = 1024 * 1024;
const MAX_RAFT_BODY_BYTES: usize = 256 * 1024 * 1024;
/// How long a client may take to send its headers or body.
const CLIENT_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What `GET /status` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub id: NodeId,
    pub role: &'static str,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
}

/// Shared by all connections.
pub struct HttpState {
    pub id: NodeId,
    pub peers: HashSet<NodeId>,
    pub inputs: mpsc::Sender<DriverInput>,
    pub status: watch::Receiver<Status>,
    pub request_timeout: Duration,
}

/// A client request body for `POST /kv`.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum KvRequest {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: Value,
        client: Option<String>,
        seq: Option<u64>,
    },
    Cas {
        key: String,
        from: Value,
        to: Value,
        client: Option<String>,
        seq: Option<u64>,
    },
}

type HttpResponse = Response<Full<Bytes>>;

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn bad_request(detail: impl std::fmt::Display) -> HttpResponse {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad-request", "detail": detail.to_string()}),
    )
}

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
        }
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, state.clone()));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(CLIENT_IO_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

/// Where the server listens: an address, or a bare port meaning 127.0.0.1.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse()
        .map_err(|e| format!("`{text}` is not host:port: {e}"))
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<HttpState>,
) -> Result<HttpResponse, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::POST, "/kv") => handle_kv(request, &state).await,
        (&Method::GET, "/status") => {
            let status = state.status.borrow().clone();
            json_response(StatusCode::OK, &json!(status))
        }
        (&Method::POST, "/raft") => handle_raft(request, &state).await,
        (_, "/kv" | "/status" | "/raft") => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method-not-allowed"}),
        ),
        _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not-found"})),
    };
    Ok(response)
}

async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, HttpResponse> {
    let body = Limited::new(request.into_body(), limit);
    match tokio::time::timeout(CLIENT_IO_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(bad_request(format!("unreadable body: {error}"))),
        Err(_) => Err(bad_request("body not received in time")),
    }
}

async fn handle_kv(request: Request<Incoming>, state: &HttpState) -> HttpResponse {
    let body = match read_body(request, MAX_KV_BODY_BYTES).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let parsed: KvRequest = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(error) => return bad_request(error),
    };
    let (reply, answer) = oneshot::channel();
    let input = match into_driver_input(parsed, reply) {
        Ok(input) => input,
        Err(detail) => return bad_request(detail),
    };
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let outcome = tokio::time::timeout_at(deadline, async {
        if state.inputs.send(input).await.is_err() {
            return ClientReply::Unknown("node shutting down".into());
        }
        answer
            .await
            .unwrap_or_else(|_| ClientReply::Unknown("request dropped by the node".into()))
    })
    .await
    .unwrap_or(ClientReply::Timeout);
    client_response(outcome)
}

fn request_id(client: Option<String>, seq: Option<u64>) -> Result<Option<RequestId>, String> {
    match (client, seq) {
        (Some(client), Some(seq)) => Ok(Some(RequestId { client, seq })),
        (None, None) => Ok(None),
        _ => Err("`client` and `seq` go together".into()),
    }
}

fn into_driver_input(
    request: KvRequest,
    reply: oneshot::Sender<ClientReply>,
) -> Result<DriverInput, String> {
    let command = match request {
        KvRequest::Read { key } => return Ok(DriverInput::Read { key, reply }),
        KvRequest::Write {
            key,
            value,
            client,
            seq,
        } => Command::Write {
            key,
            value,
            request: request_id(client, seq)?,
        },
        KvRequest::Cas {
            key,
            from,
            to,
            client,
            seq,
        } => Command::Cas {
            key,
            from,
            to,
            request: request_id(client, seq)?,
        },
    };
    Ok(DriverInput::Propose { command, reply })
}

fn client_response(reply: ClientReply) -> HttpResponse {
    match reply {
        ClientReply::Ok(value) => {
            json_response(StatusCode::OK, &json!({"ok": true, "value": value}))
        }
        ClientReply::CasMismatch(current) => json_response(
            StatusCode::CONFLICT,
            &json!({"error": "cas-mismatch", "current": current}),
        ),
        ClientReply::NotLeader(leader) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "not-leader", "leader": leader}),
        ),
        ClientReply::Timeout => {
            json_response(StatusCode::GATEWAY_TIMEOUT, &json!({"error": "timeout"}))
        }
        ClientReply::Unknown(detail) => {
            json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": detail}))
        }
    }
}

async fn handle_raft(request: Request<Incoming>, state: &HttpState) -> HttpResponse {
    let body = match read_body(request, MAX_RAFT_BODY_BYTES).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let envelopes: Vec<Envelope> = match serde_json::from_slice(&body) {
        Ok(envelopes) => envelopes,
        Err(error) => return bad_request(error),
    };
    if let Some(bad) = envelopes
        .iter()
        .find(|e| e.to != state.id || !state.peers.contains(&e.from))
    {
        return bad_request(format!(
            "message from `{}` to `{}` does not belong here",
            bad.from, bad.to
        ));
    }
    match state.inputs.try_send(DriverInput::Peer(envelopes)) {
        Ok(()) => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Full::new(Bytes::new()))
            .expect("static response parts are valid"),
        Err(_) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "overloaded"}),
        ),
    }
}
