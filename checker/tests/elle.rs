//! The Elle-style check on hand-built histories: one per anomaly type, each asserting
//! the anomaly and the models it rules out; valid histories that must stay valid; the
//! refusals; and a property test against a brute-force oracle that enumerates serial
//! orders (consistent with real time for strict serializability).
//!
//! Anomaly definitions: Adya, "Weak Consistency" (1999), section 4 (G0, G1a-c, G2) and
//! 4.4 (G-single); Kingsbury & Alvaro, "Elle" (VLDB 2020), section 4 (list-append and
//! rw-register inference) and 5 (-process / -realtime variants).

use checker::Verdict;
use checker::elle::{AnomalyKind, ElleOptions, ElleResult, Model, check_text};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A history under construction: JSONL lines.
#[derive(Default)]
struct H {
    lines: Vec<String>,
    time_ns: u64,
}

impl H {
    fn line(&mut self, process: u64, kind: &str, value: Value) {
        let index = self.lines.len();
        self.time_ns += 10;
        self.lines.push(
            json!({"index": index, "time": self.time_ns, "process": process, "type": kind,
                   "f": "txn", "value": value})
            .to_string(),
        );
    }

    /// The invoke: reads' values are null, as Jepsen writes them.
    fn invoke(&mut self, process: u64, value: &Value) {
        let blank: Vec<Value> = value
            .as_array()
            .expect("a txn is a list")
            .iter()
            .map(|m| {
                let m = m.as_array().unwrap();
                if m[0] == "r" {
                    json!(["r", m[1], null])
                } else {
                    Value::Array(m.clone())
                }
            })
            .collect();
        self.line(process, "invoke", Value::Array(blank));
    }

    fn complete(&mut self, process: u64, kind: &str, value: Value) {
        self.line(process, kind, value);
    }

    /// Invoke and `ok` completion, back to back.
    fn ok(&mut self, process: u64, value: Value) -> &mut H {
        self.invoke(process, &value);
        self.complete(process, "ok", value);
        self
    }

    fn fail(&mut self, process: u64, value: Value) -> &mut H {
        self.invoke(process, &value);
        self.complete(process, "fail", value);
        self
    }

    fn text(&self) -> String {
        self.lines.join("\n") + "\n"
    }

    fn check(&self, model: Model) -> ElleResult {
        check_text(
            "test.jsonl",
            &self.text(),
            &ElleOptions {
                model,
                ..ElleOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", self.text()))
    }
}

fn kind(name: &str) -> AnomalyKind {
    name.parse().unwrap()
}

fn model(name: &str) -> Model {
    name.parse().unwrap()
}

/// Asserts `anomaly` is found, the weakest models ruled out are `weakest`, the verdict
/// is invalid for each of `invalid_for` and valid for each of `valid_for`.
fn assert_anomaly(
    h: &H,
    anomaly: &str,
    weakest: &[&str],
    invalid_for: &[&str],
    valid_for: &[&str],
) {
    let r = h.check(Model::StrictSerializable);
    assert!(
        r.anomaly_types.contains(&kind(anomaly)),
        "expected {anomaly}, found {:?}\n{}",
        r.anomaly_types,
        r.to_text()
    );
    let mut got: Vec<&str> = r.ruled_out.iter().map(|m| m.name()).collect();
    got.sort_unstable();
    let mut want = weakest.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{}", r.to_text());
    let example = r
        .anomalies
        .iter()
        .find(|a| a.kind == kind(anomaly))
        .expect("an example of each type found");
    assert!(!example.text.is_empty());
    for m in invalid_for {
        assert_eq!(
            h.check(model(m)).verdict,
            Verdict::Invalid,
            "{anomaly} for {m}"
        );
    }
    for m in valid_for {
        let r = h.check(model(m));
        assert_eq!(
            r.verdict,
            Verdict::Valid,
            "{anomaly} for {m}\n{}",
            r.to_text()
        );
    }
}

fn append(k: &str, v: i64) -> Value {
    json!(["append", k, v])
}

fn read(k: &str, list: &[i64]) -> Value {
    json!(["r", k, list])
}

fn txn(mops: &[Value]) -> Value {
    Value::Array(mops.to_vec())
}

// ---- list-append: cycles ------------------------------------------------------------

/// Adya 4.1.1 G0 (write cycles): the appends to x and to y are ordered oppositely.
#[test]
fn g0_write_cycle() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1), append("y", 2)]))
        .ok(2, txn(&[append("x", 3), append("y", 4)]))
        .ok(3, txn(&[read("x", &[1, 3]), read("y", &[4, 2])]));
    assert_anomaly(&h, "G0", &["read-uncommitted"], &["read-uncommitted"], &[]);
    let r = h.check(Model::ReadUncommitted);
    let g0 = r.anomalies.iter().find(|a| a.kind == kind("G0")).unwrap();
    assert_eq!(g0.cycle.len(), 2);
    assert!(g0.cycle.iter().all(|e| e.kind == "ww"), "{}", r.to_text());
    assert!(g0.text.contains("right after"), "{}", g0.text);
}

