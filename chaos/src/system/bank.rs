//! The two-phase-commit bank of `system-under-test`: `system: { kind: bank, participants,
//! accounts, initial_balance, replicated_coordinator, coordinators, bug }`.
//!
//! Coordinators `c1..cK` (K = `coordinators`, only with `replicated_coordinator: true`, else
//! 1), participants `p1..pP` and, replicated, the decision store's Raft nodes `r1..r3`:
//!
//! - coordinator: `PROGRAM [bank prefix] coordinator --id cK --listen ADDR --data-dir DIR
//!   --accounts N --participants p1=ADDR,...`, plus with a replicated coordinator
//!   `--replicated-coordinator --decision-store r1=ADDR,r2=ADDR,r3=ADDR`;
//! - participant: `PROGRAM [bank prefix] participant --id pI --listen ADDR --coordinator
//!   ADDR[,ADDR...] --data-dir DIR --accounts N --initial-balance B --shard I-1 --shards P`
//!   (the coordinators' addresses, asked in turn);
//! - decision store: Raft nodes, started like the Raft system's nodes with the other `r`
//!   nodes as peers.
//!
//! A bank bug (one of the bank's own [`BankBug`] names) goes only to the role that has it
//! ([`bug_role`]). Every node answers `GET /status`; the leader (for `leader` targets) is the
//! decision store's, so a bank with one coordinator has none.

use std::sync::Arc;

use clap::ValueEnum;
use serde_saphyr::{Location, Spanned};
use system_under_test::bank::BankBug;
use workloads::client::pool::NodePool;

use super::raft::{common_args, raft_node_args};
use super::{
    BankFacts, ClientSpec, LeaderClaim, NodeCommand, NodeEnv, NodeRole, Probe, RawSystem, System,
    SystemError, bounded, known_bug, named_addrs, numbered,
};
use crate::workload::{ReadMode, WorkloadKind};

/// The `kind:` of the bank.
pub const KIND: &str = "bank";
/// A bank coordinator.
pub const COORDINATOR: NodeRole = NodeRole::new("coordinator");
/// A bank participant (one shard of the accounts).
pub const PARTICIPANT: NodeRole = NodeRole::new("participant");
/// A Raft node of a replicated coordinator's decision store.
pub const DECISION_STORE: NodeRole = NodeRole::new("decision-store");
/// How many Raft nodes hold a replicated bank coordinator's decisions.
pub const DECISION_STORE_NODES: usize = 3;
const MAX_PARTICIPANTS: u64 = 32;
const MAX_COORDINATORS: u64 = 9;
const MAX_ACCOUNTS: u64 = 10_000;
const MAX_INITIAL_BALANCE: u64 = 1_000_000_000;

/// The role that has a bank bug.
pub fn bug_role(bug: BankBug) -> NodeRole {
    match bug {
        BankBug::CommitWithoutAllVotes => COORDINATOR,
        BankBug::ForgetPrepared => PARTICIPANT,
    }
}

/// The bank's planted bugs' names, from its own enum.
pub fn bug_names() -> Vec<String> {
    BankBug::value_variants()
        .iter()
        .map(BankBug::to_string)
        .collect()
}

/// The two-phase-commit bank's shape (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankSystemSpec {
    pub participants: usize,
    pub accounts: usize,
    pub initial_balance: i64,
    pub replicated_coordinator: bool,
    /// 1 unless replicated.
    pub coordinators: usize,
}

impl BankSystemSpec {
    /// Every account's name, `a0..a{N-1}` (the bank's own naming).
    pub fn account_names(&self) -> Vec<String> {
        (0..self.accounts).map(|i| format!("a{i}")).collect()
    }

    /// The sum every read must see.
    pub fn total(&self) -> i64 {
        self.initial_balance.saturating_mul(self.accounts as i64)
    }
}

/// `system: { kind: bank, ... }`.
pub fn parse(raw: &RawSystem, _here: Location) -> Result<Arc<dyn System>, SystemError> {
    const KEYS: &str =
        "participants, accounts, initial_balance, replicated_coordinator, coordinators or bug";
    if let Some(nodes) = &raw.nodes {
        return Err(SystemError::new(
            nodes.referenced,
            format!(
                "expected {KEYS} for a bank system (its nodes follow from its roles), found `nodes`"
            ),
        ));
    }
    if let Some((key, location)) = raw.first_key_not_in(&[
        "participants",
        "accounts",
        "initial_balance",
        "replicated_coordinator",
        "coordinators",
        "bug",
    ]) {
        return Err(SystemError::new(
            location,
            format!("expected {KEYS} for a bank system, found `{key}`"),
        ));
    }
    let count = |value: &Option<Spanned<u64>>, what: &str, range: (u64, u64), default| {
        value
            .as_ref()
            .map_or(Ok(default), |v| bounded(v, what, range.0, range.1))
    };
    let participants = count(
        &raw.participants,
        "a number of participants",
        (1, MAX_PARTICIPANTS),
        3,
    )?;
    // Two accounts at least: a transfer needs two.
    let accounts = count(&raw.accounts, "a number of accounts", (2, MAX_ACCOUNTS), 8)?;
    let initial_balance = count(
        &raw.initial_balance,
        "an initial balance",
        (1, MAX_INITIAL_BALANCE),
        100,
    )? as i64;
    let replicated_coordinator = raw.replicated_coordinator.as_ref().is_some_and(|r| r.value);
    let coordinators = match (&raw.coordinators, replicated_coordinator) {
        (Some(c), false) => {
            return Err(SystemError::new(
                c.referenced,
                "expected `coordinators` only with `replicated_coordinator: true` (an unreplicated bank has one coordinator), found `coordinators`",
            ));
        }
        (Some(c), true) => bounded(c, "a number of coordinators", 1, MAX_COORDINATORS)?,
        (None, true) => 3,
        (None, false) => 1,
    };
    known_bug(&raw.bug, KIND)?;
    Ok(Arc::new(BankSystemSpec {
        participants,
        accounts,
        initial_balance,
        replicated_coordinator,
        coordinators,
    }))
}

