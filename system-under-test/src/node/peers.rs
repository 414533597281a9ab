//! Outgoing peer traffic: one sender task per peer with a bounded queue. The task takes
//! everything queued, sends it as one `POST /raft` (a JSON array of envelopes) over a
//! keep-alive connection with a timeout, and repeats, so at most one request per peer is
//! in flight and messages to a peer stay in order. A full queue drops messages: Raft
//! tolerates loss, and a paused or partitioned peer must not make the leader buffer
//! without bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use crate::raft::types::{Envelope, NodeId};

/// Messages queued for one peer before new ones are dropped.
const PEER_QUEUE_CAPACITY: usize = 4096;
/// Envelopes in one `POST /raft` at most.
const MAX_ENVELOPES_PER_REQUEST: usize = 512;

/// Hands envelopes to the per-peer sender tasks.
#[derive(Clone)]
pub struct PeerRouter {
    queues: Arc<HashMap<NodeId, mpsc::Sender<Envelope>>>,
}

impl PeerRouter {
    /// Queues an envelope for its destination; drops it if that queue is full.
    pub fn send(&self, envelope: Envelope) {
        let Some(queue) = self.queues.get(&envelope.to) else {
            tracing::error!(to = %envelope.to, "message for an unknown peer");
            return;
        };
        if let Err(error) = queue.try_send(envelope) {
            tracing::debug!(%error, "peer queue full or closed; message dropped");
        }
    }
}

/// Starts one sender task per peer (`id -> host:port`) and returns the router.
pub fn start_peer_senders(peers: &[(NodeId, String)], rpc_timeout: Duration) -> PeerRouter {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(rpc_timeout));
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    let mut queues = HashMap::new();
    for (id, address) in peers {
        let (sender, receiver) = mpsc::channel(PEER_QUEUE_CAPACITY);
        queues.insert(id.clone(), sender);
        let link = PeerLink {
            peer: id.clone(),
            url: format!("http://{address}/raft"),
            client: client.clone(),
            rpc_timeout,
            healthy: true,
        };
        tokio::spawn(link.run(receiver));
    }
    PeerRouter {
        queues: Arc::new(queues),
    }
}

struct PeerLink {
    peer: NodeId,
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    rpc_timeout: Duration,
    /// Whether the last request went through; failures are logged on the transition only,
    /// so a long partition does not flood the log.
    healthy: bool,
}

impl PeerLink {
    async fn run(mut self, mut queue: mpsc::Receiver<Envelope>) {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_ENVELOPES_PER_REQUEST {
                match queue.try_recv() {
                    Ok(envelope) => batch.push(envelope),
                    Err(_) => break,
                }
            }
            let outcome = self.post(&batch).await;
            self.record(outcome, batch.len());
        }
    }

    async fn post(&self, batch: &[Envelope]) -> Result<(), String> {
        let body = serde_json::to_vec(batch).map_err(|e| e.to_string())?;
        let request = Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            // Read the body to the end so the connection can be reused.
            response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("answered {status}"))
            }
        };
        match tokio::time::timeout(self.rpc_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.rpc_timeout)),
        }
    }

    fn record(&mut self, outcome: Result<(), String>, envelopes: usize) {
        match outcome {
            Ok(()) if !self.healthy => {
                tracing::info!(peer = %self.peer, "peer reachable again");
                self.healthy = true;
            }
            Ok(()) => {}
            Err(error) if self.healthy => {
                tracing::warn!(peer = %self.peer, %error, envelopes, "peer unreachable; messages dropped");
                self.healthy = false;
            }
            Err(error) => {
                tracing::debug!(peer = %self.peer, %error, envelopes, "peer still unreachable");
            }
        }
    }
}