/// Adya 4.1.3 G1c (circular information flow): each read the other's append.
#[test]
fn g1c_circular_information_flow() {
    let mut h = H::default();
    h.invoke(1, &txn(&[append("x", 1), read("y", &[2])]));
    h.invoke(2, &txn(&[append("y", 2), read("x", &[1])]));
    h.complete(1, "ok", txn(&[append("x", 1), read("y", &[2])]));
    h.complete(2, "ok", txn(&[append("y", 2), read("x", &[1])]));
    assert_anomaly(
        &h,
        "G1c",
        &["read-committed"],
        &["read-committed"],
        &["read-uncommitted"],
    );
}

/// Adya 4.4 G-single (read skew): T2 sees T1's append to y but not its append to x.
#[test]
fn g_single_read_skew() {
    let mut h = H::default();
    h.invoke(1, &txn(&[append("x", 1), append("y", 1)]));
    h.invoke(2, &txn(&[read("x", &[]), read("y", &[1])]));
    h.complete(1, "ok", txn(&[append("x", 1), append("y", 1)]));
    h.complete(2, "ok", txn(&[read("x", &[]), read("y", &[1])]));
    h.ok(3, txn(&[read("x", &[1])]));
    assert_anomaly(
        &h,
        "G-single",
        &["repeatable-read", "snapshot-isolation"],
        &["snapshot-isolation", "serializable", "repeatable-read"],
        &["read-committed"],
    );
    let r = h.check(Model::Serializable);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == kind("G-single"))
        .unwrap();
    let kinds: Vec<&str> = a.cycle.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "rw").count(),
        1,
        "{}",
        r.to_text()
    );
    assert!(a.text.contains("without 1"), "{}", a.text);
}

