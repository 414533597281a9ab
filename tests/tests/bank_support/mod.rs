//! Shared by the bank tests: a bank of real `bank-node` processes on 127.0.0.1 (with
//! `--replicated-coordinator`, several coordinators and a 3-node `raft-node` decision
//! store), every process started by faultline's own supervisor (its own process group,
//! PR_SET_PDEATHSIG, killed on Drop), and a client that classifies outcomes as DESIGN.md's
//! "Clients and errors" asks and goes to the next coordinator when one refuses connections.

#![allow(dead_code)] // each test file uses a different part

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chaos::supervisor::{NodeControl, NodeSpec, NodeState, Supervisor};
use serde_json::{Value, json};
use system_under_test::bank::http::{JsonClient, RpcError};
use system_under_test::bank::protocol::Balances;

/// How long a node may take to start serving.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Nodes of the decision store in replicated mode.
const STORE_NODES: usize = 3;

/// Node ports are picked from here: below Linux's ephemeral range (32768..), so that no
/// outgoing connection of any process can take a port between our check and the node's
/// bind; only another test picking the same random port can.
const NODE_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port on 127.0.0.1, held by the returned listener until the node that will bind it
/// is spawned ([`Bank::spawn`] drops it): while held, no other test of this binary can
/// pick it (their check binds it too), which once let two banks' nodes race for one port.
fn free_address() -> (String, TcpListener) {
    static PICKS: AtomicU64 = AtomicU64::new(0);
    let clock_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed =
        clock_ns ^ u64::from(std::process::id()) << 32 ^ PICKS.fetch_add(1, Ordering::Relaxed);
    let mut rng = TestRng::new(seed);
    let span = u64::from(NODE_PORTS.end - NODE_PORTS.start);
    for _ in 0..1000 {
        let port = NODE_PORTS.start + rng.below(span) as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            return (format!("127.0.0.1:{port}"), listener);
        }
    }
    panic!("no free port in {NODE_PORTS:?} after 1000 tries");
}

