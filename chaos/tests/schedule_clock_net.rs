//! Clock faults and link impairments in the schedule language: what is accepted, how it is
//! planned, and every mistake refused with `file:line:column: expected ..., found ...`.

use std::time::Duration;

use chaos::network::Link;
use chaos::schedule::{ClockFault, FaultAction, Impairment, PlannedLinks, Target, parse_schedule};

const HEAD: &str =
    "name: t\nsystem: { kind: raft, nodes: 3 }\nduration: 20s\nworkload: { kind: register }\n";

fn error_of(text: &str) -> String {
    match parse_schedule(text, "s.yaml") {
        Ok(schedule) => panic!("accepted:\n{text}\n{schedule:?}"),
        Err(error) => error.to_string(),
    }
}

fn assert_error(rest: &str, position: &str, wording: &[&str]) {
    assert_error_in(&format!("{HEAD}{rest}"), position, wording);
}

fn assert_error_in(text: &str, position: &str, wording: &[&str]) {
    let message = error_of(text);
    assert!(
        message.starts_with(&format!("s.yaml:{position}: expected ")),
        "wrong position or shape: {message}"
    );
    for words in wording {
        assert!(message.contains(words), "{message:?} lacks {words:?}");
    }
    assert!(message.contains("found"), "{message}");
}

