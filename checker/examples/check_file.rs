//! Runs `check_linearizability_file` on one history and prints the verdict line (and the explanation, if
//! any): a small harness for measuring time and peak memory with `/usr/bin/time -v`.
//!
//! `cargo run --release -p checker --example check_file -- HISTORY [FORMAT] [MODEL]`
//!
//! With `FAULTLINE_REPEAT=N` it checks the file N times and also prints the fastest and
//! the median wall time of one check (in-process, as the bench measures it): on a shared
//! machine the fastest run is the one least disturbed by other work.

use std::path::PathBuf;
use std::time::Instant;

use checker::{Format, LinearizabilityOptions, ModelKind, check_linearizability_file};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: check_file HISTORY [FORMAT] [MODEL]")?,
    );
    let format: Format = args.next().as_deref().unwrap_or("auto").parse()?;
    let model: Option<ModelKind> = args.next().map(|m| m.parse()).transpose()?;
    let repeat: usize = match std::env::var("FAULTLINE_REPEAT") {
        Ok(n) => n.parse()?,
        Err(_) => 1,
    };
    let mut wall_ms = Vec::with_capacity(repeat);
    let mut result = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        result = Some(check_linearizability_file(
            &path,
            format,
            model,
            &LinearizabilityOptions::default(),
        )?);
        wall_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let result = result.expect("checked at least once");
    println!("{}", result.summary_line());
    for explanation in result.explanations() {
        print!("{}", explanation.to_text());
    }
    if repeat > 1 {
        wall_ms.sort_by(f64::total_cmp);
        println!(
            "{repeat} runs: fastest {:.2} ms, median {:.2} ms",
            wall_ms[0],
            wall_ms[wall_ms.len() / 2]
        );
    }
    Ok(())
}
