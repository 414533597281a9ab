//! The `proxy` network: a controller-owned TCP proxy on every directed node-to-node link.
//!
//! Node `i` reaches node `j` through its own listener `127.0.0.1:P_ij` (given to `i` in
//! `--peers`), which forwards to `j`'s real listen address. All listeners are bound by the
//! controller and kept bound, so there is no port race. Needs no privileges.
//!
//! # Semantics of a cut: "messages from i to j are lost"
//!
//! Over HTTP, messages from `i` to `j` travel on two kinds of connections: `i`'s requests to
//! `j` (link `i -> j`) and `i`'s replies to requests that `j` sent (link `j -> i`, reply
//! direction). Cutting `i -> j` therefore
//!
//! - on link `i -> j`: refuses new connections (accept, then close with `SO_LINGER 0`, which
//!   sends a RST) and resets every live one; `i` sees its requests fail at once;
//! - on link `j -> i`: discards the reply bytes flowing back to `j`; `j`'s requests still
//!   reach `i` (those are messages from `j` to `i`), but `j` never hears back and gives up
//!   on its own timeout, as it would over a real lossy link.
//!
//! A partition cuts both directions, so both kinds of connection are reset or refused.
//!
//! # Latency
//!
//! `set_latency(i, j, ms)` delays messages from `i` to `j` the same way: request chunks on
//! link `i -> j` and reply chunks on link `j -> i`. Each chunk read is held for the latency
//! before it is written on; a direction of a connection forwards one chunk at a time, which
//! keeps the byte order and is enough for request/response traffic.
//!
//! Each link accepts at most [`MAX_CONNECTIONS_PER_LINK`] concurrent connections; beyond
//! that a new connection is reset.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::Link;

/// Bound on concurrent connections per directed link.
pub const MAX_CONNECTIONS_PER_LINK: usize = 256;
/// How long the proxy waits to connect to the target node.
pub const CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Size of the forwarding buffer of one direction of one connection.
const CHUNK_BYTES: usize = 16 * 1024;

/// Fault state of one direction of traffic on a link.
#[derive(Default)]
struct DirectionState {
    blocked: AtomicBool,
    latency_us: AtomicU64,
}

/// Fault state of one directed link, shared by its accept loop and connections.
struct LinkState {
    target: SocketAddr,
    /// Client-to-target bytes (requests of `from` to `to`).
    request: DirectionState,
    /// Target-to-client bytes (replies of `to` to `from`).
    reply: DirectionState,
    /// Bumped to reset every live connection of the link.
    reset_generation: watch::Sender<u64>,
    connections: Semaphore,
}

impl LinkState {
    fn new(target: SocketAddr) -> LinkState {
        LinkState {
            target,
            request: DirectionState::default(),
            reply: DirectionState::default(),
            reset_generation: watch::Sender::new(0),
            connections: Semaphore::new(MAX_CONNECTIONS_PER_LINK),
        }
    }
}

struct LinkProxy {
    listen_addr: SocketAddr,
    state: Arc<LinkState>,
    task: JoinHandle<()>,
}

/// Errors of the proxy network.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot bind a proxy listener on 127.0.0.1: {0}")]
    Bind(io::Error),
    #[error("no proxy for link {0}")]
    UnknownLink(Link),
}

/// Every directed link's proxy. Dropping it stops every proxy task.
pub struct ProxyNetwork {
    links: BTreeMap<Link, LinkProxy>,
}

impl ProxyNetwork {
    /// Binds one listener per directed link between `targets`' nodes and starts forwarding;
    /// `targets` maps each node id to its real listen address.
    pub async fn start(targets: &BTreeMap<String, SocketAddr>) -> Result<ProxyNetwork, ProxyError> {
        let mut links = BTreeMap::new();
        for from in targets.keys() {
            for (to, target) in targets {
                if from != to {
                    let link = Link::new(from.clone(), to.clone());
                    links.insert(link, LinkProxy::start(*target).await?);
                }
            }
        }
        Ok(ProxyNetwork { links })
    }

    /// The address node `from` must use to reach node `to`.
    pub fn proxy_addr(&self, from: &str, to: &str) -> Option<SocketAddr> {
        self.links
            .get(&Link::new(from, to))
            .map(|proxy| proxy.listen_addr)
    }

    fn state(&self, from: &str, to: &str) -> Result<&LinkState, ProxyError> {
        let link = Link::new(from, to);
        self.links
            .get(&link)
            .map(|proxy| proxy.state.as_ref())
            .ok_or(ProxyError::UnknownLink(link))
    }

