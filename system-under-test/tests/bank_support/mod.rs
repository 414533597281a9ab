//! Shared by the bank tests: a bank of real `bank-node` processes on 127.0.0.1 (each in
//! its own process group, killed by PR_SET_PDEATHSIG if the test dies and on Drop), and a
//! client that classifies outcomes as DESIGN.md's "Clients and errors" asks.

#![allow(dead_code)] // each test file uses a different part

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use system_under_test::bank::http::{JsonClient, RpcError};
use system_under_test::bank::protocol::Balances;

/// How long a node may take to start serving.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// One `bank-node` process; SIGKILLed and reaped on Drop.
pub struct NodeProcess {
    child: Child,
}

impl NodeProcess {
    fn spawn(args: &[String], log: &Path) -> NodeProcess {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("node log file");
        let test_pid = nix::unistd::getpid();
        let mut command = Command::new(env!("CARGO_BIN_EXE_bank-node"));
        command
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        // SAFETY: runs between fork and exec in the child and only makes async-signal-safe
        // system calls (prctl, getppid), allocating nothing.
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                if nix::unistd::getppid() != test_pid {
                    return Err(std::io::Error::from_raw_os_error(nix::libc::ESRCH));
                }
                Ok(())
            });
        }
        NodeProcess {
            child: command.spawn().expect("spawning bank-node"),
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // kill -9; an already exited child is fine.
        let _already_dead = self.child.kill();
        let _status = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (the listener is closed before the node binds it).
fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").to_string()
}

/// The shape of a bank and the extra flags of its nodes.
#[derive(Clone)]
pub struct BankConfig {
    pub participants: usize,
    pub accounts: u64,
    pub initial_balance: i64,
    pub coordinator_flags: Vec<String>,
    pub participant_flags: Vec<String>,
}

impl Default for BankConfig {
    fn default() -> Self {
        BankConfig {
            participants: 3,
            accounts: 10,
            initial_balance: 100,
            coordinator_flags: Vec::new(),
            participant_flags: vec![
                "--in-doubt-after-ms".into(),
                "300".into(),
                "--resolve-interval-ms".into(),
                "50".into(),
            ],
        }
    }
}

