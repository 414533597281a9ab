//! Formats, errors, verdict semantics, budgets and the HTML page, through the public API.

use std::io::Write;
use std::time::Duration;

use checker::{
    Format, LinearizabilityOptions, ModelKind, Verdict, check_linearizability_file, html,
};

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file
}

fn check(
    text: &str,
    format: Format,
    model: Option<ModelKind>,
) -> Result<checker::LinearizabilityResult, checker::InputError> {
    check_linearizability_file(
        file_with(text).path(),
        format,
        model,
        &LinearizabilityOptions::default(),
    )
}

const STALE_JSONL: &str = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"write","key":"k","value":1}
{"index":2,"time":3,"process":"nemesis","type":"info","f":"start-partition","value":{"groups":[["n1"]]}}
{"index":3,"time":4,"process":1,"type":"invoke","f":"write","key":"k","value":2}
{"index":4,"time":5,"process":1,"type":"ok","f":"write","key":"k","value":2}
{"index":5,"time":6,"process":2,"type":"invoke","f":"read","key":"k","value":null}
{"index":6,"time":7,"process":2,"type":"ok","f":"read","key":"k","value":1}
"#;

#[test]
fn jsonl_stale_read_is_invalid_and_explained() {
    let result = check(STALE_JSONL, Format::Auto, None).expect("parses");
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.format, Some(Format::Jsonl));
    assert_eq!(result.model, ModelKind::CasRegister);
    let explanation = result.explanation.as_ref().expect("explained");
    assert_eq!(explanation.key, "k");
    assert_eq!(explanation.culprit.op, "read -> 1");
    assert_eq!(explanation.prefix_len, 2);
    assert_eq!(explanation.state, "2");
    let page = html::render(&result, "<history & co>");
    assert!(page.contains("&lt;history &amp; co&gt;") && !page.contains("<history &"));
    assert!(page.contains("<svg") && page.contains("class=\"lc-culprit"));
}

#[test]
fn info_write_may_take_effect_late_or_never() {
    let late = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time":2,"process":0,"type":"info","f":"write","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time":4,"process":1,"type":"ok","f":"read","value":null}
{"index":4,"time":5,"process":1,"type":"invoke","f":"read","value":null}
{"index":5,"time":6,"process":1,"type":"ok","f":"read","value":1}
"#;
    assert_eq!(
        check(late, Format::Jsonl, None).expect("parses").verdict,
        Verdict::Valid
    );
    // A failed write did not happen: reading its value is a violation.
    let failed = late.replace("\"info\"", "\"fail\"");
    assert_eq!(
        check(&failed, Format::Jsonl, None).expect("parses").verdict,
        Verdict::Invalid
    );
}

#[test]
fn initial_value_is_honoured() {
    let read_five = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":2,"process":0,"type":"ok","f":"read","value":5}
"#;
    let file = file_with(read_five);
    let default = check_linearizability_file(
        file.path(),
        Format::Jsonl,
        None,
        &LinearizabilityOptions::default(),
    )
    .expect("parses");
    assert_eq!(default.verdict, Verdict::Invalid);
    let options = LinearizabilityOptions {
        initial: Some(serde_json::json!(5)),
        ..LinearizabilityOptions::default()
    };
    assert_eq!(
        check_linearizability_file(file.path(), Format::Jsonl, None, &options)
            .expect("parses")
            .verdict,
        Verdict::Valid
    );
}

#[test]
fn malformed_input_is_located() {
    let bad = "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"process\":0,\"type\":\"bogus\"}\n";
    let file = file_with(bad);
    let error = check_linearizability_file(
        file.path(),
        Format::Jsonl,
        None,
        &LinearizabilityOptions::default(),
    )
    .expect_err("refused");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{}:2: expected ", file.path().display())),
        "{text}"
    );
    assert!(text.contains(", found "), "{text}");

    let orphan =
        "{\"index\":0,\"time\":1,\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n";
    let error = check(orphan, Format::Jsonl, None).expect_err("refused");
    assert_eq!(error.line, 1);
    assert!(error.expected.contains("invoke by process 3"), "{error}");

    let edn = "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0 :type :ok :f :read :value [1\n";
    let error = check(edn, Format::Edn, None).expect_err("refused");
    assert!(error.to_string().contains(":3: expected"), "{error}");

    let garbage = check("hello world\n", Format::Auto, None).expect_err("refused");
    assert_eq!(garbage.line, 1);

    let cas_in_register = "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1,2]}\n";
    let error =
        check(cas_in_register, Format::Jsonl, Some(ModelKind::Register)).expect_err("refused");
    assert!(error.expected.contains("register function"), "{error}");
}

