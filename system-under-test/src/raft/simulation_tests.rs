//! An in-memory multi-node simulation: several engines, a lossy reordering network,
//! partitions, simulated disks whose writes become durable only when the simulation says
//! so, and crashes that lose everything not yet durable. Over many seeds it checks
//! Election Safety (one leader per term) and State Machine Safety (no two nodes apply
//! different entries at one index), and that the cluster keeps committing.

use std::collections::{BTreeMap, HashMap};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::engine::{Action, Engine, EngineConfig, InitialState, Input, Role};
use super::types::{Entry, HardState, Message, NodeId, Payload, SnapshotMeta};
use crate::state_machine::Command;

/// What a simulated disk has made durable, and what is still in its write queue.
#[derive(Default, Clone)]
struct SimDisk {
    hard_state: HardState,
    entries: Vec<Entry>,
    queued: Vec<Action>,
    /// Messages released once the queued writes are durable.
    held_messages: Vec<(NodeId, Message)>,
}

impl SimDisk {
    fn make_durable(&mut self) -> Option<(u64, u64)> {
        let mut last = None;
        for action in self.queued.drain(..) {
            match action {
                Action::PersistHardState(hard_state) => self.hard_state = hard_state,
                Action::AppendLog { entries } => {
                    let first = entries[0].index;
                    self.entries.truncate((first - 1) as usize);
                    last = entries.last().map(|e| (e.index, e.term));
                    self.entries.extend(entries);
                }
                other => panic!("unexpected persistence action {other:?}"),
            }
        }
        last
    }
}

struct Sim {
    rng: ChaCha8Rng,
    ids: Vec<NodeId>,
    engines: HashMap<NodeId, Engine>,
    disks: HashMap<NodeId, SimDisk>,
    network: Vec<(NodeId, NodeId, Message)>,
    /// Nodes in different groups cannot talk.
    group_of: HashMap<NodeId, u8>,
    now_ms: u64,
    leaders_by_term: BTreeMap<u64, NodeId>,
    applied: HashMap<NodeId, BTreeMap<u64, Entry>>,
    next_token: u64,
}

fn config(id: &str, ids: &[NodeId], seed: u64) -> EngineConfig {
    EngineConfig {
        id: id.to_string(),
        peers: ids.iter().filter(|p| *p != id).cloned().collect(),
        election_timeout_min_ms: 150,
        election_timeout_max_ms: 300,
        heartbeat_ms: 50,
        max_entries_per_message: 8,
        max_inflight_messages: 4,
        log_retain_entries: 0,
        bug: None,
        seed,
    }
}