impl BankSystemSpec {
    /// `--bug NAME` when the schedule's bank bug belongs to `role`.
    fn bug_args(env: &NodeEnv<'_>) -> Vec<String> {
        let has_it = env.bug.is_some_and(|bug| {
            BankBug::value_variants()
                .iter()
                .any(|b| b.to_string() == bug && bug_role(*b) == env.role)
        });
        match env.bug {
            Some(bug) if has_it => vec!["--bug".into(), bug.to_string()],
            _ => Vec::new(),
        }
    }

    fn coordinator(&self, env: &NodeEnv<'_>) -> Vec<String> {
        let nodes = self.nodes();
        let mut args = env.programs.bank_args_prefix.clone();
        args.push("coordinator".into());
        args.extend(common_args(env));
        args.extend([
            "--accounts".to_string(),
            self.accounts.to_string(),
            "--participants".into(),
            named_addrs(&nodes, PARTICIPANT, env.id, env.reach),
        ]);
        if self.replicated_coordinator {
            args.extend([
                "--replicated-coordinator".to_string(),
                "--decision-store".into(),
                named_addrs(&nodes, DECISION_STORE, env.id, env.reach),
            ]);
        }
        args.extend(Self::bug_args(env));
        args
    }

    fn participant(&self, env: &NodeEnv<'_>) -> Vec<String> {
        let nodes = self.nodes();
        let of_role = |role: NodeRole| -> Vec<String> {
            nodes
                .iter()
                .filter(|(_, r)| *r == role)
                .map(|(id, _)| id.clone())
                .collect()
        };
        let shard = of_role(PARTICIPANT)
            .iter()
            .position(|p| p == env.id)
            .expect("a participant of this bank");
        let coordinators: Vec<String> = of_role(COORDINATOR)
            .iter()
            .map(|c| (env.reach)(c).to_string())
            .collect();
        let mut args = env.programs.bank_args_prefix.clone();
        args.push("participant".into());
        args.extend(common_args(env));
        args.extend([
            "--coordinator".to_string(),
            coordinators.join(","),
            "--accounts".into(),
            self.accounts.to_string(),
            "--initial-balance".into(),
            self.initial_balance.to_string(),
            "--shard".into(),
            shard.to_string(),
            "--shards".into(),
            self.participants.to_string(),
        ]);
        args.extend(Self::bug_args(env));
        args
    }
}

impl System for BankSystemSpec {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// `c1..cK`, `p1..pP`, then `r1..r3` (replicated).
    fn nodes(&self) -> Vec<(String, NodeRole)> {
        let store = if self.replicated_coordinator {
            DECISION_STORE_NODES
        } else {
            0
        };
        numbered("c", self.coordinators, COORDINATOR)
            .chain(numbered("p", self.participants, PARTICIPANT))
            .chain(numbered("r", store, DECISION_STORE))
            .collect()
    }

    fn yaml_fields(&self) -> String {
        let replicated = if self.replicated_coordinator {
            format!(
                ", replicated_coordinator: true, coordinators: {}",
                self.coordinators
            )
        } else {
            String::new()
        };
        format!(
            "participants: {}, accounts: {}, initial_balance: {}{replicated}",
            self.participants, self.accounts, self.initial_balance
        )
    }

    fn workloads(&self) -> &'static [WorkloadKind] {
        &[WorkloadKind::Bank]
    }

    fn role_targets(&self) -> Vec<NodeRole> {
        vec![COORDINATOR, PARTICIPANT]
    }

    fn no_leader_message(&self, word: &str) -> Option<String> {
        (!self.replicated_coordinator).then(|| {
            format!("expected `{word}` only where there is a leader (a raft system, or a bank with replicated_coordinator: true), found `{word}` in a bank with one coordinator")
        })
    }

    fn command(&self, env: &NodeEnv<'_>) -> NodeCommand {
        let args = match env.role {
            COORDINATOR => self.coordinator(env),
            PARTICIPANT => self.participant(env),
            _ => raft_node_args(env, &self.nodes()),
        };
        NodeCommand {
            program: env.programs.program.clone(),
            args,
        }
    }

    fn ready(&self, pool: Arc<NodePool>, deadline: tokio::time::Instant) -> Probe<bool> {
        super::answers_status(pool, deadline)
    }

    fn claim_leadership(
        &self,
        _id: &str,
        role: NodeRole,
        pool: Arc<NodePool>,
        deadline: tokio::time::Instant,
    ) -> Option<Probe<Option<LeaderClaim>>> {
        (role == DECISION_STORE).then(|| super::raft_status_claim(pool, deadline))
    }

    fn client(&self, _read: Option<ReadMode>) -> ClientSpec {
        ClientSpec::Bank {
            coordinators: COORDINATOR,
            accounts: self.accounts,
        }
    }

    fn bank_facts(&self) -> Option<BankFacts> {
        Some(BankFacts {
            accounts: self.account_names(),
            total: self.total(),
        })
    }

    fn describe(&self) -> String {
        let ids: Vec<String> = self.nodes().into_iter().map(|(id, _)| id).collect();
        format!("bank nodes {}", ids.join(","))
    }
}
