//! Writing a validated schedule back as YAML: `schedule.yaml` in a run's directory is the
//! schedule as run, with the seed and every default filled in, so that the file alone
//! reproduces the run (`faultline run store/.../schedule.yaml`).

use std::fmt::Write;

use super::{FaultChoice, FaultSpec, PartitionSpec, Schedule, Timing, format_duration};

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
        let _ = writeln!(
            out,
            "workload: {{ kind: {},{keys} clients: {}, rate: {}/s, timeout: {}{read} }}",
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
        let checks: Vec<&str> = self.checks.iter().map(|c| c.name()).collect();
        let _ = writeln!(out, "checks: [{}]", checks.join(", "));
        out
    }
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
    }
    if let Some(length) = fault.length {
        lines.push(format!("for: {}", format_duration(length)));
    }
    if let FaultChoice::Partition(PartitionSpec::ChaseLeader { grace }) = &fault.choice {
        lines.push(format!("grace: {}", format_duration(*grace)));
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(out, "  {} {line}", if i == 0 { "-" } else { " " });
    }
    out
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
        ] {
            let (workload, network) = if system.contains("bank") {
                ("{ kind: bank }", "proxy")
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
