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
//!
//! Fanned out over a batch scheduler (DESIGN.md, "Beyond one machine"): `--shard I/N`
//! runs only the pairs of slice I ([`Shard::selects`]: the pairs sorted by schedule name
//! and seed, the k-th going to slice k mod N, so that the slicing depends neither on the
//! order of the schedules on the command line nor on the machine), writes its JUnit file
//! as `junit-shard-I-of-N.xml`, and N jobs with I = 0..N-1 cover every pair exactly once.
//! Their runs land in one shared store (run directories are created atomically, see
//! [`crate::store::create_run_dir`]); `faultline campaign --summary STORE` then reads
//! them back ([`summary`]) into one table and one JUnit file, with the same exit codes.

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
    if let Some(store) = &args.summary {
        return summary(store, &schedules, args.seeds, args.junit.as_deref());
    }
    let programs = this_binary(args.node_args.clone()).context("locating the faultline binary")?;
    let hosts = match &args.hosts {
        Some(file) => crate::node_control::ssh::load_hosts(file)?,
        None => Vec::new(),
    };
    let mut outcomes = Vec::new();
    let selected = |name: &str, seed: u64| {
        args.shard
            .is_none_or(|shard| shard.selects(&schedules, args.seeds, name, seed))
    };
    let total = pairs(&schedules, args.seeds)
        .filter(|(name, seed)| selected(name, *seed))
        .count() as u64;
    'pairs: for schedule in &schedules {
        let first_seed = schedule.seed.unwrap_or(1);
        for seed in first_seed..first_seed + args.seeds {
            if !selected(&schedule.name, seed) {
                continue;
            }
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
                hosts: hosts.clone(),
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
    let junit = args.junit.clone().unwrap_or_else(|| {
        args.store.join(match args.shard {
            Some(shard) => format!("junit-shard-{}-of-{}.xml", shard.index, shard.count),
            None => "junit.xml".to_string(),
        })
    });
    write_junit(&junit, &outcomes)?;
    println!("junit:   {}", junit.display());
    Ok(CampaignOutcome {
        outcomes,
        interrupted: *shutdown.borrow(),
    })
}

/// One slice of a campaign's pairs: `--shard INDEX/COUNT`, `INDEX` from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Whether the pair (`name`, `seed`) of the campaign of `schedules` x `seeds` is this
    /// slice's: the campaign's pairs sorted by (name, seed), the k-th belongs to slice
    /// k mod count. Every pair belongs to exactly one slice of `0..count`.
    pub fn selects(&self, schedules: &[Schedule], seeds: u64, name: &str, seed: u64) -> bool {
        let mut sorted: Vec<(&str, u64)> = pairs(schedules, seeds).collect();
        sorted.sort_unstable();
        sorted.dedup();
        sorted
            .binary_search(&(name, seed))
            .is_ok_and(|k| k as u64 % self.count == self.index)
    }
}

/// `--shard`'s parser: `I/N` with `0 <= I < N`.
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let expected = || format!("expected I/N with 0 <= I < N (e.g. 0/4), got {text:?}");
    let (index, count) = text.split_once('/').ok_or_else(expected)?;
    let index: u64 = index.trim().parse().map_err(|_| expected())?;
    let count: u64 = count.trim().parse().map_err(|_| expected())?;
    if count == 0 || index >= count {
        return Err(expected());
    }
    Ok(Shard { index, count })
}

/// The campaign's (schedule name, seed) pairs, in the order they run.
fn pairs(schedules: &[Schedule], seeds: u64) -> impl Iterator<Item = (&str, u64)> {
    schedules.iter().flat_map(move |schedule| {
        let first_seed = schedule.seed.unwrap_or(1);
        (first_seed..first_seed + seeds).map(move |seed| (schedule.name.as_str(), seed))
    })
}

