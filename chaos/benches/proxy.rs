//! Latency the proxy network adds: a 64-byte request/echo round trip over one persistent
//! loopback connection, straight to an echo server and through the link proxy. A round
//! trip crosses the proxy twice (request and reply), so the added latency per hop is
//! (proxied - direct) / 2. Target: p50 under 100 µs per hop.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use chaos::network::proxy::ProxyNetwork;
use criterion::{Criterion, criterion_group, criterion_main};

const MESSAGE: [u8; 64] = [7; 64];

/// A blocking echo server on its own thread (not on the proxy's runtime).
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream.set_nodelay(true).ok();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

fn round_trip(stream: &mut TcpStream) {
    stream.write_all(&MESSAGE).unwrap();
    let mut answer = [0u8; 64];
    stream.read_exact(&mut answer).unwrap();
    std::hint::black_box(answer);
}

fn bench_proxy(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let echo = echo_server();
    let mut targets = BTreeMap::new();
    targets.insert("a".to_string(), echo);
    targets.insert("b".to_string(), echo);
    let network = runtime.block_on(ProxyNetwork::start(&targets)).unwrap();
    let proxied = network.proxy_addr("a", "b").unwrap();

    let mut group = c.benchmark_group("round_trip_64B");
    let mut direct_stream = connect(echo);
    group.bench_function("direct", |b| b.iter(|| round_trip(&mut direct_stream)));
    let mut proxied_stream = connect(proxied);
    group.bench_function("through_proxy", |b| {
        b.iter(|| round_trip(&mut proxied_stream))
    });
    group.finish();
    drop(network);
}

criterion_group!(benches, bench_proxy);
criterion_main!(benches);
