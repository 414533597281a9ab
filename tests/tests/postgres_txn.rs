//! PostgreSQL through the stdio adapter, checked by Elle (issue 13, "Workloads and systems";
//! the example in `examples/postgres/`): Debian's PostgreSQL 15 started by `kind: command`,
//! list-append transactions through the psycopg2 adapter, the server killed with kill -9
//! and restarted once.
//!
//! - At `repeatable read`, PostgreSQL is snapshot isolation, which allows write skew: the
//!   run is `invalid` and the stored history, checked again for plain serializability,
//!   shows G2-item (a cycle of two or more anti-dependency edges) and rules out
//!   serializable. The example schedule was measured in 10 of 10 seeds (README.md); the
//!   test tries up to [`MAX_SEEDS`].
//! - At `serializable` (SSI), the same workload is `valid`.
//!
//! Both need root (the data directory is handed to the `postgres` user), PostgreSQL 15's
//! binaries and Debian's `python3-psycopg2` for `/usr/bin/python3`; under `CI=true` a
//! missing one fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use checker::elle::{AnomalyKind, CycleClass, ElleOptions, Model, Variant, check_file};
use checker::format::Format;
use checker::verdict::Verdict;
use tests::{processes_mentioning, read_json, run_faultline, tool_missing};

const MAX_SEEDS: u64 = 3;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Why PostgreSQL cannot run here, if it cannot.
fn postgres_missing() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("PostgreSQL tests need root (the data dir is handed to `postgres`)".into());
    }
    if !Path::new("/usr/lib/postgresql/15/bin/postgres").exists() {
        return Some("no /usr/lib/postgresql/15/bin/postgres (apt-get install postgresql)".into());
    }
    let psycopg2 = Command::new("/usr/bin/python3")
        .args(["-c", "import psycopg2"])
        .status();
    if !psycopg2.is_ok_and(|s| s.success()) {
        return Some("/usr/bin/python3 has no psycopg2 (apt-get install python3-psycopg2)".into());
    }
    if Command::new("pg_isready")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("no pg_isready (apt-get install postgresql-client)".into());
    }
    None
}

/// A store the `postgres` user can reach: tempdirs are 0700, the data dirs live inside.
fn store_dir() -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod the tempdir");
    work
}

/// Runs the example schedule at `level` with `seed`; returns (exit code, run directory).
fn run(level: &str, seed: u64, store: &Path) -> (Option<i32>, PathBuf) {
    let schedule = format!("examples/postgres/pg-{level}.yaml");
    let seed = seed.to_string();
    let store_arg = store.to_str().expect("utf-8 path");
    let out = run_faultline(
        [
            "run", &schedule, "--store", store_arg, "--seed", &seed, "--quiet",
        ],
        &repo(),
    );
    assert!(
        matches!(out.code, Some(0 | 1)),
        "neither valid nor invalid: {}",
        out.describe()
    );
    let left = processes_mentioning(store);
    assert!(left.is_empty(), "processes left after the run: {left:?}");
    (out.code, store.join("latest"))
}

fn recheck(run: &Path, model: Model) -> checker::elle::ElleResult {
    let options = ElleOptions {
        model,
        ..ElleOptions::default()
    };
    check_file(&run.join("history.jsonl"), Format::Jsonl, &options).expect("history reads")
}

#[test]
fn repeatable_read_shows_write_skew_as_g2_item() {
    if let Some(reason) = postgres_missing() {
        return tool_missing(&reason);
    }
    let work = store_dir();
    let store = work.path().join("store");
    let mut tries = Vec::new();
    for seed in 1..=MAX_SEEDS {
        let (code, run) = run("repeatable-read", seed, &store);
        if code == Some(0) {
            tries.push(seed);
            continue;
        }
        let results = read_json(&run.join("results.json"));
        assert_eq!(results["verdict"], "invalid", "{results:#}");
        let result = recheck(&run, Model::Serializable);
        assert_eq!(result.verdict, Verdict::Invalid, "{}", result.to_text());
        let g2_item = AnomalyKind::Cycle(CycleClass::G2Item, Variant::Data);
        assert!(
            result.anomaly_types.contains(&g2_item),
            "G2-item among the anomalies: {}",
            result.to_text()
        );
        assert!(
            result.ruled_out.contains(&Model::RepeatableRead)
                || result.ruled_out.contains(&Model::Serializable),
            "G2-item rules out serializable: {:?}",
            result.ruled_out
        );
        eprintln!("G2-item found with seed {seed} (valid before: {tries:?})");
        return;
    }
    panic!("no write skew in {MAX_SEEDS} seeds at repeatable read: {tries:?} valid");
}

#[test]
fn serializable_stays_valid() {
    if let Some(reason) = postgres_missing() {
        return tool_missing(&reason);
    }
    let work = store_dir();
    let store = work.path().join("store");
    let (code, run) = run("serializable", 1, &store);
    let results = read_json(&run.join("results.json"));
    assert_eq!(code, Some(0), "{results:#}");
    let result = recheck(&run, Model::StrictSerializable);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.to_text());
    assert!(result.ok > 200, "{} ok transactions", result.ok);
}
