//! Fault schedules: the YAML of DESIGN.md ("Fault schedules"), parsed, validated and expanded.
//!
//! Three stages, so that every mistake is refused before anything starts:
//!
//! 1. `raw`: serde types mirroring the YAML, with `deny_unknown_fields` and source
//!    locations (`serde_saphyr::Spanned`). serde-saphyr was chosen over the archived
//!    serde_yaml: pure Rust, no unsafe, never panics on bad input, reports line and column.
//! 2. `validate`: raw -> typed [`Schedule`]: durations become [`Duration`], rates numbers,
//!    targets are checked against the node ids, faults that would hold the same node (or
//!    the network) at the same time are refused, `for` must end within the run, `every`
//!    needs `for`, and so on. Each error is `file:line:column: expected ..., found ...`,
//!    pointing at the offending value or entry.
//! 3. `plan`: [`Schedule::plan`] expands the nemesis into a time-ordered list of
//!    [`PlannedFault`]s, drawing every random choice (random targets, random halves, ...) from
//!    a ChaCha20 generator seeded with the seed, so that a seed gives the same faults on any
//!    machine. Only `leader` targets are left to be resolved when the fault starts.
//!
//! # The schedule language
//!
//! ```yaml
//! name: register-partitions      # [A-Za-z0-9._-]+, names the run's directory
//! seed: 7                        # optional; the runner picks one when absent
//! system: { kind: raft, nodes: 5, bug: stale-read }   # bug optional
//! # or the two-phase-commit bank (node ids c1..cK, p1..pP and, replicated, r1..r3):
//! # system: { kind: bank, participants: 3, accounts: 8, initial_balance: 100,
//! #           bug: 2pc-forget-prepared, replicated_coordinator: true, coordinators: 3 }
//! # or a real etcd cluster (members n1..nN, N = 3 or 5; binary optional, default `etcd`
//! # on PATH; no bug; network netns only, its default):
//! # system: { kind: etcd, nodes: 3, binary: /usr/bin/etcd }
//! duration: 60s                  # durations: 500ms, 10s, 2m, 1h, 1m30s
//! workload: { kind: register, keys: 8, clients: 10, rate: 200/s, timeout: 1s }
//!                                # etcd also: read: linearizable (default) | serializable
//! network: proxy                 # proxy (default; etcd: netns) | netns
//! nemesis:
//!   - at: 5s                     # one fault at a time...
//!     partition: majorities-ring # isolate | halves | majorities-ring | bridge | leader | chase-leader | [[n1,n2],[n3]] | { star: n5 }
//!     for: 10s                   # absent: until the end of the run
//!   - at: 20s
//!     kill: leader               # n3 | leader | random | minority | majority | all
//!                                # bank: also coordinator | participant (a random one)
//!     restart_after: 2s          # (kill only; same as `for`)
//!     lose_unfsynced: true       # kill only, disk faults on the stopped node (crate::disk):
//!     corrupt: { file: "wal*", bitflip: 1e-6 }   # forget what it did not fsync (puts every
//!     truncate: { file: "wal*", bytes: 100 }     # data dir on faultfs), flip bits, cut tails
//!   - every: 7s                  # ...or periodic, from `from` (default 0s) to `until`
//!     from: 30s                  # (default: the end of the run); needs `for`
//!     one_of: [pause, kill, partition]   # with `target`; partition isolates the target
//!     target: random
//!     for: 3s
//!   - every: 3s                  # the leader chase: for 1.5 s, whoever leads is cut
//!     partition: chase-leader    # off, and each new leader in turn once it has led
//!     for: 1500ms                # (connected) for `grace` (default 0ms)
//!     grace: 80ms
//!   - at: 40s                    # the target's wall clock jumps 5 s ahead (or `-5s`
//!     clock: { bump: 5s }        # behind), and back when the fault ends
//!     target: leader             # needed; any target word (not etcd: see crate::clock)
//!     for: 3s
//!   - at: 44s                    # ... or flips between +200ms and its true time
//!     clock: { strobe: { delta: 200ms, period: 10ms } }   # every 10 ms
//!     target: n2
//!     for: 3s
//!   - at: 48s                    # each message held 50ms +- 20ms (proxy network only)
//!     delay: { latency: 50ms, jitter: 20ms }   # jitter optional (0ms)
//!     target: n1                 # the links to and from n1; no target: every link
//!     for: 3s
//!   - at: 52s                    # a whole percentage of the messages lost (proxy: a TCP
//!     loss: 10%                  # retransmission's wait each; netns: nftables drops)
//!     link: n1->n2               # or one directed link
//!     for: 3s
//! final: { heal: true, quiesce: 5s, final_reads: true }
//! checks: [linearizable, latency]   # linearizable (register, append) | set-full (set) | bank (bank) | elle (txns) | latency
//! elle: { models: [strict-serializable] }  # only with `elle` in checks; the default
//! ```
//!
//! `chase-leader` is the partition for leader-change bugs (Raft's figure 8): the nemesis
//! polls `GET /status` every [`crate::nemesis::CHASE_POLL_MS`] ms, and when a node other than
//! the isolated one leads (highest term), it heals the network and cuts that node off once
//! it has been seen leading for `grace` (so from within one poll of its election). The
//! leader at the window's start is cut at once. Every later leader of the window thus
//! leads, connected, for about `grace` and then sits alone taking writes it cannot
//! replicate (clients still send to it): many short terms whose
//! uncommitted tails differ, which is the log shape section 5.4.2 of the Raft paper warns
//! about. `grace` is only allowed with `chase-leader`. The history shows each isolation as
//! its own `start-partition`/`stop-partition` pair (same fault id, shape `chase leader nX`).
//!
//! `{ star: n5 }` is the partition for election-restriction bugs (section 5.4.1): every
//! link between two nodes other than `n5` is cut, both ways, and `n5` keeps its links to
//! all. Any other node reaches `n5` only, so it can gather two votes at most (itself and
//! `n5`); in a cluster of 4 or more nodes only `n5` can win an election, with the votes of
//! the others. Made stale first (`pause: n5` while the rest commit), `n5` must then be
//! refused by every node with a newer log, and a store that votes without comparing logs
//! elects it and loses the entries it missed. (With 3 nodes a neighbour plus `n5` is a
//! quorum, so the star forces nothing there.)
//!
//! The systems are [`crate::system`]'s registry: each says which workloads, networks and
//! planted bugs it takes (a Raft `bug:` must be one of the store's own bug names, a bank
//! bug one of the bank's, and etcd takes none), and validation refuses the rest with the
//! entry's position. Workload kinds: `register` (read/write/cas, cas-register model), `set`
//! (add/read, set check), `append` (kv-append: `append` of unique tokens and `get`,
//! linearizability against the kv-append model), `bank` (transfers and reads of every
//! balance; the bank system only). Workload defaults: `keys: 8`, `clients: 10`, `rate: 100/s`, `timeout: 1s`. Final
//! defaults: heal, quiesce 5s, final reads.
//!
//! Checks are the checker's registry ([`checker::check::REGISTRY`]); each workload names
//! those that judge its history ([`WorkloadKind::checks`]), which are both its default
//! `checks:` and the only ones a schedule may list for it: `[linearizable, latency]` for
//! the register and append workloads, `[set-full, latency]` for the set workload (`set` is
//! read as `set-full`), `[bank, latency]` for the bank workload, and `[elle, latency]` for
//! a transactional one. `elle: { models: [...] }` names the isolation models the elle
//! check judges (Elle's names: `read-committed`, `repeatable-read`,
//! `snapshot-isolation`, `serializable`, `strong-session-serializable`,
//! `strict-serializable`, ...; default `[strict-serializable]`), each once; it is refused
//! without `elle` in the checks. The schedule as run always writes the models out.
//!
//! # The bank
//!
//! `system: { kind: bank, ... }` runs the two-phase-commit bank of `system-under-test`:
//! coordinators `c1..cK` (K = `coordinators`, only with `replicated_coordinator: true`,
//! else 1), participants `p1..pP` (`participants`, default 3), and with
//! `replicated_coordinator` the decision store's Raft nodes `r1..r3`. `accounts` (default
//! 8) start with `initial_balance` (default 100). A bank bug goes to the role that has it
//! (`2pc-commit-without-all-votes`: coordinators; `2pc-forget-prepared`: participants).
//! The bank system goes with `workload: { kind: bank, clients, rate, timeout }` (no
//! `keys`) and the other systems with the other workloads. Targets `coordinator` and
//! `participant` pick one node of that role from the seeded generator; `leader` (as target
//! or partition) means the decision store's leader and is refused without
//! `replicated_coordinator`.
//!
//! # Clocks, delays and losses
//!
//! `clock:` moves one node's wall clock (CLOCK_REALTIME) and nothing else, through
//! libfaketime ([`crate::clock`] says how, and what it cannot move: monotonic clocks, Go
//! programs such as etcd, static binaries). `delay:` and `loss:` act on directed links
//! ([`crate::network::proxy`] for what they mean on a TCP stream); with `network: netns`
//! only `loss` exists (nftables' random drop; these kernels have no netem to delay).
//! `duplicate:` is refused with the reason: a TCP receiver discards duplicated segments,
//! so duplication never reaches the systems. None of them can be drawn by `one_of`.
//!
//! # Overlaps
//!
//! Kill and pause *hold* their target nodes for their window; a partition holds the
//! network; a clock fault holds its target's clock; a delay or loss holds the links'
//! impairments (one at a time, whatever links). Two faults may not hold the same thing at
//! the same time. A target that is not a named node (`leader`, `random`, ...) may be any
//! node, so it overlaps every fault of its kind whose window it shares. Faults holding
//! different things may overlap (a partition during a delay, a kill during a clock bump:
//! a restarted node comes back under the same clock offset).

