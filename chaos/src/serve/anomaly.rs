//! Time to first anomaly: how long after the run began the earliest anomaly that the run's
//! `results.json` records happened, derived from the stored files without the runner's help.
//!
//! `results.json` records, per invalid check, one anomaly (under the check's `details`;
//! runs stored before the checks shared one shape have `result` and `bank` instead):
//! - `linearizable` (any model): the explained key's culprit, the op that cannot be
//!   linearized after the longest linearizable prefix, by its `history.jsonl` line numbers
//!   (1-based). Its time is that line's `time`: the completion's when the op completed (the
//!   moment the impossible result was seen), the invoke's when its outcome is unknown.
//! - `bank`: the first bad read, with its `time_ns` directly.
//!
//! The earliest of these is the run's first anomaly. It is the first *recorded* one: the
//! linearizability checker explains one key (the lowest-named invalid one), so on a
//! multi-key history another key may have gone wrong earlier; the page's tooltip says so.
//!
//! Reading a line's time streams `history.jsonl` up to that line, at most
//! [`HISTORY_SCAN_BYTES_MAX`] bytes; a culprit beyond that is reported as not located. The
//! marks are taken from `results.json` when its summary is read ([`marks`]); the history
//! is read only when a page shows the run ([`locate`], once per cached summary), so that
//! classifying 10,000 runs for a verdict filter reads no history.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

/// Bytes of `history.jsonl` read, at most, to find a culprit's line.
pub const HISTORY_SCAN_BYTES_MAX: u64 = 256 << 20;

/// When the first recorded anomaly happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAnomaly {
    /// No check recorded one (a valid or unknown run).
    None,
    /// Nanoseconds since the run began.
    AtNs(u64),
    /// An anomaly is recorded but its time could not be found (the reason).
    Unlocated(String),
}

/// What `results.json` says about one anomaly: a time, or a history line to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    TimeNs(u64),
    /// 1-based line of `history.jsonl` whose `time` is the anomaly's.
    Line(u64),
}

/// The anomalies recorded in `results.json`, one per invalid check at most.
pub fn marks(results: &Value) -> Vec<Mark> {
    let Some(checks) = results.get("checks").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut marks = Vec::new();
    for check in checks {
        if check.get("verdict").and_then(Value::as_str) != Some("invalid") {
            continue;
        }
        // `details` since the checks share one outcome shape; `result` and `bank` in runs
        // stored before.
        let at = |path: &str| {
            check
                .pointer(&format!("/details{path}"))
                .or_else(|| check.pointer(&format!("/result{path}")))
        };
        if let Some(culprit) = at("/explanation/culprit") {
            let line = culprit
                .get("complete_line")
                .and_then(Value::as_u64)
                .or_else(|| culprit.get("invoke_line").and_then(Value::as_u64));
            if let Some(line) = line {
                marks.push(Mark::Line(line));
            }
        }
        if let Some(t) = check
            .pointer("/details/first_bad_read/time_ns")
            .or_else(|| check.pointer("/bank/first_bad_read/time_ns"))
            .and_then(Value::as_u64)
        {
            marks.push(Mark::TimeNs(t));
        }
    }
    marks
}

/// The `time` of each of `lines` (1-based, sorted, distinct) in the history, streamed.
fn line_times(history: &Path, lines: &[u64]) -> Result<Vec<u64>, String> {
    let file = std::fs::File::open(history).map_err(|e| format!("history.jsonl: {e}"))?;
    let mut reader = BufReader::new(file.take(HISTORY_SCAN_BYTES_MAX));
    let mut times = Vec::with_capacity(lines.len());
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    for &wanted in lines {
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| format!("history.jsonl: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "history.jsonl has no line {wanted} in its first {} MiB",
                    HISTORY_SCAN_BYTES_MAX >> 20
                ));
            }
            line_no += 1;
            if line_no == wanted {
                break;
            }
        }
        let op: Value = serde_json::from_slice(&buf)
            .map_err(|e| format!("history.jsonl line {wanted}: {e}"))?;
        let time = op
            .get("time")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("history.jsonl line {wanted} has no time"))?;
        times.push(time);
    }
    Ok(times)
}

/// The first recorded anomaly of the run whose `results.json` is `results` and whose
/// history is `history`.
pub fn first_anomaly(results: &Value, history: &Path) -> FirstAnomaly {
    locate(&marks(results), history)
}