#[test]
fn jepsen_edn_independent_tuples_become_keys() {
    let edn = r#"[{:type :invoke, :f :write, :value [1 3], :process 0, :time 1, :index 0}
{:type :ok, :f :write, :value [1 3], :process 0, :time 2, :index 1}
{:type :invoke, :f :write, :value [2 4], :process 1, :time 3, :index 2}
{:type :ok, :f :write, :value [2 4], :process 1, :time 4, :index 3}
{:type :info, :f :start, :value nil, :process :nemesis}
{:type :invoke, :f :read, :value [1 nil], :process 0, :time 5, :index 4}
{:type :ok, :f :read, :value [1 4], :process 0, :time 6, :index 5}]
"#;
    let result = check(edn, Format::Auto, None).expect("parses");
    assert_eq!(result.format, Some(Format::Edn));
    assert_eq!(result.keys, 2);
    assert_eq!(
        result.verdict,
        Verdict::Invalid,
        "key 1 was written 3, not 4"
    );
    assert_eq!(result.explanation.expect("explained").key, "1");
}

#[test]
fn kv_and_set_models() {
    let kv = r#"{:process 0, :type :invoke, :f :append, :key "a", :value "x"}
{:process 0, :type :ok, :f :append, :key "a", :value "x"}
{:process 1, :type :invoke, :f :append, :key "a", :value "y"}
{:process 1, :type :ok, :f :append, :key "a", :value "y"}
{:process 0, :type :invoke, :f :get, :key "a", :value nil}
{:process 0, :type :ok, :f :get, :key "a", :value "xy"}
"#;
    let result = check(kv, Format::Auto, None).expect("parses");
    assert_eq!(
        (result.format, result.model, result.verdict),
        (
            Some(Format::PorcupineKv),
            ModelKind::KvAppend,
            Verdict::Valid
        )
    );
    let bad = kv.replace("\"xy\"}", "\"yx\"}");
    assert_eq!(
        check(&bad, Format::Auto, None).expect("parses").verdict,
        Verdict::Invalid
    );

    let set = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"add","value":1}
{"index":1,"time":2,"process":0,"type":"ok","f":"add","value":1}
{"index":2,"time":3,"process":1,"type":"invoke","f":"add","value":2}
{"index":3,"time":4,"process":0,"type":"invoke","f":"read","value":null}
{"index":4,"time":5,"process":0,"type":"ok","f":"read","value":[2,1]}
{"index":5,"time":6,"process":1,"type":"info","f":"add","value":2}
{"index":6,"time":7,"process":0,"type":"invoke","f":"read","value":null}
{"index":7,"time":8,"process":0,"type":"ok","f":"read","value":[1]}
"#;
    let result = check(set, Format::Auto, None).expect("parses");
    assert_eq!(
        (result.model, result.verdict),
        (ModelKind::Set, Verdict::Invalid),
        "2 was seen, then lost"
    );
}

/// A history with many concurrent info writes and no way to be linearizable is costly to
/// refute; with a tiny budget the verdict must be `unknown`, not a guess.
#[test]
fn budgets_end_in_unknown() {
    let mut lines = String::new();
    let mut index = 0;
    let mut push = |process: u64, kind: &str, f: &str, value: &str| {
        lines.push_str(&format!(
            "{{\"index\":{index},\"time\":{index},\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"value\":{value}}}\n"
        ));
        index += 1;
    };
    for p in 0..18 {
        push(p, "invoke", "write", &p.to_string());
    }
    for p in 0..18 {
        push(p, "info", "write", &p.to_string());
    }
    for round in 0..20 {
        push(100, "invoke", "read", "null");
        push(100, "ok", "read", &(round % 18).to_string());
    }
    push(100, "invoke", "read", "null");
    push(100, "ok", "read", "99");
    let file = file_with(&lines);
    let tight_memo = LinearizabilityOptions {
        memo_limit_bytes: 64 << 10,
        time_limit: None,
        ..LinearizabilityOptions::default()
    };
    let result =
        check_linearizability_file(file.path(), Format::Jsonl, None, &tight_memo).expect("parses");
    assert_eq!(
        result.verdict,
        Verdict::Unknown,
        "{}",
        result.summary_line()
    );
    let no_time = LinearizabilityOptions {
        time_limit: Some(Duration::ZERO),
        ..LinearizabilityOptions::default()
    };
    let result =
        check_linearizability_file(file.path(), Format::Jsonl, None, &no_time).expect("parses");
    assert_eq!(
        result.verdict,
        Verdict::Unknown,
        "{}",
        result.summary_line()
    );
}

#[test]
fn jsonl_round_trip() {
    let ops: Vec<checker::Op> =
        checker::format::jsonl::OpReader::new("mem", STALE_JSONL.as_bytes())
            .collect::<Result<_, _>>()
            .expect("reads");
    assert_eq!(ops.len(), 7);
    let mut out = Vec::new();
    checker::format::jsonl::write(&ops, &mut out).expect("writes");
    let again: Vec<checker::Op> = checker::format::jsonl::OpReader::new("mem", out.as_slice())
        .collect::<Result<_, _>>()
        .expect("reads");
    assert_eq!(ops, again);
}