mod plan;
pub(crate) mod raw;
mod render;
mod syntax;
mod timeline;
mod validate;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

pub use plan::{FaultAction, PlannedFault, PlannedLinks, PlannedPartition, Target};
pub use render::{clock_yaml, signed_ms};

pub use crate::disk::{Corrupt, DiskFaults, Probability, Truncate};
pub use crate::network::NetworkKind;
pub use crate::system::bank::DECISION_STORE_NODES;
pub use crate::system::{BankSystemSpec, NodeRole, SystemSpec};
pub use crate::workload::{CheckKind, ReadMode, WorkloadKind, WorkloadSpec};

/// The built-in schedule of `faultline run` with no argument: Raft, 5 nodes, a register
/// workload on 8 keys, kills, pauses and partitions, one minute.
pub const DEFAULT_SCHEDULE: &str = r#"name: default
seed: 1
system: { kind: raft, nodes: 5 }
duration: 60s
workload: { kind: register, keys: 8, clients: 10, rate: 200/s, timeout: 1s }
network: proxy
nemesis:
  - at: 5s
    partition: majorities-ring
    for: 8s
  - at: 16s
    kill: leader
    restart_after: 3s
  - at: 22s
    pause: random
    for: 4s
  - at: 28s
    partition: leader
    for: 6s
  - every: 6s
    from: 36s
    until: 54s
    one_of: [pause, kill, partition]
    target: random
    for: 3s
