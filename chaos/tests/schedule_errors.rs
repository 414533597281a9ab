//! Every schedule mistake is refused with `file:line:column: expected ..., found ...`.

use std::time::Duration;

use chaos::schedule::{
    DEFAULT_SCHEDULE, FaultAction, PlannedPartition, Target, load_schedule, parse_schedule,
};

const HEAD: &str =
    "name: t\nsystem: { kind: raft, nodes: 5 }\nduration: 60s\nworkload: { kind: register }\n";

/// Parses `HEAD` + `rest` and returns the error message.
fn error_of(rest: &str) -> String {
    let text = format!("{HEAD}{rest}");
    match parse_schedule(&text, "s.yaml") {
        Ok(schedule) => panic!("accepted:\n{text}\n{schedule:?}"),
        Err(error) => error.to_string(),
    }
}

fn assert_error(rest: &str, position: &str, wording: &[&str]) {
    let message = error_of(rest);
    assert!(
        message.starts_with(&format!("s.yaml:{position}: expected ")),
        "wrong position or shape: {message}"
    );
    for words in wording {
        assert!(message.contains(words), "{message:?} lacks {words:?}");
    }
    assert!(message.contains("found"), "{message}");
}

#[test]
fn unknown_top_level_key() {
    assert_error(
        "colour: blue\n",
        "5:1",
        &["found unknown key `colour`", "one of name, seed, system"],
    );
}

#[test]
fn unknown_key_in_a_fault() {
    assert_error(
        "nemesis:\n  - at: 5s\n    kill: n1\n    fro: 3s\n",
        "8:5",
        &["found unknown key `fro`", "one of at, every, from, until"],
    );
}

#[test]
fn missing_required_key() {
    let message = parse_schedule(
        "name: t\nduration: 60s\nworkload: { kind: register }\n",
        "s.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(message.starts_with("s.yaml:"), "{message}");
    assert!(
        message.contains("expected key `system`, found none"),
        "{message}"
    );
}

#[test]
fn bad_duration() {
    assert_error(
        "nemesis:\n  - at: 5 seconds\n    kill: n1\n",
        "6:9",
        &[
            "expected `at` as a duration such as 500ms",
            "found `5 seconds`",
        ],
    );
    let message = parse_schedule(&HEAD.replace("60s", "sixty"), "s.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("s.yaml:3:11: expected the run's duration"),
        "{message}"
    );
}

#[test]
fn wrong_type() {
    let message = parse_schedule(&HEAD.replace("nodes: 5", "nodes: many"), "s.yaml")
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("s.yaml:2:"), "{message}");
    assert!(message.contains("expected"), "{message}");
    assert!(message.contains("found"), "{message}");
}

#[test]
fn unknown_node() {
    assert_error(
        "nemesis:\n  - at: 5s\n    pause: n9\n",
        "7:12",
        &["expected a node (n1..n5), leader, random", "found `n9`"],
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    partition: [[n1, n7], [n2]]\n",
        "7:16",
        &["found `n7`"],
    );
}

#[test]
fn overlapping_faults_on_the_same_node() {
    assert_error(
        "nemesis:\n  - at: 5s\n    kill: n2\n    restart_after: 10s\n  - at: 10s\n    pause: n2\n    for: 2s\n",
        "9:5",
        &[
            "expected faults not to overlap",
            "node n2 already held by the fault at line 6 from 5s to 15s",
        ],
    );
    // A target chosen at fault time may be any node.
    assert_error(
        "nemesis:\n  - at: 5s\n    kill: n2\n    restart_after: 10s\n  - every: 4s\n    one_of: [pause]\n    target: random\n    for: 1s\n",
        "9:5",
        &["node n2 already held"],
    );
    // Two partitions at once.
    assert_error(
        "nemesis:\n  - at: 5s\n    partition: halves\n    for: 10s\n  - at: 14s\n    partition: bridge\n    for: 1s\n",
        "9:5",
        &["the network already held by the fault at line 6"],
    );
}

