//! The workloads a schedule can name, and the checks that judge them.
//!
//! Each enum here owns its names: the schedule validator reads them with `from_name`, the
//! renderer writes them with `name`, and messages list them from `ALL`, so that a name is
//! written once. A workload kind also owns the check that judges its history
//! ([`WorkloadKind::check`]) and its model ([`WorkloadKind::model`]), used by the runner and
//! by `faultline check` on a stored run alike.
//!
//! This module sits below both [`crate::schedule`] and [`crate::system`] (a system says which
//! workloads it accepts; a schedule names one), so that neither imports the other.

use std::time::Duration;

use checker::model::ModelKind;
pub use workloads::client::ReadMode;

/// The client workload of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    pub kind: WorkloadKind,
    /// Keys the ops spread over; 0 for a workload that has none ([`WorkloadKind::keyed`]).
    pub keys: usize,
    pub clients: usize,
    /// Operations per second over all clients.
    pub rate_per_s: f64,
    pub timeout: Duration,
    /// How reads are served, for a system that offers a choice (etcd); `None` elsewhere.
    pub read: Option<ReadMode>,
    /// `client: { command }`: the stdio adapter's command template (validated with
    /// `system::command::CLIENT_PLACEHOLDERS`), which replaces the system's own client.
    pub client_command: Option<String>,
}

/// What the clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// read / write / cas on registers, checked with the cas-register model.
    Register,
    /// add / read on sets, checked with the set model.
    Set,
    /// Transfers between random accounts and reads of every balance (the bank system).
    Bank,
    /// kv-append: `append` of unique tokens and `get`, checked with the kv-append model.
    Append,
    /// Elle's list-append transactions (`txn` of `append` and `r` micro-ops), checked by
    /// the Elle check for strict serializability.
    ListAppend,
    /// Elle's rw-register transactions (`txn` of `w` and `r` micro-ops), checked by the
    /// Elle check for strict serializability.
    RwRegister,
}

impl WorkloadKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [WorkloadKind; 6] = [
        WorkloadKind::Register,
        WorkloadKind::Set,
        WorkloadKind::Append,
        WorkloadKind::ListAppend,
        WorkloadKind::RwRegister,
        WorkloadKind::Bank,
    ];

    /// The kind's name in schedules.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::Set => "set",
            WorkloadKind::Bank => "bank",
            WorkloadKind::Append => "append",
            WorkloadKind::ListAppend => "list-append",
            WorkloadKind::RwRegister => "rw-register",
        }
    }

    /// The kind named `name` in a schedule.
    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether its ops name keys (`keys:` in the schedule); the bank's name accounts.
    pub fn keyed(self) -> bool {
        self != WorkloadKind::Bank
    }

    /// The check that judges this workload's history (besides `latency`, which fits all).
    pub fn check(self) -> CheckKind {
        match self {
            WorkloadKind::Register | WorkloadKind::Append => CheckKind::Linearizable,
            WorkloadKind::Set => CheckKind::Set,
            WorkloadKind::Bank => CheckKind::Bank,
            WorkloadKind::ListAppend | WorkloadKind::RwRegister => CheckKind::Elle,
        }
    }

    /// The model this workload's history is checked against, if it has one (the bank and
    /// the transactional workloads have their own checks).
    pub fn model(self) -> Option<ModelKind> {
        match self {
            WorkloadKind::Register => Some(ModelKind::CasRegister),
            WorkloadKind::Append => Some(ModelKind::KvAppend),
            WorkloadKind::Set => Some(ModelKind::Set),
            WorkloadKind::Bank | WorkloadKind::ListAppend | WorkloadKind::RwRegister => None,
        }
    }
}

/// A check a schedule can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckKind {
    /// Linearizability against the workload's model ([`WorkloadKind::model`]).
    Linearizable,
    /// Latency percentiles: reported, never judged.
    Latency,
    /// The set workload's check ([`WorkloadKind::model`] of `set`).
    Set,
    /// The bank's invariants ([`checker::bank`]).
    Bank,
    /// Elle's isolation check of a transactional history ([`checker::elle`]), for
    /// strict serializability.
    Elle,
}

impl CheckKind {
    /// Every check, in the order messages list them.
    pub const ALL: [CheckKind; 5] = [
        CheckKind::Linearizable,
        CheckKind::Set,
        CheckKind::Bank,
        CheckKind::Elle,
        CheckKind::Latency,
    ];

    /// The check's name in schedules and in `results.json`.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Linearizable => "linearizable",
            CheckKind::Latency => "latency",
            CheckKind::Set => "set",
            CheckKind::Bank => "bank",
            CheckKind::Elle => "elle",
        }
    }

    /// The check named `name` in a schedule.
    pub fn from_name(name: &str) -> Option<CheckKind> {
        Self::ALL.into_iter().find(|check| check.name() == name)
    }
}

/// etcd's read modes, in the order messages list them.
pub const READ_MODES: [ReadMode; 2] = [ReadMode::Linearizable, ReadMode::Serializable];

/// A read mode's name in schedules (`read: serializable`).
pub fn read_mode_name(mode: ReadMode) -> &'static str {
    match mode {
        ReadMode::Linearizable => "linearizable",
        ReadMode::Serializable => "serializable",
    }
}

/// The read mode named `name`.
pub fn read_mode_from_name(name: &str) -> Option<ReadMode> {
    READ_MODES.into_iter().find(|m| read_mode_name(*m) == name)
}

/// `a, b or c` for messages.
pub fn or_list<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> String {
    let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_string()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for kind in WorkloadKind::ALL {
            assert_eq!(WorkloadKind::from_name(kind.name()), Some(kind));
        }
        for check in CheckKind::ALL {
            assert_eq!(CheckKind::from_name(check.name()), Some(check));
        }
        assert_eq!(or_list(["a", "b", "c"]), "a, b or c");
        assert_eq!(or_list(["a"]), "a");
    }
}
