//! The run store: where every run's files live (DESIGN.md, "Runs, campaigns, the store").
//!
//! ```text
//! <store>/<name>/<YYYYMMDDTHHMMSS>-seed<seed>/
//!     schedule.yaml  node-args.json  history.jsonl  results.json  report.html  nodes/<id>.log
//! <store>/latest -> <name>/<run>
//! ```
//!
//! The store is addressed by path only, so a campaign fanned out over many machines can
//! write into one shared directory.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Errors of the store: always an I/O failure on a named path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One run's directory and the names of the files in it.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn schedule(&self) -> PathBuf {
        self.path.join("schedule.yaml")
    }
    pub fn history(&self) -> PathBuf {
        self.path.join("history.jsonl")
    }
    pub fn results(&self) -> PathBuf {
        self.path.join("results.json")
    }
    pub fn report(&self) -> PathBuf {
        self.path.join("report.html")
    }
    pub fn nodes(&self) -> PathBuf {
        self.path.join("nodes")
    }
}

/// Creates `<store>/<name>/<timestamp>-seed<seed>/` (and `nodes/`), and points
/// `<store>/latest` at it. Two runs started in the same second get `-2`, `-3`... suffixes.
///
/// Safe for concurrent writers on one store (shards of a campaign on a shared volume):
/// the directory is claimed with one `mkdir`, which fails for all but one claimant, and
/// `latest` is replaced by renaming a fresh symlink over it, so it always names a whole run.
pub fn create_run_dir(store: &Path, name: &str, seed: u64) -> Result<RunDir, StoreError> {
    let stamp = utc_stamp(SystemTime::now());
    let parent = store.join(name);
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let base = format!("{stamp}-seed{seed}");
    let mut path = parent.join(&base);
    let mut attempt = 1u32;
    loop {
        match std::fs::create_dir(&path) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
                path = parent.join(format!("{base}-{attempt}"));
            }
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    let run = RunDir { path };
    std::fs::create_dir_all(run.nodes()).map_err(io_err(&run.nodes()))?;
    point_latest(store, &run.path)?;
    Ok(run)
}

/// Lists the runs of schedule `name` whose directory name ends in `-seed<seed>` (or
/// `-seed<seed>-N`) and that completed, i.e. hold a `results.json`.
pub fn completed_runs(store: &Path, name: &str, seed: u64) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(store.join(name)) else {
        return Vec::new();
    };
    let tag = format!("-seed{seed}");
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let file = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let stem = file.split_once(&tag).map(|(_, rest)| rest);
            matches!(stem, Some(rest) if rest.is_empty() || rest.starts_with('-'))
        })
        .filter(|p| p.join("results.json").is_file())
        .collect();
    runs.sort();
    runs
}

/// What a stored run's directory says about whether the run finished. The runner writes
/// `results.json` only once the run is over (step 5, also after Ctrl-C, then with
/// `interrupted: true`), so its absence is the honest sign of a run still in progress or
/// one whose controller died (SIGKILL, a crash) before writing it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Finished,
    /// Written up after Ctrl-C or SIGTERM: the history stops where the run was stopped.
    Interrupted,
    /// No `results.json`: the history may still be growing (or was cut off).
    NotFinished,
}

/// The completion of the run in `dir` (see [`Completion`]); an unreadable `results.json`
/// counts as finished, for the reader of it to report.
pub fn completion(dir: &Path) -> Completion {
    let Ok(text) = std::fs::read_to_string(dir.join("results.json")) else {
        return Completion::NotFinished;
    };
    let interrupted = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|json| json.get("interrupted").and_then(|v| v.as_bool()))
        .unwrap_or(false);
    if interrupted {
        Completion::Interrupted
    } else {
        Completion::Finished
    }
}

