//! Campaigns: the nightly job. Every (schedule, seed) pair is one independent run.
//!
//! Seeds of a schedule are its own seed (1 when it names none), then seed+1, ... up to
//! `--seeds`. A pair whose run already completed in the store (its directory holds a
//! `results.json` that does not say `interrupted`) is not run again, so that a campaign
//! killed at night resumes where it stopped. Because pairs are independent and the store
//! is addressed by path, a campaign can also be fanned out as one job per pair over a batch
//! scheduler writing into a shared store.
//!
//! As each pair finishes (or is found in the store), one line on stdout
//! ([`finished_line`]). At the end: a summary table and a totals line ([`totals_line`]) on
//! stdout, a JUnit XML file (one test case per pair; invalid is a failure, unknown and
//! harness errors are errors; `time` is the run's wall-clock time, start to verdict, or for
//! a pair found in the store its stored run's recorded length, `stats.duration_s` of its
//! `results.json`), and the outcome of every pair ([`CampaignOutcome`]), from which the
//! binary takes its exit code ([`CampaignOutcome::exit_code`]): 1 if any run is invalid,
//! else 70 if the harness failed on any, else 2 if any is unknown, else 0 (130 when
//! interrupted).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use checker::verdict::Verdict;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use tokio::sync::watch;

use crate::cli::CampaignArgs;
use crate::exit;
use crate::runner::{RunRequest, describe, execute, this_binary};
use crate::schedule::{Schedule, load_schedule};
use crate::store::completed_runs;

/// The outcome of one (schedule, seed) pair.
#[derive(Debug, Clone)]
pub struct PairOutcome {
    pub schedule: String,
    pub seed: u64,
    /// `None` when the harness failed (see `detail`).
    pub verdict: Option<Verdict>,
    pub detail: String,
    pub run_dir: Option<PathBuf>,
    pub resumed: bool,
    pub seconds: f64,
}

/// What a campaign did: every pair's outcome, and whether it was interrupted.
#[derive(Debug, Clone)]
pub struct CampaignOutcome {
    pub outcomes: Vec<PairOutcome>,
    pub interrupted: bool,
}

impl CampaignOutcome {
    /// The campaign's exit code (see the module docs).
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            exit::INTERRUPTED
        } else {
            campaign_exit_code(&self.outcomes)
        }
    }
}

/// `faultline campaign`.
pub async fn run(
    args: CampaignArgs,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<CampaignOutcome> {
    // Validate every schedule before running any: a typo must not surface at 3 a.m.
    let mut schedules: Vec<Schedule> = args
        .schedules
        .iter()
        .map(|path| load_schedule(path))
        .collect::<Result<_, _>>()?;
    if let Some(bug) = &args.bug {
        for schedule in &mut schedules {
            crate::planted::apply_bug_flag(schedule, bug)?;
        }
    }
    let programs = this_binary(args.node_args.clone()).context("locating the faultline binary")?;
    let mut outcomes = Vec::new();
    let total = schedules.len() as u64 * args.seeds;
    'pairs: for schedule in &schedules {
        let first_seed = schedule.seed.unwrap_or(1);
        for seed in first_seed..first_seed + args.seeds {
            if *shutdown.borrow() {
                break 'pairs;
            }
            if !args.no_resume
                && let Some(done) = finished_run(&args.store, schedule, seed)
            {
                outcomes.push(resumed(schedule, seed, &done));
                print_finished(&outcomes, total);
                continue;
            }
            eprintln!("faultline campaign: {}", describe(schedule, seed));
            let request = RunRequest {
                schedule: schedule.clone(),
                seed,
                store: args.store.clone(),
                programs: programs.clone(),
                progress: false,
            };
            let started = std::time::Instant::now();
            let outcome = execute(request, shutdown.clone()).await;
            let seconds = started.elapsed().as_secs_f64();
            outcomes.push(match outcome {
                // An interrupted run is not a finished pair: leave it to be run again.
                Ok(run) if run.results.interrupted => break 'pairs,
                Ok(run) => PairOutcome {
                    schedule: schedule.name.clone(),
                    seed,
                    verdict: Some(run.results.verdict),
                    detail: summary_of(&run.results.checks),
                    run_dir: Some(run.dir.path),
                    resumed: false,
                    seconds,
                },
                Err(e) => PairOutcome {
                    schedule: schedule.name.clone(),
                    seed,
                    verdict: None,
                    detail: format!("harness failure: {e}"),
                    run_dir: None,
                    resumed: false,
                    seconds,
                },
            });
            print_finished(&outcomes, total);
        }
    }
    print!("{}", summary_table(&outcomes));
    println!("{}", totals_line(&outcomes, total));
    let junit = args
        .junit
        .clone()
        .unwrap_or_else(|| args.store.join("junit.xml"));
    write_junit(&junit, &outcomes)?;
    println!("junit:   {}", junit.display());
    Ok(CampaignOutcome {
        outcomes,
        interrupted: *shutdown.borrow(),
    })
}

