//! The proxy network with a tiny echo server: forwarding, refused and reset connections on a
//! cut, one-way semantics, latency, heal.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use chaos::network::Link;
use chaos::network::proxy::ProxyNetwork;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(2);

/// An echo server standing in for node `b`; node `a` exists only as a client.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn network() -> ProxyNetwork {
    let mut targets = BTreeMap::new();
    targets.insert("a".to_string(), echo_server().await);
    targets.insert("b".to_string(), echo_server().await);
    ProxyNetwork::start(&targets).await.unwrap()
}

/// Sends `message` and waits for the echo; None if the connection fails or stays silent.
async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Option<Vec<u8>> {
    let exchange = async {
        stream.write_all(message).await.ok()?;
        let mut answer = vec![0u8; message.len()];
        stream.read_exact(&mut answer).await.ok()?;
        Some(answer)
    };
    tokio::time::timeout(WAIT, exchange).await.ok().flatten()
}

#[tokio::test]
async fn forwards_and_a_cut_resets_live_and_refuses_new_connections() {
    let net = network().await;
    let a_to_b = net.proxy_addr("a", "b").unwrap();
    let mut live = TcpStream::connect(a_to_b).await.unwrap();
    assert_eq!(
        round_trip(&mut live, b"hello").await.as_deref(),
        Some(&b"hello"[..])
    );

    net.cut(&Link::new("a", "b")).unwrap();
    // The live connection is reset: a read ends with an error or EOF, promptly.
    let mut buffer = [0u8; 8];
    let read = tokio::time::timeout(WAIT, live.read(&mut buffer))
        .await
        .expect("no reset");
    assert!(matches!(read, Err(_) | Ok(0)), "{read:?}");
    // New connections are accepted and closed at once.
    let mut fresh = TcpStream::connect(a_to_b).await.unwrap();
    assert_eq!(round_trip(&mut fresh, b"x").await, None);

    net.heal();
    let mut healed = TcpStream::connect(a_to_b).await.unwrap();
    assert_eq!(
        round_trip(&mut healed, b"again").await.as_deref(),
        Some(&b"again"[..])
    );
}

#[tokio::test]
async fn a_one_way_cut_loses_only_messages_in_that_direction() {
    let net = network().await;
    // b's connection to a: b's requests still arrive, a's replies (a -> b) are lost.
    let mut b_to_a = TcpStream::connect(net.proxy_addr("b", "a").unwrap())
        .await
        .unwrap();
    assert!(round_trip(&mut b_to_a, b"ping").await.is_some());
    net.cut(&Link::new("a", "b")).unwrap();
    assert_eq!(
        round_trip(&mut b_to_a, b"ping").await,
        None,
        "a's reply to b got through"
    );
    // A new b -> a connection is accepted (b -> a is not cut) but replies are lost.
    let mut fresh = TcpStream::connect(net.proxy_addr("b", "a").unwrap())
        .await
        .unwrap();
    assert_eq!(round_trip(&mut fresh, b"ping").await, None);
    assert_eq!(net.cut_links(), vec![Link::new("a", "b")]);
}

#[tokio::test]
async fn latency_delays_each_direction_of_the_link() {
    let net = network().await;
    let mut stream = TcpStream::connect(net.proxy_addr("a", "b").unwrap())
        .await
        .unwrap();
    net.set_latency(&Link::new("a", "b"), Duration::from_millis(300))
        .unwrap();
    // Paused time is not used: the proxy runs real sockets. Only a lower bound is asserted,
    // which a slow machine cannot break.
    let started = std::time::Instant::now();
    assert!(round_trip(&mut stream, b"slow").await.is_some());
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    net.heal();
    assert!(round_trip(&mut stream, b"fast").await.is_some());
}

#[tokio::test]
async fn a_link_to_a_dead_target_resets_the_client() {
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut targets = BTreeMap::new();
    targets.insert("a".to_string(), echo_server().await);
    targets.insert("b".to_string(), dead);
    let net = ProxyNetwork::start(&targets).await.unwrap();
    let mut stream = TcpStream::connect(net.proxy_addr("a", "b").unwrap())
        .await
        .unwrap();
    assert_eq!(round_trip(&mut stream, b"x").await, None);
    assert!(net.cut(&Link::new("a", "zz")).is_err());
}