/// The G-single cycle of the Elle paper's Figure 2 (section 6, TiDB), written out again
/// with the setup and the final read it implies: T1 misses T2's append of 8 to 255
/// (rw), T3 sees it (wr), and T1 appended 3 to 256 after T3's 4 (ww). With T1 seeing the
/// 8 instead, the same history is strict-serializable.
#[test]
fn paper_figure_2_g_single_and_its_valid_variant() {
    let history = |t1_read_255: &[i64]| {
        let setup = txn(&[
            append("253", 1),
            append("253", 3),
            append("253", 4),
            append("255", 2),
            append("255", 3),
            append("255", 4),
            append("255", 5),
            append("256", 1),
            append("256", 2),
        ]);
        let t1 = txn(&[
            append("250", 10),
            read("253", &[1, 3, 4]),
            read("255", t1_read_255),
            append("256", 3),
        ]);
        let t2 = txn(&[append("255", 8), read("253", &[1, 3, 4])]);
        let t3 = txn(&[
            append("256", 4),
            read("255", &[2, 3, 4, 5, 8]),
            read("256", &[1, 2, 4]),
            read("253", &[1, 3, 4]),
        ]);
        let mut h = H::default();
        h.ok(0, setup);
        for (p, t) in [(1, &t1), (2, &t2), (3, &t3)] {
            h.invoke(p, t);
        }
        for (p, t) in [(2, &t2), (3, &t3), (1, &t1)] {
            h.complete(p, "ok", t.clone());
        }
        h.ok(4, txn(&[read("256", &[1, 2, 4, 3]), read("250", &[10])]));
        h
    };
    let bad = history(&[2, 3, 4, 5]);
    assert_anomaly(
        &bad,
        "G-single",
        &["repeatable-read", "snapshot-isolation"],
        &["serializable", "snapshot-isolation"],
        &["read-committed"],
    );
    let r = bad.check(Model::Serializable);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == kind("G-single"))
        .unwrap();
    assert_eq!(a.cycle.len(), 3, "{}", r.to_text());
    let text = &a.text;
    assert!(text.contains("without 8, which"), "{text}");
    assert!(text.contains("ending at 8"), "{text}");
    assert!(text.contains("appended 3 to key 256 right after"), "{text}");
    let good = history(&[2, 3, 4, 5, 8]);
    let r = good.check(Model::StrictSerializable);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.to_text());
    assert!(r.anomaly_types.is_empty(), "{}", r.to_text());
}

/// Adya 4.2 G2-item (write skew): each misses the other's append; SI allows it.
#[test]
fn g2_item_write_skew() {
    let t1 = txn(&[read("x", &[]), append("y", 1)]);
    let t2 = txn(&[read("y", &[]), append("x", 2)]);
    let mut h = H::default();
    h.invoke(1, &t1);
    h.invoke(2, &t2);
    h.complete(1, "ok", t1);
    h.complete(2, "ok", t2);
    h.ok(3, txn(&[read("x", &[2]), read("y", &[1])]));
    assert_anomaly(
        &h,
        "G2-item",
        &["repeatable-read"],
        &["serializable", "repeatable-read"],
        &["snapshot-isolation", "read-committed"],
    );
}

/// G-nonadjacent (Elle section 5; Cerone & Gotsman: SI forbids cycles whose rw edges
/// are all nonadjacent): T1 -rw-> T2 -wr-> T3 -rw-> T4 -wr-> T1.
#[test]
fn g_nonadjacent() {
    let t1 = txn(&[read("a", &[]), read("d", &[4])]);
    let t2 = txn(&[append("a", 1), append("b", 2)]);
    let t3 = txn(&[read("b", &[2]), read("c", &[])]);
    let t4 = txn(&[append("c", 3), append("d", 4)]);
    let mut h = H::default();
    for (p, t) in [(1, &t1), (2, &t2), (3, &t3), (4, &t4)] {
        h.invoke(p, t);
    }
    for (p, t) in [(1, &t1), (2, &t2), (3, &t3), (4, &t4)] {
        h.complete(p, "ok", t.clone());
    }
    h.ok(5, txn(&[read("a", &[1]), read("c", &[3])]));
    assert_anomaly(
        &h,
        "G-nonadjacent",
        &["repeatable-read", "snapshot-isolation"],
        &["snapshot-isolation", "serializable"],
        &["read-committed"],
    );
}

/// G-single-process (Elle section 5): a process does not see its own earlier append;
/// fine for serializable, not for strong session serializable.
#[test]
fn g_single_process() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(1, txn(&[read("x", &[])]))
        .ok(2, txn(&[read("x", &[1])]));
    assert_anomaly(
        &h,
        "G-single-process",
        &["strong-session-snapshot-isolation"],
        &["strong-session-serializable", "strict-serializable"],
        &["serializable", "snapshot-isolation"],
    );
    let r = h.check(Model::StrongSessionSerializable);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == kind("G-single-process"))
        .unwrap();
    assert!(
        a.cycle.iter().any(|e| e.kind == "process"),
        "{}",
        r.to_text()
    );
}