final: { heal: true, quiesce: 5s, final_reads: true }
checks: [linearizable, latency]
"#;

/// A schedule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// `error` is shown in the message, so it is deliberately not the error's `source`
    /// (that would print it twice in a chain).
    #[error("{file}: cannot read the schedule: {error}")]
    Read { file: String, error: std::io::Error },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
}

impl ScheduleError {
    /// The (line, column) of an invalid schedule, 1-based.
    pub fn position(&self) -> Option<(u64, u64)> {
        match self {
            ScheduleError::Invalid { line, column, .. } => Some((*line, *column)),
            ScheduleError::Read { .. } => None,
        }
    }
}

/// What happens after the nemesis stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalSpec {
    pub heal: bool,
    pub quiesce: Duration,
    pub final_reads: bool,
}

/// What a fault does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    Kill,
    Pause,
    Partition,
    Clock,
    Delay,
    Loss,
}

impl FaultKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Clock,
        FaultKind::Delay,
        FaultKind::Loss,
    ];

    /// The kinds `one_of` draws from (the others carry parameters of their own).
    pub const ONE_OF: [FaultKind; 3] = [FaultKind::Kill, FaultKind::Pause, FaultKind::Partition];

    /// The kind's name in schedules (`kill: n1`, `one_of: [pause]`) and in the history
    /// (`start-kill`).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Clock => "clock",
            FaultKind::Delay => "delay",
            FaultKind::Loss => "loss",
        }
    }

    /// The `one_of` kind named `name`.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        Self::ONE_OF.into_iter().find(|kind| kind.name() == name)
    }
}

