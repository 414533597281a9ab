//! `faultline run` refuses bad input before anything starts: a schedule with an unknown key
//! exits 65 (bad input) naming `file:line:column` and the key, and starts no cluster; a bad
//! command line exits 64 (bad usage), never 2 (which means "unknown" to scripts).

use std::path::Path;

use tests::run_faultline;

/// `clientz` is on line 4; its first character is in column 38.
const UNKNOWN_KEY: &str = "name: bad
system: { kind: raft, nodes: 3 }
duration: 5s
workload: { kind: register, keys: 2, clientz: 3 }
";

#[test]
fn a_schedule_with_an_unknown_key_exits_65_naming_file_line_and_column() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("bad.yaml"), UNKNOWN_KEY).expect("write schedule");
    let out = run_faultline(
        ["run", "bad.yaml", "--store", "store", "--quiet"],
        work.path(),
    );
    assert_eq!(out.code, Some(65), "{}", out.describe());
    assert!(
        out.stderr.contains("bad.yaml:4:38:"),
        "no file:line:column in\n{}",
        out.describe()
    );
    assert!(out.stderr.contains("clientz"), "{}", out.describe());
    assert!(
        !work.path().join("store").exists(),
        "nothing may start for a bad schedule"
    );
}

#[test]
fn a_missing_schedule_file_is_refused_with_its_name() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = run_faultline(["run", "nowhere.yaml", "--quiet"], work.path());
    assert!(
        matches!(out.code, Some(64..=70)),
        "a missing file is an input or usage error, not a verdict: {}",
        out.describe()
    );
    assert!(out.stderr.contains("nowhere.yaml"), "{}", out.describe());
    assert!(!work.path().join("store").exists());
}

#[test]
fn bad_usage_exits_64() {
    let cwd = Path::new("/");
    for args in [
        vec!["run", "--no-such-flag"],
        vec!["campaign"],
        vec!["campaign", "x.yaml", "--seeds", "many"],
        vec!["no-such-command"],
    ] {
        let out = run_faultline(&args, cwd);
        assert_eq!(out.code, Some(64), "faultline {args:?}: {}", out.describe());
        assert!(
            out.stderr.contains("error:") && out.stderr.contains("--help"),
            "faultline {args:?} says what is wrong and where help is: {}",
            out.describe()
        );
    }
}

/// Writes `schedule` as `s.yaml`, runs it, and asserts exit 65 with `s.yaml:POSITION:` and
/// `words` in the message, and that nothing started (no store).
fn refused(schedule: &str, position: &str, words: &[&str]) {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("s.yaml"), schedule).expect("write schedule");
    let out = run_faultline(
        ["run", "s.yaml", "--store", "store", "--quiet"],
        work.path(),
    );
    assert_eq!(out.code, Some(65), "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("s.yaml:{position}: expected ")),
        "expected s.yaml:{position} in\n{}",
        out.describe()
    );
    for word in words {
        assert!(out.stderr.contains(word), "{word:?} in\n{}", out.describe());
    }
    assert!(
        !work.path().join("store").exists(),
        "nothing may start for a bad schedule"
    );
}

/// An etcd schedule whose `system:` ends with `system_rest`, with `workload_rest` in the
/// workload and `network` as given.
fn etcd_schedule(system_rest: &str, workload: &str, network: &str) -> String {
    format!(
        "name: e\nsystem: {{ kind: etcd, nodes: 3{system_rest} }}\nduration: 5s\n\
         workload: {{ kind: {workload} }}\nnetwork: {network}\n"
    )
}

/// Validation only checks that the etcd executable exists (nothing starts), so these cases
/// name an executable every machine has and do not depend on etcd being installed.
const ANY_EXECUTABLE: &str = ", binary: /bin/sh";

#[test]
fn etcd_without_its_binary_is_refused_before_anything_starts() {
    // `binary:` names a program that is on no PATH: the same lookup as the default `etcd`.
    refused(
        &etcd_schedule(", binary: no-such-etcd-here", "register", "netns"),
        "2:41",
        &["etcd executable", "no `no-such-etcd-here` on PATH"],
    );
    refused(
        &etcd_schedule(", binary: /nonexistent/etcd", "register", "netns"),
        "2:41",
        &["no executable file `/nonexistent/etcd`"],
    );
}