/// G-single-realtime: a transaction invoked after another completed misses its append:
/// a stale read, fine for strong session serializable, not for strict serializable.
#[test]
fn g_single_realtime() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[read("x", &[])]))
        .ok(3, txn(&[read("x", &[1])]));
    assert_anomaly(
        &h,
        "G-single-realtime",
        &["strong-snapshot-isolation"],
        &["strict-serializable"],
        &["serializable", "strong-session-serializable"],
    );
    let r = h.check(Model::StrictSerializable);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == kind("G-single-realtime"))
        .unwrap();
    assert!(
        a.cycle
            .iter()
            .any(|e| e.kind == "realtime" && e.why.contains("before")),
        "{}",
        r.to_text()
    );
}

/// G0-realtime: two blind appends ordered against real time.
#[test]
fn g0_realtime() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[append("x", 2)]))
        .ok(3, txn(&[read("x", &[2, 1])]));
    assert_anomaly(
        &h,
        "G0-realtime",
        &["strong-read-uncommitted"],
        &["strict-serializable"],
        &["serializable", "strong-session-serializable"],
    );
}

// ---- list-append: non-cycle anomalies -----------------------------------------------

/// Adya 4.1.2 G1a (aborted read).
#[test]
fn g1a_aborted_read() {
    let mut h = H::default();
    h.fail(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[read("x", &[1])]));
    assert_anomaly(
        &h,
        "G1a",
        &["read-committed"],
        &["read-committed"],
        &["read-uncommitted"],
    );
}

/// Adya 4.1.2 G1b (intermediate read).
#[test]
fn g1b_intermediate_read() {
    let t1 = txn(&[append("x", 1), append("x", 2)]);
    let mut h = H::default();
    h.invoke(1, &t1);
    h.ok(2, txn(&[read("x", &[1])]));
    h.complete(1, "ok", t1);
    assert_anomaly(&h, "G1b", &["read-committed"], &["read-committed"], &[]);
}

/// Cerone et al. INT: a read disagrees with the transaction's own earlier ops.
#[test]
fn internal_inconsistency() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[read("x", &[1]), append("x", 2), read("x", &[1])]));
    assert_anomaly(
        &h,
        "internal",
        &["read-atomic"],
        &["read-atomic", "serializable"],
        &["read-committed"],
    );
}

#[test]
fn duplicate_elements() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[read("x", &[1, 1])]));
    assert_anomaly(
        &h,
        "duplicate-elements",
        &["read-uncommitted"],
        &["read-uncommitted"],
        &[],
    );
}

#[test]
fn incompatible_order() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[append("x", 2)]))
        .ok(3, txn(&[read("x", &[1, 2])]))
        .ok(4, txn(&[read("x", &[2, 1])]));
    assert_anomaly(
        &h,
        "incompatible-order",
        &["read-committed"],
        &["read-committed"],
        &[],
    );
}

/// A read of an element nobody appended: every model assumes reads see written versions.
#[test]
fn garbage_read() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[read("x", &[1, 9])]));
    assert_anomaly(
        &h,
        "garbage-read",
        &["read-uncommitted"],
        &["read-uncommitted"],
        &[],
    );
}

#[test]
fn dirty_update() {
    let mut h = H::default();
    h.fail(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[append("x", 2)]))
        .ok(3, txn(&[read("x", &[1, 2])]));
    assert_anomaly(
        &h,
        "dirty-update",
        &["read-committed"],
        &["read-committed"],
        &[],
    );
}

/// A read that includes the transaction's own later append.
#[test]
fn future_read() {
    let mut h = H::default();
    h.ok(1, txn(&[read("x", &[1]), append("x", 1)]));
    assert_anomaly(
        &h,
        "future-read",
        &["read-committed"],
        &["read-committed"],
        &[],
    );
}