fn flags(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// A running bank: a coordinator and its participants, each restartable.
pub struct Bank {
    pub config: BankConfig,
    dir: tempfile::TempDir,
    pub coordinator_address: String,
    pub participant_addresses: Vec<String>,
    coordinator: Option<NodeProcess>,
    participants: Vec<Option<NodeProcess>>,
    pub http: JsonClient,
}

impl Bank {
    pub async fn start(config: BankConfig) -> Bank {
        let participant_addresses = (0..config.participants).map(|_| free_address()).collect();
        let mut bank = Bank {
            participants: (0..config.participants).map(|_| None).collect(),
            config,
            dir: tempfile::tempdir().expect("tempdir"),
            coordinator_address: free_address(),
            participant_addresses,
            coordinator: None,
            http: JsonClient::new(Duration::from_secs(10)),
        };
        for shard in 0..bank.config.participants {
            bank.start_participant(shard, &[]).await;
        }
        let extra = bank.config.coordinator_flags.clone();
        bank.start_coordinator(&extra).await;
        bank
    }

    pub fn total(&self) -> i64 {
        self.config.accounts as i64 * self.config.initial_balance
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub fn log_text(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    /// Starts the coordinator with the config's flags, or `flags_override` when not empty.
    pub async fn start_coordinator(&mut self, flags_override: &[String]) {
        let participants: Vec<String> = self
            .participant_addresses
            .iter()
            .enumerate()
            .map(|(shard, address)| format!("p{shard}={address}"))
            .collect();
        let mut args = flags(&format!(
            "coordinator --listen {} --data-dir {} --accounts {} --participants {}",
            self.coordinator_address,
            self.dir.path().join("coordinator").display(),
            self.config.accounts,
            participants.join(","),
        ));
        args.extend(flags_override.iter().cloned());
        self.coordinator = Some(NodeProcess::spawn(&args, &self.log_path("coordinator")));
        wait_ready(&self.http, &self.coordinator_address).await;
    }

    /// Starts participant `shard` with the config's flags plus `extra`.
    pub async fn start_participant(&mut self, shard: usize, extra: &[String]) {
        let mut args = flags(&format!(
            "participant --id p{shard} --listen {} --coordinator {} --data-dir {} \
             --accounts {} --initial-balance {} --shard {shard} --shards {}",
            self.participant_addresses[shard],
            self.coordinator_address,
            self.dir.path().join(format!("p{shard}")).display(),
            self.config.accounts,
            self.config.initial_balance,
            self.config.participants,
        ));
        args.extend(self.config.participant_flags.iter().cloned());
        args.extend(extra.iter().cloned());
        let process = NodeProcess::spawn(&args, &self.log_path(&format!("p{shard}")));
        self.participants[shard] = Some(process);
        wait_ready(&self.http, &self.participant_addresses[shard]).await;
    }

    /// kill -9 of participant `shard`.
    pub fn kill_participant(&mut self, shard: usize) {
        self.participants[shard] = None;
    }

    /// kill -9 of the coordinator.
    pub fn kill_coordinator(&mut self) {
        self.coordinator = None;
    }

    pub fn client(&self) -> BankClient {
        BankClient {
            http: self.http.clone(),
            coordinator: self.coordinator_address.clone(),
        }
    }

    pub async fn participant_status(&self, shard: usize) -> Option<Value> {
        let reply = self
            .http
            .get(&self.participant_addresses[shard], "/status")
            .await
            .ok()?;
        Some(reply.body)
    }

    /// The transactions prepared at `shard` (None when it does not answer).
    pub async fn prepared_at(&self, shard: usize) -> Option<Vec<String>> {
        let status = self.participant_status(shard).await?;
        serde_json::from_value(status["prepared"].clone()).ok()
    }

    /// Polls until no participant holds a prepared transaction; returns how long it took,
    /// or None after `limit`.
    pub async fn wait_until_nothing_prepared(&self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            let mut all_clear = true;
            for shard in 0..self.config.participants {
                all_clear &= self.prepared_at(shard).await.is_some_and(|p| p.is_empty());
            }
            if all_clear {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }
}

impl Drop for Bank {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut names = vec!["coordinator".to_string()];
            names.extend((0..self.config.participants).map(|s| format!("p{s}")));
            for name in names {
                let text = self.log_text(&name);
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("---- {name} log (last lines) ----");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

async fn wait_ready(http: &JsonClient, address: &str) {
    let started = Instant::now();
    loop {
        if let Ok(reply) = http.get(address, "/status").await
            && reply.status.is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < READY_TIMEOUT,
            "{address} not serving after {READY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client's classification of one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Definitely not applied.
    Fail(String),
    /// Unknown.
    Info(String),
}

/// Talks to the coordinator like a faultline workload would.
#[derive(Clone)]
pub struct BankClient {
    pub http: JsonClient,
    pub coordinator: String,
}

impl BankClient {
    pub async fn transfer(&self, txn: &str, from: &str, to: &str, amount: i64) -> Outcome {
        let body = json!({"txn": txn, "from": from, "to": to, "amount": amount});
        match self.http.post(&self.coordinator, "/transfer", &body).await {
            Ok(reply) if reply.status == 200 => Outcome::Ok,
            Ok(reply) if reply.status == 409 || reply.status == 400 => {
                Outcome::Fail(reply.body.to_string())
            }
            Ok(reply) => Outcome::Info(format!("{} {}", reply.status, reply.body)),
            Err(RpcError::Connect(error)) => Outcome::Fail(format!("connect: {error}")),
            Err(error) => Outcome::Info(error.to_string()),
        }
    }

    /// An atomic read of every balance, or None when refused or unanswered.
    pub async fn balances(&self) -> Option<Balances> {
        let reply = self.http.get(&self.coordinator, "/balances").await.ok()?;
        if reply.status != 200 {
            return None;
        }
        serde_json::from_value(reply.body["balances"].clone()).ok()
    }
}

/// Asserts the invariants of one read: every account present, none negative, total kept.
pub fn check_read(balances: &Balances, accounts: u64, total: i64) {
    assert_eq!(
        balances.len() as u64,
        accounts,
        "read misses accounts: {balances:?}"
    );
    assert!(
        balances.values().all(|b| *b >= 0),
        "negative balance: {balances:?}"
    );
    assert_eq!(
        balances.values().sum::<i64>(),
        total,
        "read does not sum to the total: {balances:?}"
    );
}

/// A small deterministic generator for the test workloads (xorshift64*).
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

/// Polls `read` until it returns Some, for at most `limit`.
pub async fn read_eventually(client: &BankClient, limit: Duration) -> Balances {
    let started = Instant::now();
    loop {
        if let Some(balances) = client.balances().await {
            return balances;
        }
        assert!(
            started.elapsed() < limit,
            "no read succeeded within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One transfer a workload client attempted and how it ended.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub txn: String,
    pub from: String,
    pub to: String,
    pub amount: i64,
    pub outcome: Outcome,
}

/// Runs `clients` concurrent clients, each doing `transfers_each` random transfers
/// between the bank's accounts (amounts 1..=30, so some overdraw).
pub async fn run_transfers(
    client: &BankClient,
    clients: usize,
    transfers_each: usize,
    accounts: u64,
    seed: u64,
) -> Vec<Attempt> {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..clients {
        let client = client.clone();
        tasks.spawn(async move {
            let mut rng = TestRng::new(seed * 1000 + worker as u64);
            let mut attempts = Vec::with_capacity(transfers_each);
            for n in 0..transfers_each {
                let from = rng.below(accounts);
                let to = (from + 1 + rng.below(accounts - 1)) % accounts;
                let amount = 1 + rng.below(30) as i64;
                let txn = format!("s{seed}-c{worker}-{n}");
                let (from, to) = (format!("a{from}"), format!("a{to}"));
                let outcome = client.transfer(&txn, &from, &to, amount).await;
                attempts.push(Attempt {
                    txn,
                    from,
                    to,
                    amount,
                    outcome,
                });
            }
            attempts
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.expect("client task"));
    }
    all
}

/// Reads continuously until `stop` is set, checking every successful read; returns how
/// many reads succeeded.
pub async fn read_until(
    client: BankClient,
    accounts: u64,
    total: i64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> usize {
    let mut reads = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(balances) = client.balances().await {
            check_read(&balances, accounts, total);
            reads += 1;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    reads
}

/// The balances expected after applying the `ok` attempts (and no other) to the initial
/// balances.
pub fn expected_balances(attempts: &[Attempt], accounts: u64, initial: i64) -> Balances {
    let mut balances: Balances = (0..accounts).map(|i| (format!("a{i}"), initial)).collect();
    for attempt in attempts.iter().filter(|a| a.outcome == Outcome::Ok) {
        *balances.get_mut(&attempt.from).expect("known account") -= attempt.amount;
        *balances.get_mut(&attempt.to).expect("known account") += attempt.amount;
    }
    balances
}

pub fn count(attempts: &[Attempt], kind: fn(&Outcome) -> bool) -> usize {
    attempts.iter().filter(|a| kind(&a.outcome)).count()
}
