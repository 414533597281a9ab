//! `faultline check HISTORY`: checks any history file (ours, Jepsen's, Porcupine's) for
//! linearizability and exits 0 valid, 1 invalid, 2 unknown, 65 bad input, 70 internal
//! failure (DESIGN.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use checker::{CheckOptions, FailedCasReading, Format, ModelKind, check_file, html};

/// Exit code for input the checker refuses (EX_DATAERR).
const EXIT_BAD_INPUT: u8 = 65;
/// Exit code for a failure of the checker itself (EX_SOFTWARE).
const EXIT_INTERNAL: u8 = 70;

/// Arguments of `faultline check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The history file.
    pub history: PathBuf,
    /// register, cas-register, kv-append or set; by default implied by the functions used.
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// auto, jsonl, edn, porcupine-jepsen or porcupine-kv.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Every key's initial value, as JSON (default null).
    #[arg(long, value_parser = parse_json)]
    pub initial: Option<serde_json::Value>,
    /// After this the verdict is `unknown` (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// How a failed cas is read: dropped (Jepsen) or compare-false (Porcupine); the
    /// default is compare-false for porcupine-jepsen files and dropped otherwise.
    #[arg(long)]
    pub failed_cas: Option<FailedCasReading>,
    /// Write a self-contained HTML page with the verdict and, if invalid, a timeline.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("expected JSON, found {text:?} ({e})"))
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 30s or 500ms, found {text:?}"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("expected a unit ms, s, m or h, found {unit:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("bad duration {text:?}: {e}"))
}

/// Runs the check and returns the exit code to end with.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let options = CheckOptions {
        initial: args.initial.clone(),
        failed_cas: args.failed_cas,
        time_limit: Some(args.time_limit),
        ..CheckOptions::default()
    };
    let result = match check_file(&args.history, args.format, args.model, &options) {
        Ok(result) => result,
        Err(input_error) => {
            eprintln!("{input_error}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    if let Some(path) = &args.html {
        let title = args.history.display().to_string();
        if let Err(e) = std::fs::write(path, html::render(&result, &title)) {
            eprintln!("cannot write {}: {e}", path.display());
            return Ok(ExitCode::from(EXIT_INTERNAL));
        }
    }
    if args.json {
        let text = serde_json::to_string_pretty(&result).context("serializing the result")?;
        println!("{text}");
    } else {
        println!("{}", result.summary_line());
        if let Some(explanation) = &result.explanation {
            print!("{}", explanation.to_text());
        }
    }
    Ok(ExitCode::from(result.verdict.exit_code()))
}