/// Two transactions read the same state of x and both append to it.
#[test]
fn lost_update() {
    let t1 = txn(&[read("x", &[]), append("x", 1)]);
    let t2 = txn(&[read("x", &[]), append("x", 2)]);
    let mut h = H::default();
    h.invoke(1, &t1);
    h.invoke(2, &t2);
    h.complete(1, "ok", t1);
    h.complete(2, "ok", t2);
    h.ok(3, txn(&[read("x", &[1, 2])]));
    let r = h.check(Model::SnapshotIsolation);
    assert!(
        r.anomaly_types.contains(&kind("lost-update")),
        "{}",
        r.to_text()
    );
    assert!(
        r.ruled_out.contains(&Model::CursorStability),
        "{}",
        r.to_text()
    );
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(h.check(Model::ReadCommitted).verdict, Verdict::Valid);
}

// ---- valid list-append histories ----------------------------------------------------

#[test]
fn concurrent_valid_history_stays_valid() {
    let t1 = txn(&[append("x", 1), read("y", &[])]);
    let t2 = txn(&[append("y", 2), read("x", &[1])]);
    let mut h = H::default();
    h.invoke(1, &t1);
    h.invoke(2, &t2);
    h.complete(1, "ok", t1);
    h.complete(2, "ok", t2);
    // An info txn whose append was observed, and a failed one nobody read.
    h.invoke(3, &txn(&[append("x", 3)]));
    h.complete(3, "info", txn(&[append("x", 3)]));
    h.fail(4, txn(&[append("y", 4)]));
    h.ok(
        5,
        txn(&[
            read("x", &[1, 3]),
            read("y", &[2]),
            append("y", 5),
            read("y", &[2, 5]),
        ]),
    );
    for m in Model::ALL {
        let r = h.check(m);
        assert_eq!(r.verdict, Verdict::Valid, "{m}\n{}", r.to_text());
    }
    assert_eq!(h.check(Model::StrictSerializable).info, 1);
}

#[test]
fn empty_history_is_unknown() {
    let h = H::default();
    let r = h.check(Model::Serializable);
    assert_eq!(r.verdict, Verdict::Unknown);
}

// ---- budget -------------------------------------------------------------------------

#[test]
fn exhausted_budget_says_unknown_and_what() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[read("x", &[])]))
        .ok(3, txn(&[read("x", &[1])]));
    let tight = ElleOptions {
        model: Model::StrictSerializable,
        max_search_steps: 0,
        ..ElleOptions::default()
    };
    let r = check_text("t.jsonl", &h.text(), &tight).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.to_text());
    assert!(!r.not_searched.is_empty());
    let no_edges = ElleOptions {
        max_edges: 0,
        ..tight
    };
    let r = check_text("t.jsonl", &h.text(), &no_edges).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.not_searched[0].contains("budget"), "{:?}", r.not_searched);
}

// ---- refusals and input formats -----------------------------------------------------

#[test]
fn non_unique_appends_are_refused_with_the_line() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1)]))
        .ok(2, txn(&[append("x", 1)]));
    let e = check_text("dup.jsonl", &h.text(), &ElleOptions::default()).unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    assert!(e.to_string().contains("unique"), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn bad_micro_op_is_refused_with_the_line() {
    let text = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"txn","value":[["cas","x",1]]}
{"index":1,"time":2,"process":0,"type":"ok","f":"txn","value":[["cas","x",1]]}
"#;
    let e = check_text("bad.jsonl", text, &ElleOptions::default()).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.expected.contains("micro-op"), "{e}");
}

