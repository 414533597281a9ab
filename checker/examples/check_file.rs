//! Runs one check of the registry on one history and prints its text: a small harness for
//! measuring time, instructions (`valgrind --tool=callgrind`) and peak memory
//! (`/usr/bin/time -v`).
//!
//! `cargo run --release -p checker --example check_file -- HISTORY [FORMAT] [MODEL|CHECK]`
//!
//! The third argument is a linearizability model (the `linearizable` check with it) or a
//! check's name (`elle`, `bank`, ...; `elle` judges strict-serializable). None: the
//! `linearizable` check with the model implied by the history.
//!
//! With `FAULTLINE_REPEAT=N` it checks the file N times and also prints the fastest and
//! the median wall time of one check (in-process, as the bench measures it): on a shared
//! machine the fastest run is the one least disturbed by other work.

use std::path::PathBuf;
use std::time::Instant;

use checker::check::{CheckKind, CheckSettings};
use checker::{Format, ModelKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: check_file HISTORY [FORMAT] [MODEL|CHECK]")?,
    );
    let format: Format = args.next().as_deref().unwrap_or("auto").parse()?;
    let mut settings = CheckSettings {
        format,
        ..CheckSettings::default()
    };
    let check = match args.next() {
        None => checker::check::linearizable::KIND,
        Some(name) => match name.parse::<ModelKind>() {
            Ok(model) => {
                settings.model = Some(model);
                checker::check::linearizable::KIND
            }
            Err(_) => CheckKind::from_name(&name).ok_or_else(|| {
                format!("{name:?} is neither a model nor a check of the registry")
            })?,
        },
    };
    let repeat: usize = match std::env::var("FAULTLINE_REPEAT") {
        Ok(n) => n.parse()?,
        Err(_) => 1,
    };
    let mut wall_ms = Vec::with_capacity(repeat);
    let mut report = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        report = Some(check.run(&path, &settings)?);
        wall_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let report = report.expect("checked at least once");
    print!("{}", report.to_text());
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
