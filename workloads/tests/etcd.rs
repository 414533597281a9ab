//! The etcd client against the real etcd 3.4 (`/usr/bin/etcd`): one single-member cluster
//! per test on a random 127.x.y.z loopback address and random high ports, its own temp data
//! dir, killed by pid when the test ends. Under `CI=true` a missing etcd fails the test;
//! locally the test skips with a printed reason.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use workloads::client::{
    EtcdClient, EtcdClientConfig, EtcdWorkload, Invocation, Outcome, ReadMode,
};

const ETCD: &str = "/usr/bin/etcd";
/// Start-up polls (100 ms apart) before a member counts as failed to start.
const START_POLLS: usize = 300;

/// Whether etcd is there; `false` means skip (locally), a missing etcd under CI panics.
fn etcd_available() -> bool {
    if Path::new(ETCD).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{ETCD} is missing under CI=true (package etcd-server)");
    }
    eprintln!("skipped: {ETCD} is missing (install etcd-server)");
    false
}

/// A loopback address no other helper is likely to use, with a port free on it.
fn free_addr(ip: [u8; 4]) -> SocketAddr {
    let listener = TcpListener::bind((std::net::Ipv4Addr::from(ip), 0)).expect("bind port 0");
    listener.local_addr().expect("local addr")
}

fn random_ip() -> [u8; 4] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let seed = nanos ^ std::process::id().rotate_left(16);
    [
        127,
        20 + (seed % 200) as u8,
        (seed >> 8) as u8,
        2 + (seed >> 16) as u8 % 250,
    ]
}

/// One etcd member; killed by pid on drop.
struct Member {
    child: Child,
    client: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Member {
    fn start() -> Member {
        let ip = random_ip();
        let client = free_addr(ip);
        let peer = free_addr(ip);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(dir.path().join("etcd.out")).expect("log file");
        let child = Command::new(ETCD)
            .arg("--name=m1")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls=http://{client}"))
            .arg(format!("--advertise-client-urls=http://{client}"))
            .arg(format!("--listen-peer-urls=http://{peer}"))
            .arg(format!("--initial-advertise-peer-urls=http://{peer}"))
            .arg(format!("--initial-cluster=m1=http://{peer}"))
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        Member {
            child,
            client,
            _dir: dir,
        }
    }

    fn client(&self, workload: EtcdWorkload, read_mode: ReadMode) -> EtcdClient {
        client_of(self.client, workload, read_mode, 2000)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.child.id());
        if signal == "STOP" {
            self.wait_stopped();
        }
    }

