//! Tests of `report.html`: what the page shows for a small hand-made history (verdicts, fault
//! labels, counts, one SVG per chart, the timeline's thread rows), that run-supplied text is
//! escaped, that the page stays small for a long history and needs nothing from the network,
//! and — when Debian's chromium is installed — that a real browser renders it and that every
//! text on the page of an invalid run, the counterexample first, contrasts with what is
//! painted behind it (WCAG 2.1 AA, success criterion 1.4.3: 4.5:1, 3:1 for large text).

mod common;

use std::path::Path;
use std::process::Command;

use chaos::report::{
    CheckSummary, DemoShape, ReportInput, counterexample_html, demo_history, render_report,
    write_report,
};
use checker::check::bank::BankReport;
use checker::check::{CheckReport, HtmlSection};
use checker::history::{Op, OpType, Process};
use serde_json::{Value, json};

/// The bank check's section of the report.
fn bank_section(
    result: checker::bank::BankResult,
    blocked: Vec<checker::blocked::BlockedWindow>,
) -> HtmlSection {
    BankReport { result, blocked }
        .html_section(&[])
        .expect("the bank check always has a section")
}

const MS: u64 = 1_000_000;

fn op(time_ms: u64, process: Process, kind: OpType, f: &str, value: Value) -> Op {
    Op {
        index: 0,
        time_ns: time_ms * MS,
        process,
        kind,
        f: f.to_string(),
        key: Some("k1".to_string()),
        value,
        error: None,
    }
}

/// Three client threads, ok/fail/info outcomes, a partition and a kill, a thread that
/// continues as process 5 after an info, and an op still in flight at the end.
fn small_history() -> Vec<Op> {
    use OpType::{Fail, Info, Invoke, Ok};
    let c = Process::Client;
    let nemesis = Process::Nemesis;
    let mut ops = vec![
        op(100, c(0), Invoke, "write", json!(1)),
        op(105, c(0), Ok, "write", json!(1)),
        op(200, c(1), Invoke, "read", Value::Null),
        op(210, c(1), Fail, "read", Value::Null),
        op(
            500,
            nemesis,
            Info,
            "start-partition",
            json!({"id": 1, "groups": [["n1"], ["n2", "n3"]]}),
        ),
        op(600, c(2), Invoke, "cas", json!([1, 2])),
        op(1_600, c(2), Info, "cas", json!([1, 2])),
        op(1_700, c(5), Invoke, "read", Value::Null),
        op(1_710, c(5), Ok, "read", json!(1)),
        op(2_000, nemesis, Info, "stop-partition", json!({"id": 1})),
        op(
            2_500,
            nemesis,
            Info,
            "start-kill",
            json!({"id": 2, "targets": ["n3"]}),
        ),
        op(2_600, c(0), Invoke, "write", json!(3)),
        op(3_000, nemesis, Info, "stop-kill", json!({"id": 2})),
        op(3_100, c(1), Invoke, "read", Value::Null),
        op(3_200, c(1), Ok, "read", json!(1)),
    ];
    for (index, op) in ops.iter_mut().enumerate() {
        op.index = index as u64;
    }
    ops
}

fn verdicts() -> Vec<CheckSummary> {
    let check = |check: &str, verdict: &str, summary: &str| CheckSummary {
        check: check.to_string(),
        verdict: verdict.to_string(),
        summary: summary.to_string(),
    };
    vec![
        check(
            "linearizable",
            "invalid",
            "key k1: read of 1 cannot be linearized",
        ),
        check("set", "valid", "no lost adds"),
        check("bank", "unknown", "time budget ran out"),
    ]
}

fn input<'a>(title: &str, ops: &'a [Op]) -> ReportInput<'a> {
    ReportInput {
        title: title.to_string(),
        seed: 4242,
        run_id: "20250101T000000-seed4242".to_string(),
        verdicts: verdicts(),
        ops,
        schedule_yaml: "name: small\nseed: 4242\n".to_string(),
        check_sections: Vec::new(),
    }
}

