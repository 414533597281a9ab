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
