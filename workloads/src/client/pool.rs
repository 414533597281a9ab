//! A small pool of keep-alive HTTP/1 connections to one node, that says precisely whether a
//! request may have been sent.
//!
//! Written on hyper's low-level `client::conn::http1` rather than hyper-util's pooled client
//! because classification needs facts the pooled client hides: whether the TCP connect failed
//! (nothing sent: a definite failure) and whether a request handed to a connection came back
//! unsent (hyper returns it from `try_send_request` when the connection closed before it was
//! written). Everything runs under one deadline; the connection task is aborted when its
//! connection is dropped, so a request that timed out against a paused node leaves nothing
//! behind.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, body::Incoming, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

use super::classify::{NotSent, Transport};

/// Answers larger than this are a broken peer, not a store reply.
const MAX_BODY_BYTES: usize = 1 << 20;

/// How many times a request that a connection handed back unsent is tried again on a fresh
/// connection before giving up (as a definite failure: nothing was sent).
const MAX_UNSENT_RETRIES: usize = 2;

/// One open connection: the request handle and the task that drives the socket.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Closing our side is the only way to stop waiting on a peer that never answers.
        self.driver.abort();
    }
}

/// Keep-alive connections to one address; at most `max_idle` are kept between requests.
pub struct NodePool {
    addr: SocketAddr,
    max_idle: usize,
    idle: Mutex<Vec<Conn>>,
}

impl NodePool {
    pub fn new(addr: SocketAddr, max_idle: usize) -> Self {
        Self {
            addr,
            max_idle,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one request and waits for its complete answer until `deadline`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        deadline: Instant,
    ) -> Transport {
        self.send_with_headers(method, path, body, &[], deadline)
            .await
    }

    /// [`NodePool::send`] with extra request headers (etcd's gateway reads gRPC metadata
    /// from `Grpc-Metadata-*` headers).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        extra_headers: &[(HeaderName, HeaderValue)],
        deadline: Instant,
    ) -> Transport {
        let mut request = self.build_request(method, path, body);
        for (name, value) in extra_headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        for attempt in 0..=MAX_UNSENT_RETRIES {
            // After a pooled connection handed the request back, only fresh ones are used.
            let pooled = if attempt == 0 { self.checkout() } else { None };
            let mut conn = match pooled {
                Some(conn) => conn,
                None => match self.connect(deadline).await {
                    Ok(conn) => conn,
                    Err(reason) => return Transport::NotSent(reason),
                },
            };
            match timeout_at(deadline, conn.sender.try_send_request(request)).await {
                Err(_elapsed) => return Transport::TimedOut,
                Ok(Ok(response)) => return self.read_answer(conn, response, deadline).await,
                Ok(Err(mut err)) => match err.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Transport::Broken(err.into_error().to_string()),
                },
            }
        }
        Transport::NotSent(NotSent::ConnectFailed(
            "connection closed before sending".into(),
        ))
    }

    fn build_request(&self, method: Method, path: &str, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = path
            .parse()
            .unwrap_or_else(|_| hyper::Uri::from_static("/"));
        let headers = request.headers_mut();
        if let Ok(host) = header::HeaderValue::from_str(&self.addr.to_string()) {
            headers.insert(header::HOST, host);
        }
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        request
    }

    async fn read_answer(
        &self,
        conn: Conn,
        response: Response<Incoming>,
        deadline: Instant,
    ) -> Transport {
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES);
        match timeout_at(deadline, body.collect()).await {
            Err(_elapsed) => Transport::TimedOut,
            Ok(Err(err)) => Transport::Broken(err.to_string()),
            Ok(Ok(collected)) => {
                self.checkin(conn);
                Transport::Answered {
                    status,
                    body: collected.to_bytes(),
                }
            }
        }
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        // A panic while holding the lock cannot leave the Vec inconsistent: use it anyway.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn checkout(&self) -> Option<Conn> {
        let mut idle = self.lock_idle();
        while let Some(conn) = idle.pop() {
            if !conn.sender.is_closed() && conn.sender.is_ready() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.lock_idle();
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    async fn connect(&self, deadline: Instant) -> Result<Conn, NotSent> {
        let stream = match timeout_at(deadline, TcpStream::connect(self.addr)).await {
            Err(_elapsed) => return Err(NotSent::ConnectTimeout),
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(NotSent::Refused);
            }
            Ok(Err(err)) => return Err(NotSent::ConnectFailed(format!("{:?}", err.kind()))),
            Ok(Ok(stream)) => stream,
        };
        // Small JSON requests: do not let Nagle hold them back.
        stream
            .set_nodelay(true)
            .map_err(|err| NotSent::ConnectFailed(format!("{:?}", err.kind())))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| NotSent::ConnectFailed(err.to_string()))?;
        // The connection's own error, if any, reaches the caller through the request's
        // result (reset, unsent); there is nothing more to report here.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { sender, driver })
    }
}