fn plan_of(rest: &str) -> Vec<FaultAction> {
    let text = format!("{HEAD}{rest}");
    let schedule = parse_schedule(&text, "s.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    // The schedule as run parses back to the same schedule.
    let again = parse_schedule(&schedule.to_yaml(3), "as-run.yaml")
        .unwrap_or_else(|e| panic!("{e}\n{}", schedule.to_yaml(3)));
    let without_lines = |s: &chaos::schedule::Schedule| {
        s.nemesis
            .iter()
            .map(|f| (f.timing, f.choice.clone(), f.length))
            .collect::<Vec<_>>()
    };
    assert_eq!(without_lines(&again), without_lines(&schedule));
    schedule.plan(3).into_iter().map(|f| f.action).collect()
}

#[test]
fn clock_bumps_and_strobes_are_planned_on_their_targets() {
    let plan = plan_of(
        "nemesis:\n  - at: 2s\n    clock: { bump: 5s }\n    target: n2\n    for: 3s\n  - at: 6s\n    clock: { bump: -1m30s }\n    target: leader\n    for: 3s\n  - at: 10s\n    clock: { strobe: { delta: 200ms, period: 10ms } }\n    target: n1\n    for: 3s\n",
    );
    assert_eq!(
        plan,
        vec![
            FaultAction::Clock {
                target: Target::Nodes(vec!["n2".into()]),
                fault: ClockFault::Bump { offset_ms: 5_000 },
            },
            FaultAction::Clock {
                target: Target::Leader,
                fault: ClockFault::Bump { offset_ms: -90_000 },
            },
            FaultAction::Clock {
                target: Target::Nodes(vec!["n1".into()]),
                fault: ClockFault::Strobe {
                    delta: Duration::from_millis(200),
                    period: Duration::from_millis(10),
                },
            },
        ]
    );
}

#[test]
fn delays_and_losses_are_planned_on_every_link_a_targets_links_or_one_link() {
    let plan = plan_of(
        "nemesis:\n  - at: 1s\n    delay: { latency: 50ms, jitter: 20ms }\n    for: 2s\n  - at: 4s\n    loss: 10%\n    target: n3\n    for: 2s\n  - at: 7s\n    loss: 100%\n    link: n1->n2\n    for: 2s\n  - at: 10s\n    delay: { latency: 5ms }\n    target: leader\n    for: 2s\n",
    );
    let every_link = PlannedLinks::Links(vec![
        Link::new("n1", "n2"),
        Link::new("n1", "n3"),
        Link::new("n2", "n1"),
        Link::new("n2", "n3"),
        Link::new("n3", "n1"),
        Link::new("n3", "n2"),
    ]);
    assert_eq!(
        plan,
        vec![
            FaultAction::Impair {
                impairment: Impairment::Delay {
                    latency: Duration::from_millis(50),
                    jitter: Duration::from_millis(20),
                },
                links: every_link,
            },
            FaultAction::Impair {
                impairment: Impairment::Loss { percent: 10 },
                links: PlannedLinks::Links(vec![
                    Link::new("n1", "n3"),
                    Link::new("n2", "n3"),
                    Link::new("n3", "n1"),
                    Link::new("n3", "n2"),
                ]),
            },
            FaultAction::Impair {
                impairment: Impairment::Loss { percent: 100 },
                links: PlannedLinks::Links(vec![Link::new("n1", "n2")]),
            },
            FaultAction::Impair {
                impairment: Impairment::Delay {
                    latency: Duration::from_millis(5),
                    jitter: Duration::ZERO,
                },
                links: PlannedLinks::AroundLeader,
            },
        ]
    );
}

#[test]
fn a_clock_fault_needs_a_target_and_one_of_bump_or_strobe() {
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { bump: 5s }\n    for: 1s\n",
        "7:12",
        &["expected `target` with `clock`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: {}\n    target: n1\n",
        "7:12",
        &["`bump: 5s`", "found neither"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { bump: 5s, strobe: { delta: 1s, period: 10ms } }\n    target: n1\n",
        "7:32",
        &["either `bump` or `strobe`, found both"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { bump: soon }\n    target: n1\n",
        "7:20",
        &["non-zero duration", "found `soon`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { bump: 0s }\n    target: n1\n",
        "7:20",
        &["non-zero duration", "found `0s`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { strobe: { delta: 200ms, period: 0ms } }\n    target: n1\n",
        "7:46",
        &["the strobe's period to be longer than zero"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { skew: 5s }\n    target: n1\n",
        "7:14",
        &["found unknown key `skew`", "bump", "strobe"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { bump: 5s }\n    target: n9\n",
        "8:13",
        &["expected a node (n1..n3)", "found `n9`"],
    );
}

#[test]
fn two_clock_faults_on_one_node_may_not_overlap_but_a_clock_and_a_kill_may() {
    assert_error(
        "nemesis:\n  - at: 1s\n    clock: { bump: 5s }\n    target: n1\n    for: 5s\n  - at: 3s\n    clock: { bump: -5s }\n    target: leader\n    for: 1s\n",
        "10:5",
        &["the clock of node n1 already held by the fault at line 6"],
    );
    plan_of(
        "nemesis:\n  - at: 1s\n    clock: { bump: 5s }\n    target: n1\n    for: 5s\n  - at: 3s\n    kill: n1\n    restart_after: 1s\n  - at: 2s\n    clock: { bump: 5s }\n    target: n2\n    for: 5s\n",
    );
}

#[test]
fn delay_and_loss_mistakes_are_refused_where_they_are() {
    assert_error(
        "nemesis:\n  - at: 1s\n    loss: 10\n    for: 1s\n",
        "7:11",
        &["whole percentage from 1% to 100%", "found `10`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    loss: 101%\n    for: 1s\n",
        "7:11",
        &["found `101%`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    delay: { latency: 10ms, jitter: 20ms }\n    for: 1s\n",
        "7:37",
        &["jitter no larger than the latency (10ms)", "found `20ms`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    delay: { jitter: 20ms }\n    for: 1s\n",
        "7:14",
        &["expected key `latency`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    loss: 5%\n    link: n1-n2\n    for: 1s\n",
        "8:11",
        &[
            "directed link between two different nodes (n1..n3)",
            "found `n1-n2`",
        ],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    loss: 5%\n    link: n1->n1\n    for: 1s\n",
        "8:11",
        &["found `n1->n1`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    loss: 5%\n    link: n1->n2\n    target: n3\n    for: 1s\n",
        "8:11",
        &["either `target` or `link`, found both"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    kill: n1\n    link: n1->n2\n",
        "8:11",
        &["`link` only with `delay` or `loss`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    loss: 5%\n    delay: { latency: 5ms }\n    for: 1s\n",
        "7:11",
        &["one fault kind per entry, found both `delay` and `loss`"],
    );
    assert_error(
        "nemesis:\n  - at: 1s\n    loss: 5%\n    for: 5s\n  - at: 2s\n    delay: { latency: 5ms }\n    for: 1s\n",
        "9:5",
        &["the links (a delay or loss) already held by the fault at line 6"],
    );
}

#[test]
fn duplication_is_refused_with_the_reason() {
    assert_error(
        "nemesis:\n  - at: 1s\n    duplicate: 5%\n    for: 1s\n",
        "7:16",
        &["TCP", "duplicated segment"],
    );
}

#[test]
fn a_partition_and_a_delay_may_overlap() {
    plan_of(
        "nemesis:\n  - at: 1s\n    partition: halves\n    for: 5s\n  - at: 2s\n    delay: { latency: 20ms }\n    for: 5s\n",
    );
}

#[test]
fn netns_cannot_delay_and_etcd_clocks_cannot_be_moved() {
    let netns = HEAD.replace("workload:", "network: netns\nworkload:");
    assert_error_in(
        &format!("{netns}nemesis:\n  - at: 1s\n    delay: {{ latency: 5ms }}\n    for: 1s\n"),
        "8:12",
        &["`delay` only with `network: proxy`", "no netem"],
    );
    parse_schedule(
        &format!("{netns}nemesis:\n  - at: 1s\n    loss: 30%\n    for: 1s\n"),
        "s.yaml",
    )
    .expect("netns loses packets with nftables");
    let etcd =
        "name: t\nsystem: { kind: etcd, nodes: 3 }\nduration: 20s\nworkload: { kind: register }\n";
    assert_error_in(
        &format!(
            "{etcd}nemesis:\n  - at: 1s\n    clock: {{ bump: 5s }}\n    target: n1\n    for: 1s\n"
        ),
        "7:12",
        &["etcd is a Go program", "vDSO"],
    );
}