impl Sim {
    fn new(nodes: usize, seed: u64) -> Sim {
        let ids: Vec<NodeId> = (1..=nodes).map(|i| format!("n{i}")).collect();
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(seed),
            ids: ids.clone(),
            engines: HashMap::new(),
            disks: HashMap::new(),
            network: Vec::new(),
            group_of: ids.iter().map(|id| (id.clone(), 0)).collect(),
            now_ms: 0,
            leaders_by_term: BTreeMap::new(),
            applied: HashMap::new(),
            next_token: 0,
        };
        for id in &ids {
            sim.disks.insert(id.clone(), SimDisk::default());
            sim.boot(id, seed);
        }
        sim
    }

    /// (Re)starts a node from what its disk made durable.
    fn boot(&mut self, id: &NodeId, seed: u64) {
        let disk = self.disks.get_mut(id).expect("node exists");
        disk.queued.clear();
        disk.held_messages.clear();
        let initial = InitialState {
            hard_state: disk.hard_state.clone(),
            snapshot: SnapshotMeta::default(),
            log_offset: 0,
            log_offset_term: 0,
            entries: disk.entries.clone(),
        };
        let salt = seed ^ self.now_ms ^ id.len() as u64 ^ (id.as_bytes()[1] as u64) << 32;
        let engine = Engine::new(config(id, &self.ids, salt), initial, self.now_ms);
        self.engines.insert(id.clone(), engine);
        // A restarted node re-applies from scratch; its earlier applies stay recorded
        // and must agree with the new ones.
    }

    fn step(&mut self, id: &NodeId, input: Input) {
        let engine = self.engines.get_mut(id).expect("node exists");
        engine.step(input);
        let actions = engine.drain_actions();
        if engine.role() == Role::Leader {
            let term = engine.term();
            let previous = self.leaders_by_term.insert(term, id.clone());
            assert!(
                previous.as_ref().is_none_or(|p| p == id),
                "Election Safety: two leaders in term {term}: {previous:?} and {id}"
            );
        }
        for action in actions {
            self.carry_out(id, action);
        }
    }

    fn carry_out(&mut self, id: &NodeId, action: Action) {
        let disk = self.disks.get_mut(id).expect("node exists");
        match action {
            Action::PersistHardState(_) | Action::AppendLog { .. } => disk.queued.push(action),
            Action::Send {
                to,
                message,
                after_persist,
            } => {
                if after_persist {
                    disk.held_messages.push((to, message));
                } else {
                    self.network.push((id.clone(), to, message));
                }
            }
            Action::Apply { entries } => {
                let applied = self.applied.entry(id.clone()).or_default();
                for entry in entries {
                    let earlier = applied.insert(entry.index, entry.clone());
                    assert!(
                        earlier.is_none_or(|e| e == entry),
                        "{id} re-applied a different entry at {}",
                        entry.index
                    );
                }
            }
            Action::SendSnapshot { .. }
            | Action::InstallSnapshot { .. }
            | Action::CompactLog { .. } => panic!("no snapshots in this simulation"),
            Action::Proposed { .. }
            | Action::ProposalRefused { .. }
            | Action::ReadReady { .. }
            | Action::ReadRefused { .. }
            | Action::LeadershipLost { .. } => {}
        }
    }

    fn flush_disk(&mut self, id: &NodeId) {
        let disk = self.disks.get_mut(id).expect("node exists");
        let persisted = disk.make_durable();
        let held = std::mem::take(&mut disk.held_messages);
        for (to, message) in held {
            self.network.push((id.clone(), to, message));
        }
        if let Some((index, term)) = persisted {
            self.step(id, Input::LogPersisted { index, term });
        }
    }

    fn deliver_one(&mut self) {
        if self.network.is_empty() {
            return;
        }
        // Mostly in order, sometimes reordered.
        let position = if self.rng.random_bool(0.8) {
            0
        } else {
            self.rng.random_range(0..self.network.len())
        };
        let (from, to, message) = self.network.remove(position);
        let dropped = self.rng.random_bool(0.05) || self.group_of[&from] != self.group_of[&to];
        if !dropped {
            self.step(&to, Input::Receive { from, message });
        }
    }

    fn random_node(&mut self) -> NodeId {
        let index = self.rng.random_range(0..self.ids.len());
        self.ids[index].clone()
    }

    fn perturb(&mut self, seed: u64) {
        match self.rng.random_range(0..100) {
            0..3 => {
                let id = self.random_node();
                self.boot(&id, seed);
            }
            3..6 => {
                for id in self.ids.clone() {
                    let group = self.rng.random_range(0..2);
                    self.group_of.insert(id, group);
                }
            }
            6..12 => {
                for group in self.group_of.values_mut() {
                    *group = 0;
                }
            }
            _ => {}
        }
    }

    fn run(&mut self, steps: usize, seed: u64, faults: bool) {
        for _ in 0..steps {
            match self.rng.random_range(0..100) {
                0..10 => {
                    self.now_ms += self.rng.random_range(1..20);
                    for id in self.ids.clone() {
                        let now_ms = self.now_ms;
                        self.step(&id, Input::Tick { now_ms });
                    }
                }
                10..25 => {
                    let id = self.random_node();
                    self.flush_disk(&id);
                }
                25..35 => {
                    let id = self.random_node();
                    self.next_token += 1;
                    let command = Command::Write {
                        key: "k".into(),
                        value: json!(self.next_token),
                        request: None,
                    };
                    let token = self.next_token;
                    self.step(&id, Input::Propose { token, command });
                }
                35..37 if faults => self.perturb(seed),
                _ => {
                    for _ in 0..3 {
                        self.deliver_one();
                    }
                }
            }
        }
    }

    fn check_state_machine_safety(&self) {
        let mut agreed: BTreeMap<u64, &Entry> = BTreeMap::new();
        for applied in self.applied.values() {
            for (index, entry) in applied {
                let first = agreed.entry(*index).or_insert(entry);
                assert_eq!(
                    *first, entry,
                    "State Machine Safety: different entries applied at index {index}"
                );
            }
        }
    }

    fn max_commit(&self) -> u64 {
        self.engines
            .values()
            .map(|e| e.commit_index())
            .max()
            .unwrap_or(0)
    }

    fn commands_applied_by_all(&self) -> usize {
        self.ids
            .iter()
            .map(|id| {
                self.applied.get(id).map_or(0, |applied| {
                    applied
                        .values()
                        .filter(|e| matches!(e.payload, Payload::Command { .. }))
                        .count()
                })
            })
            .min()
            .unwrap_or(0)
    }
}

#[test]
fn election_and_state_machine_safety_5_2_5_4_hold_under_faults_over_many_seeds() {
    for seed in 0..60 {
        let nodes = if seed % 2 == 0 { 3 } else { 5 };
        let mut sim = Sim::new(nodes, seed);
        sim.run(6000, seed, true);
        sim.check_state_machine_safety();
    }
}

#[test]
fn cluster_commits_and_converges_after_faults_heal() {
    for seed in 100..120 {
        let mut sim = Sim::new(3, seed);
        sim.run(3000, seed, true);
        for group in sim.group_of.values_mut() {
            *group = 0;
        }
        let commit_before = sim.max_commit();
        sim.run(4000, seed, false);
        sim.check_state_machine_safety();
        assert!(
            sim.max_commit() > commit_before,
            "seed {seed}: nothing committed after healing (commit {commit_before})"
        );
        assert!(
            sim.commands_applied_by_all() > 0,
            "seed {seed}: some node applied no command"
        );
        let leaders = sim
            .engines
            .values()
            .filter(|e| e.role() == Role::Leader)
            .count();
        assert!(leaders <= 1, "seed {seed}: {leaders} leaders after healing");
    }
}