#[test]
fn reads_jepsen_edn() {
    let text = r#"{:type :invoke, :f :txn, :value [[:append 253 1] [:r 253 nil]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:append 253 1] [:r 253 [1]]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:r 253 nil]], :process 1, :index 2}
{:type :ok, :f :txn, :value [[:r 253 []]], :process 1, :index 3}
"#;
    let r = check_text("h.edn", text, &ElleOptions::default()).unwrap();
    assert_eq!(r.txns, 2);
    assert_eq!(r.verdict, Verdict::Invalid, "{}", r.to_text());
    assert!(r.anomaly_types.contains(&kind("G-single-realtime")));
    let r = check_text(
        "h.edn",
        text,
        &ElleOptions {
            model: Model::Serializable,
            ..ElleOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.to_text());
}

/// Every transaction with exactly two micro-ops: not a `jepsen.independent` history of
/// `[key value]` pairs (whose keys are scalars).
#[test]
fn reads_edn_of_two_micro_op_transactions() {
    let text = r#"{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0}
{:type :ok, :f :txn, :value [[:append :x 1] [:r :y [2]]], :process 0}
{:type :invoke, :f :txn, :value [[:append :y 2] [:r :x nil]], :process 1}
{:type :ok, :f :txn, :value [[:append :y 2] [:r :x [1]]], :process 1}
"#;
    let r = check_text("two.edn", text, &ElleOptions::default()).unwrap();
    assert_eq!(r.txns, 2);
    assert!(r.anomaly_types.contains(&kind("G1c")), "{}", r.to_text());
}

#[test]
fn json_result_names_edges() {
    let mut h = H::default();
    h.ok(1, txn(&[append("x", 1), append("y", 2)]))
        .ok(2, txn(&[append("x", 3), append("y", 4)]))
        .ok(3, txn(&[read("x", &[1, 3]), read("y", &[4, 2])]));
    let r = h.check(Model::Serializable);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["verdict"], "invalid");
    assert_eq!(v["anomaly_types"][0], "G0");
    assert_eq!(v["ruled_out"][0], "read-uncommitted");
    let cycle = &v["anomalies"][0]["cycle"];
    assert_eq!(cycle[0]["type"], "ww");
    assert!(cycle[0]["why"].as_str().unwrap().contains("key"));
}

// ---- rw-register ----------------------------------------------------------------------

fn w(k: &str, v: i64) -> Value {
    json!(["w", k, v])
}

fn r(k: &str, v: Option<i64>) -> Value {
    json!(["r", k, v])
}

#[test]
fn register_g1c() {
    let t1 = txn(&[w("x", 1), r("y", Some(2))]);
    let t2 = txn(&[w("y", 2), r("x", Some(1))]);
    let mut h = H::default();
    h.invoke(1, &t1);
    h.invoke(2, &t2);
    h.complete(1, "ok", t1);
    h.complete(2, "ok", t2);
    assert_anomaly(
        &h,
        "G1c",
        &["read-committed"],
        &["read-committed"],
        &["read-uncommitted"],
    );
}

/// Writes follow reads: T2 read T1's x=1 and wrote 2, so 1 < 2; T3 read x=1 after T2
/// completed: a stale read (G-single-realtime), and T3 read nil of y, which T2 wrote:
/// rw from the initial state.
#[test]
fn register_writes_follow_reads_and_initial_state() {
    let mut h = H::default();
    h.ok(1, txn(&[w("x", 1)]))
        .ok(2, txn(&[r("x", Some(1)), w("x", 2), w("y", 5)]))
        .ok(3, txn(&[r("x", Some(1))]));
    let r1 = h.check(Model::StrictSerializable);
    assert_eq!(r1.verdict, Verdict::Invalid, "{}", r1.to_text());
    assert!(
        r1.anomaly_types.contains(&kind("G-single-realtime")),
        "{}",
        r1.to_text()
    );
    assert_eq!(h.check(Model::Serializable).verdict, Verdict::Valid);
    // Read skew through the initial state: T2 sees T1's y but nil for x.
    let mut h = H::default();
    h.ok(1, txn(&[w("x", 1), w("y", 1)]))
        .ok(2, txn(&[r("x", None), r("y", Some(1))]));
    assert_anomaly(
        &h,
        "G-single",
        &["repeatable-read", "snapshot-isolation"],
        &["serializable"],
        &["read-committed"],
    );
}

