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
//! `impair(i, j, latency, jitter, loss)` adds jitter (each chunk's latency drawn uniformly
//! from `latency +- jitter`; a direction still forwards one chunk at a time, so the byte
//! order holds and a long hold delays the chunks behind it, as head-of-line blocking does).
//!
//! # Loss
//!
//! A TCP stream cannot lose bytes and go on: the sender retransmits what was lost. So a
//! proxy link's `loss: N%` is what N% packet loss does to TCP, not a gap in the stream:
//! each chunk, with probability N%, waits a retransmission timeout
//! ([`RETRANSMIT_TIMEOUT_MS`], doubled for each further loss of the same chunk, at most
//! [`MAX_RETRANSMISSIONS`] times) before it is forwarded. The netns network drops real
//! packets instead, and the kernels' TCP does the retransmitting. Duplication is not offered
//! at all: a TCP receiver discards duplicated segments before the program sees them.
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
    /// Each chunk's latency is drawn uniformly from `latency_us +- jitter_us`.
    jitter_us: AtomicU64,
    /// Percent (0..=100) of chunks lost once in transit, see the module docs ("Loss").
    loss_percent: AtomicU64,
}

impl DirectionState {
    fn clear_impairments(&self) {
        self.latency_us.store(0, Ordering::SeqCst);
        self.jitter_us.store(0, Ordering::SeqCst);
        self.loss_percent.store(0, Ordering::SeqCst);
    }

    /// How long to hold the next chunk: its latency (with jitter), plus a retransmission
    /// timeout for every time it is lost.
    fn hold(&self, rng: &mut impl rand::Rng) -> Duration {
        use rand::RngExt;
        let latency_us = self.latency_us.load(Ordering::SeqCst);
        let jitter_us = self.jitter_us.load(Ordering::SeqCst);
        let mut hold_us = if jitter_us == 0 {
            latency_us
        } else {
            rng.random_range(latency_us.saturating_sub(jitter_us)..=latency_us + jitter_us)
        };
        let loss_percent = self.loss_percent.load(Ordering::SeqCst);
        let mut rto_ms = RETRANSMIT_TIMEOUT_MS;
        for _ in 0..MAX_RETRANSMISSIONS {
            if loss_percent == 0 || rng.random_range(0..100) >= loss_percent {
                break;
            }
            hold_us += rto_ms * 1000;
            rto_ms *= 2;
        }
        Duration::from_micros(hold_us)
    }
}

/// What a lost chunk costs: the first retransmission timeout of Linux TCP (`TCP_RTO_MIN`,
/// 200 ms), doubled for each further loss of the same chunk, as TCP backs off.
pub const RETRANSMIT_TIMEOUT_MS: u64 = 200;
/// Losses of one chunk after which it goes through anyway (TCP would go on retrying
/// for minutes; six back-offs are 12.6 s, longer than any client timeout).
pub const MAX_RETRANSMISSIONS: u32 = 6;

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

    /// Delays (`latency` +- `jitter`) and loses (`loss_percent`) messages from
    /// `link.from` to `link.to`, replacing what was set before (see the module docs).
    pub fn impair(
        &self,
        link: &Link,
        latency: Duration,
        jitter: Duration,
        loss_percent: u8,
    ) -> Result<(), ProxyError> {
        assert!(loss_percent <= 100, "a percentage");
        let micros = |d: Duration| d.as_micros().min(u64::MAX as u128) as u64;
        let requests = self.state(&link.from, &link.to)?;
        let replies = self.state(&link.to, &link.from)?;
        for direction in [&requests.request, &replies.reply] {
            direction
                .latency_us
                .store(micros(latency), Ordering::SeqCst);
            direction.jitter_us.store(micros(jitter), Ordering::SeqCst);
            direction
                .loss_percent
                .store(u64::from(loss_percent), Ordering::SeqCst);
        }
        Ok(())
    }

    /// Restores every link: no cuts, no latency, no loss.
    pub fn heal(&self) {
        self.heal_cuts();
        for proxy in self.links.values() {
            for direction in [&proxy.state.request, &proxy.state.reply] {
                direction.clear_impairments();
            }
        }
    }

    /// Removes every cut, keeping delays and losses.
    pub fn heal_cuts(&self) {
        for proxy in self.links.values() {
            for direction in [&proxy.state.request, &proxy.state.reply] {
                direction.blocked.store(false, Ordering::SeqCst);
            }
        }
    }

    /// The links currently delayed or lossy (by request direction).
    pub fn impaired_links(&self) -> Vec<Link> {
        self.links
            .iter()
            .filter(|(_, proxy)| {
                let request = &proxy.state.request;
                request.latency_us.load(Ordering::SeqCst) > 0
                    || request.loss_percent.load(Ordering::SeqCst) > 0
            })
            .map(|(link, _)| link.clone())
            .collect()
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
    let mut rng = {
        use rand::SeedableRng;
        rand_chacha::ChaCha8Rng::seed_from_u64(rand::random())
    };
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            to.shutdown().await.ok();
            return Ok(());
        }
        let hold = direction.hold(&mut rng);
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        if lost_bytes || direction.blocked.load(Ordering::SeqCst) {
            // Lost in transit (see the module docs).
            lost_bytes = true;
            continue;
        }
        to.write_all(&buffer[..read]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_chunk_is_held_its_latency_within_the_jitter_plus_a_backoff_per_loss() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let direction = DirectionState::default();
        assert_eq!(direction.hold(&mut rng), Duration::ZERO);
        direction.latency_us.store(50_000, Ordering::SeqCst);
        direction.jitter_us.store(20_000, Ordering::SeqCst);
        let holds: Vec<Duration> = (0..1000).map(|_| direction.hold(&mut rng)).collect();
        assert!(
            holds
                .iter()
                .all(|h| (30..=70).contains(&(h.as_millis() as u64)))
        );
        assert!(
            holds.iter().any(|h| h.as_millis() < 40) && holds.iter().any(|h| h.as_millis() > 60)
        );
        // Every chunk lost: the whole back-off, 200 + 400 + ... + 6400 ms, then through.
        direction.clear_impairments();
        direction.loss_percent.store(100, Ordering::SeqCst);
        assert_eq!(direction.hold(&mut rng), Duration::from_millis(12_600));
        // 10% loss: about one chunk in ten waits at least one retransmission timeout.
        direction.loss_percent.store(10, Ordering::SeqCst);
        let delayed = (0..10_000)
            .filter(|_| direction.hold(&mut rng) >= Duration::from_millis(RETRANSMIT_TIMEOUT_MS))
            .count();
        assert!((800..1200).contains(&delayed), "{delayed} of 10000");
    }
}
