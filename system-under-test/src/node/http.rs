//! The node's HTTP/1.1 server (hyper 1): `POST /kv` for clients, `GET /status`, and
//! `POST /raft` for peers. Handlers only parse, validate and hand work to the driver over
//! bounded channels; every wait for an answer has the request timeout.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::{ClientReply, DriverInput};
use crate::http::{
    HttpResponse, bad_request, json_response, method_not_allowed, not_found, read_body,
};
use crate::raft::types::{Envelope, NodeId};
use crate::state_machine::{Command, MicroOp, RequestId, micro_op_key};

const MAX_KV_BODY_BYTES: usize = 1024 * 1024;
const MAX_RAFT_BODY_BYTES: usize = 256 * 1024 * 1024;

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
    Append {
        key: String,
        value: String,
        client: Option<String>,
        seq: Option<u64>,
    },
    /// Micro-ops `[f, k, v]` (`append`, `w`, `r`), applied atomically in one entry.
    Txn {
        ops: Vec<MicroOp>,
        client: Option<String>,
        seq: Option<u64>,
    },
}

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) -> std::io::Result<()> {
    crate::http::serve(
        listener,
        Arc::new(move |request| handle(request, state.clone())),
    )
    .await
}

async fn handle(request: Request<Incoming>, state: Arc<HttpState>) -> HttpResponse {
    match (request.method(), request.uri().path()) {
        (&Method::POST, "/kv") => handle_kv(request, &state).await,
        (&Method::GET, "/status") => {
            let status = state.status.borrow().clone();
            json_response(StatusCode::OK, &json!(status))
        }
        (&Method::POST, "/raft") => handle_raft(request, &state).await,
        (_, "/kv" | "/status" | "/raft") => method_not_allowed(),
        _ => not_found(),
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
        KvRequest::Append {
            key,
            value,
            client,
            seq,
        } => Command::Append {
            key,
            value,
            request: request_id(client, seq)?,
        },
        KvRequest::Txn { ops, client, seq } => {
            if ops.is_empty() {
                return Err("a txn needs at least one micro-op".into());
            }
            if let Some(MicroOp(_, key, _)) = ops.iter().find(|op| micro_op_key(&op.1).is_none()) {
                return Err(format!("a micro-op's key is a string or an integer, not {key}"));
            }
            Command::Txn {
                ops,
                request: request_id(client, seq)?,
            }
        }
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
        ClientReply::NotAString(current) => json_response(
            StatusCode::CONFLICT,
            &json!({"error": "not-a-string", "current": current}),
        ),
        ClientReply::TxnAborted(reason) => json_response(
            StatusCode::CONFLICT,
            &json!({"error": "txn-aborted", "reason": reason}),
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