    /// Waits (bounded) until every thread of the member is in the stopped state (`T` in
    /// `/proc/PID/task/*/stat`): `kill` returns once the signal is sent, and a request sent
    /// before the last thread stops could still be answered.
    fn wait_stopped(&self) {
        let tasks = format!("/proc/{}/task", self.child.id());
        for _ in 0..200 {
            let stopped = std::fs::read_dir(&tasks)
                .expect("the member's threads")
                .all(|task| {
                    let stat = task
                        .map(|t| t.path().join("stat"))
                        .and_then(std::fs::read_to_string);
                    // The state follows the command name in parentheses: "PID (etcd) T ...".
                    stat.ok()
                        .and_then(|stat| {
                            stat.rsplit_once(") ")
                                .map(|(_, rest)| rest.starts_with('T'))
                        })
                        .unwrap_or(true)
                });
            if stopped {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("etcd {} not stopped 2 s after SIGSTOP", self.child.id());
    }

    /// Waits (bounded) until a linearizable read is answered.
    async fn wait_ready(&mut self) {
        let client = self.client(EtcdWorkload::Register, ReadMode::Linearizable);
        let mut last = Outcome::Fail("never tried".into());
        for _ in 0..START_POLLS {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("etcd exited at start: {status}");
            }
            last = client.invoke_read("ready").await;
            if last.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("etcd at {} not ready: {last:?}", self.client);
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill(); // by pid; it may be dead already (the kill test)
        let _ = self.child.wait();
    }
}

fn client_of(
    addr: SocketAddr,
    workload: EtcdWorkload,
    read_mode: ReadMode,
    timeout_ms: u64,
) -> EtcdClient {
    let config = EtcdClientConfig {
        timeout_ms,
        read_mode,
        workload,
        ..EtcdClientConfig::default()
    };
    EtcdClient::new([("m1".to_string(), addr)], config).expect("client")
}

trait Ops {
    async fn invoke_read(&self, key: &str) -> Outcome;
    async fn op(&self, f: &str, key: Option<&str>, value: Value) -> Outcome;
}

impl Ops for EtcdClient {
    async fn invoke_read(&self, key: &str) -> Outcome {
        self.run_as(0, &Invocation::read(key)).await
    }

    async fn op(&self, f: &str, key: Option<&str>, value: Value) -> Outcome {
        let inv = Invocation {
            f: f.into(),
            key: key.map(str::to_string),
            value,
        };
        self.run_as(0, &inv).await
    }
}

#[tokio::test]
async fn register_set_append_and_txn_against_real_etcd() {
    if !etcd_available() {
        return;
    }
    let mut member = Member::start();
    member.wait_ready().await;

    for mode in [ReadMode::Linearizable, ReadMode::Serializable] {
        let reg = member.client(EtcdWorkload::Register, mode);
        let key = format!("r-{mode:?}");
        assert_eq!(reg.invoke_read(&key).await, Outcome::Ok(Value::Null));
        // cas from null on a missing key.
        assert_eq!(
            reg.run_as(0, &Invocation::cas(&key, Value::Null, json!(1)))
                .await,
            Outcome::Ok(json!([null, 1]))
        );
        assert_eq!(
            reg.run_as(0, &Invocation::write(&key, json!(2))).await,
            Outcome::Ok(json!(2))
        );
        assert_eq!(reg.invoke_read(&key).await, Outcome::Ok(json!(2)));
        // The cas mismatch is a definite failure and changes nothing.
        assert_eq!(
            reg.run_as(0, &Invocation::cas(&key, json!(1), json!(3)))
                .await,
            Outcome::Fail("cas-mismatch".into())
        );
        assert_eq!(reg.invoke_read(&key).await, Outcome::Ok(json!(2)));
        assert_eq!(
            reg.run_as(0, &Invocation::cas(&key, json!(2), json!(3)))
                .await,
            Outcome::Ok(json!([2, 3]))
        );
        assert_eq!(reg.invoke_read(&key).await, Outcome::Ok(json!(3)));
        // A function of another workload is refused without sending.
        assert_eq!(
            reg.op("add", Some(&key), json!(1)).await,
            Outcome::Fail("unsupported-function".into())
        );

        let set = member.client(EtcdWorkload::Set, mode);
        let name = format!("s-{mode:?}");
        assert_eq!(
            set.op("read", Some(&name), Value::Null).await,
            Outcome::Ok(json!([]))
        );
        for v in [3, 1, 2, 1] {
            assert_eq!(
                set.op("add", Some(&name), json!(v)).await,
                Outcome::Ok(json!(v))
            );
        }
        let Outcome::Ok(Value::Array(mut read)) = set.op("read", Some(&name), Value::Null).await
        else {
            panic!("set read failed");
        };
        read.sort_by_key(|v| v.as_i64());
        assert_eq!(read, vec![json!(1), json!(2), json!(3)]);

        let app = member.client(EtcdWorkload::Append, mode);
        let key = format!("a-{mode:?}");
        assert_eq!(
            app.op("get", Some(&key), Value::Null).await,
            Outcome::Ok(Value::Null)
        );
        assert_eq!(
            app.op("append", Some(&key), json!("x")).await,
            Outcome::Ok(json!("x"))
        );
        assert_eq!(
            app.op("append", Some(&key), json!("y")).await,
            Outcome::Ok(json!("y"))
        );
        assert_eq!(
            app.op("get", Some(&key), Value::Null).await,
            Outcome::Ok(json!("xy"))
        );
        assert_eq!(
            app.op("put", Some(&key), json!("z")).await,
            Outcome::Ok(json!("z"))
        );
        assert_eq!(
            app.op("get", Some(&key), Value::Null).await,
            Outcome::Ok(json!("z"))
        );
    }

    let la = member.client(EtcdWorkload::ListAppend, ReadMode::Linearizable);
    assert_eq!(
        la.op(
            "txn",
            None,
            json!([["append", 7, 1], ["r", 7, null], ["append", 7, 2]])
        )
        .await,
        Outcome::Ok(json!([["append", 7, 1], ["r", 7, [1]], ["append", 7, 2]]))
    );
    assert_eq!(
        la.op("txn", None, json!([["r", 7, null], ["r", 8, null]]))
            .await,
        Outcome::Ok(json!([["r", 7, [1, 2]], ["r", 8, []]]))
    );
    let rw = member.client(EtcdWorkload::RwRegister, ReadMode::Serializable);
    assert_eq!(
        rw.op("txn", None, json!([["w", "k", 5], ["r", "k", null]]))
            .await,
        Outcome::Ok(json!([["w", "k", 5], ["r", "k", 5]]))
    );
}

/// Concurrent appends to one key: every `ok` append is in the final string exactly once
/// (the mod_revision compare), whatever the interleaving.
#[tokio::test]
async fn concurrent_appends_are_each_applied_once() {
    if !etcd_available() {
        return;
    }
    let mut member = Member::start();
    member.wait_ready().await;
    let app = std::sync::Arc::new(member.client(EtcdWorkload::Append, ReadMode::Linearizable));
    let mut tasks = Vec::new();
    for t in 0..4usize {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut oks = Vec::new();
            for i in 0..5 {
                let s = format!("<{t}.{i}>");
                let outcome = app.run_as(t, &Invocation::append("k", s.clone())).await;
                match outcome {
                    Outcome::Ok(_) => oks.push(s),
                    Outcome::Fail(e) => assert_eq!(e, "conflict", "{s}"),
                    Outcome::Info(e) => panic!("unknown outcome on a healthy member: {e}"),
                }
            }
            oks
        }));
    }
    let mut oks = Vec::new();
    for task in tasks {
        oks.extend(task.await.expect("task"));
    }
    let Outcome::Ok(Value::String(final_value)) = app.run_as(0, &Invocation::get("k")).await else {
        panic!("get failed");
    };
    for s in &oks {
        assert_eq!(
            final_value.matches(s.as_str()).count(),
            1,
            "{s} in {final_value}"
        );
    }
    assert_eq!(
        final_value.len(),
        oks.iter().map(String::len).sum::<usize>()
    );
}

