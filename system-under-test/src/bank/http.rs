//! HTTP plumbing shared by the coordinator and the participants: a small hyper 1 server
//! that reads a bounded JSON body (with a timeout) and hands `(method, path, body)` to a
//! node's handler, JSON answers and errors, and [`JsonClient`], the outgoing client with a
//! timeout on every request (also used by the tests as a bank client).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 * 1024;

use crate::http::read_body;
pub use crate::http::{
    HttpResponse, bad_request, json_response, method_not_allowed, not_found, parse_listen,
};

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

pub fn ok_json(body: &impl Serialize) -> HttpResponse {
    json_response(StatusCode::OK, &json!(body))
}

/// Accepts connections until the listener fails, handing each request to `api`.
pub async fn serve<A: Api>(listener: TcpListener, api: Arc<A>) -> std::io::Result<()> {
    crate::http::serve(
        listener,
        Arc::new(move |request| dispatch(request, api.clone())),
    )
    .await
}

async fn dispatch<A: Api>(request: Request<Incoming>, api: Arc<A>) -> HttpResponse {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    match read_body(request, MAX_BODY_BYTES).await {
        Ok(body) => api.handle(ApiRequest { method, path, body }).await,
        Err(refused) => refused,
    }
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
