//! `faultline check` as a user runs it: exit codes, messages, `--json`, `--html`, and a
//! stored run's directory as input. Every history is made here (generated, or written
//! out line by line): the tests need nothing from outside the repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use checker::generate::{GenSpec, plant_stale_read, register_history, write_jsonl};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline")
}

/// A generated linearizable register history (100 keys, 2,000 ops, 1% info) as JSONL, and
/// the same history with one read made stale (`checker::generate`).
fn generated_histories(dir: &Path) -> (PathBuf, PathBuf) {
    let spec = GenSpec {
        ops: 2_000,
        keys: 100,
        processes: 8,
        info_per_mille: 10,
        seed: 16,
    };
    let mut history = register_history(spec);
    let valid = dir.join("valid.jsonl");
    write_jsonl(&history, std::fs::File::create(&valid).unwrap()).unwrap();
    plant_stale_read(&mut history, 2).expect("a read to make stale");
    let invalid = dir.join("stale-read.jsonl");
    write_jsonl(&history, std::fs::File::create(&invalid).unwrap()).unwrap();
    (valid, invalid)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `out` exited with `code`; else its stdout and stderr are the failure message.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn a_valid_history_exits_0_and_an_invalid_one_exits_1_with_an_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let (valid, invalid) = generated_histories(dir.path());
    let out = faultline(&["check", valid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("valid"),
        "{}",
        text(&out.stdout)
    );

    let out = faultline(&["check", invalid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("invalid"), "{stdout}");
    assert!(stdout.contains("cannot linearize"), "{stdout}");
}

/// Jepsen's text log of a cas register, as in Porcupine's `test_data/jepsen`: found by
/// `--format auto`, read with Porcupine's reading of a failed cas.
#[test]
fn a_jepsen_log_is_detected_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let log = |lines: &[&str]| {
        lines
            .iter()
            .map(|l| format!("INFO  jepsen.util - {}\n", l.replace(' ', "\t")))
            .collect::<String>()
    };
    let valid = dir.path().join("valid.log");
    std::fs::write(
        &valid,
        log(&[
            "0 :invoke :write 1",
            "0 :ok :write 1",
            "1 :invoke :cas [1 2]",
            "1 :ok :cas [1 2]",
            "0 :invoke :read nil",
            "0 :ok :read 2",
            "1 :invoke :cas [1 3]",
            "1 :fail :cas [1 3]",
        ]),
    )
    .unwrap();
    let out = faultline(&["check", valid.to_str().unwrap()]);
    assert_exit(&out, 0);
    // The failed cas [2 3] says the value was not 2 when it ran, but nothing but reads
    // happened since the write of 2, and a read after it saw 2.
    let invalid = dir.path().join("invalid.log");
    std::fs::write(
        &invalid,
        log(&[
            "0 :invoke :write 2",
            "0 :ok :write 2",
            "1 :invoke :cas [2 3]",
            "1 :fail :cas [2 3]",
            "0 :invoke :read nil",
            "0 :ok :read 2",
        ]),
    )
    .unwrap();
    let out = faultline(&["check", invalid.to_str().unwrap(), "--json"]);
    assert_exit(&out, 1);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format"], "porcupine-jepsen");
    // Jepsen's reading drops the failed cas: nothing is left to contradict.
    let out = faultline(&[
        "check",
        invalid.to_str().unwrap(),
        "--failed-cas",
        "dropped",
    ]);
    assert_exit(&out, 0);
}

#[test]
fn json_output_and_html_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    // Porcupine's kv shape: EDN maps with :key; key "0" gets "x" appended, then reads "".
    let kv = dir.path().join("kv.txt");
    std::fs::write(
        &kv,
        [
            r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x"}"#,
            r#"{:process 0, :type :ok, :f :append, :key "0", :value "x"}"#,
            r#"{:process 1, :type :invoke, :f :get, :key "0", :value nil}"#,
            r#"{:process 1, :type :ok, :f :get, :key "0", :value ""}"#,
            r#"{:process 1, :type :invoke, :f :get, :key "1", :value nil}"#,
            r#"{:process 1, :type :ok, :f :get, :key "1", :value ""}"#,
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let out = faultline(&[
        "check",
        kv.to_str().unwrap(),
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["verdict"], "invalid");
    assert_eq!(json["format"], "porcupine-kv");
    assert_eq!(json["model"], "kv-append");
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
    assert_exit(&out, 1);
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

/// Knossos's reading of a Jepsen history: an ok read of nil matches any state (the
/// default for EDN and Jepsen's JSON array), `--nil-read value` the strict reading; the
/// help says so.
#[test]
fn jepsen_histories_are_read_as_knossos_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    // Register at 0, written 1, then a read that returned nil: Knossos calls it valid.
    let edn = dir.path().join("history.edn");
    std::fs::write(
        &edn,
        "{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value nil, :process 1}
",
    )
    .unwrap();
    let json = dir.path().join("history.json");
    std::fs::write(
        &json,
        r#"[{"type":"invoke","f":"write","value":1,"process":0,"time":1,"index":0},
{"type":"ok","f":"write","value":1,"process":0,"time":2,"index":1},
{"type":"invoke","f":"read","value":null,"process":1,"time":3,"index":2},
{"type":"ok","f":"read","value":null,"process":1,"time":4,"index":3}]"#,
    )
    .unwrap();
    for (path, format) in [(&edn, "edn"), (&json, "jepsen-json")] {
        let path = path.to_str().unwrap();
        let out = faultline(&["check", path, "--initial", "0", "--json"]);
        assert_exit(&out, 0);
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(result["format"], format);
        let out = faultline(&["check", path, "--initial", "0", "--nil-read", "value"]);
        assert_exit(&out, 1);
    }
    assert_eq!(
        faultline(&["check", edn.to_str().unwrap(), "--nil-read", "maybe"])
            .status
            .code(),
        Some(64)
    );
    let help = text(&faultline(&["check", "--help"]).stdout);
    assert!(help.contains("--nil-read"), "{help}");
    assert!(help.contains("Knossos"), "{help}");
    assert!(help.contains("jepsen-json"), "{help}");
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

/// `--checker elle`: a G-single history (Adya's read skew as list-append) is invalid for
/// serializable and valid for read-committed; `--json` prints the check's details and
/// `--html` draws the cycle. `--help` lists every check of the registry.
#[test]
fn elle_checks_transactions_and_draws_the_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("g-single.jsonl");
    let lines = [
        r#"{"index":0,"time":10,"process":1,"type":"invoke","f":"txn","value":[["append","x",1],["append","y",1]]}"#,
        r#"{"index":1,"time":20,"process":2,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}"#,
        r#"{"index":2,"time":30,"process":1,"type":"ok","f":"txn","value":[["append","x",1],["append","y",1]]}"#,
        r#"{"index":3,"time":40,"process":2,"type":"ok","f":"txn","value":[["r","x",[]],["r","y",[1]]]}"#,
        r#"{"index":4,"time":50,"process":3,"type":"invoke","f":"txn","value":[["r","x",null]]}"#,
        r#"{"index":5,"time":60,"process":3,"type":"ok","f":"txn","value":[["r","x",[1]]]}"#,
    ];
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    let page = dir.path().join("page.html");
    let path = history.to_str().unwrap();
    let out = faultline(&[
        "check",
        path,
        "--checker",
        "elle",
        "--model",
        "serializable",
        "--json",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["verdict"], "invalid");
    assert_eq!(
        json["results"][0]["anomalies"][0]["type"], "G-single",
        "{json:#}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<h3 class=\"lc-key\">G-single</h3>"),
        "{html}"
    );
    assert_eq!(html.matches("<text class=\"lc-txn-name\"").count(), 3);
    assert!(html.contains(">rw: T"), "{html}");

    // An isolation model alone implies the elle check.
    let out = faultline(&["check", path, "--model", "read-committed"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("valid for read-committed: 3 transactions"),
        "{}",
        text(&out.stdout)
    );

    let help = text(&faultline(&["check", "--help"]).stdout);
    for name in checker::check::CheckKind::names() {
        assert!(help.contains(&format!("{name} (")), "{name} in {help}");
    }
    let out = faultline(&["check", path, "--checker", "knossos"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr)
            .contains("expected a check linearizable, set-full, bank, elle or latency"),
        "{}",
        text(&out.stderr)
    );
}
