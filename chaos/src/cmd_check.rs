//! `faultline check HISTORY`: checks any history file (ours, Jepsen's, Porcupine's), or a
//! stored run's directory, for linearizability and exits 0 valid, 1 invalid, 2 unknown, 65 bad input, 70 internal
//! failure (DESIGN.md). A stored bank run (its `schedule.yaml` names a bank system) gets the
//! bank check by default, with the accounts and total its schedule created; a stored set
//! run gets set-full, as its run's `set` check did.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::exit;
use checker::bank::BankOptions;
use checker::{CheckOptions, FailedCasReading, Format, ModelKind, NilRead, check_file, html};

/// Arguments of `faultline check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The history file, or a stored run's directory (`store/<name>/<run>`).
    pub history: PathBuf,
    /// register, cas-register, kv-append or set; by default implied by the functions used.
    /// With `--checker elle`: the isolation model (default strict-serializable).
    #[arg(long, value_parser = parse_model)]
    pub model: Option<ModelArg>,
    /// auto, jsonl, edn, jepsen-json (one JSON array of Jepsen op objects),
    /// porcupine-jepsen or porcupine-kv.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Every key's initial value, as JSON (default null).
    #[arg(long, value_parser = parse_json)]
    pub initial: Option<serde_json::Value>,
    /// After this the verdict is `unknown` (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_time_limit)]
    pub time_limit: Duration,
    /// Memory for the search's memo tables, in MiB; past it a key ends `unknown`.
    #[arg(long, default_value_t = 160)]
    pub memo_limit_mib: usize,
    /// How a failed cas is read: dropped (Jepsen) or compare-false (Porcupine); the
    /// default is compare-false for porcupine-jepsen files and dropped otherwise.
    #[arg(long)]
    pub failed_cas: Option<FailedCasReading>,
    /// How the register models read an ok read of null (EDN nil): any (it matches every
    /// state, as Knossos reads Jepsen's histories; the default for edn and jepsen-json) or
    /// value (null is a value the register held; the default for jsonl and Porcupine's
    /// formats, where a read of a key never written returns null).
    #[arg(long)]
    pub nil_read: Option<NilRead>,
    /// Write a self-contained HTML page with the verdict and, if invalid, a timeline.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Which check: linearizability (with `--model`), the bank's invariants (every read
    /// sums to the total, no negative balance, no unknown account, availability per fault
    /// window) or Jepsen's set-full (lost, stale, unexpected elements).
    #[arg(long, value_enum, default_value_t = Checker::Linearizable)]
    pub checker: Checker,
}

/// The checks `faultline check` can run on a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Checker {
    Linearizable,
    Bank,
    SetFull,
    /// Transactions (list-append or rw-register micro-ops) for isolation anomalies.
    Elle,
}

/// `--model`: a linearizability model, or an isolation model for `--checker elle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelArg {
    Linearizable(ModelKind),
    Isolation(checker::elle::Model),
}

impl ModelArg {
    fn kind(self) -> Option<ModelKind> {
        match self {
            ModelArg::Linearizable(kind) => Some(kind),
            ModelArg::Isolation(_) => None,
        }
    }
}

fn parse_model(text: &str) -> Result<ModelArg, String> {
    match text.parse::<ModelKind>() {
        Ok(kind) => Ok(ModelArg::Linearizable(kind)),
        Err(linear) => text
            .parse::<checker::elle::Model>()
            .map(ModelArg::Isolation)
            .map_err(|isolation| format!("{linear}; or, for --checker elle, {isolation}")),
    }
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("expected JSON, found {text:?} ({e})"))
}

/// Durations are written as in schedules (`30s`, `500ms`, `2m`, `1m30s`).
fn parse_time_limit(text: &str) -> Result<Duration, String> {
    crate::schedule::parse_duration(text)
        .ok_or_else(|| format!("expected a duration like 30s, 500ms or 2m, found {text:?}"))
}

/// What to check: a history file, or a stored run's directory (its `history.jsonl`, with
/// the model its schedule's workload implies unless `--model` says otherwise, and for a
/// bank run the bank's accounts and total).
fn resolve_target(
    args: &CheckArgs,
) -> anyhow::Result<(PathBuf, Option<ModelKind>, Option<BankOptions>)> {
    if !args.history.is_dir() {
        return Ok((
            args.history.clone(),
            args.model.and_then(ModelArg::kind),
            None,
        ));
    }
    let history = args.history.join("history.jsonl");
    anyhow::ensure!(
        history.is_file(),
        "{}: a directory, but not a stored run (no history.jsonl)",
        args.history.display()
    );
    if let Some(notice) = crate::store::unfinished_notice(&args.history) {
        eprintln!("faultline check: {notice}");
    }
    let schedule = crate::schedule::load_schedule(&args.history.join("schedule.yaml")).ok();
    let from_schedule = schedule
        .as_ref()
        .and_then(|schedule| schedule.workload.kind.model());
    let bank = schedule
        .and_then(|schedule| schedule.system.system().bank_facts())
        .map(|bank| BankOptions {
            accounts: bank.accounts,
            total: bank.total,
        });
    Ok((
        history,
        args.model.and_then(ModelArg::kind).or(from_schedule),
        bank,
    ))
}

