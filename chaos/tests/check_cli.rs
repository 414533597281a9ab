//! `faultline check` as a user runs it: exit codes, messages, `--json`, `--html`, and a
//! stored run's directory as input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline")
}

fn reference(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference-histories/porcupine")
        .join(file)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_valid_reference_history_exits_0_and_an_invalid_one_exits_1_with_an_explanation() {
    let valid = faultline(&["check", reference("jepsen/etcd_002.log").to_str().unwrap()]);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stderr));
    assert!(
        text(&valid.stdout).starts_with("valid"),
        "{}",
        text(&valid.stdout)
    );

    let invalid = faultline(&["check", reference("jepsen/etcd_000.log").to_str().unwrap()]);
    assert_eq!(invalid.status.code(), Some(1), "{}", text(&invalid.stderr));
    let out = text(&invalid.stdout);
    assert!(out.starts_with("invalid"), "{out}");
    assert!(out.contains("cannot linearize"), "{out}");
}

#[test]
fn json_output_and_html_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let out = faultline(&[
        "check",
        reference("kv/c01-bad.txt").to_str().unwrap(),
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["verdict"], "invalid");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<svg"),
        "the page draws the failing key's ops"
    );
}

#[test]
fn malformed_input_exits_65_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jsonl");
    std::fs::write(
        &path,
        "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":1}\n{\"index\":1,\n",
    )
    .unwrap();
    let out = faultline(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:2:", path.display())), "{err}");
    assert!(err.contains("expected"), "{err}");
}

#[test]
fn bad_usage_exits_64_and_help_exits_0() {
    assert_eq!(faultline(&["check"]).status.code(), Some(64));
    assert_eq!(
        faultline(&["check", "x", "--time-limit", "soon"])
            .status
            .code(),
        Some(64)
    );
    assert_eq!(faultline(&["no-such-command"]).status.code(), Some(64));
    assert_eq!(faultline(&["--help"]).status.code(), Some(0));
}

