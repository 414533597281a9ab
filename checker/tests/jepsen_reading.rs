//! Jepsen's histories read as Knossos reads them, in EDN and in Jepsen's JSON array.
//!
//! Knossos's `Register` and `CASRegister` (`knossos/model.clj`) step a read with
//! `(or (nil? v) (= value v))`: an `ok` read whose value is `nil` matches any state. The
//! histories here are written by hand in that style: some are valid only under that
//! reading, some invalid under both; faultline's JSONL keeps `null` as a value. Then the
//! JSON mirror of each EDN history is read into the same ops and gets the same verdict
//! from every model and checker.

use std::path::{Path, PathBuf};

use checker::bank::check_bank_file;
use checker::format::{detect, edn, jepsen_json};
use checker::set_check::check_set_file;
use checker::{
    Format, LinearizabilityOptions, ModelKind, NilRead, Verdict, check_linearizability_file,
};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write history");
    path
}

fn verdict(path: &Path, model: Option<ModelKind>, initial: i64, nil: Option<NilRead>) -> Verdict {
    let options = LinearizabilityOptions {
        initial: Some(initial.into()),
        nil_read: nil,
        ..LinearizabilityOptions::default()
    };
    check_linearizability_file(path, Format::Auto, model, &options)
        .unwrap_or_else(|e| panic!("{e}"))
        .verdict
}

/// A cas register starting at 0: write 1, a read that returned nil, cas 1 -> 2, and a
/// last read returning `last`.
fn cas_register_edn(last: &str) -> String {
    format!(
        "{{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}}
{{:type :ok, :f :write, :value 1, :process 0, :time 20, :index 1}}
{{:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 2}}
{{:type :ok, :f :read, :value nil, :process 1, :time 40, :index 3}}
{{:type :invoke, :f :cas, :value [1 2], :process 2, :time 50, :index 4}}
{{:type :ok, :f :cas, :value [1 2], :process 2, :time 60, :index 5}}
{{:type :invoke, :f :read, :value nil, :process 1, :time 70, :index 6}}
{{:type :ok, :f :read, :value {last}, :process 1, :time 80, :index 7}}
"
    )
}

/// The same history as Jepsen's JSON array (`null` for `nil`).
fn cas_register_json(last: &str) -> String {
    format!(
        r#"[{{"type":"invoke","f":"write","value":1,"process":0,"time":10,"index":0}},
 {{"type":"ok","f":"write","value":1,"process":0,"time":20,"index":1}},
 {{"type":"invoke","f":"read","value":null,"process":1,"time":30,"index":2}},
 {{"type":"ok","f":"read","value":null,"process":1,"time":40,"index":3}},
 {{"type":"invoke","f":"cas","value":[1,2],"process":2,"time":50,"index":4}},
 {{"type":"ok","f":"cas","value":[1,2],"process":2,"time":60,"index":5}},
 {{"type":"invoke","f":"read","value":null,"process":1,"time":70,"index":6}},
 {{"type":"ok","f":"read","value":{last},"process":1,"time":80,"index":7}}]
"#
    )
}

/// The same history as faultline's JSONL.
fn cas_register_jsonl(last: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&cas_register_json(last)).expect("valid JSON");
    json.as_array()
        .expect("an array")
        .iter()
        .map(|op| format!("{op}\n"))
        .collect()
}

#[test]
fn an_edn_read_of_nil_matches_any_state_as_in_knossos() {
    let dir = tempfile::tempdir().unwrap();
    let knossos_valid = write(dir.path(), "valid.edn", &cas_register_edn("2"));
    // The nil read happens when the register holds 1: only Knossos's reading explains it.
    assert_eq!(verdict(&knossos_valid, None, 0, None), Verdict::Valid);
    assert_eq!(
        verdict(&knossos_valid, None, 0, Some(NilRead::Any)),
        Verdict::Valid
    );
    assert_eq!(
        verdict(&knossos_valid, None, 0, Some(NilRead::Value)),
        Verdict::Invalid,
        "strict reading: null was never the register's value"
    );
    // After the cas to 2 completed, a read of 1 is wrong whatever nil means.
    let invalid = write(dir.path(), "invalid.edn", &cas_register_edn("1"));
    for nil in [None, Some(NilRead::Any), Some(NilRead::Value)] {
        assert_eq!(verdict(&invalid, None, 0, nil), Verdict::Invalid, "{nil:?}");
    }
}

