//! The store's runs as the pages see them: a cheap listing from directory names, and each
//! run's summary read from its `results.json` only when a page needs it.
//!
//! Listing reads two levels of directory names and no file, so a 10,000-run store lists in
//! milliseconds. Summaries of finished runs are cached (a finished run's `results.json` is
//! written once), at most [`SUMMARY_CACHE_MAX`] of them; a run without `results.json` is
//! in progress (or was abandoned) and is never cached.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::paths::plain_segment;

/// Summaries kept in memory; beyond this the cache is emptied and refilled.
pub const SUMMARY_CACHE_MAX: usize = 100_000;
/// The largest `results.json` read; a bigger one is shown as unreadable.
pub const RESULTS_BYTES_MAX: u64 = 32 << 20;

/// One run directory: `<store>/<name>/<run>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub name: String,
    pub run: String,
}

impl RunRef {
    /// `YYYYMMDDTHHMMSS` from the directory name.
    pub fn stamp(&self) -> &str {
        &self.run[..15]
    }
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    pub fn started(&self) -> String {
        let s = self.stamp();
        format!(
            "{}-{}-{} {}:{}:{}",
            &s[0..4],
            &s[4..6],
            &s[6..8],
            &s[9..11],
            &s[11..13],
            &s[13..15]
        )
    }
    /// The seed from `-seed<N>` in the directory name.
    pub fn seed(&self) -> Option<u64> {
        let rest = self.run.split_once("-seed")?.1;
        rest.split('-').next()?.parse().ok()
    }
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.name).join(&self.run)
    }
    /// The run page's URL path.
    pub fn href(&self) -> String {
        format!("/run/{}/{}", self.name, self.run)
    }
}

/// Whether a directory name is a run's: `YYYYMMDDTHHMMSS-seed<N>[-k]`.
pub fn is_run_name(name: &str) -> bool {
    let b = name.as_bytes();
    plain_segment(name)
        && b.len() > 20
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && name[15..].starts_with("-seed")
}

/// Every run in the store, newest first (ties by schedule name, then directory name).
pub fn list_runs(root: &Path) -> Vec<RunRef> {
    let mut runs = Vec::new();
    let Ok(names) = std::fs::read_dir(root) else {
        return runs;
    };
    for entry in names.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `latest` is a symlink to a run, not a schedule; file_type does not follow links.
        if !plain_segment(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(dirs) = std::fs::read_dir(entry.path()) else {
            continue;
        };
        for run in dirs.filter_map(Result::ok) {
            let run_name = run.file_name().to_string_lossy().into_owned();
            if is_run_name(&run_name) && run.file_type().is_ok_and(|t| t.is_dir()) {
                runs.push(RunRef {
                    name: name.clone(),
                    run: run_name,
                });
            }
        }
    }
    runs.sort_by(|a, b| {
        b.stamp()
            .cmp(a.stamp())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| b.run.cmp(&a.run))
    });
    runs
}

/// What `results.json` says about a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub verdict: String,
    /// `(check, verdict)` in the order of `results.json`.
    pub checks: Vec<(String, String)>,
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub nemesis_events: u64,
    pub duration_s: f64,
    pub latency_ms_p99: f64,
    pub interrupted: bool,
}

/// A run's state: finished (with its summary), in progress, or unreadable.
#[derive(Debug, Clone)]
pub enum RunState {
    Finished(Arc<Summary>),
    /// No `results.json` yet.
    InProgress,
    Unreadable(String),
}

impl RunState {
    /// The word the filter and the badge use: valid, invalid, unknown, running, unreadable.
    pub fn label(&self) -> &str {
        match self {
            RunState::Finished(s) if s.interrupted => "interrupted",
            RunState::Finished(s) => &s.verdict,
            RunState::InProgress => "running",
            RunState::Unreadable(_) => "unreadable",
        }
    }
}