/// The earliest of `marks`, reading the times of line marks from `history`.
pub fn locate(marks: &[Mark], history: &Path) -> FirstAnomaly {
    if marks.is_empty() {
        return FirstAnomaly::None;
    }
    let (mut times, mut lines) = (Vec::new(), Vec::new());
    for mark in marks {
        match mark {
            Mark::TimeNs(t) => times.push(*t),
            Mark::Line(l) => lines.push(*l),
        }
    }
    lines.sort_unstable();
    lines.dedup();
    if !lines.is_empty() {
        match line_times(history, &lines) {
            Ok(found) => times.extend(found),
            Err(why) if times.is_empty() => return FirstAnomaly::Unlocated(why),
            // A bank time is known; the missing culprit line is not the earliest for sure,
            // but the bank's is a recorded anomaly: report what is known.
            Err(_) => {}
        }
    }
    times.into_iter().min().map_or_else(
        || FirstAnomaly::Unlocated("no time".into()),
        FirstAnomaly::AtNs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn history(dir: &Path, times: &[u64]) -> std::path::PathBuf {
        let path = dir.join("history.jsonl");
        let text: String = times
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{{\"index\":{i},\"time\":{t},\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}}\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn valid_runs_have_none_and_a_culprit_takes_its_completion_time() {
        let dir = tempfile::tempdir().unwrap();
        let h = history(dir.path(), &[10, 20, 30, 40]);
        let valid = json!({"checks":[{"check":"linearizable","verdict":"valid"}]});
        assert_eq!(first_anomaly(&valid, &h), FirstAnomaly::None);
        let invalid = json!({"checks":[{"check":"linearizable","verdict":"invalid",
            "result":{"explanation":{"culprit":{"invoke_line":2,"complete_line":3}}}}]});
        assert_eq!(first_anomaly(&invalid, &h), FirstAnomaly::AtNs(30));
        let info = json!({"checks":[{"check":"linearizable","verdict":"invalid",
            "result":{"explanation":{"culprit":{"invoke_line":4,"complete_line":null}}}}]});
        assert_eq!(first_anomaly(&info, &h), FirstAnomaly::AtNs(40));
        let beyond = json!({"checks":[{"check":"linearizable","verdict":"invalid",
            "result":{"explanation":{"culprit":{"invoke_line":9}}}}]});
        assert!(matches!(
            first_anomaly(&beyond, &h),
            FirstAnomaly::Unlocated(_)
        ));
        let both = json!({"checks":[
            {"check":"linearizable","verdict":"invalid",
             "result":{"explanation":{"culprit":{"invoke_line":1,"complete_line":4}}}},
            {"check":"bank","verdict":"invalid","bank":{"first_bad_read":{"time_ns":25}}}]});
        assert_eq!(first_anomaly(&both, &h), FirstAnomaly::AtNs(25));
        // Today's shape: every check's findings under `details`.
        let details = json!({"checks":[
            {"check":"linearizable","verdict":"invalid",
             "details":{"explanation":{"culprit":{"invoke_line":1,"complete_line":2}}}},
            {"check":"bank","verdict":"invalid","details":{"first_bad_read":{"time_ns":35}}}]});
        assert_eq!(first_anomaly(&details, &h), FirstAnomaly::AtNs(20));
    }

    /// The line numbers are the checker's own: a real checker result on a real stale-read
    /// history, whose culprit line's time is found in that history.
    #[test]
    fn the_checkers_culprit_lines_are_history_lines() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../checker/tests/data/stale-read-partition.jsonl");
        let result = checker::check_linearizability_file(
            &data,
            checker::Format::Jsonl,
            Some(checker::ModelKind::CasRegister),
            &checker::LinearizabilityOptions::default(),
        )
        .expect("the checker reads its own test history");
        assert_eq!(result.verdict, checker::Verdict::Invalid);
        let culprit = &result.explanation.as_ref().expect("explained").culprit;
        let line = culprit.complete_line.unwrap_or(culprit.invoke_line) as usize;
        let text = std::fs::read_to_string(&data).unwrap();
        let op: Value = serde_json::from_str(text.lines().nth(line - 1).unwrap()).unwrap();
        // The line holds the op the checker names: same process, same function.
        assert_eq!(
            op["process"].as_u64(),
            Some(culprit.process),
            "{op} vs {culprit:?}"
        );
        let f = op["f"].as_str().unwrap();
        assert!(culprit.op.starts_with(f), "{op} vs {culprit:?}");
        let results =
            json!({"checks":[{"check":"linearizable","verdict":"invalid","details":result}]});
        assert_eq!(
            first_anomaly(&results, &data),
            FirstAnomaly::AtNs(op["time"].as_u64().unwrap())
        );
    }
}
