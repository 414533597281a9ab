//! HTTP plumbing shared by every node of the system under test (the Raft store and the
//! bank's coordinator and participants): the hyper 1 accept loop with header and body
//! timeouts, bounded body reading, JSON answers and errors, the command-line parsers
//! for addresses, and the process plumbing (runtime, listener, their errors) every node
//! shares.

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
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// How long a client may take to send its headers or body.
pub const CLIENT_IO_TIMEOUT: Duration = Duration::from_secs(10);

pub type HttpResponse = Response<Full<Bytes>>;

/// Why a node process could not start serving, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Server(std::io::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Binds a node's listen address.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen { address, source })
}

/// Runs a node's async main on the runtime every node uses (two workers: these clusters
/// share a small machine), with tracing to stderr set up first. For plain `main`s.
pub fn run_node_process<E: From<ServeError>>(
    main: impl Future<Output = Result<(), E>>,
) -> Result<(), E> {
    crate::node::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(main)
}

/// Accepts connections until the listener fails, answering each request with `handler`.
pub async fn serve<H, F>(listener: TcpListener, handler: Arc<H>) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    loop {
        let (stream, peer) = listener.accept().await?;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "could not set TCP_NODELAY");
        }
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let answer = handler(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
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

/// Reads the whole body, at most `limit_bytes`, within [`CLIENT_IO_TIMEOUT`]; a 400 answer
/// otherwise.
pub async fn read_body(
    request: Request<Incoming>,
    limit_bytes: usize,
) -> Result<Bytes, HttpResponse> {
    let body = Limited::new(request.into_body(), limit_bytes);
    match tokio::time::timeout(CLIENT_IO_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(bad_request(format!("unreadable body: {error}"))),
        Err(_) => Err(bad_request("body not received in time")),
    }
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

/// `id=host:port`, as in `--peers` and `--participants`.
pub fn parse_named_addr(text: &str) -> Result<(String, String), String> {
    let (id, address) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not id=host:port"))?;
    if id.is_empty() || address.parse::<SocketAddr>().is_err() {
        return Err(format!("`{text}` is not id=host:port"));
    }
    Ok((id.to_string(), address.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_listen("7001").unwrap(),
            "127.0.0.1:7001".parse().unwrap()
        );
        assert_eq!(
            parse_listen("127.0.0.2:9").unwrap(),
            "127.0.0.2:9".parse().unwrap()
        );
        assert!(parse_listen("localhost").is_err());
        assert_eq!(
            parse_named_addr("n2=127.0.0.1:7002").unwrap(),
            ("n2".to_string(), "127.0.0.1:7002".to_string())
        );
        for bad in ["n2", "=127.0.0.1:1", "n2=nowhere"] {
            assert!(parse_named_addr(bad).is_err(), "{bad}");
        }
    }
}
