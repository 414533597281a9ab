//! A kill's disk faults in the schedule language (`lose_unfsynced`, `corrupt`, `truncate`):
//! read into the plan, written back by `to_yaml`, and every mistake refused with
//! `file:line:column: expected ..., found ...`.

use chaos::schedule::{Corrupt, DiskFaults, Probability, Truncate, parse_schedule};

const HEAD: &str =
    "name: t\nsystem: { kind: raft, nodes: 3 }\nduration: 20s\nworkload: { kind: append }\n";

fn error_of(rest: &str) -> String {
    let text = format!("{HEAD}{rest}");
    match parse_schedule(&text, "s.yaml") {
        Ok(schedule) => panic!("accepted:\n{text}\n{schedule:?}"),
        Err(error) => error.to_string(),
    }
}

const ALL_THREE: &str = "nemesis:
  - every: 2s
    from: 1s
    kill: all
    restart_after: 500ms
    lose_unfsynced: true
    corrupt: { file: \"wal*\", bitflip: 1e-6 }
    truncate: { file: member/wal/*.wal, bytes: 100 }
  - at: 10s
    pause: n1
    for: 500ms
";

#[test]
fn disk_faults_reach_the_plan_and_turn_faultfs_on() {
    let schedule = parse_schedule(&format!("{HEAD}{ALL_THREE}"), "s.yaml").unwrap();
    assert!(schedule.uses_faultfs());
    let expected = DiskFaults {
        lose_unfsynced: true,
        corrupt: Some(Corrupt {
            file: "wal*".into(),
            bitflip: Probability(1e-6),
        }),
        truncate: Some(Truncate {
            file: "member/wal/*.wal".into(),
            bytes: 100,
        }),
    };
    let plan = schedule.plan(5);
    let kills: Vec<_> = plan.iter().filter(|f| f.line == 6).collect();
    assert!(kills.len() >= 9, "{plan:?}");
    assert!(kills.iter().all(|f| f.disk == expected));
    // A corrupt fault's bit positions: one seed per occurrence, from the schedule's seed.
    let seeds: std::collections::BTreeSet<u64> = kills.iter().map(|f| f.disk_seed).collect();
    assert_eq!(seeds.len(), kills.len());
    assert_eq!(schedule.plan(5), plan, "same seed, same plan");
    let pause = plan.iter().find(|f| f.line == 13).expect("the pause");
    assert!(pause.disk.is_empty());
    // Kills without `lose_unfsynced` run on the plain disk.
    let plain = ALL_THREE.replace("    lose_unfsynced: true\n", "");
    assert!(
        !parse_schedule(&format!("{HEAD}{plain}"), "s.yaml")
            .unwrap()
            .uses_faultfs()
    );
}

#[test]
fn the_yaml_as_run_keeps_the_disk_faults() {
    let schedule = parse_schedule(&format!("{HEAD}{ALL_THREE}"), "s.yaml").unwrap();
    let text = schedule.to_yaml(9);
    let again = parse_schedule(&text, "as-run.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let disks = |s: &chaos::schedule::Schedule| -> Vec<DiskFaults> {
        s.nemesis.iter().map(|f| f.disk.clone()).collect()
    };
    assert_eq!(disks(&again), disks(&schedule), "{text}");
    assert!(text.contains("bitflip: 1e-6"), "{text}");
}

#[test]
fn disk_faults_only_on_kills() {
    for (entry, key, position) in [
        (
            "  - at: 1s\n    pause: n1\n    for: 1s\n    lose_unfsynced: true\n",
            "lose_unfsynced",
            "9:21",
        ),
        (
            "  - at: 1s\n    partition: halves\n    for: 1s\n    truncate: { file: x, bytes: 1 }\n",
            "truncate",
            "9:15",
        ),
        (
            "  - at: 1s\n    one_of: [kill]\n    target: n1\n    for: 1s\n    corrupt: { file: x, bitflip: 0.5 }\n",
            "corrupt",
            "10:14",
        ),
    ] {
        let message = error_of(&format!("nemesis:\n{entry}"));
        assert_eq!(
            message,
            format!(
                "s.yaml:{position}: expected `{key}` only with `kill:` (it acts on the stopped node's files, between the kill and the restart), found `{key}`"
            )
        );
    }
}

#[test]
fn bad_disk_fault_values_name_their_position() {
    let kill = "nemesis:\n  - at: 1s\n    kill: n1\n    restart_after: 1s\n";
    let cases = [
        (
            "    corrupt: { file: \"wal*\", bitflip: 2 }\n",
            "s.yaml:9:39: expected `bitflip` as a probability in (0, 1] such as 1e-6, found `2`",
        ),
        (
            "    corrupt: { file: \"wal*\", bitflip: 0 }\n",
            "s.yaml:9:39: expected `bitflip` as a probability in (0, 1] such as 1e-6, found `0`",
        ),
        (
            "    truncate: { file: wal.log, bytes: 0 }\n",
            "s.yaml:9:39: expected `bytes` as a whole number of bytes to cut, at least 1, found `0`",
        ),
        (
            "    truncate: { file: /etc/passwd, bytes: 1 }\n",
            "s.yaml:9:23: expected a pattern relative to the node's data dir, found the absolute `/etc/passwd`",
        ),
        (
            "    truncate: { file: ../n2/wal.log, bytes: 1 }\n",
            "s.yaml:9:23: expected a pattern inside the node's data dir, found `..` in `../n2/wal.log`",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(error_of(&format!("{kill}{line}")), expected, "{line}");
    }
    let message = error_of(&format!("{kill}    corrupt: {{ file: x, flips: 3 }}\n"));
    assert!(
        message.starts_with("s.yaml:9:") && message.contains("found unknown key `flips`"),
        "{message}"
    );
    let message = error_of(&format!("{kill}    lose_unfsynced: yes please\n"));
    assert!(message.starts_with("s.yaml:9:21: expected "), "{message}");
}