#[test]
fn the_plain_register_model_reads_nil_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let history = |last: &str| {
        format!(
            "[{{:type :invoke, :f :write, :value 1, :process 0}}
 {{:type :ok, :f :write, :value 1, :process 0}}
 {{:type :invoke, :f :read, :value nil, :process 1}}
 {{:type :ok, :f :read, :value nil, :process 1}}
 {{:type :invoke, :f :write, :value 2, :process 0}}
 {{:type :ok, :f :write, :value 2, :process 0}}
 {{:type :invoke, :f :read, :value nil, :process 1}}
 {{:type :ok, :f :read, :value {last}, :process 1}}]
"
        )
    };
    let valid = write(dir.path(), "valid.edn", &history("2"));
    let register = Some(ModelKind::Register);
    assert_eq!(verdict(&valid, register, 0, None), Verdict::Valid);
    assert_eq!(
        verdict(&valid, register, 0, Some(NilRead::Value)),
        Verdict::Invalid
    );
    let invalid = write(dir.path(), "invalid.edn", &history("0"));
    assert_eq!(verdict(&invalid, register, 0, None), Verdict::Invalid);
    assert_eq!(
        verdict(&invalid, register, 0, Some(NilRead::Value)),
        Verdict::Invalid
    );
}

#[test]
fn independent_keys_read_nil_per_key() {
    let dir = tempfile::tempdir().unwrap();
    // jepsen.independent: values are [key value]; key 0's nil read is during its value 5.
    let history = "{:type :invoke, :f :write, :value [0 5], :process 0}
{:type :ok, :f :write, :value [0 5], :process 0}
{:type :invoke, :f :read, :value [0 nil], :process 1}
{:type :ok, :f :read, :value [0 nil], :process 1}
{:type :invoke, :f :read, :value [1 nil], :process 1}
{:type :ok, :f :read, :value [1 0], :process 1}
";
    let path = write(dir.path(), "independent.edn", history);
    let result = check_linearizability_file(
        &path,
        Format::Auto,
        None,
        &LinearizabilityOptions {
            initial: Some(0.into()),
            ..LinearizabilityOptions::default()
        },
    )
    .unwrap();
    assert_eq!(result.verdict, Verdict::Valid);
    assert_eq!(result.keys, 2);
    assert_eq!(
        verdict(&path, None, 0, Some(NilRead::Value)),
        Verdict::Invalid
    );
}

#[test]
fn faultline_jsonl_keeps_null_as_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = write(dir.path(), "history.jsonl", &cas_register_jsonl("2"));
    assert_eq!(verdict(&jsonl, None, 0, None), Verdict::Invalid);
    assert_eq!(
        verdict(&jsonl, None, 0, Some(NilRead::Any)),
        Verdict::Valid,
        "--nil-read any applies to any format"
    );
}

#[test]
fn a_jepsen_json_array_is_detected_not_mistaken_for_edn() {
    let detect_text = |text: &str| detect("t", &mut text.as_bytes()).expect("detected");
    assert_eq!(detect_text(&cas_register_json("2")), Format::JepsenJson);
    assert_eq!(detect_text("  [ {\"type\": \"ok\"} ]"), Format::JepsenJson);
    assert_eq!(detect_text("[]"), Format::JepsenJson);
    assert_eq!(detect_text("[{:type :ok}]"), Format::Edn);
    assert_eq!(detect_text("{:type :ok, :f :read}"), Format::Edn);
    assert_eq!(detect_text("{\"type\":\"ok\"}\n"), Format::Jsonl);
}

