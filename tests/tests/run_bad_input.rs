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

/// Runs `faultline run FILE` on `text` and returns its stderr, asserting exit 65 and that
/// nothing started.
fn refused(file: &str, text: &str) -> String {
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
        refused("open.yaml", &text),
        "faultline: open.yaml:3:9: expected `,` or `}` inside the `{` opened at line 2, \
         column 9 (a `}` missing at the end of line 2?), found `:`\n"
    );
    let text = format!("{HEAD}checks: [linearizable\n");
    assert_eq!(
        refused("open.yaml", &text),
        "faultline: open.yaml:5:9: expected a `]` closing the `[` here, found the end of the \
         file without one\n"
    );
}

#[test]
fn a_number_that_is_not_one_names_its_key_and_value() {
    let text = HEAD.replace("nodes: 3", "nodes: three");
    assert_eq!(
        refused("n.yaml", &text),
        "faultline: n.yaml:2:30: expected `nodes` as a whole number (0, 1, 2, ...), found \
         `three`\n"
    );
}

#[test]
fn restart_after_past_the_end_is_named_as_written() {
    let text = format!("{HEAD}nemesis:\n  - at: 2s\n    kill: n1\n    restart_after: 30s\n");
    assert_eq!(
        refused("r.yaml", &text),
        "faultline: r.yaml:8:20: expected `restart_after` to end within the run (5s), found \
         2s + 30s = 32s\n"
    );
    let text = format!("{HEAD}nemesis:\n  - at: 2s\n    pause: n1\n    for: 30s\n");
    assert_eq!(
        refused("r.yaml", &text),
        "faultline: r.yaml:8:10: expected `for` to end within the run (5s), found 2s + 30s = \
         32s\n"
    );
}

#[test]
fn partition_groups_must_name_every_node() {
    let text = format!("{HEAD}nemesis:\n  - at: 1s\n    partition: [[n1], [n2]]\n    for: 1s\n");
    assert_eq!(
        refused("p.yaml", &text),
        "faultline: p.yaml:7:16: expected every node in a group, found `n3` in none (it would \
         be cut off from every group; add it to a group, or give it one of its own, [n3], to \
         cut it off alone)\n"
    );
    let text = HEAD.replace("nodes: 3", "nodes: 4")
        + "nemesis:\n  - at: 1s\n    partition: [[n1, n2]]\n    for: 1s\n";
    assert_eq!(
        refused("p.yaml", &text),
        "faultline: p.yaml:7:16: expected every node in a group, found `n3`, `n4` in none \
         (they would be cut off from every group, together; add them to the groups, or give \
         them one of their own, [n3, n4], to say so)\n"
    );
}