#[test]
fn register_aborted_intermediate_and_internal() {
    let mut h = H::default();
    h.fail(1, txn(&[w("x", 1)])).ok(2, txn(&[r("x", Some(1))]));
    assert_anomaly(&h, "G1a", &["read-committed"], &["read-committed"], &[]);
    let mut h = H::default();
    h.ok(1, txn(&[w("x", 1), w("x", 2)]))
        .ok(2, txn(&[r("x", Some(1))]));
    assert_anomaly(&h, "G1b", &["read-committed"], &["read-committed"], &[]);
    let mut h = H::default();
    h.ok(1, txn(&[w("x", 1), r("x", Some(2))]))
        .ok(2, txn(&[w("x", 2)]));
    let r = h.check(Model::Serializable);
    assert!(
        r.anomaly_types.contains(&kind("internal")),
        "{}",
        r.to_text()
    );
}

#[test]
fn register_valid_history_stays_valid() {
    let mut h = H::default();
    h.ok(1, txn(&[r("x", None), w("x", 1)]))
        .ok(2, txn(&[r("x", Some(1)), w("x", 2), r("x", Some(2))]))
        .ok(1, txn(&[r("x", Some(2)), r("y", None)]))
        .ok(3, txn(&[w("y", 7)]))
        .ok(2, txn(&[r("y", Some(7))]));
    for m in Model::ALL {
        let r = h.check(m);
        assert_eq!(r.verdict, Verdict::Valid, "{m}\n{}", r.to_text());
    }
}

// ---- property test: the checker against brute force --------------------------------

/// A generated list-append transaction: its micro-ops (reads filled in) and its
/// real-time interval.
#[derive(Debug, Clone)]
struct GenTxn {
    mops: Vec<(bool, usize, i64)>, // (is append, key, value)
    reads: Vec<Vec<i64>>,          // per micro-op (empty for appends)
    invoke: u32,
    complete: u32,
}

/// A generated transaction's shape: micro-ops (append or read, key) and the two ends of
/// its real-time interval (in either order).
type Spec = (Vec<(bool, usize)>, u32, u32);
/// Shapes, a serial order, and an optional tampering (transaction, prefix length).
type Case = (Vec<Spec>, Vec<usize>, Option<(usize, usize)>);

/// Builds a history: `spec` gives each transaction's micro-ops (append or read, key) and
/// its interval; `order` a serial order in which they are executed to fill in the reads;
/// `tamper` optionally replaces one read with another prefix of its key.
fn build(spec: &[Spec], order: &[usize], tamper: Option<(usize, usize)>) -> Vec<GenTxn> {
    let mut next = 1;
    let mut txns: Vec<GenTxn> = spec
        .iter()
        .map(|(mops, a, b)| GenTxn {
            mops: mops
                .iter()
                .map(|&(ap, k)| {
                    next += 1;
                    (ap, k, next)
                })
                .collect(),
            reads: vec![Vec::new(); mops.len()],
            invoke: (*a).min(*b),
            complete: (*a).max(*b) + 1,
        })
        .collect();
    let mut state = vec![Vec::<i64>::new(); 3];
    for &t in order {
        for i in 0..txns[t].mops.len() {
            let (ap, k, v) = txns[t].mops[i];
            if ap {
                state[k].push(v);
            } else {
                txns[t].reads[i] = state[k].clone();
            }
        }
    }
    if let Some((t, cut)) = tamper {
        let t = t % txns.len();
        if let Some(i) = txns[t].mops.iter().position(|m| !m.0) {
            let k = txns[t].mops[i].1;
            let full = &state[k];
            let cut = cut % (full.len() + 1);
            txns[t].reads[i] = full[..cut].to_vec();
        }
    }
    // The final reader sees every append, after everything.
    let end = txns.iter().map(|t| t.complete).max().unwrap_or(0) + 1;
    txns.push(GenTxn {
        mops: (0..3).map(|k| (false, k, 0)).collect(),
        reads: state,
        invoke: end,
        complete: end + 1,
    });
    txns
}