/// Runs the check and returns the exit code to end with.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let options = CheckOptions {
        initial: args.initial.clone(),
        failed_cas: args.failed_cas,
        nil_read: args.nil_read,
        time_limit: Some(args.time_limit),
        memo_limit_bytes: args.memo_limit_mib << 20,
    };
    let (history, model, bank) = resolve_target(args)?;
    // A stored bank run has no linearizability model: unless a model was asked for, the
    // default checker becomes the bank's. A stored set run gets set-full, as its run did.
    let chosen = match (args.checker, &bank, args.model, model) {
        (Checker::Linearizable, Some(_), None, _) => Checker::Bank,
        (Checker::Linearizable, None, None, Some(ModelKind::Set)) => Checker::SetFull,
        (checker, ..) => checker,
    };
    match chosen {
        Checker::Linearizable => {}
        Checker::Bank => {
            let result = checker::bank::check_bank_file(&history, args.format, bank.as_ref());
            return print_other(
                args,
                result.map(|r| (r.verdict, r.to_text(), serde_json::to_value(&r))),
            );
        }
        Checker::SetFull => {
            let result = checker::set_check::check_set_file(&history, args.format);
            return print_other(
                args,
                result.map(|r| (r.verdict, r.to_text(), serde_json::to_value(&r))),
            );
        }
        Checker::Elle => {
            let model = match args.model {
                Some(ModelArg::Isolation(model)) => model,
                None => checker::elle::Model::StrictSerializable,
                Some(ModelArg::Linearizable(kind)) => anyhow::bail!(
                    "--checker elle takes an isolation model (e.g. serializable), not {kind:?}"
                ),
            };
            let elle_options = checker::elle::ElleOptions {
                model,
                time_limit: Some(args.time_limit),
                ..checker::elle::ElleOptions::default()
            };
            let result = checker::elle::check_file(&history, args.format, &elle_options);
            return print_other(
                args,
                result.map(|r| (r.verdict, r.to_text(), serde_json::to_value(&r))),
            );
        }
    }
    let result = match check_file(&history, args.format, model, &options) {
        Ok(result) => result,
        Err(input_error) => {
            eprintln!("{input_error}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    if let Some(path) = &args.html {
        let title = args.history.display().to_string();
        // Our own JSONL history has times: the picture gets a ms axis. Any other history
        // (or one that does not read as ours) is drawn by position, as the page says.
        let ops = match result.format {
            Some(Format::Jsonl) => workloads::recorder::read_history(&history).unwrap_or_default(),
            _ => Vec::new(),
        };
        let page = html::render_timed(&result, &title, &crate::report::time_ns_of_line(&ops));
        if let Err(e) = std::fs::write(path, page) {
            eprintln!("cannot write {}: {e}", path.display());
            return Ok(exit::code(exit::HARNESS_FAILURE));
        }
    }
    if args.json {
        let text = serde_json::to_string_pretty(&result).context("serializing the result")?;
        println!("{text}");
    } else {
        println!("{}", result.summary_line());
        for explanation in result.explanations() {
            print!("{}", explanation.to_text());
        }
        let more = result.keys_invalid - result.explanations().count();
        if more > 0 {
            println!(
                "({more} more invalid {} not explained)",
                if more == 1 { "key" } else { "keys" }
            );
        }
    }
    Ok(ExitCode::from(result.verdict.exit_code()))
}

/// Prints the result of the bank or set-full check (text or `--json`) and exits by verdict.
fn print_other(
    args: &CheckArgs,
    result: Result<
        (
            checker::Verdict,
            String,
            serde_json::Result<serde_json::Value>,
        ),
        checker::InputError,
    >,
) -> anyhow::Result<ExitCode> {
    let (verdict, text, json) = match result {
        Ok(parts) => parts,
        Err(input_error) => {
            eprintln!("{input_error}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    anyhow::ensure!(
        args.html.is_none(),
        "--html is only drawn for the linearizable check"
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json.context("serializing the result")?)?
        );
    } else {
        print!("{text}");
    }
    Ok(ExitCode::from(verdict.exit_code()))
}
