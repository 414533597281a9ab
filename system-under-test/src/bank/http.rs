//! HTTP plumbing shared by the coordinator and the participants: a small hyper 1 server
//! that reads a bounded JSON body (with a timeout) and hands `(method, path, body)` to a
//! node's handler, JSON answers and errors, and [`JsonClient`], the outgoing client with a
//! timeout on every request (also used by the tests as a bank client).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a client may take to send its headers or body.
const CLIENT_IO_TIMEOUT: Duration = Duration::from_secs(10);

pub type HttpResponse = Response<Full<Bytes>>;

/// A request as handed to a node: method, path and the whole body.
#[derive(Debug)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub body: Bytes,
}

impl ApiRequest {
    /// Parses the body as `T`, or says what is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, BadRequest> {
        serde_json::from_slice(&self.body).map_err(|e| BadRequest(e.to_string()))
    }
}

/// A request refused as malformed (answered 400 with this detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl BadRequest {
    pub fn into_response(self) -> HttpResponse {
        bad_request(self.0)
    }
}

/// A node's request handler.
pub trait Api: Send + Sync + 'static {
    fn handle(self: Arc<Self>, request: ApiRequest) -> impl Future<Output = HttpResponse> + Send;
}

pub fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

pub fn ok_json(body: &impl Serialize) -> HttpResponse {
    json_response(StatusCode::OK, &json!(body))
}

pub fn bad_request(detail: impl std::fmt::Display) -> HttpResponse {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad-request", "detail": detail.to_string()}),
    )
}

pub fn not_found() -> HttpResponse {
    json_response(StatusCode::NOT_FOUND, &json!({"error": "not-found"}))
}

pub fn method_not_allowed() -> HttpResponse {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": "method-not-allowed"}),
    )
}

/// Where a node listens: `host:port`, or a bare port meaning 127.0.0.1.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    match text.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => text
            .parse()
            .map_err(|e| format!("`{text}` is neither a port nor host:port: {e}")),
    }
}

/// Accepts connections until the listener fails.
pub async fn serve<A: Api>(listener: TcpListener, api: Arc<A>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
        }
        let api = api.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| dispatch(request, api.clone()));
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

async fn dispatch<A: Api>(
    request: Request<Incoming>,
    api: Arc<A>,
) -> Result<HttpResponse, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES);
    let body = match tokio::time::timeout(CLIENT_IO_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) => return Ok(bad_request(format!("unreadable body: {error}"))),
        Err(_) => return Ok(bad_request("body not received in time")),
    };
    Ok(api.handle(ApiRequest { method, path, body }).await)
}

/// Why an outgoing request has no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// The connection could not be made: the request was definitely not sent.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// No complete answer in time: the request may or may not have been handled.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Sent, then the exchange failed (reset, unreadable answer): unknown outcome.
    #[error("request failed: {0}")]
    Failed(String),
}

/// An answer: status and JSON body (`null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

/// An HTTP/JSON client with keep-alive connections and a timeout on every request.
#[derive(Clone)]
pub struct JsonClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl JsonClient {
    pub fn new(timeout: Duration) -> JsonClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        JsonClient { client, timeout }
    }

    pub async fn get(&self, address: &str, path: &str) -> Result<Reply, RpcError> {
        self.call(Method::GET, address, path, Bytes::new()).await
    }

    pub async fn post(
        &self,
        address: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Reply, RpcError> {
        let body = serde_json::to_vec(body).expect("request bodies always serialize");
        self.call(Method::POST, address, path, Bytes::from(body))
            .await
    }

    async fn call(
        &self,
        method: Method,
        address: &str,
        path: &str,
        body: Bytes,
    ) -> Result<Reply, RpcError> {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{address}{path}"))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| RpcError::Failed(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    RpcError::Connect(e.to_string())
                } else {
                    RpcError::Failed(e.to_string())
                }
            })?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| RpcError::Failed(e.to_string()))?
                .to_bytes();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok(Reply { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(RpcError::Timeout(self.timeout)))
    }
}
