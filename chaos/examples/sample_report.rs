//! Writes a sample `report.html` from a synthetic history (see `chaos::report::demo_history`):
//! the page a one-minute run at 200 ops/s with five faults would get. Used by
//! `.ci/check-report.sh` to check the page in a real browser, and handy for looking at it.
//!
//! ```text
//! cargo run -p chaos --example sample_report -- [OUT.html] [DURATION_S] [OPS_PER_S]
//! ```

use std::path::PathBuf;

use chaos::report::{CheckSummary, DemoShape, ReportInput, demo_history, write_report};

const SAMPLE_SCHEDULE: &str = "\
name: register-partitions
seed: 7
system: { kind: raft, nodes: 5 }
duration: 60s
workload: { kind: register, keys: 8, clients: 10, rate: 200/s, timeout: 1s }
nemesis:
  - { at: 5s, partition: halves, for: 10s }
  - { at: 20s, kill: n3, restart_after: 2s }
  - { at: 30s, pause: n2, for: 3s }
  - { at: 40s, latency: [n1, n4], delay: 100ms, for: 8s }
  - { at: 53s, partition: isolate-n5 }
final: { heal: true, quiesce: 5s, final_reads: true }
checks: [linearizable, latency]
";

fn parse_arg<T: std::str::FromStr>(args: &[String], at: usize, default: T) -> Result<T, String> {
    match args.get(at) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("argument {at}: cannot parse {text:?}")),
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(args.get(1).map_or("report.html", String::as_str));
    let shape = DemoShape {
        seed: 7,
        duration_s: parse_arg(&args, 2, 60.0)?,
        clients: 10,
        rate_per_s: parse_arg(&args, 3, 200.0)?,
    };
    let ops = demo_history(shape);
    let input = ReportInput {
        title: "register-partitions".to_string(),
        seed: shape.seed,
        run_id: "20250101T120000-seed7".to_string(),
        verdicts: vec![
            CheckSummary {
                check: "linearizable".to_string(),
                verdict: "valid".to_string(),
                summary: "8 keys checked; every history has a linearization.".to_string(),
            },
            CheckSummary {
                check: "latency".to_string(),
                verdict: "unknown".to_string(),
                summary: "p99 above the 500 ms bound during the partition (sample data)."
                    .to_string(),
            },
        ],
        ops: &ops,
        schedule_yaml: SAMPLE_SCHEDULE.to_string(),
        check_sections: Vec::new(),
    };
    write_report(&out, &input).map_err(|e| format!("{}: {e}", out.display()))?;
    let bytes = std::fs::metadata(&out).map_err(|e| e.to_string())?.len();
    println!(
        "{}: {} history records, {bytes} bytes",
        out.display(),
        ops.len()
    );
    Ok(())
}