#[tokio::test]
async fn connection_refused_is_a_definite_failure() {
    // A port that was free a moment ago and that nothing listens on.
    let addr = free_addr(random_ip());
    let reg = client_of(addr, EtcdWorkload::Register, ReadMode::Linearizable, 1000);
    assert_eq!(
        reg.run_as(0, &Invocation::write("k", json!(1))).await,
        Outcome::Fail("connection-refused".into())
    );
    assert_eq!(
        reg.invoke_read("k").await,
        Outcome::Fail("connection-refused".into())
    );
}

/// A paused member (SIGSTOP): a write is unknown (`info`), a read a definite `fail`; after
/// SIGCONT it serves again; after SIGKILL a write on a fresh connection is refused at
/// connect (definite).
#[tokio::test]
async fn paused_then_killed_member() {
    if !etcd_available() {
        return;
    }
    let mut member = Member::start();
    member.wait_ready().await;
    let fast = client_of(
        member.client,
        EtcdWorkload::Register,
        ReadMode::Linearizable,
        300,
    );
    assert_eq!(
        fast.run_as(0, &Invocation::write("p", json!(1))).await,
        Outcome::Ok(json!(1))
    );

    member.signal("STOP");
    let write = fast.run_as(0, &Invocation::write("p", json!(2))).await;
    let read = fast.invoke_read("p").await;
    member.signal("CONT");
    assert_eq!(write, Outcome::Info("timeout".into()));
    assert_eq!(read, Outcome::Fail("timeout".into()));

    // The unknown write either took effect or not; the member serves again.
    member.wait_ready().await;
    let slow = member.client(EtcdWorkload::Register, ReadMode::Linearizable);
    let Outcome::Ok(value) = slow.invoke_read("p").await else {
        panic!("read after SIGCONT failed");
    };
    assert!(value == json!(1) || value == json!(2), "{value}");

    member.signal("KILL");
    let _ = member.child.wait();
    // A keep-alive connection to the dead member may carry the write before the client
    // sees it closed: from the client's side that is unknown, never a definite failure.
    let stale = slow.run_as(0, &Invocation::write("p", json!(3))).await;
    assert!(
        stale == Outcome::Info("reset".into())
            || stale == Outcome::Fail("connection-refused".into()),
        "{stale:?}"
    );
    // Nothing is pooled any more: the connect is refused, a definite failure.
    assert_eq!(
        slow.run_as(0, &Invocation::write("p", json!(3))).await,
        Outcome::Fail("connection-refused".into())
    );
    let fresh = member.client(EtcdWorkload::Register, ReadMode::Linearizable);
    assert_eq!(
        fresh.run_as(0, &Invocation::write("p", json!(3))).await,
        Outcome::Fail("connection-refused".into())
    );
}