fn history_text(txns: &[GenTxn]) -> String {
    let value = |t: &GenTxn, filled: bool| {
        Value::Array(
            t.mops
                .iter()
                .zip(&t.reads)
                .map(|(&(ap, k, v), read)| {
                    let key = format!("k{k}");
                    if ap {
                        json!(["append", key, v])
                    } else if filled {
                        json!(["r", key, read])
                    } else {
                        json!(["r", key, null])
                    }
                })
                .collect(),
        )
    };
    // Events: (time, is completion, txn); at equal times invokes come first (concurrent).
    let mut events: Vec<(u32, bool, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        events.push((t.invoke * 2, false, i));
        events.push((t.complete * 2 + 1, true, i));
    }
    events.sort();
    let mut h = H::default();
    for (_, done, i) in events {
        if done {
            h.complete(i as u64, "ok", value(&txns[i], true));
        } else {
            h.line(i as u64, "invoke", value(&txns[i], false));
        }
    }
    h.text()
}

/// Is there a serial order (respecting real time when `strict`) in which every read
/// returns exactly the state it claims?
fn oracle(txns: &[GenTxn], strict: bool) -> bool {
    fn go(txns: &[GenTxn], strict: bool, used: &mut Vec<bool>, state: &mut Vec<Vec<i64>>) -> bool {
        if used.iter().all(|u| *u) {
            return true;
        }
        for t in 0..txns.len() {
            if used[t] {
                continue;
            }
            // Every unused transaction that completed before t was invoked must go first.
            if strict
                && (0..txns.len()).any(|o| !used[o] && o != t && txns[o].complete < txns[t].invoke)
            {
                continue;
            }
            let saved = state.clone();
            let mut fits = true;
            for (i, &(ap, k, v)) in txns[t].mops.iter().enumerate() {
                if ap {
                    state[k].push(v);
                } else if state[k] != txns[t].reads[i] {
                    fits = false;
                    break;
                }
            }
            if fits {
                used[t] = true;
                if go(txns, strict, used, state) {
                    return true;
                }
                used[t] = false;
            }
            *state = saved;
        }
        false
    }
    go(
        txns,
        strict,
        &mut vec![false; txns.len()],
        &mut vec![Vec::new(); 3],
    )
}

fn spec_strategy() -> impl Strategy<Value = Case> {
    let txn = (
        prop::collection::vec((any::<bool>(), 0usize..3), 1..4),
        0u32..8,
        0u32..8,
    );
    prop::collection::vec(txn, 2..6).prop_flat_map(|spec| {
        let n = spec.len();
        (
            Just(spec),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
            prop::option::weighted(0.3, (0usize..8, 0usize..8)),
        )
    })
}

fn judge(text: &str, m: Model) -> Verdict {
    check_text(
        "prop.jsonl",
        text,
        &ElleOptions {
            model: m,
            ..ElleOptions::default()
        },
    )
    .unwrap()
    .verdict
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With every append observed by a final read, list-append inference is exact: the
    /// checker's verdict equals the oracle's, for strict serializability (real time)
    /// and serializability.
    #[test]
    fn agrees_with_brute_force((spec, order, tamper) in spec_strategy()) {
        let txns = build(&spec, &order, tamper);
        let text = history_text(&txns);
        for (m, strict) in [(Model::StrictSerializable, true), (Model::Serializable, false)] {
            let expected = if oracle(&txns, strict) { Verdict::Valid } else { Verdict::Invalid };
            let got = judge(&text, m);
            prop_assert_eq!(got, expected, "{}\n{}", m, text);
        }
    }
}

/// Both verdicts occur often among the generated histories (the property test above
/// would be weak otherwise).
#[test]
fn generated_histories_have_both_verdicts() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = spec_strategy();
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..300 {
        let (spec, order, tamper) = strategy.new_tree(&mut runner).unwrap().current();
        let txns = build(&spec, &order, tamper);
        if oracle(&txns, true) {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(
        valid >= 60 && invalid >= 60,
        "valid {valid}, invalid {invalid}"
    );
}