#[test]
fn the_json_mirror_reads_into_the_ops_its_edn_gives() {
    // Nemesis ops, info and fail, errors, keywords as values, a tagged EDN element.
    let edn_text = r#"[{:type :invoke, :f :start, :process :nemesis, :time 1}
 {:type :info, :f :start, :process :nemesis, :time 2, :value [:isolated {"n1" #{"n2"}}]}
 {:type :invoke, :f :write, :value 3, :process 0, :time 3, :index 7}
 {:type :info, :f :write, :value 3, :process 0, :time 4, :index 8, :error :timeout}
 {:type :invoke, :f :cas, :value [3 4], :process 1, :time 5}
 {:type :fail, :f :cas, :value [3 4], :process 1, :time 6, :error [:cas-failed 3]}
 #jepsen.history.Op{:type :invoke, :f :read, :value nil, :process 2, :time 7}
 {:type :ok, :f :read, :value 3.5, :process 2, :time 8, :key "k"}]"#;
    let json_text = r#"[
  {"type": "invoke", "f": "start", "process": "nemesis", "time": 1},
  {"type": "info", "f": "start", "process": "nemesis", "time": 2,
   "value": ["isolated", {"n1": ["n2"]}]},
  {"type": "invoke", "f": "write", "value": 3, "process": 0, "time": 3, "index": 7},
  {"type": "info", "f": "write", "value": 3, "process": 0, "time": 4, "index": 8, "error": "timeout"},
  {"type": ":invoke", "f": ":cas", "value": [3, 4], "process": 1, "time": 5},
  {"type": "fail", "f": "cas", "value": [3, 4], "process": 1, "time": 6, "error": ["cas-failed", 3]},
  {"type": "invoke", "f": "read", "value": null, "process": 2, "time": 7},
  {"type": "ok", "f": "read", "value": 3.5, "process": 2, "time": 8, "key": "k"}
]"#;
    let from_edn: Vec<_> = edn::parse_ops("a.edn", edn_text)
        .unwrap()
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    let (from_json, lines): (Vec<_>, Vec<u64>) = jepsen_json::parse_ops("a.json", json_text)
        .unwrap()
        .into_iter()
        .unzip();
    assert_eq!(from_edn.len(), 8);
    assert_eq!(from_json, from_edn);
    assert_eq!(lines, [2, 3, 5, 6, 7, 8, 9, 10], "each op's line");
}

/// Each case: (file stem, EDN text, its JSON mirror, the verdict both must get).
fn mirrored(dir: &Path, stem: &str, edn_text: &str, json_text: &str) -> (PathBuf, PathBuf) {
    (
        write(dir, &format!("{stem}.edn"), edn_text),
        write(dir, &format!("{stem}.json"), json_text),
    )
}

#[test]
fn every_model_and_checker_reads_the_json_mirror_as_its_edn() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let linearizable = |path: &Path, nil: Option<NilRead>| verdict(path, None, 0, nil);

    for (last, expected) in [("2", Verdict::Valid), ("1", Verdict::Invalid)] {
        let (edn, json) = mirrored(
            d,
            &format!("cas-{last}"),
            &cas_register_edn(last),
            &cas_register_json(last),
        );
        assert_eq!(linearizable(&edn, None), expected, "cas-register edn");
        assert_eq!(linearizable(&json, None), expected, "cas-register json");
        assert_eq!(
            linearizable(&json, Some(NilRead::Value)),
            linearizable(&edn, Some(NilRead::Value)),
            "strict reading"
        );
    }

    // kv-append, keyed (Porcupine's kv shape): key "0" reads "" after "x" was appended.
    let (edn, json) = mirrored(
        d,
        "kv",
        r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x"}
{:process 0, :type :ok, :f :append, :key "0", :value "x"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil}
{:process 1, :type :ok, :f :get, :key "0", :value ""}
"#,
        r#"[{"process":0,"type":"invoke","f":"append","key":"0","value":"x"},
{"process":0,"type":"ok","f":"append","key":"0","value":"x"},
{"process":1,"type":"invoke","f":"get","key":"0","value":null},
{"process":1,"type":"ok","f":"get","key":"0","value":""}]"#,
    );
    let options = LinearizabilityOptions::default();
    for path in [&edn, &json] {
        let result = check_linearizability_file(path, Format::Auto, None, &options).unwrap();
        assert_eq!(
            (result.model, result.verdict),
            (ModelKind::KvAppend, Verdict::Invalid),
            "{}",
            path.display()
        );
    }

    // The linearizable set model and Jepsen's set-full: 1 added, then a read without it.
    let (edn, json) = mirrored(
        d,
        "set",
        "{:type :invoke, :f :add, :value 1, :process 0, :time 1}
{:type :ok, :f :add, :value 1, :process 0, :time 2}
{:type :invoke, :f :read, :value nil, :process 1, :time 3}
{:type :ok, :f :read, :value #{}, :process 1, :time 4}
",
        r#"[{"type":"invoke","f":"add","value":1,"process":0,"time":1},
{"type":"ok","f":"add","value":1,"process":0,"time":2},
{"type":"invoke","f":"read","value":null,"process":1,"time":3},
{"type":"ok","f":"read","value":[],"process":1,"time":4}]"#,
    );
    let options = LinearizabilityOptions::default();
    for path in [&edn, &json] {
        let result = check_linearizability_file(path, Format::Auto, None, &options).unwrap();
        assert_eq!(
            (result.model, result.verdict),
            (ModelKind::Set, Verdict::Invalid)
        );
        let set_full = check_set_file(path, Format::Auto).unwrap();
        assert_eq!(set_full.verdict, Verdict::Invalid, "{}", path.display());
        assert_eq!(set_full.counts.lost, 1, "{}", path.display());
    }

    // The bank: accounts 0 and 1 hold 10 each; the second read sums to 15.
    let (edn, json) = mirrored(
        d,
        "bank",
        "{:type :invoke, :f :read, :value nil, :process 0, :time 1}
{:type :ok, :f :read, :value {0 10, 1 10}, :process 0, :time 2}
{:type :invoke, :f :transfer, :value {:from 0, :to 1, :amount 5}, :process 1, :time 3}
{:type :ok, :f :transfer, :value {:from 0, :to 1, :amount 5}, :process 1, :time 4}
{:type :invoke, :f :read, :value nil, :process 0, :time 5}
{:type :ok, :f :read, :value {0 5, 1 10}, :process 0, :time 6}
",
        r#"[{"type":"invoke","f":"read","value":null,"process":0,"time":1},
{"type":"ok","f":"read","value":{"0":10,"1":10},"process":0,"time":2},
{"type":"invoke","f":"transfer","value":{"from":0,"to":1,"amount":5},"process":1,"time":3},
{"type":"ok","f":"transfer","value":{"from":0,"to":1,"amount":5},"process":1,"time":4},
{"type":"invoke","f":"read","value":null,"process":0,"time":5},
{"type":"ok","f":"read","value":{"0":5,"1":10},"process":0,"time":6}]"#,
    );
    let edn_result = check_bank_file(&edn, Format::Auto, None).unwrap();
    let json_result = check_bank_file(&json, Format::Auto, None).unwrap();
    assert_eq!(edn_result.verdict, Verdict::Invalid);
    assert_eq!(json_result.verdict, edn_result.verdict);
    assert_eq!(
        json_result.to_text(),
        edn_result.to_text().replace(".edn", ".json")
    );
}

#[test]
fn bad_json_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(
        dir.path(),
        "broken.json",
        "[{\"type\":\"invoke\",\"f\":\"read\",\"process\":0},\n {\"type\":\"ok\",\"f\" \"read\"}]\n",
    );
    let error = check_linearizability_file(
        &broken,
        Format::Auto,
        None,
        &LinearizabilityOptions::default(),
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{}:2:", broken.display())),
        "{text}"
    );
    assert!(text.contains("column"), "{text}");

    let no_type = write(
        dir.path(),
        "no-type.json",
        "[{\"type\":\"invoke\",\"f\":\"read\",\"process\":0},\n\n {\"f\":\"read\",\"process\":0}]\n",
    );
    let error = check_linearizability_file(
        &no_type,
        Format::Auto,
        None,
        &LinearizabilityOptions::default(),
    )
    .unwrap_err();
    assert_eq!(error.line, 3, "{error}");
    assert!(error.expected.contains("\"type\""), "{error}");
}