fn card(page: &str, key: &str) -> String {
    let marker = format!("<div class=\"k\">{key}</div><div class=\"v\">");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no card {key}"))
        + marker.len();
    page[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn shows_verdicts_faults_counts_and_one_svg_per_chart() {
    let ops = small_history();
    let page = render_report(&input("small", &ops));
    for needle in [
        "linearizable",
        "<span class=\"badge invalid\">invalid</span>",
        "<span class=\"badge valid\">valid</span>",
        "<span class=\"badge unknown\">unknown</span>",
        "key k1: read of 1 cannot be linearized",
        "<div class=\"overall invalid\">invalid</div>",
        "20250101T000000-seed4242",
        "4242",
    ] {
        assert!(page.contains(needle), "page lacks {needle:?}");
    }
    // Fault labels, in every chart's label band.
    assert_eq!(page.matches("partition n1|n2,n3").count(), 3);
    assert_eq!(page.matches("kill n3").count(), 3);
    assert_eq!(
        page.matches("<svg").count(),
        3,
        "latency, throughput, timeline"
    );
    assert_eq!(card(&page, "ops invoked"), "6");
    assert_eq!(card(&page, "ok"), "3");
    assert_eq!(card(&page, "fail"), "1");
    assert_eq!(card(&page, "info"), "1");
    assert_eq!(card(&page, "in flight"), "1");
    assert_eq!(card(&page, "faults"), "2");
    assert_eq!(card(&page, "duration"), "3.2 s");
    // Process 5 took over from process 2 after its info: one thread row for both.
    assert!(
        page.contains(">\np2, p5\n</text>"),
        "timeline row of the thread p2 -> p5"
    );
    assert!(
        !page.contains("History warnings"),
        "the small history is well formed"
    );
}

#[test]
fn an_unpaired_completion_is_reported_as_a_warning() {
    let mut ops = small_history();
    let stray = op(3_300, Process::Client(9), OpType::Ok, "read", json!(1));
    ops.push(Op { index: 99, ..stray });
    let page = render_report(&input("small", &ops));
    assert!(page.contains("History warnings (1)"));
    assert!(page.contains("op 99: a Ok completion of process 9 with no invoke"));
}

#[test]
fn explanation_fragment_is_inserted_as_is() {
    let ops = small_history();
    let mut report = input("small", &ops);
    report.check_sections = vec![HtmlSection {
        title: "Counterexample".into(),
        body_html: "<svg class=\"counterexample\"><rect/></svg>".to_string(),
    }];
    let page = render_report(&report);
    assert!(page.contains("<h2>Counterexample</h2>"));
    assert!(page.contains("<svg class=\"counterexample\"><rect/></svg>"));
    assert_eq!(page.matches("<svg").count(), 4);
}

#[test]
fn text_from_the_run_is_escaped() {
    let evil = "<script>alert(1)</script>";
    let mut ops = small_history();
    ops[4].value = json!({"id": 1, "targets": ["<img src=x onerror=alert(2)>"]});
    let mut report = input(evil, &ops);
    report.run_id = format!("run{evil}");
    report.verdicts[0].summary = evil.to_string();
    report.verdicts[1].check = evil.to_string();
    report.verdicts[2].verdict = evil.to_string();
    report.schedule_yaml = format!("name: \"{evil}\"\n");
    let page = render_report(&report);
    assert!(
        !page.to_lowercase().contains("<script"),
        "no script element at all"
    );
    assert!(!page.contains("<img"), "fault descriptions are escaped too");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("<title>&lt;script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
}

#[test]
fn a_long_history_gives_a_small_self_contained_page() {
    let ops = demo_history(DemoShape {
        seed: 1,
        duration_s: 100.0,
        clients: 16,
        rate_per_s: 400.0,
    });
    let invoked = ops.iter().filter(|op| op.kind == OpType::Invoke).count();
    assert!(
        invoked >= 20_000,
        "the demo history should have 20k ops, has {invoked}"
    );
    let page = render_report(&input("long", &ops));
    assert!(page.len() < 2_000_000, "page is {} bytes", page.len());
    assert!(
        page.contains("a stratified sample"),
        "the sampling is said on the page"
    );
    assert!(
        page.contains("share a bar"),
        "the bar merging is said on the page"
    );
    assert_eq!(page.matches("<svg").count(), 3);
    for external in ["<script", "<link", "src=", "href=", "url(", "@import"] {
        assert!(
            !page.contains(external),
            "page refers outside itself: {external}"
        );
    }
    let svg_namespace = "http://www.w3.org/2000/svg";
    assert_eq!(
        page.matches("http").count(),
        page.matches(svg_namespace).count()
    );
}

#[test]
fn an_empty_history_still_renders() {
    let page = render_report(&input("empty", &[]));
    assert_eq!(page.matches("<svg").count(), 3);
    assert!(page.contains("No fault was injected."));
    assert!(!page.contains("could not be drawn"));
}

#[test]
fn write_report_leaves_only_the_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.html");
    let ops = small_history();
    write_report(&path, &input("small", &ops)).expect("write report");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["report.html"]);
    let page = std::fs::read_to_string(&path).expect("read report");
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
}

#[test]
fn renders_in_headless_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        common::tool_missing("/usr/bin/chromium is not installed (apt-get install chromium)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.html");
    let ops = demo_history(DemoShape {
        seed: 3,
        duration_s: 20.0,
        clients: 6,
        rate_per_s: 100.0,
    });
    write_report(&path, &input("browser check", &ops)).expect("write report");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/check-report.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(&path)
        .output()
        .expect("run .ci/check-report.sh");
    assert!(
        output.status.success(),
        "check-report failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A bank history: a transfer ok before a kill, none during it, one after; a bad read.
fn bank_history() -> Vec<Op> {
    use OpType::{Info, Invoke, Ok};
    let c = Process::Client;
    let transfer = json!({"from": "a0", "to": "a1", "amount": 5});
    let mut ops = vec![
        op(100, c(0), Invoke, "transfer", transfer.clone()),
        op(110, c(0), Ok, "transfer", transfer.clone()),
        op(
            200,
            Process::Nemesis,
            Info,
            "start-kill",
            json!({"id": 0, "nodes": ["c1"]}),
        ),
        op(
            1_200,
            Process::Nemesis,
            Info,
            "stop-kill",
            json!({"id": 0, "nodes": ["c1"]}),
        ),
        op(1_500, c(0), Invoke, "transfer", transfer.clone()),
        op(1_510, c(0), Ok, "transfer", transfer),
        op(1_600, c(1), Invoke, "read", Value::Null),
        op(1_610, c(1), Ok, "read", json!({"a0": 90, "a1": 100})),
    ];
    for (index, op) in ops.iter_mut().enumerate() {
        op.index = index as u64;
        op.key = None;
    }
    ops
}

#[test]
fn the_bank_section_shows_blocked_time_per_window_and_the_bad_read() {
    let ops = bank_history();
    let options = checker::bank::BankOptions {
        accounts: vec!["a0".into(), "a1".into()],
        total: 200,
    };
    let result = checker::bank::check_bank(&ops, &options).expect("a bank history");
    let blocked = checker::blocked::blocked_windows(&ops);
    assert_eq!(blocked.len(), 1);
    assert_eq!(
        blocked[0].longest_without_ok_ns,
        1_000 * MS,
        "the whole kill"
    );
    assert_eq!(blocked[0].until_first_ok_ns, Some(1_310 * MS));
    let mut report = input("bank", &ops);
    report.check_sections = vec![bank_section(result, blocked)];
    let page = render_report(&report);
    assert!(page.contains("<h2>Bank: availability per fault window</h2>"));
    let row = page
        .split("<tr><td>kill #0</td>")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("a row for the kill");
    assert!(
        row.contains(">1000.0<") && row.contains(">1310.0<"),
        "{row}"
    );
    assert!(
        page.contains("1 bad read. First: op 7") && page.contains("sums to 190 (expected 200)"),
        "the bad read is named"
    );
}

/// Two keys, each with a stale read: write 1, write 2 (both ok), then a read of 1 that
/// began after write 2 completed; a partition in the middle and a failed op.
fn invalid_history() -> Vec<Op> {
    use OpType::{Fail, Info, Invoke, Ok};
    let c = Process::Client;
    let keyed = |mut op: Op, key: &str| {
        op.key = Some(key.to_string());
        op
    };
    let mut ops = Vec::new();
    for (k, key) in ["k0", "k1"].into_iter().enumerate() {
        let at = k as u64 * 1_000;
        ops.extend([
            keyed(op(at + 100, c(0), Invoke, "write", json!(1)), key),
            keyed(op(at + 110, c(0), Ok, "write", json!(1)), key),
            keyed(op(at + 200, c(1), Invoke, "write", json!(2)), key),
            keyed(op(at + 230, c(1), Ok, "write", json!(2)), key),
            keyed(op(at + 300, c(2), Invoke, "read", Value::Null), key),
            keyed(op(at + 320, c(2), Ok, "read", json!(1)), key),
            keyed(op(at + 400, c(3), Invoke, "cas", json!([5, 6])), key),
            keyed(op(at + 410, c(3), Fail, "cas", json!([5, 6])), key),
        ]);
    }
    ops.insert(
        4,
        op(
            250,
            Process::Nemesis,
            Info,
            "start-partition",
            json!({"id": 1, "groups": [["n1"], ["n2", "n3"]]}),
        ),
    );
    ops.push(op(
        1_500,
        Process::Nemesis,
        Info,
        "stop-partition",
        json!({"id": 1}),
    ));
    for (index, op) in ops.iter_mut().enumerate() {
        op.index = index as u64;
    }
    ops
}

#[test]
fn every_invalid_key_is_explained_in_words_with_a_time_axis() {
    let ops = invalid_history();
    let result = checker::check_linearizability_history(
        ops.clone(),
        None,
        &checker::LinearizabilityOptions::default(),
    )
    .expect("a well-formed history");
    assert_eq!(result.verdict, checker::Verdict::Invalid);
    assert_eq!(result.keys_invalid, 2, "{}", result.summary_line());
    let fragment = counterexample_html(&result, &ops);
    for key in ["k0", "k1"] {
        assert!(
            fragment.contains(&format!("<h3 class=\"lc-key\">Key {key}</h3>")),
            "{key} explained"
        );
    }
    // History line n is op n - 1: the invoke of k0's stale read is line 6 (a nemesis
    // record came before it).
    assert!(
        fragment.contains(
            "read of k0 by process 2 returned 1 (lines 6-7), but write 2 by process 1 had \
             completed before that read began (lines 3-4), and nothing wrote 1 after it"
        ),
        "{fragment}"
    );
    assert!(fragment.contains("ms since the run began"));
    assert!(
        fragment.contains("<title>process 2: read -&gt; 1 (lines 6-7, 300.0-320.0 ms); cannot be linearized</title>"),
        "full label on hover: {fragment}"
    );
    assert!(!fragment.contains('…'), "no label is cut");
    assert!(
        !fragment.contains("<style"),
        "the page holds the one stylesheet"
    );
}

/// The page of an invalid run: `ops` drawn, `checked` (well formed) checked.
fn contrast_input<'a>(ops: &'a [Op], checked: &[Op]) -> ReportInput<'a> {
    let result = checker::check_linearizability_history(
        checked.to_vec(),
        None,
        &checker::LinearizabilityOptions::default(),
    )
    .expect("a well-formed history");
    let mut report = input("contrast", ops);
    report.verdicts[0].summary = result.summary_line();
    report.check_sections = vec![
        result
            .html_section(ops)
            .expect("an invalid result's section"),
    ];
    let bank = bank_history();
    let options = checker::bank::BankOptions {
        accounts: vec!["a0".into(), "a1".into()],
        total: 200,
    };
    let bank_result = checker::bank::check_bank(&bank, &options).expect("a bank history");
    report.check_sections.push(bank_section(
        bank_result,
        checker::blocked::blocked_windows(&bank),
    ));
    report
}

