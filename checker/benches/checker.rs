//! `cargo bench -p checker`: file -> verdict on Porcupine's reference set and on generated
//! histories (1M ops on 1,000 keys, 100k ops on 100 keys and 20k on 20, 64 processes, 1%
//! info; 100k ops on 50 keys with one stale read), and the JSONL reader alone on those. Targets (5x Porcupine, see the crate docs):
//! etcd_002 40 ms, etcd_007 20 ms, etcd_099 12 ms, c50-ok 40 ms, whole set 160 ms,
//! 1M/1000 keys 1.1 s, 100k/50 keys stale read 0.5 s; each key of kv/c50-bad.txt decided
//! in under 10 s and 1 GiB (issue 16 §2). Measured numbers and how they were
//! taken: `checker/BENCHMARKS.md`.
//!
//! The reference histories are found as the tests find them (`checker::reference`:
//! `FAULTLINE_REFERENCE_HISTORIES`, default `../shared/reference-histories` beside the
//! workspace); without them the reference and c50-bad groups are skipped with a message.
//!
//! `FAULTLINE_BENCH_QUICK=1` takes 10 samples of each with a short measurement time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use checker::format::{OpSink, OpView, SinkError, read_file};
use checker::generate::{GenSpec, plant_stale_read, register_history, write_jsonl};
use checker::reference::porcupine_or_skip;
use checker::{Format, LinearizabilityOptions, Verdict, check_linearizability_file};
use criterion::{Criterion, criterion_group, criterion_main};

fn verdict_of(path: &Path) -> Verdict {
    check_linearizability_file(path, Format::Auto, None, &LinearizabilityOptions::default())
        .expect("readable history")
        .verdict
}

fn configure() -> Criterion {
    let quick = std::env::var_os("FAULTLINE_BENCH_QUICK").is_some();
    let base = Criterion::default();
    if quick {
        base.sample_size(10)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(300))
    } else {
        base.sample_size(20)
            .measurement_time(Duration::from_secs(10))
    }
}

fn reference_set(c: &mut Criterion) {
    let Some(dir) = porcupine_or_skip() else {
        eprintln!("the reference group is skipped");
        return;
    };
    let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let files: Vec<PathBuf> = expected
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|f| dir.join(f))
        .collect();
    let mut group = c.benchmark_group("reference");
    for name in [
        "jepsen/etcd_002.log",
        "jepsen/etcd_007.log",
        "jepsen/etcd_099.log",
        "kv/c50-ok.txt",
    ] {
        let path = dir.join(name);
        group.bench_function(name, |b| b.iter(|| verdict_of(&path)));
    }
    group.bench_function("whole set", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|f| verdict_of(f))
                .filter(|v| *v == Verdict::Invalid)
                .count()
        })
    });
    group.finish();
}

/// Porcupine's kv/c50-bad.txt whole and one key at a time (each key's records alone, as
/// issue 16 §2 checks them): 50 clients appending unique tokens to one string per key,
/// the keys the unpruned search could not decide in 1.8 GiB. Every key must be decided.
fn c50_bad_keys(c: &mut Criterion) {
    let Some(dir) = porcupine_or_skip() else {
        eprintln!("the c50-bad group is skipped");
        return;
    };
    let path = dir.join("kv/c50-bad.txt");
    let text = std::fs::read_to_string(&path).expect("kv/c50-bad.txt readable");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(":key \"").nth(1)?.split('"').next())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut group = c.benchmark_group("c50-bad");
    assert_eq!(verdict_of(&path), Verdict::Invalid, "c50-bad.txt");
    group.bench_function("whole file", |b| b.iter(|| verdict_of(&path)));
    for key in keys {
        let needle = format!(":key \"{key}\"");
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&needle)).collect();
        let key_path = dir.path().join(format!("key-{key}.edn"));
        std::fs::write(&key_path, lines.join("\n") + "\n").expect("write key file");
        assert_ne!(verdict_of(&key_path), Verdict::Unknown, "key {key}");
        group.bench_function(format!("key {key}"), |b| b.iter(|| verdict_of(&key_path)));
    }
    group.finish();
}

fn generated(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cases = Vec::new();
    for (name, ops, keys, stale) in [
        ("1M ops, 1000 keys, 64 processes", 1_000_000, 1000, false),
        ("100k ops, 100 keys, 64 processes", 100_000, 100, false),
        ("20k ops, 20 keys, 64 processes", 20_000, 20, false),
        ("100k ops, 50 keys, one stale read", 100_000, 50, true),
    ] {
        let spec = GenSpec {
            ops,
            keys,
            processes: 64,
            info_per_mille: 10,
            seed: 7,
        };
        let mut history = register_history(spec);
        if stale {
            plant_stale_read(&mut history, 3).expect("a read to make stale");
        }
        let path = dir.path().join(format!("{ops}-{keys}-{stale}.jsonl"));
        write_jsonl(&history, std::fs::File::create(&path).expect("create")).expect("write");
        let expected = if stale {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        assert_eq!(verdict_of(&path), expected, "{name}");
        cases.push((name, path));
    }
    let mut group = c.benchmark_group("generated");
    group.sample_size(10);
    for (name, path) in &cases {
        group.bench_function(*name, |b| b.iter(|| verdict_of(path)));
    }
    group.finish();
    // The JSONL reader alone (most of a valid check of a large file): every record handed
    // to a sink that only counts them.
    let mut group = c.benchmark_group("jsonl read");
    group.sample_size(10);
    for (name, path) in &cases {
        group.bench_function(*name, |b| b.iter(|| records_in(path)));
    }
    group.finish();
}

/// A sink that counts what it is given.
struct Count(u64);

impl OpSink for Count {
    fn accept(&mut self, _op: &OpView<'_>, _line: u64) -> Result<(), SinkError> {
        self.0 += 1;
        Ok(())
    }
}

fn records_in(path: &Path) -> u64 {
    let mut count = Count(0);
    read_file(path, Format::Jsonl, &mut count).expect("a readable history");
    count.0
}

criterion_group! {
    name = benches;
    config = configure();
    targets = reference_set, c50_bad_keys, generated
}
criterion_main!(benches);
