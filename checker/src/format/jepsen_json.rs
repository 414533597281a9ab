//! Jepsen's history as JSON: one array of op objects, as elle-cli and Jepsen's tooling
//! write it (`[{"type":"invoke","f":"read","process":0,"time":11142323154,"index":0}, ...]`).
//!
//! It mirrors `history.edn` key for key: keys lose their colon, keywords become strings
//! (`"type":"ok"`, `"process":"nemesis"`; a leading colon, `":ok"`, is tolerated in
//! `type`, `f` and `process`), `nil` becomes `null`. The ops built are exactly those the
//! EDN reader builds from the EDN it mirrors, and go through the same delivery
//! (`jepsen.independent` `[k v]` values split into key and value), so every model and
//! checker reads both the same way, the register models' reading of a `null` read
//! (Knossos's: it matches any state) included.

use std::io::Read;

use serde_json::Value;
use serde_json::value::RawValue;

use super::edn::{deliver, number_by_position};
use super::{InputError, OpSink, SinkError, read_text, truncate};
use crate::history::{Op, OpType, Process};

/// True when `text` (trimmed at the start) opens a JSON array of objects, not EDN:
/// `[` then `{"` (or `{}`), or an empty array `[]`.
pub fn looks_like(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('[') else {
        return false;
    };
    let rest = rest.trim_start();
    if rest.starts_with(']') {
        return true;
    }
    rest.strip_prefix('{')
        .map(str::trim_start)
        .is_some_and(|inner| inner.starts_with('"') || inner.starts_with('}'))
}

/// Reads a Jepsen JSON history into `sink`.
pub fn read_history(
    name: &str,
    reader: impl Read,
    sink: &mut dyn OpSink,
) -> Result<(), InputError> {
    let text = read_text(name, reader)?;
    deliver(name, parse_ops(name, &text)?, sink)
}

/// Every op object of the array, with the line it starts on.
pub fn parse_ops(name: &str, text: &str) -> Result<Vec<(Op, u64)>, InputError> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| InputError {
        file: name.to_string(),
        line: e.line() as u64,
        expected: "a JSON array of Jepsen op objects".to_string(),
        found: format!("{e} (column {})", e.column()),
    })?;
    let base = text.as_ptr() as usize;
    let (mut line, mut counted_to) = (1u64, 0usize);
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        // Each item borrows from `text`: its offset gives its line.
        let offset = item.get().as_ptr() as usize - base;
        line += text.as_bytes()[counted_to..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        counted_to = offset;
        let value: Value = serde_json::from_str(item.get()).map_err(|e| InputError {
            file: name.to_string(),
            line,
            expected: "a JSON op object".to_string(),
            found: e.to_string(),
        })?;
        let op = op_from_object(&value).map_err(|e| e.at(name, line))?;
        ops.push((op, line));
    }
    number_by_position(&mut ops);
    Ok(ops)
}

/// A keyword as Jepsen's JSON writes it: the string, with or without its colon.
fn keyword(value: &Value) -> Option<&str> {
    value.as_str().map(|s| s.strip_prefix(':').unwrap_or(s))
}

fn describe(value: &Value) -> String {
    truncate(&value.to_string(), 40)
}

/// One op object -> [`Op`], field by field as `edn::op_from_map` reads an op map. A
/// missing `index` is filled in by position afterwards.
pub fn op_from_object(value: &Value) -> Result<Op, SinkError> {
    let Value::Object(fields) = value else {
        return Err(SinkError::new(
            r#"an op object {"type": .., "f": .., "process": ..}"#,
            describe(value),
        ));
    };
    let kind = match fields.get("type") {
        Some(v) => match keyword(v) {
            Some("invoke") => OpType::Invoke,
            Some("ok") => OpType::Ok,
            Some("fail") => OpType::Fail,
            Some("info") => OpType::Info,
            _ => {
                return Err(SinkError::new(
                    r#""type": "invoke", "ok", "fail" or "info""#,
                    describe(v),
                ));
            }
        },
        None => {
            return Err(SinkError::new(
                r#"a "type" in the op object"#,
                describe(value),
            ));
        }
    };
    let process = match fields.get("process") {
        Some(v) if v.is_u64() => Process::Client(v.as_u64().unwrap_or_default()),
        Some(v) if keyword(v) == Some("nemesis") => Process::Nemesis,
        Some(other) => {
            return Err(SinkError::new(
                r#"a process number or "nemesis""#,
                describe(other),
            ));
        }
        None => {
            return Err(SinkError::new(
                r#"a "process" in the op object"#,
                describe(value),
            ));
        }
    };
    let f = match fields.get("f") {
        Some(v) => match keyword(v) {
            Some(f) => f.to_string(),
            None => return Err(SinkError::new(r#""f" as a string"#, describe(v))),
        },
        None => {
            return Err(SinkError::new(
                r#"an "f" in the op object"#,
                describe(value),
            ));
        }
    };
    let key = match fields.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Some(other) => {
            return Err(SinkError::new(
                r#"a string or integer "key""#,
                describe(other),
            ));
        }
    };
    let number = |name: &str| fields.get(name).and_then(Value::as_u64);
    Ok(Op {
        index: number("index").unwrap_or(u64::MAX),
        time_ns: number("time").unwrap_or(0),
        process,
        kind,
        f,
        key,
        value: fields.get("value").cloned().unwrap_or(Value::Null),
        error: fields.get("error").map(|e| match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    })
}
