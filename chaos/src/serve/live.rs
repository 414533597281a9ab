//! A run in progress, followed from its `history.jsonl` as the runner appends it.
//!
//! Each followed run keeps a cursor (the byte offset of the first line not yet read) and
//! running counts, so every poll reads only what was appended since the last one, at most
//! [`READ_BYTES_MAX`] per poll (a 1 GB history is caught up over several polls, never loaded
//! whole). Per-second buckets (client completions and their mean latency) feed the growing
//! charts; at most [`SECONDS_MAX`] buckets and [`PENDING_MAX`] in-flight invokes are kept, and
//! at most [`FOLLOWED_MAX`] runs are followed at once.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

/// Bytes of history read per poll.
pub const READ_BYTES_MAX: u64 = 8 << 20;
/// Per-second buckets kept (a day).
pub const SECONDS_MAX: usize = 86_400;
/// In-flight invokes remembered for latency.
pub const PENDING_MAX: usize = 100_000;
/// Runs followed at once.
pub const FOLLOWED_MAX: usize = 64;
/// Points of each chart series sent to the page.
pub const SERIES_POINTS_MAX: usize = 600;
/// Longest history line accepted; a longer one is skipped.
pub const LINE_BYTES_MAX: usize = 1 << 20;

/// One second of client completions.
#[derive(Debug, Clone, Copy, Default)]
struct Second {
    completions: u64,
    latency_ms_sum: f64,
}

/// What has been read of one run's history so far.
#[derive(Debug, Default)]
pub struct LiveState {
    offset: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub invokes: u64,
    /// The newest `time` seen, nanoseconds since the run began.
    pub last_time_ns: u64,
    /// Active faults: nemesis event id (or kind) -> fault kind.
    pub active: BTreeMap<String, String>,
    pending: HashMap<String, u64>,
    seconds: Vec<Second>,
    pub lines_skipped: u64,
}

impl LiveState {
    /// Reads what was appended to `history` since the last call (at most READ_BYTES_MAX),
    /// stopping at the last complete line.
    pub fn catch_up(&mut self, history: &Path) -> std::io::Result<()> {
        let mut file = std::fs::File::open(history)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated or replaced: start over.
            *self = LiveState::default();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.take(READ_BYTES_MAX).read_to_end(&mut buf)?;
        let Some(last_newline) = buf.iter().rposition(|&b| b == b'\n') else {
            if buf.len() as u64 >= READ_BYTES_MAX {
                // One line longer than a whole read: skip it.
                self.offset += buf.len() as u64;
                self.lines_skipped += 1;
            }
            return Ok(());
        };
        for line in buf[..last_newline].split(|&b| b == b'\n') {
            if line.len() > LINE_BYTES_MAX {
                self.lines_skipped += 1;
                continue;
            }
            match serde_json::from_slice::<Value>(line) {
                Ok(op) => self.apply(&op),
                Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
                Err(_) => self.lines_skipped += 1,
            }
        }
        self.offset += last_newline as u64 + 1;
        Ok(())
    }

    fn apply(&mut self, op: &Value) {
        let time_ns = op.get("time").and_then(Value::as_u64).unwrap_or(0);
        self.last_time_ns = self.last_time_ns.max(time_ns);
        let kind = op.get("type").and_then(Value::as_str).unwrap_or("");
        let f = op.get("f").and_then(Value::as_str).unwrap_or("");
        let process = match op.get("process") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        if process == "nemesis" {
            let id = op
                .get("value")
                .and_then(|v| v.get("id"))
                .map(Value::to_string);
            if let Some(fault) = f.strip_prefix("start-") {
                let key = id.unwrap_or_else(|| fault.to_string());
                self.active.insert(key, fault.to_string());
            } else if let Some(fault) = f.strip_prefix("stop-") {
                let key = id.unwrap_or_else(|| fault.to_string());
                self.active.remove(&key);
            }
            return;
        }
        match kind {
            "invoke" => {
                self.invokes += 1;
                if self.pending.len() < PENDING_MAX {
                    self.pending.insert(process, time_ns);
                }
                return;
            }
            "ok" => self.ok += 1,
            "fail" => self.fail += 1,
            "info" => self.info += 1,
            _ => return,
        }
        let second = (time_ns / 1_000_000_000) as usize;
        if second < SECONDS_MAX {
            if self.seconds.len() <= second {
                self.seconds.resize(second + 1, Second::default());
            }
            let bucket = &mut self.seconds[second];
            bucket.completions += 1;
            if let Some(started) = self.pending.remove(&process) {
                bucket.latency_ms_sum += time_ns.saturating_sub(started) as f64 / 1e6;
            }
        } else {
            self.pending.remove(&process);
        }
    }