#[test]
fn faults_on_different_nodes_or_of_different_kinds_may_overlap() {
    let text = format!(
        "{HEAD}nemesis:\n  - at: 5s\n    kill: n2\n    restart_after: 10s\n  - at: 6s\n    pause: n3\n    for: 2s\n  - at: 7s\n    partition: halves\n    for: 2s\n"
    );
    parse_schedule(&text, "s.yaml").unwrap();
}

#[test]
fn for_longer_than_the_run() {
    assert_error(
        "nemesis:\n  - at: 55s\n    partition: halves\n    for: 10s\n",
        "8:10",
        &["expected `for` to end within the run (1m), found 55s + 10s = 1m5s"],
    );
    assert_error(
        "nemesis:\n  - at: 61s\n    kill: n1\n",
        "6:9",
        &["expected `at` within the run (before 1m), found `61s`"],
    );
}

#[test]
fn every_without_for() {
    assert_error(
        "nemesis:\n  - every: 5s\n    one_of: [kill]\n    target: random\n",
        "6:12",
        &["expected `for` with `every`", "found none"],
    );
    assert_error(
        "nemesis:\n  - every: 5s\n    one_of: [kill]\n    target: random\n    for: 5s\n",
        "9:10",
        &["expected `for` shorter than `every` (5s), found 5s"],
    );
}

#[test]
fn entry_shape_mistakes() {
    assert_error(
        "nemesis:\n  - at: 5s\n    for: 1s\n",
        "6:5",
        &["kill, pause, partition, one_of, clock, delay or loss, found none"],
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    kill: n1\n    pause: n2\n",
        "8:12",
        &["one fault kind per entry, found both `kill` and `pause`"],
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    every: 5s\n    kill: n1\n    for: 1s\n",
        "7:12",
        &["either `at` or `every`, found both"],
    );
    assert_error("nemesis:\n  - kill: n1\n", "6:5", &["key `at` or `every`"]);
    assert_error(
        "nemesis:\n  - at: 5s\n    pause: n1\n    restart_after: 1s\n",
        "8:20",
        &["`restart_after` only with `kill`"],
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    partition: diagonal\n",
        "7:16",
        &["expected a partition isolate, halves", "found `diagonal`"],
    );
    assert_error(
        "nemesis:\n  - every: 5s\n    one_of: [kill, explode]\n    target: n1\n    for: 1s\n",
        "7:20",
        &["expected a fault kind kill, pause or partition, found `explode`"],
    );
}

#[test]
fn top_level_value_mistakes() {
    let bad = |from: &str, to: &str| {
        parse_schedule(&HEAD.replace(from, to), "s.yaml")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad("kind: raft", "kind: zoo"),
        "s.yaml:2:17: expected system kind raft, bank, etcd or command, found `zoo`"
    );
    assert_eq!(
        bad("nodes: 5", "nodes: 0"),
        "s.yaml:2:30: expected a number of nodes between 1 and 64, found 0"
    );
    assert_eq!(
        bad("kind: register", "kind: register, rate: fast"),
        "s.yaml:4:35: expected a rate such as 200/s or 600/m, found `fast`"
    );
    assert_eq!(
        bad("name: t", "name: a/b"),
        "s.yaml:1:7: expected a name of letters, digits, `.`, `_` and `-`, found `a/b`"
    );
    let message = error_of("checks: [set]\n");
    assert_eq!(
        message,
        "s.yaml:5:10: expected checks that fit the workload (linearizable, latency), found `set`"
    );
    let message = error_of("network: wifi\n");
    assert_eq!(
        message,
        "s.yaml:5:10: expected network proxy or netns, found `wifi`"
    );
}

