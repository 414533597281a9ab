//! The checks through their one interface ([`checker::check`]): every registry entry run
//! by name on a history file it judges, its verdict, summary, text and JSON details; and
//! Elle's anomaly drawn in the HTML section (transactions as nodes, edges labelled).
//!
//! G-single: Adya, "Weak Consistency" (1999), section 4.4.2 (a cycle with exactly one
//! anti-dependency edge); its list-append reading after Kingsbury & Alvaro, "Elle" (VLDB
//! 2020), section 4.

use std::path::PathBuf;

use checker::Verdict;
use checker::check::{CheckKind, CheckSettings, REGISTRY, html_page};
use serde_json::{Value, json};

/// Writes `records` as a JSONL history (index and time filled in, 10 ns apart).
fn history(dir: &tempfile::TempDir, name: &str, records: &[Value]) -> PathBuf {
    let text: String = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            r["index"] = json!(i);
            r["time"] = json!((i as u64 + 1) * 10);
            format!("{r}\n")
        })
        .collect();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn op(process: u64, kind: &str, f: &str, value: Value) -> Value {
    json!({"process": process, "type": kind, "f": f, "value": value})
}

/// Adya's read skew as list-append: T1 appends 1 to x and to y; T2, concurrent, reads y
/// with T1's 1 but x without it; a later read sees x's 1 (so x's order is known).
fn g_single() -> Vec<Value> {
    let t1 = json!([["append", "x", 1], ["append", "y", 1]]);
    vec![
        op(1, "invoke", "txn", t1.clone()),
        op(
            2,
            "invoke",
            "txn",
            json!([["r", "x", null], ["r", "y", null]]),
        ),
        op(1, "ok", "txn", t1),
        op(2, "ok", "txn", json!([["r", "x", []], ["r", "y", [1]]])),
        op(3, "invoke", "txn", json!([["r", "x", null]])),
        op(3, "ok", "txn", json!([["r", "x", [1]]])),
    ]
}

fn named(name: &str) -> CheckKind {
    CheckKind::from_name(name).unwrap_or_else(|| panic!("{name} is in the registry"))
}

#[test]
fn the_registry_names_every_check_once() {
    let names: Vec<&str> = CheckKind::names().collect();
    assert_eq!(
        names,
        ["linearizable", "set-full", "bank", "elle", "latency"]
    );
    assert_eq!(REGISTRY.len(), names.len());
    assert_eq!(named("set"), named("set-full"), "the old name reads back");
}

#[test]
fn elle_draws_the_g_single_cycle_with_labelled_edges() {
    let dir = tempfile::tempdir().unwrap();
    let path = history(&dir, "g-single.jsonl", &g_single());
    let settings = CheckSettings {
        elle_models: vec![
            checker::elle::Model::Serializable,
            checker::elle::Model::ReadCommitted,
        ],
        ..CheckSettings::default()
    };
    let report = named("elle").run(&path, &settings).expect("a txn history");
    assert_eq!(report.verdict(), Verdict::Invalid);
    let summary = report.summary();
    assert!(
        summary.starts_with("serializable invalid, read-committed valid: 3 transactions"),
        "{summary}"
    );
    assert!(summary.contains("G-single (1)"), "{summary}");
    let details = report.details();
    assert_eq!(details["verdict"], "invalid");
    assert_eq!(details["results"][1]["verdict"], "valid", "{details:#}");
    let evidence = report.evidence();
    assert!(evidence.starts_with("  G-single: T1 -"), "{evidence}");

    let section = report.html_section(&[]).expect("an anomaly is drawn");
    let svg = section.body_html.as_str();
    assert!(svg.contains("<h3 class=\"lc-key\">G-single</h3>"), "{svg}");
    // Two transactions in the cycle, the first drawn again where the cycle closes.
    let names: Vec<&str> = svg
        .split("<text class=\"lc-txn-name\"")
        .skip(1)
        .map(|rest| {
            let start = rest.find('>').unwrap() + 1;
            &rest[start..start + rest[start..].find('<').unwrap()]
        })
        .collect();
    assert_eq!(names, ["T1", "T2", "T1"], "{svg}");
    assert_eq!(svg.matches("lc-txn lc-txn-again").count(), 1);
    // One rw edge (red) and one wr edge, each labelled with its type and why.
    let labels: Vec<&str> = svg
        .split("<text class=\"lc-edge-label\"")
        .skip(1)
        .map(|rest| {
            let start = rest.find('>').unwrap() + 1;
            &rest[start..start + rest[start..].find('<').unwrap()]
        })
        .collect();
    let rw: Vec<&&str> = labels.iter().filter(|l| l.starts_with("rw: ")).collect();
    let wr: Vec<&&str> = labels.iter().filter(|l| l.starts_with("wr: ")).collect();
    assert_eq!((rw.len(), wr.len()), (1, 1), "{labels:?}");
    assert!(rw[0].contains("without 1"), "{}", rw[0]);
    assert!(wr[0].contains("read"), "{}", wr[0]);
    assert_eq!(svg.matches("class=\"lc-edge lc-edge-rw\"").count(), 1);
    assert_eq!(svg.matches("class=\"lc-edge\"").count(), 1);
    // Each node says which line and micro-ops it is.
    assert!(
        svg.contains("line 1, process 1, Ok: [[append x 1] [append y 1]]"),
        "{svg}"
    );

    let page = html_page(report.as_ref(), "g-single.jsonl", &[]);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains(checker::html::STYLE));
    assert!(page.contains("<h1>g-single.jsonl: invalid</h1>"));
}