    /// Completions per second over the last five whole seconds seen.
    pub fn ops_per_s(&self) -> f64 {
        let whole = self.seconds.len().saturating_sub(1);
        let from = whole.saturating_sub(5);
        let window = &self.seconds[from..whole];
        if window.is_empty() {
            return 0.0;
        }
        window.iter().map(|s| s.completions).sum::<u64>() as f64 / window.len() as f64
    }

    pub fn elapsed_s(&self) -> f64 {
        self.last_time_ns as f64 / 1e9
    }

    /// The page's view: counters, active faults, and the last points of each series.
    pub fn to_json(&self, finished: bool) -> Value {
        let from = self.seconds.len().saturating_sub(SERIES_POINTS_MAX);
        let series: Vec<Value> = self.seconds[from..]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mean = if s.completions > 0 {
                    s.latency_ms_sum / s.completions as f64
                } else {
                    0.0
                };
                json!([from + i, s.completions, (mean * 100.0).round() / 100.0])
            })
            .collect();
        json!({
            "finished": finished,
            "elapsed_s": (self.elapsed_s() * 10.0).round() / 10.0,
            "ops_per_s": (self.ops_per_s() * 10.0).round() / 10.0,
            "invokes": self.invokes,
            "ok": self.ok,
            "fail": self.fail,
            "info": self.info,
            "active_faults": self.active.values().collect::<Vec<_>>(),
            "series": series,
        })
    }
}

/// The runs being followed, each with its own state.
#[derive(Debug, Default)]
pub struct LiveRuns {
    runs: Mutex<HashMap<PathBuf, LiveState>>,
}

impl LiveRuns {
    /// Catches up on `dir`'s history and returns the page's JSON view of it.
    pub fn poll(&self, dir: &Path, finished: bool) -> std::io::Result<Value> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if !runs.contains_key(dir) && runs.len() >= FOLLOWED_MAX {
            runs.clear();
        }
        let state = runs.entry(dir.to_path_buf()).or_default();
        state.catch_up(&dir.join("history.jsonl"))?;
        Ok(state.to_json(finished))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_appends_counts_and_faults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(
            f,
            r#"{{"index":0,"time":1000,"process":0,"type":"invoke","f":"write","value":1}}"#
        )
        .unwrap();
        writeln!(
            f,
            r#"{{"index":1,"time":2001000,"process":0,"type":"ok","f":"write","value":1}}"#
        )
        .unwrap();
        writeln!(f, r#"{{"index":2,"time":3000000,"process":"nemesis","type":"info","f":"start-partition","value":{{"id":1}}}}"#).unwrap();
        write!(f, r#"{{"index":3,"time":4000000,"process":1,"ty"#).unwrap();
        f.flush().unwrap();
        let mut live = LiveState::default();
        live.catch_up(&path).unwrap();
        assert_eq!((live.invokes, live.ok, live.fail), (1, 1, 0));
        assert_eq!(live.active.values().collect::<Vec<_>>(), ["partition"]);
        writeln!(f, r#"pe":"invoke","f":"read","value":null}}"#).unwrap();
        writeln!(
            f,
            r#"{{"index":4,"time":1500000000,"process":1,"type":"fail","f":"read"}}"#
        )
        .unwrap();
        writeln!(f, r#"{{"index":5,"time":1600000000,"process":"nemesis","type":"info","f":"stop-partition","value":{{"id":1}}}}"#).unwrap();
        f.flush().unwrap();
        live.catch_up(&path).unwrap();
        assert_eq!((live.invokes, live.ok, live.fail), (2, 1, 1));
        assert!(live.active.is_empty());
        assert_eq!(live.lines_skipped, 0);
        let view = live.to_json(false);
        assert_eq!(view["series"][0][1], 1);
        assert_eq!(view["series"][0][2], 2.0);
    }
}
