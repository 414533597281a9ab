//! The system, the workload, the network, the final phase and the checks: each read, and
//! refused where they do not fit together (a workload the system does not take, a network
//! it cannot run on, a check the workload has no model for).

use std::time::Duration;

use serde_saphyr::Spanned;

use super::super::raw::{RawFinal, RawWorkload};
use super::super::{CheckKind, FinalSpec, SystemSpec, WorkloadKind, WorkloadSpec};
use super::{MAX_CLIENTS, MAX_KEYS, Result, Validator, quoted};
use crate::network::NetworkKind;
use crate::system::RawSystem;
use crate::workload::{ReadMode, or_list};

impl Validator<'_> {
    pub(super) fn system(&self, system: &Spanned<RawSystem>) -> Result<SystemSpec> {
        SystemSpec::parse(&system.value, system.referenced).map_err(|e| self.system_error(e))
    }

    pub(super) fn workload(
        &self,
        workload: &RawWorkload,
        system: &SystemSpec,
    ) -> Result<WorkloadSpec> {
        let accepted = system.system().workloads();
        let kind = match WorkloadKind::from_name(&workload.kind.value) {
            Some(kind) if accepted.contains(&kind) => kind,
            _ => {
                let kind_name = system.kind();
                let article = if kind_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                return Err(self.error(
                    workload.kind.referenced,
                    format!(
                        "expected workload kind {} for {article} {kind_name} system, found {}",
                        or_list(accepted.iter().map(|k| k.name())),
                        quoted(&workload.kind.value)
                    ),
                ));
            }
        };
        let read = self.read_mode(workload, system)?;
        let keys = match (&workload.keys, kind.keyed()) {
            (Some(keys), false) => {
                return Err(self.error(
                    keys.referenced,
                    format!("expected no `keys` in the {} workload (it uses the bank's accounts), found `keys`", kind.name()),
                ));
            }
            (None, false) => 0,
            (Some(keys), true) => self.bounded(keys, "a number of keys", 1, MAX_KEYS)?,
            (None, true) => 8,
        };
        let clients = match &workload.clients {
            Some(clients) => self.bounded(clients, "a number of clients", 1, MAX_CLIENTS)?,
            None => 10,
        };
        let rate_per_s = match &workload.rate {
            Some(rate) => self.rate(rate)?,
            None => 100.0,
        };
        let timeout = match &workload.timeout {
            Some(timeout) => self.positive_duration(timeout, "the request timeout")?,
            None => Duration::from_secs(1),
        };
        let client_command = self.client_command(workload, system, read)?;
        Ok(WorkloadSpec {
            kind,
            keys,
            clients,
            rate_per_s,
            timeout,
            read,
            client_command,
        })
    }

    /// `client: { command }`, a stdio adapter: required by a system without a client of
    /// its own (`kind: command`), accepted by any.
    pub(super) fn client_command(
        &self,
        workload: &RawWorkload,
        system: &SystemSpec,
        read: Option<ReadMode>,
    ) -> Result<Option<String>> {
        use crate::system::command::{CLIENT_PLACEHOLDERS, Template, program_problem};
        let Some(client) = &workload.client else {
            if system.system().client(read) == crate::system::ClientSpec::Stdio {
                return Err(self.error(
                    workload.kind.referenced,
                    format!(
                        "expected `client: {{ command: ... }}` in the workload (a stdio adapter: a {} system has no client of its own), found none",
                        system.kind()
                    ),
                ));
            }
            return Ok(None);
        };
        let command = &client.value.command;
        let problem = match Template::command(&command.value, CLIENT_PLACEHOLDERS) {
            Ok(template) => program_problem(&template),
            Err(problem) => Some(problem),
        };
        if let Some(problem) = problem {
            return Err(self.error(
                command.referenced,
                format!("`client: {{ command }}`: {problem}"),
            ));
        }
        Ok(Some(command.value.clone()))
    }

    /// `read: linearizable | serializable`, for a system that offers the choice (default
    /// linearizable there, `None` elsewhere).
    pub(super) fn read_mode(
        &self,
        workload: &RawWorkload,
        system: &SystemSpec,
    ) -> Result<Option<ReadMode>> {
        let offered = system.system().read_modes();
        match &workload.read {
            None => Ok(offered.then_some(ReadMode::Linearizable)),
            Some(read) if !offered => Err(self.error(
                read.referenced,
                format!(
                    "expected `read` only for a system with a choice of read modes (etcd), found `read` for a {} system",
                    system.kind()
                ),
            )),
            Some(read) => crate::workload::read_mode_from_name(&read.value).map(Some).ok_or_else(|| {
                self.error(
                    read.referenced,
                    format!(
                        "expected a read mode {}, found {}",
                        or_list(crate::workload::READ_MODES.iter().map(|m| crate::workload::read_mode_name(*m))),
                        quoted(&read.value)
                    ),
                )
            }),
        }
    }

    /// `200/s` or `600/m`.
    pub(super) fn rate(&self, rate: &Spanned<String>) -> Result<f64> {
        let parsed = rate.value.split_once('/').and_then(|(count, unit)| {
            let count: f64 = count.trim().parse().ok()?;
            let per_s = match unit.trim() {
                "s" => count,
                "m" => count / 60.0,
                _ => return None,
            };
            (per_s.is_finite() && per_s > 0.0).then_some(per_s)
        });
        parsed.ok_or_else(|| {
            self.error(
                rate.referenced,
                format!(
                    "expected a rate such as 200/s or 600/m, found {}",
                    quoted(&rate.value)
                ),
            )
        })
    }

    pub(super) fn network(
        &self,
        network: &Option<Spanned<String>>,
        system: &SystemSpec,
    ) -> Result<NetworkKind> {
        let Some(network) = network else {
            return Ok(system.system().default_network());
        };
        let Some(kind) = NetworkKind::from_name(&network.value) else {
            return Err(self.error(
                network.referenced,
                format!(
                    "expected network {}, found {}",
                    or_list(NetworkKind::IN_SCHEDULES.iter().map(|n| n.name())),
                    quoted(&network.value)
                ),
            ));
        };
        match system.system().network_refusal(kind) {
            Some(reason) => Err(self.error(network.referenced, reason)),
            None => Ok(kind),
        }
    }

    pub(super) fn final_phase(&self, raw: Option<&RawFinal>) -> Result<FinalSpec> {
        let quiesce = match raw.and_then(|f| f.quiesce.as_ref()) {
            Some(quiesce) => self.duration(quiesce, "the quiesce time")?,
            None => Duration::from_secs(5),
        };
        Ok(FinalSpec {
            heal: raw.and_then(|f| f.heal.as_ref()).is_none_or(|h| h.value),
            quiesce,
            final_reads: raw
                .and_then(|f| f.final_reads.as_ref())
                .is_none_or(|r| r.value),
        })
    }

    pub(super) fn checks(
        &self,
        checks: &Option<Spanned<Vec<Spanned<String>>>>,
        workload: WorkloadKind,
    ) -> Result<Vec<CheckKind>> {
        let model_check = workload.check();
        let model_name = model_check.name();
        let Some(checks) = checks else {
            return Ok(vec![model_check, CheckKind::Latency]);
        };
        let mut seen = Vec::new();
        for check in &checks.value {
            let Some(kind) = CheckKind::from_name(&check.value) else {
                return Err(self.error(
                    check.referenced,
                    format!(
                        "expected a check {}, found {}",
                        or_list(CheckKind::ALL.iter().map(|c| c.name())),
                        quoted(&check.value)
                    ),
                ));
            };
            if kind != CheckKind::Latency && kind != model_check {
                return Err(self.error(
                    check.referenced,
                    format!(
                        "expected checks that fit the workload ({model_name}, latency), found {}",
                        quoted(&check.value)
                    ),
                ));
            }
            if seen.contains(&kind) {
                return Err(self.error(
                    check.referenced,
                    format!(
                        "expected each check once, found {} twice",
                        quoted(&check.value)
                    ),
                ));
            }
            seen.push(kind);
        }
        if seen.is_empty() {
            return Err(self.error(
                checks.referenced,
                "expected at least one check, found an empty list".into(),
            ));
        }
        Ok(seen)
    }
}