#[test]
fn every_text_of_an_invalid_report_contrasts_with_its_background_in_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        common::tool_missing("/usr/bin/chromium is not installed (apt-get install chromium)");
        return;
    }
    let checked = invalid_history();
    let mut ops = checked.clone();
    // A stray completion, so that the warnings section is drawn too.
    let stray = op(1_600, Process::Client(9), OpType::Ok, "read", json!(1));
    ops.push(Op {
        index: ops.len() as u64,
        ..stray
    });
    let page = render_report(&contrast_input(&ops, &checked));
    let script = include_str!("report_render/contrast.js");
    let page = page.replace("</body>", &format!("<script>{script}</script></body>"));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("report.html");
    std::fs::write(&path, page).expect("write the page");
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", path.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
    let json = dom
        .split("CONTRAST-BEGIN")
        .nth(1)
        .and_then(|rest| rest.split("CONTRAST-END").next())
        .unwrap_or_else(|| {
            panic!(
                "chromium did not run the contrast script (status {}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    // --dump-dom escapes the text it serialises.
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let measured: Value = serde_json::from_str(&json).expect("the script's JSON");
    let results = measured["results"].as_array().expect("results");
    let sections = |name: &str| results.iter().filter(|r| r["section"] == name).count();
    for section in [
        "Counterexample",
        "Checks",
        "Latency",
        "Timeline",
        "Faults",
        "Operations by function",
        "Schedule as run",
        "Bank: availability per fault window",
        "header",
    ] {
        assert!(sections(section) > 0, "no text measured in {section}");
    }
    assert!(
        results.iter().any(|r| r["section"] == "Counterexample"
            && r["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("read of k0")),
        "the counterexample's words are measured"
    );
    let low: Vec<&Value> = results
        .iter()
        .filter(|r| r["ratio"].as_f64().unwrap_or(0.0) < r["required"].as_f64().unwrap_or(4.5))
        .collect();
    assert!(
        low.is_empty(),
        "{} of {} texts contrast too little with their background:\n{}",
        low.len(),
        results.len(),
        low.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