/// What `faultline check` says before checking a stored run that did not finish, or
/// `None` for a finished one; `dir` as the user wrote it.
pub fn unfinished_notice(dir: &Path) -> Option<String> {
    let lines = || {
        std::fs::read_to_string(dir.join("history.jsonl"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    match completion(dir) {
        Completion::Finished => None,
        Completion::Interrupted => Some(format!(
            "{}: this run was interrupted (Ctrl-C or SIGTERM) before its end: checking the {} history lines it recorded",
            dir.display(),
            lines()
        )),
        Completion::NotFinished => Some(format!(
            "{}: this run is not finished (no results.json yet: still running, or its controller died): checking the {} history lines recorded so far; check again once it is done",
            dir.display(),
            lines()
        )),
    }
}

fn point_latest(store: &Path, run: &Path) -> Result<(), StoreError> {
    let latest = store.join("latest");
    let target = run.strip_prefix(store).unwrap_or(run);
    // A name of this writer's own (process, and call within it): concurrent writers, in
    // one process or in many sharing the store, never touch each other's temporary link.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = store.join(format!(".latest.{}.{call}", std::process::id()));
    // Left by a dead process that had our pid: a stale link, never another writer's.
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io_err(&tmp))?;
    // rename over the old link is atomic: `latest` always points at a whole run.
    std::fs::rename(&tmp, &latest).map_err(io_err(&latest))
}

/// `YYYYMMDDTHHMMSS` in UTC, without pulling in a date crate for one format.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's civil-from-days algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamp_matches_known_dates() {
        let at = |s: u64| utc_stamp(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101T000000");
        // 2000-02-29 12:34:56 UTC, a leap day.
        assert_eq!(at(951_827_696), "20000229T123456");
        // 2026-11-26 17:03:22 UTC.
        assert_eq!(at(1_795_712_602), "20261126T170322");
    }

    #[test]
    fn run_dirs_are_unique_and_latest_follows() {
        let store = tempfile::tempdir().unwrap();
        let a = create_run_dir(store.path(), "s", 7).unwrap();
        let b = create_run_dir(store.path(), "s", 7).unwrap();
        assert_ne!(a.path, b.path);
        assert!(b.nodes().is_dir());
        let latest = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b.path).unwrap());
        assert!(completed_runs(store.path(), "s", 7).is_empty());
        std::fs::write(a.results(), "{}").unwrap();
        assert_eq!(completed_runs(store.path(), "s", 7), vec![a.path.clone()]);
        assert!(completed_runs(store.path(), "s", 70).is_empty());
    }

    #[test]
    fn concurrent_writers_get_distinct_dirs_and_a_whole_latest() {
        let store = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| create_run_dir(store.path(), "s", 1).unwrap().path))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let unique: std::collections::BTreeSet<_> = dirs.iter().collect();
        assert_eq!(unique.len(), dirs.len(), "{dirs:?}");
        let latest = std::fs::canonicalize(store.path().join("latest")).unwrap();
        assert!(
            dirs.iter()
                .any(|d| std::fs::canonicalize(d).unwrap() == latest),
            "latest names one of the runs: {latest:?}"
        );
        let stray: Vec<_> = std::fs::read_dir(store.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".latest"))
            .collect();
        assert!(stray.is_empty(), "temporary links left: {stray:?}");
    }

    #[test]
    fn a_run_without_results_is_not_finished() {
        let store = tempfile::tempdir().unwrap();
        let run = create_run_dir(store.path(), "s", 1).unwrap();
        std::fs::write(run.history(), "{}\n{}\n").unwrap();
        assert_eq!(completion(&run.path), Completion::NotFinished);
        assert_eq!(
            unfinished_notice(&store.path().join("latest")).as_deref(),
            Some(format!(
                "{}: this run is not finished (no results.json yet: still running, \
                 or its controller died): checking the 2 history lines recorded so far; check \
                 again once it is done",
                store.path().join("latest").display()
            ))
            .as_deref()
        );
        std::fs::write(run.results(), r#"{"interrupted": true}"#).unwrap();
        assert_eq!(completion(&run.path), Completion::Interrupted);
        std::fs::write(run.results(), r#"{"interrupted": false}"#).unwrap();
        assert_eq!(unfinished_notice(&run.path), None);
    }
}
