//! The Elle check, file to verdict, on generated list-append histories of 100k and 1M
//! transactions (issue 13): 1-8 micro-ops each (half appends, half reads), 100-10,000
//! active keys with a hot-key skew, each key retired after 32 appends as Jepsen's
//! generator does (`max-writes-per-key`), 10-100 processes, 1% of transactions `info`.
//! Transactions take effect atomically between their invoke and their completion, so
//! each history is strict-serializable and the check must search the whole graph for
//! strict-serializable (data, process and real-time edges) and find nothing.
//!
//! A third history of 100k transactions reads stale snapshots (the state at its invoke)
//! and is full of anomalies: it measures the cycle search where there are cycles.
//!
//! The files are written once to `target/elle-bench/` and kept, so the same file can be
//! checked from the command line for memory
//! (`/usr/bin/time -v faultline check --checker elle target/elle-bench/elle-1000000.jsonl`).
//!
//! Run: `cargo bench -p checker --bench elle`. Before benchmarking, each size is checked
//! once and its wall and CPU time (all threads) and phase times are printed; `--list`
//! does only that (`target/release/deps/elle-* --bench --list`).

use std::io::Write;
use std::path::{Path, PathBuf};

use checker::Format;
use checker::elle::{ElleOptions, Model, check_file};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shape of a generated history.
struct Shape {
    txns: usize,
    keys: usize,
    processes: u64,
    seed: u64,
    /// Reads see the state at their invoke, appends take effect later: a snapshot read
    /// without conflict checks, so the history is full of anomalies.
    stale: bool,
}

const MAX_WRITES_PER_KEY: u32 = 32;

/// Writes a strict-serializable list-append history to `path`.
fn generate(shape: &Shape, path: &Path) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(shape.seed);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    // Active keys: (key id, appends so far); state of every key ever used.
    let mut active: Vec<(u64, u32)> = (0..shape.keys as u64).map(|k| (k, 0)).collect();
    let mut next_key = shape.keys as u64;
    let mut lists: Vec<Vec<u64>> = vec![Vec::new(); shape.keys];
    let mut next_value = 1u64;
    #[derive(Clone)]
    enum State {
        Idle,
        Invoked(Vec<(bool, u64, u64)>, Vec<Option<usize>>, bool),
        Done(Vec<(bool, u64, u64)>, Vec<Option<usize>>, bool),
    }
    let mut procs: Vec<(u64, State)> = (0..shape.processes).map(|p| (p, State::Idle)).collect();
    let mut next_process = shape.processes;
    let (mut started, mut finished) = (0usize, 0usize);
    let mut index = 0u64;
    let mut line = String::with_capacity(512);
    let write_line = |out: &mut std::io::BufWriter<std::fs::File>,
                      line: &mut String,
                      index: &mut u64,
                      process: u64,
                      kind: &str,
                      mops: &[(bool, u64, u64)],
                      reads: Option<&[Option<usize>]>,
                      lists: &[Vec<u64>]|
     -> std::io::Result<()> {
        use std::fmt::Write as _;
        line.clear();
        let _ = write!(
            line,
            "{{\"index\":{index},\"time\":{},\"process\":{process},\"type\":\"{kind}\",\"f\":\"txn\",\"value\":[",
            *index * 1000
        );
        for (i, &(append, key, value)) in mops.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if append {
                let _ = write!(line, "[\"append\",{key},{value}]");
            } else {
                match reads.and_then(|lens| lens[i].map(|n| &lists[key as usize][..n])) {
                    Some(list) => {
                        let _ = write!(line, "[\"r\",{key},[");
                        for (j, e) in list.iter().enumerate() {
                            if j > 0 {
                                line.push(',');
                            }
                            let _ = write!(line, "{e}");
                        }
                        line.push_str("]]");
                    }
                    None => {
                        let _ = write!(line, "[\"r\",{key},null]");
                    }
                }
            }
        }
        line.push_str("]}\n");
        *index += 1;
        out.write_all(line.as_bytes())
    };
    while finished < shape.txns {
        let p = rng.random_range(0..procs.len());
        let (process, state) = procs[p].clone();
        match state {
            State::Idle if started < shape.txns => {
                let n = rng.random_range(1..=8);
                let mut mops = Vec::with_capacity(n);
                for _ in 0..n {
                    // Hot-key skew: the smaller of two uniform picks.
                    let slot = rng
                        .random_range(0..active.len())
                        .min(rng.random_range(0..active.len()));
                    let append = rng.random_bool(0.5);
                    let key = active[slot].0;
                    if append {
                        active[slot].1 += 1;
                        if active[slot].1 >= MAX_WRITES_PER_KEY {
                            active[slot] = (next_key, 0);
                            next_key += 1;
                            lists.push(Vec::new());
                        }
                        mops.push((true, key, next_value));
                        next_value += 1;
                    } else {
                        mops.push((false, key, 0));
                    }
                }
                let info = rng.random_bool(0.01);
                let snapshot: Vec<Option<usize>> = mops
                    .iter()
                    .map(|&(append, key, _)| (!append).then(|| lists[key as usize].len()))
                    .collect();
                write_line(
                    &mut out, &mut line, &mut index, process, "invoke", &mops, None, &lists,
                )?;
                started += 1;
                procs[p].1 = State::Invoked(mops, snapshot, info);
            }
            State::Idle => {}
            State::Invoked(mops, snapshot, info) => {
                // Takes effect now (an info one only half the time).
                let applies = !info || rng.random_bool(0.5);
                let mut reads = vec![None; mops.len()];
                if applies {
                    for (i, &(append, key, value)) in mops.iter().enumerate() {
                        if append {
                            lists[key as usize].push(value);
                        } else if shape.stale {
                            reads[i] = snapshot[i];
                        } else {
                            reads[i] = Some(lists[key as usize].len());
                        }
                    }
                }
                procs[p].1 = State::Done(mops, reads, info);
            }
            State::Done(mops, reads, info) => {
                if info {
                    write_line(
                        &mut out, &mut line, &mut index, process, "info", &mops, None, &lists,
                    )?;
                    procs[p] = (next_process, State::Idle);
                    next_process += 1;
                } else {
                    let lens = &reads[..];
                    write_line(
                        &mut out,
                        &mut line,
                        &mut index,
                        process,
                        "ok",
                        &mops,
                        Some(lens),
                        &lists,
                    )?;
                    procs[p].1 = State::Idle;
                }
                finished += 1;
            }
        }
    }
    out.flush()
}