/// Who a kill or pause hits (or, in `one_of`, whom a partition isolates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    Node(String),
    /// A random node of this role (`coordinator`, `participant`), drawn when planning.
    Role(NodeRole),
    Leader,
    Random,
    Minority,
    Majority,
    All,
}

impl TargetSpec {
    /// The targets named by a word of their own (after the nodes, the roles and `leader`),
    /// in the order messages list them.
    pub const WORDS: [TargetSpec; 4] = [
        TargetSpec::Random,
        TargetSpec::Minority,
        TargetSpec::Majority,
        TargetSpec::All,
    ];

    /// How a schedule writes the target.
    pub fn name(&self) -> &str {
        match self {
            TargetSpec::Node(node) => node,
            TargetSpec::Role(role) => role.name(),
            TargetSpec::Leader => "leader",
            TargetSpec::Random => "random",
            TargetSpec::Minority => "minority",
            TargetSpec::Majority => "majority",
            TargetSpec::All => "all",
        }
    }
}

/// The partition of a `partition:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionSpec {
    Isolate,
    Halves,
    MajoritiesRing,
    Bridge,
    Leader,
    /// `chase-leader`: isolate whoever leads, and move the cut to each new leader once it
    /// has led for `grace`, for the whole window (see [`crate::nemesis`]).
    ChaseLeader {
        grace: Duration,
    },
    Groups(Vec<Vec<String>>),
    /// `{ star: n5 }`: every link between two nodes other than the centre is cut, both
    /// ways; the centre keeps its links to all.
    Star(String),
}

impl PartitionSpec {
    /// The partitions named by a shape, in the order messages list them (`chase-leader`
    /// with no grace: the grace is a key of its own).
    pub const SHAPES: [PartitionSpec; 6] = [
        PartitionSpec::Isolate,
        PartitionSpec::Halves,
        PartitionSpec::MajoritiesRing,
        PartitionSpec::Bridge,
        PartitionSpec::Leader,
        PartitionSpec::ChaseLeader {
            grace: Duration::ZERO,
        },
    ];