fn summary_of(checks: &[crate::runner::CheckOutcome]) -> String {
    checks
        .iter()
        .map(|c| format!("{}: {}", c.check, c.verdict.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The newest run of the pair that finished: it has a `results.json` that does not say
/// `interrupted` (an interrupted run is written up too, but its pair is still to be run).
/// Only a run with the same planted bug counts (`--bug` may differ between campaigns).
fn finished_run(store: &Path, schedule: &Schedule, seed: u64) -> Option<PathBuf> {
    completed_runs(store, &schedule.name, seed)
        .into_iter()
        .rev()
        .find(|dir| !was_interrupted(dir) && same_bug(dir, schedule))
}

/// Whether the run in `dir` ran with `schedule`'s planted bug (or, like it, none), read
/// from the `schedule.yaml` the run wrote; a run whose schedule no longer loads does not.
fn same_bug(dir: &Path, schedule: &Schedule) -> bool {
    load_schedule(&dir.join("schedule.yaml"))
        .is_ok_and(|stored| stored.system.bug == schedule.system.bug)
}

fn was_interrupted(dir: &Path) -> bool {
    crate::store::completion(dir) == crate::store::Completion::Interrupted
}

fn read_results(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("results.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Prints the line of the pair just finished (the last of `outcomes`), at once.
fn print_finished(outcomes: &[PairOutcome], total: u64) {
    if let Some(last) = outcomes.last() {
        use std::io::Write;
        println!("{}", finished_line(last, outcomes.len(), total));
        // Piped into a CI log, stdout is block-buffered: the line is for now, not the end.
        let _ = std::io::stdout().flush();
    }
}

/// `[3/8] name seed 4: invalid in 61.2 s (linearizable: invalid)  store/name/...`, or
/// `[1/8] name seed 1: valid, from the store  store/name/...` for a pair found there.
pub fn finished_line(outcome: &PairOutcome, index: usize, total: u64) -> String {
    let verdict = outcome.verdict.map(|v| v.name()).unwrap_or("error");
    // Not "already in the store", the table's words for it, so that each phrase counts once.
    let when = if outcome.resumed {
        ", from the store".to_string()
    } else {
        format!(" in {:.1} s", outcome.seconds)
    };
    let detail = if outcome.resumed || outcome.detail.is_empty() {
        String::new()
    } else {
        format!(" ({})", outcome.detail)
    };
    let dir = outcome
        .run_dir
        .as_ref()
        .map(|dir| format!("  {}", dir.display()))
        .unwrap_or_default();
    format!(
        "[{index}/{total}] {} seed {}: {verdict}{when}{detail}{dir}",
        outcome.schedule, outcome.seed
    )
}

/// `totals: 8 of 8 pairs: 6 valid, 1 invalid, 1 unknown, 0 harness errors (2 from the
/// store); 412.3 s of runs` (runs made now only).
pub fn totals_line(outcomes: &[PairOutcome], total: u64) -> String {
    let count = |verdict: Option<Verdict>| outcomes.iter().filter(|o| o.verdict == verdict).count();
    let resumed = outcomes.iter().filter(|o| o.resumed).count();
    let seconds: f64 = outcomes
        .iter()
        .filter(|o| !o.resumed)
        .map(|o| o.seconds)
        .sum();
    format!(
        "totals: {} of {total} pairs: {} valid, {} invalid, {} unknown, {} harness errors ({resumed} from the store); {seconds:.1} s of runs",
        outcomes.len(),
        count(Some(Verdict::Valid)),
        count(Some(Verdict::Invalid)),
        count(Some(Verdict::Unknown)),
        count(None),
    )
}

/// A pair finished by an earlier campaign: its verdict is read back from `results.json`.
fn resumed(schedule: &Schedule, seed: u64, dir: &Path) -> PairOutcome {
    let results = read_results(dir);
    // The stored run's recorded length (first to last op): the run's own time, where a
    // pair run now is timed start to verdict.
    let seconds = results
        .as_ref()
        .and_then(|json| json.pointer("/stats/duration_s").and_then(|v| v.as_f64()))
        .unwrap_or(0.0);
    let verdict = results
        .and_then(|json| {
            json.get("verdict")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .and_then(|name| verdict_named(&name));
    PairOutcome {
        schedule: schedule.name.clone(),
        seed,
        detail: match verdict {
            Some(_) => "already in the store".to_string(),
            None => "already in the store, but its results.json is unreadable".to_string(),
        },
        verdict,
        run_dir: Some(dir.to_path_buf()),
        resumed: true,
        seconds,
    }
}

fn verdict_named(name: &str) -> Option<Verdict> {
    [Verdict::Valid, Verdict::Invalid, Verdict::Unknown]
        .into_iter()
        .find(|v| v.name() == name)
}

/// 1 if any run is invalid, else 70 if the harness failed on any, else 2 if any is
/// unknown, else 0.
pub fn campaign_exit_code(outcomes: &[PairOutcome]) -> u8 {
    if outcomes.iter().any(|o| o.verdict == Some(Verdict::Invalid)) {
        exit::INVALID
    } else if outcomes.iter().any(|o| o.verdict.is_none()) {
        exit::HARNESS_FAILURE
    } else if outcomes.iter().any(|o| o.verdict == Some(Verdict::Unknown)) {
        exit::UNKNOWN
    } else {
        exit::VALID
    }
}

/// The table printed at the end of a campaign.
pub fn summary_table(outcomes: &[PairOutcome]) -> String {
    let mut out = format!(
        "{:<28} {:>6}  {:<8} {:>7}  {}\n",
        "schedule", "seed", "verdict", "secs", "detail"
    );
    for o in outcomes {
        let verdict = o.verdict.map(|v| v.name()).unwrap_or("error");
        let secs = if o.resumed {
            "-".to_string()
        } else {
            format!("{:.1}", o.seconds)
        };
        out.push_str(&format!(
            "{:<28} {:>6}  {:<8} {:>7}  {}\n",
            o.schedule, o.seed, verdict, secs, o.detail
        ));
    }
    out
}

/// Writes the JUnit XML: one suite per schedule, one case per seed.
pub fn write_junit(path: &Path, outcomes: &[PairOutcome]) -> anyhow::Result<()> {
    let mut report = Report::new("faultline");
    let mut names: Vec<&str> = outcomes.iter().map(|o| o.schedule.as_str()).collect();
    names.dedup();
    for name in names {
        let mut suite = TestSuite::new(name);
        for o in outcomes.iter().filter(|o| o.schedule == name) {
            let status = match o.verdict {
                Some(Verdict::Valid) => TestCaseStatus::success(),
                Some(Verdict::Invalid) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("invalid: {}", o.detail));
                    s
                }
                Some(Verdict::Unknown) | None => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(o.detail.clone());
                    s
                }
            };
            let mut case = TestCase::new(format!("seed-{}", o.seed), status);
            case.set_time(Duration::from_secs_f64(o.seconds));
            if let Some(dir) = &o.run_dir {
                case.set_system_out(dir.display().to_string());
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let xml = report.to_string().context("serialising the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))
}
