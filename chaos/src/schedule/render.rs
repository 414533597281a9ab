//! Writing a validated schedule back as YAML: `schedule.yaml` in a run's directory is the
//! schedule as run, with the seed and every default filled in, so that the file alone
//! reproduces the run (`faultline run store/.../schedule.yaml`).

use std::fmt::Write;

use checker::elle::Model as ElleModel;

use super::{
    CheckKind, ClockFault, FaultChoice, FaultSpec, Impairment, LinkSpec, PartitionSpec, Schedule,
    Timing, format_duration,
};

impl Schedule {
    /// The schedule as YAML with `seed` and all defaults filled in. Parsing the result
    /// gives back this schedule with `seed: Some(seed)` (tested).
    pub fn to_yaml(&self, seed: u64) -> String {
        let mut out = String::new();
        let d = format_duration;
        let _ = writeln!(out, "name: {}", self.name);
        let _ = writeln!(out, "seed: {seed}");
        let _ = writeln!(out, "system: {}", self.system.to_yaml());
        let _ = writeln!(out, "duration: {}", d(self.duration));
        let w = &self.workload;
        let keys = if w.kind.keyed() {
            format!(" keys: {},", w.keys)
        } else {
            String::new()
        };
        let read = match w.read {
            Some(mode) => format!(", read: {}", crate::workload::read_mode_name(mode)),
            None => String::new(),
        };
        let client = match &w.client_command {
            // A JSON string is a YAML double-quoted scalar.
            Some(command) => format!(
                ", client: {{ command: {} }}",
                serde_json::Value::String(command.clone())
            ),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "workload: {{ kind: {},{keys} clients: {}, rate: {}/s, timeout: {}{read}{client} }}",
            w.kind.name(),
            w.clients,
            w.rate_per_s,
            d(w.timeout)
        );
        let _ = writeln!(out, "network: {}", self.network.name());
        if self.nemesis.is_empty() {
            out.push_str("nemesis: []\n");
        } else {
            out.push_str("nemesis:\n");
            for fault in &self.nemesis {
                out.push_str(&fault_yaml(fault));
            }
        }
        let f = &self.final_phase;
        let _ = writeln!(
            out,
            "final: {{ heal: {}, quiesce: {}, final_reads: {} }}",
            f.heal,
            d(f.quiesce),
            f.final_reads
        );
        out.push_str(&checks_yaml(&self.checks, &self.elle_models));
        out
    }
}

/// `checks: [...]` and, with the elle check, `elle: { models: [...] }`: the lines the
/// validator's check part reads back (tested).
fn checks_yaml(checks: &[CheckKind], elle_models: &[ElleModel]) -> String {
    let names: Vec<&str> = checks.iter().map(|c| c.name()).collect();
    let mut out = format!("checks: [{}]\n", names.join(", "));
    if !elle_models.is_empty() {
        let models: Vec<&str> = elle_models.iter().map(|m| m.name()).collect();
        let _ = writeln!(out, "elle: {{ models: [{}] }}", models.join(", "));
    }
    out
}

fn fault_yaml(fault: &FaultSpec) -> String {
    let mut lines = Vec::new();
    match fault.timing {
        Timing::At(at) => lines.push(format!("at: {}", format_duration(at))),
        Timing::Every { every, from, until } => {
            lines.push(format!("every: {}", format_duration(every)));
            lines.push(format!("from: {}", format_duration(from)));
            lines.push(format!("until: {}", format_duration(until)));
        }
    }
    match &fault.choice {
        FaultChoice::Process { kind, target } => {
            lines.push(format!("{}: {}", kind.name(), target.name()));
        }
        FaultChoice::Partition(spec) => lines.push(format!("partition: {}", partition_name(spec))),
        FaultChoice::OneOf { kinds, target } => {
            let kinds: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            lines.push(format!("one_of: [{}]", kinds.join(", ")));
            lines.push(format!("target: {}", target.name()));
        }
        FaultChoice::Clock { fault, target } => {
            lines.push(format!("clock: {}", clock_yaml(fault)));
            lines.push(format!("target: {}", target.name()));
        }
        FaultChoice::Impair { impairment, on } => {
            match impairment {
                Impairment::Delay { latency, jitter } => lines.push(format!(
                    "delay: {{ latency: {}, jitter: {} }}",
                    format_duration(*latency),
                    format_duration(*jitter)
                )),
                Impairment::Loss { percent } => lines.push(format!("loss: {percent}%")),
            }
            match on {
                LinkSpec::Every => {}
                LinkSpec::Around(target) => lines.push(format!("target: {}", target.name())),
                LinkSpec::One(link) => lines.push(format!("link: {link}")),
            }
        }
    }
    if let Some(length) = fault.length {
        lines.push(format!("for: {}", format_duration(length)));
    }
    if let FaultChoice::Partition(PartitionSpec::ChaseLeader { grace }) = &fault.choice {
        lines.push(format!("grace: {}", format_duration(*grace)));
    }
    if fault.disk.lose_unfsynced {
        lines.push("lose_unfsynced: true".into());
    }
    // A JSON string is a YAML double-quoted scalar; an f64 prints as the shortest text
    // that reads back as the same number.
    let quote = |text: &str| serde_json::to_string(text).expect("strings serialise");
    if let Some(corrupt) = &fault.disk.corrupt {
        lines.push(format!(
            "corrupt: {{ file: {}, bitflip: {:e} }}",
            quote(&corrupt.file),
            corrupt.bitflip.0
        ));
    }
    if let Some(truncate) = &fault.disk.truncate {
        lines.push(format!(
            "truncate: {{ file: {}, bytes: {} }}",
            quote(&truncate.file),
            truncate.bytes
        ));
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(out, "  {} {line}", if i == 0 { "-" } else { " " });
    }
    out
}