    /// The shape's name, `None` for explicit groups and stars.
    pub fn shape_name(&self) -> Option<&'static str> {
        Some(match self {
            PartitionSpec::Isolate => "isolate",
            PartitionSpec::Halves => "halves",
            PartitionSpec::MajoritiesRing => "majorities-ring",
            PartitionSpec::Bridge => "bridge",
            PartitionSpec::Leader => "leader",
            PartitionSpec::ChaseLeader { .. } => "chase-leader",
            PartitionSpec::Groups(_) | PartitionSpec::Star(_) => return None,
        })
    }

    /// The shape named `name` (a `chase-leader` with no grace).
    pub fn from_shape_name(name: &str) -> Option<PartitionSpec> {
        Self::SHAPES
            .into_iter()
            .find(|shape| shape.shape_name() == Some(name))
    }

    /// The fewest nodes the shape can cut.
    pub fn min_nodes(&self) -> usize {
        match self {
            PartitionSpec::Halves => 2,
            PartitionSpec::MajoritiesRing | PartitionSpec::Bridge => 3,
            _ => 1,
        }
    }

    /// Whether the shape needs a leader (`leader`, `chase-leader`).
    pub fn needs_leader(&self) -> bool {
        matches!(
            self,
            PartitionSpec::Leader | PartitionSpec::ChaseLeader { .. }
        )
    }

    /// The shape names joined with commas, for messages.
    pub fn shape_names() -> String {
        Self::SHAPES
            .iter()
            .filter_map(PartitionSpec::shape_name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a nemesis entry does when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultChoice {
    /// `kill: t` or `pause: t`.
    Process { kind: FaultKind, target: TargetSpec },
    /// `partition: shape`.
    Partition(PartitionSpec),
    /// `one_of: [...]` with `target: t`: one kind drawn at random each time.
    OneOf {
        kinds: Vec<FaultKind>,
        target: TargetSpec,
    },
    /// `clock: { bump | strobe }` with `target: t`.
    Clock {
        fault: ClockFault,
        target: TargetSpec,
    },
    /// `delay: {...}` or `loss: N%`, on every link, `target`'s links or one `link`.
    Impair {
        impairment: Impairment,
        on: LinkSpec,
    },
}

/// What a `clock:` fault does to its target's wall clock (see [`crate::clock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockFault {
    /// `bump: 5s` (or `-5s`): the clock jumps by this much at the start and back at the end.
    Bump { offset_ms: i64 },
    /// `strobe: { delta, period }`: the clock flips between `+delta` and `+0` every
    /// `period`, for the whole window.
    Strobe { delta: Duration, period: Duration },
}

/// What a `delay:` or `loss:` fault does to the links it is on (see [`crate::network`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impairment {
    /// `delay: { latency, jitter }`: each message is held `latency` +- up to `jitter`.
    Delay { latency: Duration, jitter: Duration },
    /// `loss: 10%`: that share of the packets (netns) or chunks (proxy) is lost.
    Loss { percent: u8 },
}

/// Which links a `delay:` or `loss:` fault is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSpec {
    /// No `target` and no `link`: every link.
    Every,
    /// `target: t`: every link to and from the target's nodes.
    Around(TargetSpec),
    /// `link: n1->n2`: the one directed link.
    One(crate::network::Link),
}

impl Impairment {
    /// `delay` or `loss`.
    pub fn kind(&self) -> FaultKind {
        match self {
            Impairment::Delay { .. } => FaultKind::Delay,
            Impairment::Loss { .. } => FaultKind::Loss,
        }
    }
}

/// When a nemesis entry fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    At(Duration),
    Every {
        every: Duration,
        from: Duration,
        until: Duration,
    },
}

/// One validated nemesis entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// Line of the entry in the schedule file, for messages.
    pub line: u64,
    pub timing: Timing,
    pub choice: FaultChoice,
    /// How long each occurrence lasts; `None`: until the end of the run.
    pub length: Option<Duration>,
    /// A kill's disk faults (`lose_unfsynced`, `corrupt`, `truncate`); empty otherwise.
    pub disk: DiskFaults,
}

/// A validated schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    /// `None` when the file has no seed: the runner picks one and records it.
    pub seed: Option<u64>,
    pub system: SystemSpec,
    pub duration: Duration,
    pub workload: WorkloadSpec,
    pub network: NetworkKind,
    pub nemesis: Vec<FaultSpec>,
    pub final_phase: FinalSpec,
    pub checks: Vec<CheckKind>,
    /// The isolation models the `elle` check judges; empty when it is not among `checks`.
    pub elle_models: Vec<checker::elle::Model>,
}

impl Schedule {
    /// The node ids: `n1`..`nN` for Raft, `c1.., p1.., r1..` for the bank.
    pub fn node_ids(&self) -> Vec<String> {
        self.system.node_ids()
    }

    /// The kinds of fault this schedule can inject.
    pub fn fault_kinds(&self) -> BTreeSet<FaultKind> {
        self.nemesis
            .iter()
            .flat_map(|fault| match &fault.choice {
                FaultChoice::Process { kind, .. } => vec![*kind],
                FaultChoice::Partition(_) => vec![FaultKind::Partition],
                FaultChoice::OneOf { kinds, .. } => kinds.clone(),
                FaultChoice::Clock { .. } => vec![FaultKind::Clock],
                FaultChoice::Impair { impairment, .. } => vec![impairment.kind()],
            })
            .collect()
    }