    /// Messages from `link.from` to `link.to` are lost from now on (see the module docs).
    pub fn cut(&self, link: &Link) -> Result<(), ProxyError> {
        let requests = self.state(&link.from, &link.to)?;
        let replies = self.state(&link.to, &link.from)?;
        requests.request.blocked.store(true, Ordering::SeqCst);
        replies.reply.blocked.store(true, Ordering::SeqCst);
        requests
            .reset_generation
            .send_modify(|generation| *generation += 1);
        Ok(())
    }

    /// Delays messages from `link.from` to `link.to` by `latency` (zero removes the delay).
    pub fn set_latency(&self, link: &Link, latency: Duration) -> Result<(), ProxyError> {
        let latency_us = latency.as_micros().min(u64::MAX as u128) as u64;
        let requests = self.state(&link.from, &link.to)?;
        let replies = self.state(&link.to, &link.from)?;
        requests
            .request
            .latency_us
            .store(latency_us, Ordering::SeqCst);
        replies.reply.latency_us.store(latency_us, Ordering::SeqCst);
        Ok(())
    }

    /// Restores every link: no cuts, no latency.
    pub fn heal(&self) {
        for proxy in self.links.values() {
            for direction in [&proxy.state.request, &proxy.state.reply] {
                direction.blocked.store(false, Ordering::SeqCst);
                direction.latency_us.store(0, Ordering::SeqCst);
            }
        }
    }

    /// The links currently cut (by request direction).
    pub fn cut_links(&self) -> Vec<Link> {
        self.links
            .iter()
            .filter(|(_, proxy)| proxy.state.request.blocked.load(Ordering::SeqCst))
            .map(|(link, _)| link.clone())
            .collect()
    }
}

impl Drop for ProxyNetwork {
    fn drop(&mut self) {
        for proxy in self.links.values() {
            proxy.task.abort();
            // Live connections end too: a reset of every link.
            proxy.state.request.blocked.store(true, Ordering::SeqCst);
            proxy.state.reset_generation.send_modify(|g| *g += 1);
        }
    }
}

impl LinkProxy {
    async fn start(target: SocketAddr) -> Result<LinkProxy, ProxyError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(ProxyError::Bind)?;
        let listen_addr = listener.local_addr().map_err(ProxyError::Bind)?;
        let state = Arc::new(LinkState::new(target));
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(LinkProxy {
            listen_addr,
            state,
            task,
        })
    }
}

/// Closes `stream` with a RST rather than a FIN.
fn reset(stream: TcpStream) {
    if let Err(error) = stream.set_zero_linger() {
        tracing::debug!(%error, "cannot set SO_LINGER 0");
    }
    drop(stream);
}

async fn accept_loop(listener: TcpListener, state: Arc<LinkState>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(error) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(%error, "proxy accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if state.request.blocked.load(Ordering::SeqCst) {
            reset(client);
            continue;
        }
        let Ok(permit) = state.connections.try_acquire() else {
            reset(client);
            continue;
        };
        permit.forget();
        let state = state.clone();
        tokio::spawn(async move {
            serve_connection(client, &state).await;
            state.connections.add_permits(1);
        });
    }
}

enum Ending {
    Closed,
    Reset,
}

async fn serve_connection(mut client: TcpStream, state: &LinkState) {
    client.set_nodelay(true).ok();
    let mut resets = state.reset_generation.subscribe();
    let connect = tokio::time::timeout(
        Duration::from_millis(CONNECT_TIMEOUT_MS),
        TcpStream::connect(state.target),
    )
    .await;
    // The target is down or unreachable: the client sees a reset, as it would without us.
    let Ok(Ok(mut server)) = connect else {
        reset(client);
        return;
    };
    server.set_nodelay(true).ok();
    let ending = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let requests = pump(client_read, server_write, &state.request);
        let replies = pump(server_read, client_write, &state.reply);
        tokio::select! {
            _ = async { tokio::try_join!(requests, replies) } => Ending::Closed,
            _ = resets.changed() => Ending::Reset,
        }
    };
    if let Ending::Reset = ending {
        reset(client);
        reset(server);
    }
}

/// Forwards one direction until EOF (then half-closes) or an error.
async fn pump<R, W>(mut from: R, mut to: W, direction: &DirectionState) -> io::Result<()>
where
    R: AsyncReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut buffer = vec![0u8; CHUNK_BYTES];
    // Once bytes are lost the stream is broken for good, as with TCP: never forward a tail.
    let mut lost_bytes = false;
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            to.shutdown().await.ok();
            return Ok(());
        }
        let latency_us = direction.latency_us.load(Ordering::SeqCst);
        if latency_us > 0 {
            tokio::time::sleep(Duration::from_micros(latency_us)).await;
        }
        if lost_bytes || direction.blocked.load(Ordering::SeqCst) {
            // Lost in transit (see the module docs).
            lost_bytes = true;
            continue;
        }
        to.write_all(&buffer[..read]).await?;
    }
}