#[test]
fn a_valid_txn_history_has_no_drawing() {
    let dir = tempfile::tempdir().unwrap();
    let t1 = json!([["append", "x", 1]]);
    let path = history(
        &dir,
        "valid.jsonl",
        &[
            op(1, "invoke", "txn", t1.clone()),
            op(1, "ok", "txn", t1),
            op(2, "invoke", "txn", json!([["r", "x", null]])),
            op(2, "ok", "txn", json!([["r", "x", [1]]])),
        ],
    );
    let report = named("elle")
        .run(&path, &CheckSettings::default())
        .expect("a txn history");
    assert_eq!(report.verdict(), Verdict::Valid, "{}", report.to_text());
    assert!(
        report.summary().starts_with("strict-serializable valid"),
        "the default model: {}",
        report.summary()
    );
    assert!(report.html_section(&[]).is_none());
    assert_eq!(report.evidence(), "");
}

#[test]
fn every_check_runs_by_name_on_a_history_it_judges() {
    let dir = tempfile::tempdir().unwrap();
    // A stale read: write 1, write 2, then a read of 1 that began after both.
    let register = history(
        &dir,
        "register.jsonl",
        &[
            op(0, "invoke", "write", json!(1)),
            op(0, "ok", "write", json!(1)),
            op(0, "invoke", "write", json!(2)),
            op(0, "ok", "write", json!(2)),
            op(1, "invoke", "read", Value::Null),
            op(1, "ok", "read", json!(1)),
        ],
    );
    let report = named("linearizable")
        .run(&register, &CheckSettings::default())
        .expect("a register history");
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(
        report.evidence().starts_with("  in words: "),
        "{}",
        report.evidence()
    );
    assert!(
        report.details()["explanation"]["culprit"]["invoke_line"].is_u64(),
        "{:#}",
        report.details()
    );
    let section = report.html_section(&[]).expect("a counterexample");
    assert_eq!(section.title, "Counterexample");
    assert!(section.body_html.contains("<svg"));

    let latency = named("latency")
        .run(&register, &CheckSettings::default())
        .expect("any history");
    assert_eq!(latency.verdict(), Verdict::Valid, "never judged");
    assert_eq!(
        latency.summary(),
        "informational: ok-op latency p50 0.0 ms, p99 0.0 ms, max 0.0 ms over 3 ops"
    );
    assert_eq!(latency.details()["ok_ops"], 3);

    // 1 acknowledged, then a later read misses it: lost.
    let set = history(
        &dir,
        "set.jsonl",
        &[
            op(0, "invoke", "add", json!(1)),
            op(0, "ok", "add", json!(1)),
            op(1, "invoke", "read", Value::Null),
            op(1, "ok", "read", json!([])),
        ],
    );
    let report = named("set-full")
        .run(&set, &CheckSettings::default())
        .expect("a set history");
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(
        report.summary().starts_with("set: invalid"),
        "{}",
        report.summary()
    );
    assert_eq!(report.details()["counts"]["lost"], 1);

    // The second read lost 5 units of a total of 20.
    let bank = history(
        &dir,
        "bank.jsonl",
        &[
            op(0, "invoke", "read", Value::Null),
            op(0, "ok", "read", json!({"a": 10, "b": 10})),
            op(1, "invoke", "read", Value::Null),
            op(1, "ok", "read", json!({"a": 5, "b": 10})),
        ],
    );
    let settings = CheckSettings {
        bank: Some(checker::bank::BankOptions {
            accounts: vec!["a".into(), "b".into()],
            total: 20,
        }),
        ..CheckSettings::default()
    };
    let report = named("bank").run(&bank, &settings).expect("a bank history");
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(
        report.summary().contains("1 bad read"),
        "{}",
        report.summary()
    );
    let details = report.details();
    assert_eq!(details["bad_reads"], 1, "{details:#}");
    assert!(details["blocked"].is_array(), "{details:#}");
    let section = report.html_section(&[]).expect("the availability table");
    assert!(section.body_html.contains("sums to 15 (expected 20)"));

    // Bad input is an error naming the file and line, never a verdict.
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"index\":0,\n").unwrap();
    for kind in REGISTRY {
        let error = kind
            .run(&broken, &CheckSettings::default())
            .expect_err("not a history");
        assert!(
            error.to_string().contains("broken.jsonl:1"),
            "{}: {error}",
            kind.name()
        );
    }
}