#[test]
fn etcd_refuses_the_proxy_network_a_bug_and_the_bank_workload() {
    refused(
        &etcd_schedule(ANY_EXECUTABLE, "register", "proxy"),
        "5:10",
        &[
            "`network: netns` for an etcd system",
            "one peer URL per member",
        ],
    );
    refused(
        &etcd_schedule(", bug: stale-read", "register", "netns"),
        "2:38",
        &["no planted bug for an etcd system", "found `bug`"],
    );
    refused(
        &etcd_schedule(ANY_EXECUTABLE, "bank", "netns"),
        "4:19",
        &[
            "workload kind register, set, append, list-append or rw-register for an etcd system, found `bank`",
        ],
    );
    refused(
        &etcd_schedule(ANY_EXECUTABLE, "register, read: stale", "netns"),
        "4:35",
        &["read mode linearizable or serializable, found `stale`"],
    );
}

#[test]
fn a_misspelt_raft_bug_is_refused_with_the_stores_own_bug_names() {
    refused(
        "name: r\nsystem: { kind: raft, nodes: 3, bug: stale-reed }\nduration: 5s\nworkload: { kind: register }\n",
        "2:38",
        &[
            "expected a planted bug of the raft store (stale-read, ",
            "found `stale-reed`",
        ],
    );
}

#[test]
fn read_modes_are_refused_for_systems_without_them() {
    refused(
        "name: r\nsystem: { kind: raft, nodes: 3 }\nduration: 5s\nworkload: { kind: register, read: serializable }\n",
        "4:35",
        &["`read` only for a system with a choice of read modes (etcd)"],
    );
}

/// Runs `faultline run FILE` on `text` and returns its stderr, asserting exit 65 and that
/// nothing started.
fn refused_stderr(file: &str, text: &str) -> String {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join(file), text).expect("write schedule");
    let out = run_faultline(["run", file, "--store", "store", "--quiet"], work.path());
    assert_eq!(out.code, Some(65), "{}", out.describe());
    assert!(
        !work.path().join("store").exists(),
        "nothing may start for a bad schedule"
    );
    out.stderr
}

const HEAD: &str = "name: bad
system: { kind: raft, nodes: 3 }
duration: 5s
workload: { kind: register }
";

#[test]
fn an_unclosed_brace_is_named_where_it_was_opened() {
    let text = HEAD.replace("nodes: 3 }", "nodes: 3");
    assert_eq!(
        refused_stderr("open.yaml", &text),
        "faultline: open.yaml:3:9: expected `,` or `}` inside the `{` opened at line 2, \
         column 9 (a `}` missing at the end of line 2?), found `:`\n"
    );
    let text = format!("{HEAD}checks: [linearizable\n");
    assert_eq!(
        refused_stderr("open.yaml", &text),
        "faultline: open.yaml:5:9: expected a `]` closing the `[` here, found the end of the \
         file without one\n"
    );
}

#[test]
fn a_number_that_is_not_one_names_its_key_and_value() {
    let text = HEAD.replace("nodes: 3", "nodes: three");
    assert_eq!(
        refused_stderr("n.yaml", &text),
        "faultline: n.yaml:2:30: expected `nodes` as a whole number (0, 1, 2, ...), found \
         `three`\n"
    );
}

#[test]
fn restart_after_past_the_end_is_named_as_written() {
    let text = format!("{HEAD}nemesis:\n  - at: 2s\n    kill: n1\n    restart_after: 30s\n");
    assert_eq!(
        refused_stderr("r.yaml", &text),
        "faultline: r.yaml:8:20: expected `restart_after` to end within the run (5s), found \
         2s + 30s = 32s\n"
    );
    let text = format!("{HEAD}nemesis:\n  - at: 2s\n    pause: n1\n    for: 30s\n");
    assert_eq!(
        refused_stderr("r.yaml", &text),
        "faultline: r.yaml:8:10: expected `for` to end within the run (5s), found 2s + 30s = \
         32s\n"
    );
}

#[test]
fn partition_groups_must_name_every_node() {
    let text = format!("{HEAD}nemesis:\n  - at: 1s\n    partition: [[n1], [n2]]\n    for: 1s\n");
    assert_eq!(
        refused_stderr("p.yaml", &text),
        "faultline: p.yaml:7:16: expected every node in a group, found `n3` in none (it would \
         be cut off from every group; add it to a group, or give it one of its own, [n3], to \
         cut it off alone)\n"
    );
    let text = HEAD.replace("nodes: 3", "nodes: 4")
        + "nemesis:\n  - at: 1s\n    partition: [[n1, n2]]\n    for: 1s\n";
    assert_eq!(
        refused_stderr("p.yaml", &text),
        "faultline: p.yaml:7:16: expected every node in a group, found `n3`, `n4` in none \
         (they would be cut off from every group, together; add them to the groups, or give \
         them one of their own, [n3, n4], to say so)\n"
    );
}
