//! What `faultline --help` and `faultline cluster up --help` tell a new user: what
//! faultline does (not what its crates are), where to start, and every option of
//! `cluster up` with what it means.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

#[test]
fn the_help_opens_with_what_faultline_does() {
    let text = help(&["--help"]);
    assert!(
        text.starts_with(
            "faultline finds consistency bugs in distributed stores: it starts a real cluster, \
             drives\nclients against it"
        ),
        "{text}"
    );
    assert!(!text.contains("supervisor, network, nemesis"), "{text}");
    assert!(text.contains("\nStart here:\n  faultline run "), "{text}");
    assert!(text.contains("  faultline check store/latest "), "{text}");
}

#[test]
fn cluster_up_explains_its_options_and_every_network() {
    let text = help(&["cluster", "up", "--help"]);
    for words in [
        "--nodes <NODES>\n          How many Raft nodes (n1, n2, ...)",
        "--network <NETWORK>\n          How the nodes reach each other",
        "- direct: Straight to each other's address: no network faults possible",
        "- proxy:  Through controller-owned TCP proxies that can cut links (no privileges needed)",
        "- netns:  Each node in its own network namespace, links cut with nftables (needs root)",
        "Prints each node's address, pid and log, and the leader",
    ] {
        assert!(text.contains(words), "{words:?} missing from\n{text}");
    }
}

#[test]
fn run_help_lists_every_planted_bug() {
    let text = help(&["run", "--help"]);
    assert!(
        text.contains(
            "--bug <NAME>\n          Turns on a planted bug, overriding the schedule's `bug:`"
        ),
        "{text}"
    );
    for name in chaos::planted::names("raft")
        .into_iter()
        .chain(chaos::planted::names("bank"))
    {
        assert!(text.contains(&name), "{name} missing from\n{text}");
    }
}