/// `faultline campaign --summary STORE`: every pair's newest finished run in the store
/// (written by any number of shards), one table, one JUnit file. With schedules, the
/// pairs are theirs, and a pair without a finished run (with the same planted bug) is a
/// harness error ("no finished run"); without, every pair that has a finished run.
pub fn summary(
    store: &Path,
    schedules: &[Schedule],
    seeds: u64,
    junit: Option<&Path>,
) -> anyhow::Result<CampaignOutcome> {
    anyhow::ensure!(
        store.is_dir(),
        "{}: no such store directory",
        store.display()
    );
    let mut outcomes = Vec::new();
    if schedules.is_empty() {
        let mut seen = std::collections::BTreeSet::new();
        for run in crate::serve::index::list_runs(store) {
            if let Some(seed) = run.seed() {
                seen.insert((run.name, seed));
            }
        }
        for (name, seed) in seen {
            if let Some(dir) = completed_runs(store, &name, seed)
                .into_iter()
                .rev()
                .find(|dir| !was_interrupted(dir))
            {
                outcomes.push(stored(&name, seed, &dir));
            }
        }
    } else {
        for schedule in schedules {
            let first_seed = schedule.seed.unwrap_or(1);
            for seed in first_seed..first_seed + seeds {
                outcomes.push(match finished_run(store, schedule, seed) {
                    Some(dir) => stored(&schedule.name, seed, &dir),
                    None => PairOutcome {
                        schedule: schedule.name.clone(),
                        seed,
                        verdict: None,
                        detail: "no finished run in the store".to_string(),
                        run_dir: None,
                        resumed: true,
                        seconds: 0.0,
                    },
                });
            }
        }
    }
    print!("{}", summary_table(&outcomes));
    println!("{}", totals_line(&outcomes, outcomes.len() as u64));
    let junit = junit.map_or_else(|| store.join("junit.xml"), Path::to_path_buf);
    write_junit(&junit, &outcomes)?;
    println!("junit:   {}", junit.display());
    Ok(CampaignOutcome {
        outcomes,
        interrupted: false,
    })
}

/// A pair's outcome read from its stored run, for `--summary`: the checks' verdicts.
fn stored(name: &str, seed: u64, dir: &Path) -> PairOutcome {
    let summary = read_results(dir).and_then(|json| crate::serve::index::summary_from_json(&json));
    let mut outcome = resumed_pair(name, seed, dir);
    if let Some(summary) = summary {
        outcome.detail = summary
            .checks
            .iter()
            .map(|(check, verdict)| format!("{check}: {verdict}"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    outcome
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
    resumed_pair(&schedule.name, seed, dir)
}

fn resumed_pair(name: &str, seed: u64, dir: &Path) -> PairOutcome {
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
        schedule: name.to_string(),
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
    // Through a temporary file and a rename: a reader (or a second writer) never sees half.
    let tmp = path.with_extension(format!("xml.tmp.{}", std::process::id()));
    std::fs::write(&tmp, xml).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedules(names: &[(&str, u64)]) -> Vec<Schedule> {
        names
            .iter()
            .map(|(name, seed)| {
                let mut s = crate::schedule::default_schedule();
                s.name = name.to_string();
                s.seed = Some(*seed);
                s
            })
            .collect()
    }

    #[test]
    fn shards_cover_every_pair_exactly_once() {
        let campaign = schedules(&[("b", 1), ("a", 5), ("c", 3)]);
        for count in 1..=8 {
            let mut covered: Vec<(String, u64)> = Vec::new();
            for index in 0..count {
                let shard = Shard { index, count };
                let mine: Vec<_> = pairs(&campaign, 4)
                    .filter(|(n, s)| shard.selects(&campaign, 4, n, *s))
                    .map(|(n, s)| (n.to_string(), s))
                    .collect();
                // Balanced: no slice more than one pair larger than another.
                assert!(mine.len().abs_diff(12 / count as usize) <= 1, "{mine:?}");
                covered.extend(mine);
            }
            covered.sort();
            let mut all: Vec<_> = pairs(&campaign, 4)
                .map(|(n, s)| (n.to_string(), s))
                .collect();
            all.sort();
            assert_eq!(covered, all, "count {count}");
        }
    }

    #[test]
    fn slicing_ignores_the_order_of_the_schedules() {
        let one = schedules(&[("b", 1), ("a", 5)]);
        let other = schedules(&[("a", 5), ("b", 1)]);
        let shard = Shard { index: 1, count: 3 };
        for (name, seed) in pairs(&one, 3) {
            assert_eq!(
                shard.selects(&one, 3, name, seed),
                shard.selects(&other, 3, name, seed)
            );
        }
    }

    #[test]
    fn shard_flag_is_checked() {
        assert_eq!(parse_shard("2/4"), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "0/0", "1", "a/2", "-1/2", ""] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