    /// Whether some kill loses unfsynced writes: then every node's data dir is on faultfs
    /// (see [`crate::disk`]).
    pub fn uses_faultfs(&self) -> bool {
        self.nemesis.iter().any(|fault| fault.disk.lose_unfsynced)
    }

    /// The concrete, time-ordered fault plan for `seed` (see the module docs).
    pub fn plan(&self, seed: u64) -> Vec<PlannedFault> {
        plan::expand(self, seed)
    }
}

/// Parses and validates a schedule; `file_name` is used in messages only.
pub fn parse_schedule(text: &str, file_name: &str) -> Result<Schedule, ScheduleError> {
    let raw = raw::parse(text, file_name)?;
    validate::validate(raw, file_name)
}

/// Reads, parses and validates the schedule at `path`.
pub fn load_schedule(path: &Path) -> Result<Schedule, ScheduleError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ScheduleError::Read {
        file: file.clone(),
        error,
    })?;
    parse_schedule(&text, &file)
}

/// The built-in default schedule, parsed.
pub fn default_schedule() -> Schedule {
    parse_schedule(DEFAULT_SCHEDULE, "<built-in default>")
        .expect("the built-in schedule is valid (tested)")
}

/// Formats a duration the way schedules write them (`1m30s`, `250ms`).
pub fn format_duration(duration: Duration) -> String {
    let total_ms = duration.as_millis();
    if total_ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let (hours, rest) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    for (value, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

/// Parses `500ms`, `10s`, `2m`, `1h`, `1m30s`. `None` if malformed.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60)?),
            "h" => Duration::from_secs(value.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        for bad in ["", "10", "s", "10 s", "1.5s", "10x", "-1s", "1s2"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        for text in ["1m30s", "250ms", "1h", "5s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn the_default_schedule_is_valid_and_uses_every_fault_kind() {
        let schedule = default_schedule();
        assert_eq!(schedule.system.nodes, 5);
        assert_eq!(schedule.workload.keys, 8);
        assert_eq!(schedule.duration, Duration::from_secs(60));
        assert_eq!(
            schedule.fault_kinds(),
            BTreeSet::from([FaultKind::Kill, FaultKind::Pause, FaultKind::Partition])
        );
        assert!(!schedule.plan(1).is_empty());
    }

    /// `{ star: n5 }` cuts every link between two of n1..n4, both ways, and none of n5's;
    /// it survives the as-run YAML, and a centre that is not a node is refused.
    #[test]
    fn a_star_keeps_only_the_centres_links() {
        let text = "name: t\nsystem: { kind: raft, nodes: 5 }\nduration: 10s\nworkload: { kind: register }\nnemesis:\n  - at: 1s\n    partition: { star: n5 }\n    for: 2s\n";
        let schedule = parse_schedule(text, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        let plan = schedule.plan(1);
        let [fault] = plan.as_slice() else {
            panic!("one fault expected: {plan:?}")
        };
        let FaultAction::Partition(PlannedPartition::Links { shape, links }) = &fault.action else {
            panic!("a star is a set of links: {fault:?}")
        };
        assert_eq!(shape, "star n5");
        assert_eq!(links.len(), 4 * 3, "{links:?}");
        assert!(
            links
                .iter()
                .all(|l| l.from != "n5" && l.to != "n5" && l.from != l.to)
        );
        let yaml = schedule.to_yaml(1);
        let again = parse_schedule(&yaml, "as-run.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(again.nemesis[0].choice, schedule.nemesis[0].choice);
        let bad = text.replace("star: n5", "star: n9");
        let error = parse_schedule(&bad, "t.yaml").unwrap_err().to_string();
        assert!(
            error.contains("t.yaml:7:")
                && error.contains("star's centre")
                && error.contains("`n9`"),
            "{error}"
        );
    }
}
