//! Runs `check_file` on one history and prints the verdict line (and the explanation, if
//! any): a small harness for measuring time and peak memory with `/usr/bin/time -v`.
//!
//! `cargo run --release -p checker --example check_file -- HISTORY [FORMAT] [MODEL]`

use std::path::PathBuf;

use checker::{CheckOptions, Format, ModelKind, check_file};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: check_file HISTORY [FORMAT] [MODEL]")?,
    );
    let format: Format = args.next().as_deref().unwrap_or("auto").parse()?;
    let model: Option<ModelKind> = args.next().map(|m| m.parse()).transpose()?;
    let result = check_file(&path, format, model, &CheckOptions::default())?;
    println!("{}", result.summary_line());
    if let Some(explanation) = &result.explanation {
        print!("{}", explanation.to_text());
    }
    Ok(())
}