#[test]
fn a_stored_run_directory_is_checked_with_the_model_of_its_schedule() {
    let run = tempfile::tempdir().unwrap();
    // A stale read on k1: written 2, then read 1 afterwards.
    let history = [
        r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"k1","value":1}"#,
        r#"{"index":1,"time":20,"process":0,"type":"ok","f":"write","key":"k1","value":1}"#,
        r#"{"index":2,"time":30,"process":1,"type":"invoke","f":"write","key":"k1","value":2}"#,
        r#"{"index":3,"time":40,"process":1,"type":"ok","f":"write","key":"k1","value":2}"#,
        r#"{"index":4,"time":50,"process":"nemesis","type":"info","f":"start-kill","value":{"id":0,"nodes":["n1"]}}"#,
        r#"{"index":5,"time":60,"process":0,"type":"invoke","f":"read","key":"k1","value":null}"#,
        r#"{"index":6,"time":70,"process":0,"type":"ok","f":"read","key":"k1","value":1}"#,
    ];
    std::fs::write(run.path().join("history.jsonl"), history.join("\n") + "\n").unwrap();
    std::fs::write(
        run.path().join("schedule.yaml"),
        chaos::schedule::default_schedule().to_yaml(1),
    )
    .unwrap();
    let out = faultline(&["check", run.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("cas-register"),
        "model from the schedule: {stdout}"
    );
    assert!(
        stdout.contains("k1"),
        "the explanation names the key: {stdout}"
    );

    let empty = tempfile::tempdir().unwrap();
    let out = faultline(&["check", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(70), "a directory that is not a run");
    assert!(text(&out.stderr).contains("not a stored run"));
}

#[test]
fn bank_and_set_full_checkers_judge_their_histories() {
    let dir = tempfile::tempdir().unwrap();
    let bank = dir.path().join("bank.jsonl");
    // The second read lost 5 units: the bank's total is 20.
    let lines = [
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"transfer","value":{"from":"a","to":"b","amount":5}}"#,
        r#"{"index":1,"time":2,"process":0,"type":"ok","f":"transfer","value":{"from":"a","to":"b","amount":5}}"#,
        r#"{"index":2,"time":3,"process":1,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":3,"time":4,"process":1,"type":"ok","f":"read","value":{"a":5,"b":15}}"#,
        r#"{"index":4,"time":5,"process":1,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":5,"time":6,"process":1,"type":"ok","f":"read","value":{"a":5,"b":10}}"#,
    ];
    std::fs::write(&bank, lines.join("\n") + "\n").unwrap();
    let out = faultline(&["check", bank.to_str().unwrap(), "--checker", "bank"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("sums to 15 (expected 20)"),
        "{}",
        text(&out.stdout)
    );

    let set = dir.path().join("set.jsonl");
    // 1 is acknowledged, then a later read misses it: lost.
    let lines = [
        r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"add","value":1}"#,
        r#"{"index":1,"time":2,"process":0,"type":"ok","f":"add","value":1}"#,
        r#"{"index":2,"time":3,"process":1,"type":"invoke","f":"read","value":null}"#,
        r#"{"index":3,"time":4,"process":1,"type":"ok","f":"read","value":[]}"#,
    ];
    std::fs::write(&set, lines.join("\n") + "\n").unwrap();
    let out = faultline(&[
        "check",
        set.to_str().unwrap(),
        "--checker",
        "set-full",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "invalid");
}

/// Two keys with a stale read each (write 1, write 2 completed, then a read of 1), and a
/// valid third key.
const TWO_STALE_KEYS: &str = r#"{"index":0,"time":100,"process":0,"type":"invoke","f":"write","key":"k0","value":1}
{"index":1,"time":110,"process":0,"type":"ok","f":"write","key":"k0","value":1}
{"index":2,"time":200,"process":1,"type":"invoke","f":"write","key":"k0","value":2}
{"index":3,"time":210,"process":1,"type":"ok","f":"write","key":"k0","value":2}
{"index":4,"time":300,"process":2,"type":"invoke","f":"read","key":"k0","value":null}
{"index":5,"time":310,"process":2,"type":"ok","f":"read","key":"k0","value":1}
{"index":6,"time":400,"process":3,"type":"invoke","f":"write","key":"k1","value":7}
{"index":7,"time":410,"process":3,"type":"ok","f":"write","key":"k1","value":7}
{"index":8,"time":500,"process":4,"type":"invoke","f":"read","key":"k1","value":null}
{"index":9,"time":510,"process":4,"type":"ok","f":"read","key":"k1","value":null}
{"index":10,"time":600,"process":5,"type":"invoke","f":"write","key":"k2","value":3}
{"index":11,"time":610,"process":5,"type":"ok","f":"write","key":"k2","value":3}
"#;

#[test]
fn check_says_in_words_why_each_invalid_key_is_impossible_and_nothing_for_a_valid_one() {
    let dir = tempfile::tempdir().unwrap();
    let invalid = dir.path().join("invalid.jsonl");
    std::fs::write(&invalid, TWO_STALE_KEYS).unwrap();
    let out = faultline(&["check", invalid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "invalid: 12 history lines, 6 ops checked, 3 keys (1 valid, 2 invalid, 0 unknown)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  in words: read of k0 by process 2 returned 1 (lines 5-6), but write 2 by process 1 \
             had completed before that read began (lines 3-4), and nothing wrote 1 after it \
             (the last op to write 1, write 1 by process 0, lines 1-2, had completed before \
             write 2 began)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  in words: read of k1 by process 4 returned null (lines 9-10), but write 7 by \
             process 3 had completed before that read began (lines 7-8), and nothing wrote \
             null after it (null is the initial value)\n"
        ),
        "{stdout}"
    );

    let valid = dir.path().join("valid.jsonl");
    let lines: Vec<&str> = TWO_STALE_KEYS.lines().collect();
    std::fs::write(&valid, lines[..4].join("\n") + "\n").unwrap();
    let out = faultline(&["check", valid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "valid: 4 history lines, 2 ops checked, 1 key (1 valid, 0 invalid, 0 unknown)"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("in words"), "{stdout}");

    // The --html page of a JSONL history has a time axis, in ms since the run began.
    let page = dir.path().join("page.html");
    let out = faultline(&[
        "check",
        invalid.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("ms since the run began"), "{html}");
    assert!(html.contains("<h3 class=\"lc-key\">Key k1</h3>"), "{html}");
}