/// `{ bump: -5s }` or `{ strobe: { delta: 200ms, period: 10ms } }`.
pub fn clock_yaml(fault: &ClockFault) -> String {
    match fault {
        ClockFault::Bump { offset_ms } => format!("{{ bump: {} }}", signed_ms(*offset_ms)),
        ClockFault::Strobe { delta, period } => format!(
            "{{ strobe: {{ delta: {}, period: {} }} }}",
            format_duration(*delta),
            format_duration(*period)
        ),
    }
}

/// A signed millisecond offset as a schedule writes it: `5s`, `-1m30s`.
pub fn signed_ms(offset_ms: i64) -> String {
    let magnitude = format_duration(std::time::Duration::from_millis(offset_ms.unsigned_abs()));
    if offset_ms < 0 {
        format!("-{magnitude}")
    } else {
        magnitude
    }
}

fn partition_name(spec: &PartitionSpec) -> String {
    match spec {
        PartitionSpec::Groups(groups) => {
            let groups: Vec<String> = groups
                .iter()
                .map(|g| format!("[{}]", g.join(", ")))
                .collect();
            format!("[{}]", groups.join(", "))
        }
        PartitionSpec::Star(centre) => format!("{{ star: {centre} }}"),
        shape => shape
            .shape_name()
            .expect("every partition but groups has a shape name")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{default_schedule, parse_schedule};
    use super::{CheckKind, ElleModel, checks_yaml};
    use checker::check;

    /// The check part alone, through the validator's check part: no workload of this
    /// build takes elle yet (the transactional ones bring it), so the whole-schedule round
    /// trip below covers the other checks and this one elle with its models.
    #[test]
    fn checks_and_elle_models_round_trip() {
        let fitting = [check::elle::KIND, check::latency::KIND];
        for (checks, models) in [
            (vec![check::elle::KIND], vec![ElleModel::StrictSerializable]),
            (
                vec![check::latency::KIND, check::elle::KIND],
                vec![ElleModel::Serializable, ElleModel::SnapshotIsolation],
            ),
            (vec![check::latency::KIND], vec![]),
        ] {
            let yaml = checks_yaml(&checks, &models);
            let text = format!(
                "name: t\nsystem: {{ kind: raft, nodes: 3 }}\nduration: 1s\nworkload: {{ kind: register }}\n{yaml}"
            );
            let raw = super::super::raw::parse(&text, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
            let v = super::super::validate::Validator { file: "t.yaml" };
            let (again, again_models) = v
                .checks(&raw.checks, raw.elle.as_ref(), &fitting)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(again, checks, "{yaml}");
            assert_eq!(again_models, models, "{yaml}");
        }
        let defaults = super::super::validate::Validator { file: "t.yaml" }
            .checks(&None, None, &fitting)
            .unwrap();
        assert_eq!(
            defaults,
            (fitting.to_vec(), vec![check::elle::DEFAULT_MODEL]),
            "a transactional workload's default: elle for strict-serializable"
        );
        assert_eq!(CheckKind::from_name("elle"), Some(check::elle::KIND));
    }

    #[test]
    fn the_yaml_as_run_parses_back_to_the_same_schedule() {
        let schedule = default_schedule();
        let text = schedule.to_yaml(42);
        let again = parse_schedule(&text, "as-run.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut expected = schedule.clone();
        expected.seed = Some(42);
        // Entry lines differ between the two texts; everything else must match.
        let strip = |mut s: super::super::Schedule| {
            for fault in &mut s.nemesis {
                fault.line = 0;
            }
            s
        };
        assert_eq!(strip(again), strip(expected));
    }

    #[test]
    fn every_system_and_read_mode_round_trips() {
        // /bin/sh stands in for etcd: validation checks only that the executable exists.
        for system in [
            "{ kind: raft, nodes: 3, bug: stale-read }",
            "{ kind: bank, participants: 2, replicated_coordinator: true, coordinators: 2, bug: 2pc-forget-prepared }",
            "{ kind: etcd, nodes: 5, binary: /bin/sh }",
            r#"{ kind: command, nodes: 2, start: "sh -c 'exec \"$0\" {id}' --peers={peers}", ready: { exec: "sh -c true" }, leader: { exec: "sh -c 'echo n1 7'" }, env: { MY_ID: "{id}" } }"#,
        ] {
            let (workload, network) = if system.contains("bank") {
                ("{ kind: bank }", "proxy")
            } else if system.contains("command") {
                (
                    r#"{ kind: register, client: { command: "sh -c 'cat' {node} \"{client_addr}\"" } }"#,
                    "proxy",
                )
            } else if system.contains("etcd") {
                ("{ kind: append, read: serializable }", "netns")
            } else {
                ("{ kind: set }", "proxy")
            };
            let text = format!(
                "name: t\nsystem: {system}\nduration: 10s\nworkload: {workload}\nnetwork: {network}\n"
            );
            let schedule = parse_schedule(&text, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
            let yaml = schedule.to_yaml(3);
            let again =
                parse_schedule(&yaml, "as-run.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            let mut expected = schedule.clone();
            expected.seed = Some(3);
            assert_eq!(again, expected, "{yaml}");
        }
    }
}