fn bench_file(txns: usize, keys: usize, processes: u64, stale: bool) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/elle-bench");
    std::fs::create_dir_all(&dir).expect("a bench directory");
    let suffix = if stale { "-stale" } else { "" };
    let path = dir.join(format!("elle-{txns}{suffix}.jsonl"));
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        generate(
            &Shape {
                txns,
                keys,
                processes,
                seed: txns as u64,
                stale,
            },
            &tmp,
        )
        .expect("writing the history");
        std::fs::rename(&tmp, &path).expect("renaming the history");
    }
    path
}

/// CPU time of this process so far (user + system, all threads), from `/proc/self/stat`,
/// in milliseconds: wall time on a loaded machine says little.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat (utime, stime), in clock ticks of 10 ms.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) * 10
}

fn elle(c: &mut Criterion) {
    let mut group = c.benchmark_group("elle");
    group.sample_size(10);
    for (txns, keys, processes) in [(100_000, 1_000, 50), (1_000_000, 10_000, 100)] {
        let path = bench_file(txns, keys, processes, false);
        let options = ElleOptions {
            model: Model::StrictSerializable,
            ..ElleOptions::default()
        };
        let (cpu_before, wall) = (cpu_ms(), std::time::Instant::now());
        let r = check_file(&path, Format::Jsonl, &options).expect("a readable history");
        let (cpu, wall_ms) = (cpu_ms() - cpu_before, wall.elapsed().as_millis());
        assert_eq!(
            r.verdict,
            checker::Verdict::Valid,
            "the generated history is strict-serializable: {}",
            r.to_text()
        );
        eprintln!(
            "{txns} transactions, file to verdict: {wall_ms} ms wall, {cpu} ms CPU: {}",
            r.to_text()
        );
        group.bench_function(format!("strict-serializable/{txns}"), |b| {
            b.iter(|| check_file(&path, Format::Jsonl, &options).expect("readable"))
        });
    }
    // An invalid history: stale snapshot reads everywhere (many components to search).
    let path = bench_file(100_000, 1_000, 50, true);
    let options = ElleOptions {
        model: Model::StrictSerializable,
        ..ElleOptions::default()
    };
    let (cpu_before, wall) = (cpu_ms(), std::time::Instant::now());
    let r = check_file(&path, Format::Jsonl, &options).expect("a readable history");
    let (cpu, wall_ms) = (cpu_ms() - cpu_before, wall.elapsed().as_millis());
    assert_eq!(r.verdict, checker::Verdict::Invalid, "{}", r.to_text());
    let head: String = r.to_text().lines().take(5).collect::<Vec<_>>().join("\n");
    eprintln!(
        "100000 stale transactions, file to verdict: {wall_ms} ms wall, {cpu} ms CPU: {head}"
    );
    group.bench_function("strict-serializable/100000-stale", |b| {
        b.iter(|| check_file(&path, Format::Jsonl, &options).expect("readable"))
    });
    group.finish();
}

criterion_group!(benches, elle);
criterion_main!(benches);
