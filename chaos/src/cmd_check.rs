//! `faultline check HISTORY`: runs one check of the checker's registry
//! ([`checker::check::REGISTRY`], `--checker NAME`, default `linearizable`) on any history
//! file (ours, Jepsen's, Porcupine's) or a stored run's directory, and exits 0 valid, 1
//! invalid, 2 unknown, 65 bad input, 70 internal failure (DESIGN.md). A stored run gets, by
//! default, its workload's first check with its schedule's settings: a bank run the bank
//! check with the accounts and total its schedule created, a set run set-full, a
//! transactional run elle with the schedule's models. Every check prints its text (or
//! `--json`, its details) and writes `--html` (its section on a page of its own).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::exit;
use checker::bank::BankOptions;
use checker::check::{CheckKind, CheckSettings, html_page};
use checker::{FailedCasReading, Format, LinearizabilityOptions, ModelKind, NilRead};

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
    /// Which check (see `checker_help`); default linearizable, or a stored run's own.
    #[arg(long, value_parser = parse_checker, help = checker_help())]
    pub checker: Option<CheckKind>,
}

/// `--checker`'s help: every check of the registry with what it checks.
fn checker_help() -> String {
    let checks: Vec<String> = CheckKind::ALL
        .iter()
        .map(|kind| format!("{} ({})", kind.name(), kind.check().about()))
        .collect();
    format!(
        "Which check: {}. Default: linearizable (with --model), or a stored run's own check",
        checks.join("; ")
    )
}

fn parse_checker(text: &str) -> Result<CheckKind, String> {
    CheckKind::from_name(text).ok_or_else(|| {
        format!(
            "expected a check {}, found {text:?}",
            crate::workload::or_list(CheckKind::names())
        )
    })
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

/// What a stored run's schedule says about checking it.
#[derive(Debug, Default)]
struct StoredRun {
    /// The workload's first check.
    check: Option<CheckKind>,
    model: Option<ModelKind>,
    bank: Option<BankOptions>,
    elle_models: Vec<checker::elle::Model>,
}

/// What to check: a history file, or a stored run's directory (its `history.jsonl`, with
/// what its schedule says: the workload's check and model, the bank's accounts and total,
/// the elle models).
fn resolve_target(args: &CheckArgs) -> anyhow::Result<(PathBuf, StoredRun)> {
    if !args.history.is_dir() {
        return Ok((args.history.clone(), StoredRun::default()));
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
    let Ok(schedule) = crate::schedule::load_schedule(&args.history.join("schedule.yaml")) else {
        return Ok((history, StoredRun::default()));
    };
    let settings = crate::runner::check_settings(&schedule);
    Ok((
        history,
        StoredRun {
            check: schedule.workload.kind.checks().first().copied(),
            model: settings.model,
            bank: settings.bank,
            elle_models: settings.elle_models,
        },
    ))
}

/// Runs the check and returns the exit code to end with.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let (history, stored) = resolve_target(args)?;
    // A model asked for on a stored run means its kind of check: linearizability for a
    // linearizability model, elle for an isolation model.
    let chosen = match (args.checker, args.model) {
        (Some(checker), _) => checker,
        (None, Some(ModelArg::Linearizable(_))) => checker::check::linearizable::KIND,
        (None, Some(ModelArg::Isolation(_))) => checker::check::elle::KIND,
        (None, None) => stored.check.unwrap_or(checker::check::linearizable::KIND),
    };
    let elle_models = match args.model {
        Some(ModelArg::Isolation(model)) => vec![model],
        Some(ModelArg::Linearizable(kind)) if chosen == checker::check::elle::KIND => {
            anyhow::bail!(
                "--checker elle takes an isolation model (e.g. serializable), not {kind:?}"
            )
        }
        _ => stored.elle_models,
    };
    let settings = CheckSettings {
        format: args.format,
        time_limit: Some(args.time_limit),
        model: args.model.and_then(ModelArg::kind).or(stored.model),
        linearizability: LinearizabilityOptions {
            initial: args.initial.clone(),
            failed_cas: args.failed_cas,
            nil_read: args.nil_read,
            time_limit: Some(args.time_limit),
            memo_limit_bytes: args.memo_limit_mib << 20,
        },
        bank: stored.bank,
        elle_models,
    };
    let report = match chosen.run(&history, &settings) {
        Ok(report) => report,
        Err(input_error) => {
            eprintln!("{input_error}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    if let Some(path) = &args.html {
        let title = args.history.display().to_string();
        // Our own JSONL history has times: the picture gets a ms axis. Any other history
        // (or one that does not read as ours) is drawn by position, as the page says.
        let ops = workloads::recorder::read_history(&history).unwrap_or_default();
        let page = html_page(report.as_ref(), &title, &ops);
        if let Err(e) = std::fs::write(path, page) {
            eprintln!("cannot write {}: {e}", path.display());
            return Ok(exit::code(exit::HARNESS_FAILURE));
        }
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&report.details()).context("serializing the result")?;
        println!("{text}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::from(report.verdict().exit_code()))
}