/// Parses the fields the pages show out of `results.json`.
pub fn summary_from_json(json: &Value) -> Option<Summary> {
    let stats = json.get("stats")?;
    let u = |k: &str| stats.get(k).and_then(Value::as_u64).unwrap_or(0);
    let f = |k: &str| stats.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let checks = json
        .get("checks")
        .and_then(Value::as_array)
        .map(|checks| {
            checks
                .iter()
                .map(|c| {
                    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                    (s("check"), s("verdict"))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Summary {
        verdict: json.get("verdict")?.as_str()?.to_string(),
        checks,
        ops: u("ops"),
        ok: u("ok"),
        fail: u("fail"),
        info: u("info"),
        nemesis_events: u("nemesis_events"),
        duration_s: f("duration_s"),
        latency_ms_p99: f("latency_ms_p99"),
        interrupted: json
            .get("interrupted")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Bounded cache of finished runs' summaries, keyed by run directory.
#[derive(Debug, Default)]
pub struct SummaryCache {
    map: Mutex<HashMap<PathBuf, Arc<Summary>>>,
}

impl SummaryCache {
    /// The run's state, reading its `results.json` at most once while it stays cached.
    pub fn state(&self, dir: &Path) -> RunState {
        if let Some(hit) = self.lock().get(dir) {
            return RunState::Finished(hit.clone());
        }
        let path = dir.join("results.json");
        let text = match read_bounded(&path, RESULTS_BYTES_MAX) {
            Ok(Some(text)) => text,
            Ok(None) => return RunState::Unreadable("results.json is too large".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return RunState::InProgress,
            Err(e) => return RunState::Unreadable(format!("results.json: {e}")),
        };
        let parsed = serde_json::from_str::<Value>(&text);
        let Some(summary) = parsed.ok().as_ref().and_then(summary_from_json) else {
            // Possibly still being written: not cached, read again next time.
            return RunState::Unreadable("results.json is not a run's results".into());
        };
        let summary = Arc::new(summary);
        let mut map = self.lock();
        if map.len() >= SUMMARY_CACHE_MAX {
            map.clear();
        }
        map.insert(dir.to_path_buf(), summary.clone());
        RunState::Finished(summary)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<Summary>>> {
        // A panic while holding the lock leaves a valid map: keep serving.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads a whole file if it is at most `max_bytes` long (`Ok(None)` when it is longer).
pub fn read_bounded(path: &Path, max_bytes: u64) -> std::io::Result<Option<String>> {
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max_bytes {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_newest_first_and_skips_what_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "a/20250101T000000-seed1",
            "a/20250102T000000-seed2",
            "b/20250101T120000-seed1-2",
            "b/not-a-run",
            ".hidden/20250103T000000-seed1",
        ] {
            std::fs::create_dir_all(root.join(p)).unwrap();
        }
        std::os::unix::fs::symlink("a/20250102T000000-seed2", root.join("latest")).unwrap();
        let runs = list_runs(root);
        let names: Vec<String> = runs
            .iter()
            .map(|r| format!("{}/{}", r.name, r.run))
            .collect();
        assert_eq!(
            names,
            [
                "a/20250102T000000-seed2",
                "b/20250101T120000-seed1-2",
                "a/20250101T000000-seed1"
            ]
        );
        assert_eq!(runs[1].seed(), Some(1));
        assert_eq!(runs[0].started(), "2025-01-02 00:00:00");
    }

    #[test]
    fn summary_states() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SummaryCache::default();
        assert!(matches!(cache.state(dir.path()), RunState::InProgress));
        std::fs::write(dir.path().join("results.json"), "{\"verdict\":").unwrap();
        assert!(matches!(cache.state(dir.path()), RunState::Unreadable(_)));
        std::fs::write(
            dir.path().join("results.json"),
            r#"{"verdict":"invalid","interrupted":false,"checks":[{"check":"linearizable","verdict":"invalid"}],"stats":{"ops":10,"duration_s":2.5}}"#,
        )
        .unwrap();
        let RunState::Finished(s) = cache.state(dir.path()) else {
            panic!("finished")
        };
        assert_eq!(s.verdict, "invalid");
        assert_eq!(s.checks, vec![("linearizable".into(), "invalid".into())]);
        assert_eq!(s.ops, 10);
    }
}