pub fn strings(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// The shape of a bank and the extra flags of its nodes.
#[derive(Clone)]
pub struct BankConfig {
    pub participants: usize,
    pub accounts: u64,
    pub initial_balance: i64,
    /// `None`: one coordinator with its local decision log. `Some(k)`: k coordinators
    /// with `--replicated-coordinator` over a 3-node Raft decision store.
    pub replicated: Option<usize>,
    /// Flags of every coordinator.
    pub coordinator_flags: Vec<String>,
    /// Extra flags of the first coordinator only.
    pub first_coordinator_flags: Vec<String>,
    pub participant_flags: Vec<String>,
}

impl Default for BankConfig {
    fn default() -> Self {
        BankConfig {
            participants: 3,
            accounts: 10,
            initial_balance: 100,
            replicated: None,
            coordinator_flags: Vec::new(),
            first_coordinator_flags: Vec::new(),
            participant_flags: strings("--in-doubt-after-ms 300 --resolve-interval-ms 50"),
        }
    }
}

impl BankConfig {
    /// `coordinators` replicated coordinators; participants keep their replicated default
    /// `--in-doubt-after-ms`.
    pub fn replicated(coordinators: usize) -> BankConfig {
        BankConfig {
            replicated: Some(coordinators),
            participant_flags: strings("--resolve-interval-ms 50"),
            ..BankConfig::default()
        }
    }
}

/// A running bank: coordinators, participants and (replicated) decision-store nodes, each
/// killable and restartable.
pub struct Bank {
    pub config: BankConfig,
    dir: tempfile::TempDir,
    supervisor: Supervisor,
    /// `coordinator`, or `c1`..`ck` when replicated.
    pub coordinator_ids: Vec<String>,
    pub coordinator_addresses: Vec<String>,
    pub participant_addresses: Vec<String>,
    /// `(r1, address)`..: the decision store (empty unless replicated).
    pub store_nodes: Vec<(String, String)>,
    pub http: JsonClient,
    /// The nodes' ports, held until each node is first spawned ([`free_address`]).
    reserved: Vec<(String, TcpListener)>,
}

impl Bank {
    pub async fn start(config: BankConfig) -> Bank {
        let coordinator_ids: Vec<String> = match config.replicated {
            None => vec!["coordinator".into()],
            Some(k) => (1..=k).map(|i| format!("c{i}")).collect(),
        };
        let mut reserved = Vec::new();
        let mut address = || {
            let (address, listener) = free_address();
            reserved.push((address.clone(), listener));
            address
        };
        let store_nodes = match config.replicated {
            None => Vec::new(),
            Some(_) => (1..=STORE_NODES)
                .map(|i| (format!("r{i}"), address()))
                .collect(),
        };
        let coordinator_addresses = coordinator_ids.iter().map(|_| address()).collect();
        let participant_addresses = (0..config.participants).map(|_| address()).collect();
        let mut bank = Bank {
            coordinator_addresses,
            coordinator_ids,
            participant_addresses,
            store_nodes,
            reserved,
            config,
            dir: tempfile::tempdir().expect("tempdir"),
            supervisor: Supervisor::new().expect("supervisor"),
            http: JsonClient::new(Duration::from_secs(10)),
        };
        for index in 0..bank.store_nodes.len() {
            bank.start_store_node(index).await;
        }
        for shard in 0..bank.config.participants {
            bank.start_participant(shard, &[]).await;
        }
        for index in 0..bank.coordinator_ids.len() {
            bank.start_coordinator_at(index, &[]).await;
        }
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

    /// The (first) coordinator's address.
    pub fn coordinator_address(&self) -> &str {
        &self.coordinator_addresses[0]
    }

    fn spawn(&mut self, id: &str, program: PathBuf, args: Vec<String>) {
        // Release the port the node is about to bind (`--listen ADDR`), if still held.
        if let Some(at) = args.iter().position(|arg| arg == "--listen")
            && let Some(listen) = args.get(at + 1)
        {
            self.reserved.retain(|(address, _)| address != listen);
        }
        let spec = NodeSpec {
            id: id.to_string(),
            program,
            args,
            log_path: self.log_path(id),
            netns: None,
        };
        self.supervisor
            .start(spec)
            .unwrap_or_else(|e| panic!("starting {id}: {e}"));
    }

    fn kill(&mut self, id: &str) {
        self.supervisor
            .kill(id)
            .unwrap_or_else(|e| panic!("kill -9 {id}: {e}"));
    }

    async fn start_store_node(&mut self, index: usize) {
        let (id, address) = self.store_nodes[index].clone();
        let peers: Vec<String> = self
            .store_nodes
            .iter()
            .filter(|(peer, _)| *peer != id)
            .map(|(peer, address)| format!("{peer}={address}"))
            .collect();
        let program = tests::node_program();
        let mut args = program.args_prefix.clone();
        args.extend(strings(&format!(
            "--id {id} --listen {address} --data-dir {} --peers {}",
            self.dir.path().join(&id).display(),
            peers.join(","),
        )));
        args.extend(tests::FAST_TIMEOUTS.iter().map(|s| s.to_string()));
        self.spawn(&id, program.program, args);
        self.wait_ready(&id, &address).await;
    }

    /// Starts the (first) coordinator with the config's flags, or `flags_override` when
    /// not empty.
    pub async fn start_coordinator(&mut self, flags_override: &[String]) {
        self.start_coordinator_at(0, flags_override).await;
    }

    /// Starts coordinator `index` with the config's flags, or `flags_override` when not
    /// empty.
    pub async fn start_coordinator_at(&mut self, index: usize, flags_override: &[String]) {
        let id = self.coordinator_ids[index].clone();
        let participants: Vec<String> = self
            .participant_addresses
            .iter()
            .enumerate()
            .map(|(shard, address)| format!("p{shard}={address}"))
            .collect();
        let mut args = strings(&format!(
            "coordinator --id {id} --listen {} --data-dir {} --accounts {} --participants {}",
            self.coordinator_addresses[index],
            self.dir.path().join(&id).display(),
            self.config.accounts,
            participants.join(","),
        ));
        if !self.store_nodes.is_empty() {
            let store: Vec<String> = self
                .store_nodes
                .iter()
                .map(|(id, address)| format!("{id}={address}"))
                .collect();
            args.push("--replicated-coordinator".into());
            args.extend(["--decision-store".into(), store.join(",")]);
        }
        if flags_override.is_empty() {
            args.extend(self.config.coordinator_flags.iter().cloned());
            if index == 0 {
                args.extend(self.config.first_coordinator_flags.iter().cloned());
            }
        } else {
            args.extend(flags_override.iter().cloned());
        }
        self.spawn(&id, tests::bank_node_program(), args);
        let address = self.coordinator_addresses[index].clone();
        self.wait_ready(&id, &address).await;
    }

    /// Starts participant `shard` with the config's flags plus `extra`.
    pub async fn start_participant(&mut self, shard: usize, extra: &[String]) {
        let mut args = strings(&format!(
            "participant --id p{shard} --listen {} --coordinator {} --data-dir {} \
             --accounts {} --initial-balance {} --shard {shard} --shards {}",
            self.participant_addresses[shard],
            self.coordinator_addresses.join(","),
            self.dir.path().join(format!("p{shard}")).display(),
            self.config.accounts,
            self.config.initial_balance,
            self.config.participants,
        ));
        args.extend(self.config.participant_flags.iter().cloned());
        args.extend(extra.iter().cloned());
        let id = format!("p{shard}");
        self.spawn(&id, tests::bank_node_program(), args);
        let address = self.participant_addresses[shard].clone();
        self.wait_ready(&id, &address).await;
    }

    /// kill -9 of participant `shard`.
    pub fn kill_participant(&mut self, shard: usize) {
        self.kill(&format!("p{shard}"));
    }

    /// kill -9 of the (first) coordinator.
    pub fn kill_coordinator(&mut self) {
        self.kill_coordinator_at(0);
    }

    /// kill -9 of coordinator `index`.
    pub fn kill_coordinator_at(&mut self, index: usize) {
        let id = self.coordinator_ids[index].clone();
        self.kill(&id);
    }

    /// kill -9 of decision-store node `id` (`r1`..).
    pub fn kill_store_node(&mut self, id: &str) {
        self.kill(id);
    }

    /// A client of every coordinator, trying the first one first.
    pub fn client(&self) -> BankClient {
        self.client_from(0)
    }

    /// A client of every coordinator, trying coordinator `index` first.
    pub fn client_from(&self, index: usize) -> BankClient {
        let mut coordinators = self.coordinator_addresses.clone();
        coordinators.rotate_left(index);
        BankClient {
            http: self.http.clone(),
            coordinators,
        }
    }

    /// A client of coordinator `index` alone.
    pub fn client_of_only(&self, index: usize) -> BankClient {
        BankClient {
            http: self.http.clone(),
            coordinators: vec![self.coordinator_addresses[index].clone()],
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

    /// Polls participant `shard` until `txn` is prepared there; fails the test after `limit`.
    pub async fn wait_prepared(&self, shard: usize, txn: &str, limit: Duration) {
        let started = Instant::now();
        while !self
            .prepared_at(shard)
            .await
            .is_some_and(|p| p.iter().any(|t| t == txn))
        {
            assert!(
                started.elapsed() < limit,
                "{txn} never prepared at p{shard}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Polls until no participant holds a prepared transaction; returns how long it took,
    /// or None after `limit`.
    pub async fn wait_until_nothing_prepared(&self, limit: Duration) -> Option<Duration> {
        self.wait_until_resolved(|_| true, limit).await
    }

    /// Polls until every participant answers and holds no prepared transaction that
    /// `watched` selects; returns how long it took, or None after `limit`.
    pub async fn wait_until_resolved(
        &self,
        watched: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            let mut all_clear = true;
            for shard in 0..self.config.participants {
                all_clear &= self
                    .prepared_at(shard)
                    .await
                    .is_some_and(|p| !p.iter().any(|txn| watched(txn)));
            }
            if all_clear {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// The decision-store node that says it leads, if exactly one does in the highest term.
    pub async fn store_leader(&self) -> Option<String> {
        let mut leaders = Vec::new();
        let mut top_term = 0;
        for (id, address) in &self.store_nodes {
            let Ok(reply) = self.http.get(address, "/status").await else {
                continue;
            };
            let term = reply.body["term"].as_u64().unwrap_or(0);
            if reply.body["role"] == "leader" {
                leaders.push((term, id.clone()));
            }
            top_term = top_term.max(term);
        }
        leaders.retain(|(term, _)| *term == top_term);
        match leaders.as_slice() {
            [(_, id)] => Some(id.clone()),
            _ => None,
        }
    }

    /// Polls [`Bank::store_leader`] until some node other than `not` leads.
    pub async fn wait_for_store_leader(&self, not: Option<&str>, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(leader) = self.store_leader().await
                && Some(leader.as_str()) != not
            {
                return leader;
            }
            assert!(
                started.elapsed() < limit,
                "no decision-store leader within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Bank {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut names = self.coordinator_ids.clone();
            names.extend((0..self.config.participants).map(|s| format!("p{s}")));
            names.extend(self.store_nodes.iter().map(|(id, _)| id.clone()));
            for name in names {
                let text = self.log_text(&name);
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("---- {name} log (last lines) ----");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        // The supervisor's own Drop kills and reaps every node.
    }
}

impl Bank {
    /// Waits until node `id` answers `/status` at `address` as itself (not some other
    /// process that took the port); panics with its log if it exited or never answered.
    async fn wait_ready(&mut self, id: &str, address: &str) {
        let started = Instant::now();
        loop {
            if let Ok(reply) = self.http.get(address, "/status").await
                && reply.status.is_success()
                && reply.body["id"] == id
            {
                return;
            }
            let state = self.supervisor.state(id).expect("known node");
            assert!(
                state == NodeState::Running && started.elapsed() < READY_TIMEOUT,
                "{id} not serving at {address} ({state:?}, {:?} after its start):\n{}",
                started.elapsed(),
                self.log_text(id)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

impl Outcome {
    pub fn is_definite(&self) -> bool {
        !matches!(self, Outcome::Info(_))
    }
}

/// Talks to the coordinators like a faultline workload would: to the first, and to the
/// next when one refuses the connection (nothing was sent, so that is safe).
#[derive(Clone)]
pub struct BankClient {
    pub http: JsonClient,
    pub coordinators: Vec<String>,
}

impl BankClient {
    pub async fn transfer(&self, txn: &str, from: &str, to: &str, amount: i64) -> Outcome {
        let body = json!({"txn": txn, "from": from, "to": to, "amount": amount});
        let mut refused = Outcome::Fail("no coordinator".into());
        for coordinator in &self.coordinators {
            match self.http.post(coordinator, "/transfer", &body).await {
                Ok(reply) if reply.status == 200 => return Outcome::Ok,
                Ok(reply) if reply.status == 409 || reply.status == 400 => {
                    return Outcome::Fail(reply.body.to_string());
                }
                Ok(reply) => return Outcome::Info(format!("{} {}", reply.status, reply.body)),
                Err(RpcError::Connect(error)) => {
                    refused = Outcome::Fail(format!("connect {coordinator}: {error}"));
                }
                Err(error) => return Outcome::Info(error.to_string()),
            }
        }
        refused
    }

    /// An atomic read of every balance, or None when refused or unanswered.
    pub async fn balances(&self) -> Option<Balances> {
        for coordinator in &self.coordinators {
            match self.http.get(coordinator, "/balances").await {
                Ok(reply) if reply.status == 200 => {
                    return serde_json::from_value(reply.body["balances"].clone()).ok();
                }
                Err(RpcError::Connect(_)) => continue,
                _ => return None,
            }
        }
        None
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
    run_transfers_through(
        std::slice::from_ref(client),
        clients,
        transfers_each,
        accounts,
        seed,
    )
    .await
}

/// As [`run_transfers`], worker `w` going through `through[w % through.len()]`.
pub async fn run_transfers_through(
    through: &[BankClient],
    clients: usize,
    transfers_each: usize,
    accounts: u64,
    seed: u64,
) -> Vec<Attempt> {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..clients {
        let client = through[worker % through.len()].clone();
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

/// Retries every attempt with an unknown outcome (same txn, same transfer) until the bank
/// gives a definite answer, at most `tries` times each; a retry of a decided transfer
/// gets the stored outcome, so afterwards every outcome is definite (or the test fails).
pub async fn settle_unknown(client: &BankClient, attempts: &mut [Attempt], tries: usize) {
    for attempt in attempts.iter_mut().filter(|a| !a.outcome.is_definite()) {
        for _ in 0..tries {
            let outcome = client
                .transfer(&attempt.txn, &attempt.from, &attempt.to, attempt.amount)
                .await;
            if outcome.is_definite() {
                attempt.outcome = outcome;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            attempt.outcome.is_definite(),
            "{} still unknown after {tries} retries: {:?}",
            attempt.txn,
            attempt.outcome
        );
    }
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
/// The balances read through `client` (within `limit`) are exactly the initial ones plus
/// every committed transfer of `attempts`, each of which must have a definite outcome.
pub async fn assert_final_balances(
    bank: &Bank,
    client: &BankClient,
    attempts: &[Attempt],
    limit: Duration,
) {
    let unknown: Vec<_> = attempts
        .iter()
        .filter(|a| !a.outcome.is_definite())
        .collect();
    assert!(unknown.is_empty(), "outcomes left unknown: {unknown:?}");
    let balances = read_eventually(client, limit).await;
    check_read(&balances, bank.config.accounts, bank.total());
    assert_eq!(
        balances,
        expected_balances(attempts, bank.config.accounts, bank.config.initial_balance)
    );
}

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