#[test]
fn load_schedule_names_the_file_and_reads_the_shipped_schedules() {
    let error = load_schedule(std::path::Path::new("/nonexistent/x.yaml")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/x.yaml: cannot read"),
        "{error}"
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules");
    let mut seen = 0;
    // The schedules and the planted-bug schedules in schedules/bugs/.
    let files: Vec<_> = [dir.clone(), dir.join("bugs")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    for path in files {
        let schedule = load_schedule(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !schedule.plan(1).is_empty(),
            "{} plans no fault",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 4,
        "expected partition, kill, pause and nightly schedules in {dir:?}"
    );
}

#[test]
fn same_seed_same_plan_and_leader_stays_open() {
    let schedule = parse_schedule(DEFAULT_SCHEDULE, "default").unwrap();
    assert_eq!(schedule.plan(7), schedule.plan(7));
    let plans: std::collections::BTreeSet<String> = (0..10)
        .map(|seed| format!("{:?}", schedule.plan(seed)))
        .collect();
    assert!(plans.len() > 1, "the seed changes nothing");
    let plan = schedule.plan(7);
    assert!(
        plan.windows(2).all(|w| w[0].start <= w[1].start),
        "not time-ordered"
    );
    assert!(
        plan.iter()
            .all(|f| f.start < f.end && f.end <= schedule.duration)
    );
    assert!(
        plan.iter()
            .any(|f| f.action == FaultAction::Kill(Target::Leader))
    );
    assert!(
        plan.iter()
            .any(|f| f.action == FaultAction::Partition(PlannedPartition::IsolateLeader))
    );
    let first = &plan[0];
    assert_eq!(first.start, Duration::from_secs(5));
    assert!(
        matches!(&first.action, FaultAction::Partition(PlannedPartition::Links { shape, links }) if shape == "majorities-ring" && !links.is_empty())
    );
}

/// A bank schedule's head: system on line 2, workload on line 4; `rest` from line 5.
fn bank_error(system: &str, workload: &str, rest: &str) -> String {
    let text = format!(
        "name: b\nsystem: {{ kind: bank{system} }}\nduration: 30s\nworkload: {{ kind: {workload} }}\n{rest}"
    );
    match parse_schedule(&text, "b.yaml") {
        Ok(schedule) => panic!("accepted:\n{text}\n{schedule:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn bank_system_mistakes() {
    assert_eq!(
        bank_error(", nodes: 3", "bank", ""),
        "b.yaml:2:30: expected participants, accounts, initial_balance, replicated_coordinator, \
         coordinators or bug for a bank system (its nodes follow from its roles), found `nodes`"
    );
    assert_eq!(
        bank_error(", coordinators: 3", "bank", ""),
        "b.yaml:2:37: expected `coordinators` only with `replicated_coordinator: true` (an \
         unreplicated bank has one coordinator), found `coordinators`"
    );
    assert_eq!(
        bank_error(", bug: stale-read", "bank", ""),
        "b.yaml:2:28: expected a planted bug of the bank (2pc-commit-without-all-votes, \
         2pc-forget-prepared), found `stale-read` (a bug of the raft store; this schedule's \
         system is the bank)"
    );
    assert_eq!(
        bank_error(", accounts: 1", "bank", ""),
        "b.yaml:2:33: expected a number of accounts between 2 and 10000, found 1"
    );
    assert_eq!(
        bank_error(", participants: 0", "bank", ""),
        "b.yaml:2:37: expected a number of participants between 1 and 32, found 0"
    );
    assert_eq!(
        bank_error("", "bank, keys: 4", ""),
        "b.yaml:4:31: expected no `keys` in the bank workload (it uses the bank's accounts), \
         found `keys`"
    );
    assert_eq!(
        bank_error("", "register", ""),
        "b.yaml:4:19: expected workload kind bank for a bank system, found `register`"
    );
    assert_eq!(
        bank_error("", "bank", "checks: [linearizable]\n"),
        "b.yaml:5:10: expected checks that fit the workload (bank, latency), found `linearizable`"
    );
}

#[test]
fn raft_system_mistakes_about_the_bank() {
    let raft = |system: &str, workload: &str| {
        let text = format!(
            "name: r\nsystem: {{ kind: raft{system} }}\nduration: 30s\nworkload: {{ kind: {workload} }}\n"
        );
        parse_schedule(&text, "r.yaml").unwrap_err().to_string()
    };
    assert_eq!(
        raft(", nodes: 3, participants: 3", "register"),
        "r.yaml:2:47: expected only kind, nodes and bug for a raft system, found `participants`"
    );
    assert_eq!(
        raft("", "register"),
        "r.yaml:2:9: expected key `nodes` for a raft system, found none"
    );
    assert_eq!(
        raft(", nodes: 3", "bank"),
        "r.yaml:4:19: expected workload kind register, set, append, list-append or rw-register for a raft system, found `bank`"
    );
    assert_eq!(
        error_of("checks: [bank, banana]\n"),
        "s.yaml:5:10: expected checks that fit the workload (linearizable, latency), found `bank`"
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    kill: coordinator\n",
        "7:11",
        &[
            "expected a node (n1..n5), leader, random",
            "found `coordinator`",
        ],
    );
}

#[test]
fn bank_targets_and_partitions() {
    assert_eq!(
        bank_error("", "bank", "nemesis:\n  - at: 5s\n    kill: leader\n"),
        "b.yaml:7:11: expected `leader` only where there is a leader (a raft system, or a bank with \
         replicated_coordinator: true), found `leader` in a bank with one coordinator"
    );
    assert_eq!(
        bank_error("", "bank", "nemesis:\n  - at: 5s\n    partition: leader\n"),
        "b.yaml:7:16: expected `leader` only where there is a leader (a raft system, or a bank with \
         replicated_coordinator: true), found `leader` in a bank with one coordinator"
    );
    assert_eq!(
        bank_error("", "bank", "nemesis:\n  - at: 5s\n    pause: n1\n"),
        "b.yaml:7:12: expected a node (c1, p1, p2, p3), coordinator, participant, random, \
         minority, majority or all, found `n1`"
    );
    assert_eq!(
        bank_error(
            "",
            "bank",
            "nemesis:\n  - at: 5s\n    partition: [[c1], [n2]]\n"
        ),
        "b.yaml:7:16: expected nodes c1, p1, p2, p3 in the groups, found `n2`"
    );
}

#[test]
fn bank_schedules_plan_roles_and_replicated_leaders() {
    let text = "name: b\nseed: 4\nsystem: { kind: bank, participants: 2, replicated_coordinator: true }\n\
                duration: 30s\nworkload: { kind: bank }\nnemesis:\n\
                \x20 - every: 2s\n    one_of: [kill, pause]\n    target: participant\n    for: 1s\n\
                \x20 - at: 5s\n    partition: leader\n    for: 1s\n";
    let schedule = parse_schedule(text, "b.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        schedule.node_ids(),
        ["c1", "c2", "c3", "p1", "p2", "r1", "r2", "r3"]
    );
    assert_eq!(schedule.system.nodes, 8);
    assert_eq!(schedule.checks.len(), 2, "bank and latency by default");
    let plan = schedule.plan(4);
    let mut hit = std::collections::BTreeSet::new();
    for fault in &plan {
        match &fault.action {
            FaultAction::Kill(Target::Nodes(nodes)) | FaultAction::Pause(Target::Nodes(nodes)) => {
                assert_eq!(nodes.len(), 1, "{fault:?}");
                assert!(nodes[0].starts_with('p'), "a participant: {fault:?}");
                hit.insert(nodes[0].clone());
            }
            FaultAction::Partition(PlannedPartition::IsolateLeader) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        hit.len(),
        2,
        "both participants are drawn over 15 faults: {hit:?}"
    );
    let again = parse_schedule(&schedule.to_yaml(4), "as-run.yaml").unwrap();
    assert_eq!(again.system, schedule.system);
    assert_eq!(again.workload, schedule.workload);
    // Entry lines differ between the two texts; the faults must not.
    let unlined = |plan: Vec<chaos::schedule::PlannedFault>| {
        plan.into_iter()
            .map(|fault| (fault.start, fault.end, fault.action))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        unlined(again.plan(4)),
        unlined(plan),
        "the schedule as run plans the same faults"
    );
}

#[test]
fn chase_leader_takes_a_grace_and_nothing_else_does() {
    let text = format!(
        "{HEAD}nemesis:\n  - every: 3s\n    partition: chase-leader\n    for: 1500ms\n    grace: 40ms\n"
    );
    let schedule = parse_schedule(&text, "s.yaml").unwrap_or_else(|e| panic!("{e}"));
    let plan = schedule.plan(1);
    assert_eq!(plan.len(), 20, "every 3 s over 60 s");
    for fault in &plan {
        assert_eq!(
            fault.action,
            FaultAction::Partition(PlannedPartition::ChaseLeader {
                grace: Duration::from_millis(40)
            })
        );
    }
    let again = parse_schedule(&schedule.to_yaml(1), "as-run.yaml").unwrap();
    assert_eq!(again.nemesis[0].choice, schedule.nemesis[0].choice);
    let without_grace = format!("{HEAD}nemesis:\n  - at: 5s\n    partition: chase-leader\n");
    let schedule = parse_schedule(&without_grace, "s.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        schedule.plan(1)[0].action,
        FaultAction::Partition(PlannedPartition::ChaseLeader {
            grace: Duration::ZERO
        }),
        "no grace: a new leader is cut off as soon as it is seen"
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    partition: leader\n    grace: 40ms\n",
        "8:12",
        &["expected `grace` only with `partition: chase-leader`, found `grace`"],
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    kill: n1\n    grace: 40ms\n",
        "8:12",
        &["`grace` only with `partition: chase-leader`"],
    );
    assert_error(
        "nemesis:\n  - at: 5s\n    partition: chase-leader\n    grace: soon\n",
        "8:12",
        &["found `soon`"],
    );
}

/// `checks: [elle]` and `elle: { models: [...] }`: each mistake at its position.
#[test]
fn elle_checks_and_models_are_refused_where_they_are_wrong() {
    assert_eq!(
        error_of("checks: [elle]\n"),
        "s.yaml:5:10: expected checks that fit the workload (linearizable, latency), found `elle`",
        "elle judges transactions; the register workload has none"
    );
    let message = error_of("elle: { models: [serializable, bogus] }\n");
    assert!(
        message.starts_with("s.yaml:5:32: expected a consistency model read-uncommitted, "),
        "{message}"
    );
    assert!(
        message.contains("strict-serializable, found `bogus`"),
        "{message}"
    );
    assert_eq!(
        error_of("elle: { models: [serializable, serializable] }\n"),
        "s.yaml:5:32: expected each model once, found `serializable` twice"
    );
    assert_eq!(
        error_of("elle: { models: [] }\n"),
        "s.yaml:5:17: expected at least one consistency model, found an empty list"
    );
    assert_error(
        "elle: { model: [serializable] }\n",
        "5:9",
        &["found unknown key `model`", "models"],
    );
    let message = error_of("elle: { models: [serializable] }\n");
    assert!(
        message.starts_with("s.yaml:5:7: expected `elle:` only with the elle check"),
        "{message}"
    );
    // `set` is still read as set-full, and written back as set-full.
    let text = "name: t\nsystem: { kind: raft, nodes: 3 }\nduration: 5s\nworkload: { kind: set }\nchecks: [set]\n";
    let schedule = parse_schedule(text, "s.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(schedule.checks[0].name(), "set-full");
    assert!(schedule.to_yaml(1).contains("checks: [set-full]\n"));
    assert!(schedule.elle_models.is_empty());
}
