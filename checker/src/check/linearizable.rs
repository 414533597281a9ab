//! The `linearizable` check: [`check_linearizability_file`] and
//! [`check_linearizability_history`] read a history, pick the model (given, or implied by
//! the first decisive function name), split it by key and check the keys in parallel with
//! rayon, largest first (the search of one key is [`crate::linearizability`]).
//!
//! The first violation cancels the other keys' searches, so an invalid verdict comes as
//! fast as the easiest invalid key allows. To explain more than that one key, a last pass
//! then searches the keys left undecided, each within a bounded step budget and all within
//! as long again as the verdict took (at least 200 ms), until [`EXPLAINED_KEYS_MAX`] keys
//! are explained: keys it does not decide stay `unknown`, and the verdict stays invalid.
//!
//! As a [`Check`]: the model is [`CheckSettings::model`], the budget
//! [`CheckSettings::time_limit`]; the report is the [`LinearizabilityResult`] itself, its
//! HTML section the counterexample picture ([`crate::html::fragment_timed`]).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::Value;

use crate::explain::{Explanation, explain};
use crate::format::{self, Format, InputError, OpSink, OpView, SinkError, ValRef};
use crate::history::{Op, Process};
use crate::linearizability::{KeyOutcome, Limits, UnknownReason, check_calls};
use crate::model::cas_register::CasRegister;
use crate::model::kv_append::KvAppend;
use crate::model::register::Register;
use crate::model::set::SetModel;
use crate::model::{FailedCasReading, Model, ModelConfig, ModelKind, NilRead};
use crate::partition::{KeyHistory, Partitioner};
use crate::verdict::{LinearizabilityResult, Verdict};

use super::{Check, CheckKind, CheckReport, CheckSettings, HtmlSection};

/// How to check for linearizability.
#[derive(Debug, Clone)]
pub struct LinearizabilityOptions {
    /// Every key's initial value (JSON); `None` = the model's default (null, "", empty set).
    pub initial: Option<Value>,
    /// How `fail` cas ops are read; `None` = Porcupine's reading for the porcupine-jepsen
    /// format and Jepsen's (dropped) for everything else.
    pub failed_cas: Option<FailedCasReading>,
    /// How the register models read an `ok` read of `null`; `None` = Knossos's reading
    /// ([`NilRead::Any`]) for Jepsen's `edn` and `jepsen-json` and [`NilRead::Value`] for
    /// everything else.
    pub nil_read: Option<NilRead>,
    /// After this, undecided keys are `unknown`. `None` = no limit.
    pub time_limit: Option<Duration>,
    /// Budget for all memo tables together (split evenly across worker threads); a search
    /// that reaches its share ends `unknown`.
    pub memo_limit_bytes: usize,
}

impl Default for LinearizabilityOptions {
    fn default() -> Self {
        LinearizabilityOptions {
            initial: None,
            failed_cas: None,
            nil_read: None,
            time_limit: Some(Duration::from_secs(30)),
            memo_limit_bytes: 160 << 20,
        }
    }
}

/// Checks a history file for linearizability.
pub fn check_linearizability_file(
    path: &Path,
    format: Format,
    model: Option<ModelKind>,
    options: &LinearizabilityOptions,
) -> Result<LinearizabilityResult, InputError> {
    let started = Instant::now();
    let name = path.display().to_string();
    let format = match format {
        Format::Auto => {
            let file = std::fs::File::open(path).map_err(|e| format::io_error(&name, 0, &e))?;
            format::detect(&name, &mut std::io::BufReader::new(file))?
        }
        other => other,
    };
    let default_reading = if format == Format::PorcupineJepsen {
        FailedCasReading::CompareFalse
    } else {
        FailedCasReading::Dropped
    };
    let default_nil_read = if format.is_jepsen() {
        NilRead::Any
    } else {
        NilRead::Value
    };
    let config = config(options, default_reading, default_nil_read);
    let mut sniffer = Sniffer::new(model, config);
    format::read_file(path, format, &mut sniffer)?;
    let keyed = sniffer.finish().map_err(|e| e.at(&name, 0))?;
    let mut result = keyed.check(options, started).map_err(|e| e.at(&name, 0))?;
    result.format = Some(format);
    Ok(result)
}

/// Checks in-memory ops; errors name `<history>` and the op's position (1-based) as line.
pub fn check_linearizability_history(
    ops: impl IntoIterator<Item = Op>,
    model: Option<ModelKind>,
    options: &LinearizabilityOptions,
) -> Result<LinearizabilityResult, InputError> {
    let started = Instant::now();
    let name = "<history>";
    let mut sniffer = Sniffer::new(
        model,
        config(options, FailedCasReading::Dropped, NilRead::Value),
    );
    for (i, op) in ops.into_iter().enumerate() {
        let line = i as u64 + 1;
        let view = OpView {
            process: op.process,
            kind: op.kind,
            f: &op.f,
            key: op.key.as_deref(),
            value: ValRef::Json(&op.value),
        };
        sniffer.accept(&view, line).map_err(|e| e.at(name, line))?;
    }
    let keyed = sniffer.finish().map_err(|e| e.at(name, 0))?;
    keyed.check(options, started).map_err(|e| e.at(name, 0))
}

fn config(
    options: &LinearizabilityOptions,
    default_reading: FailedCasReading,
    default_nil_read: NilRead,
) -> ModelConfig {
    ModelConfig {
        initial: options.initial.clone().unwrap_or(Value::Null),
        failed_cas: options.failed_cas.unwrap_or(default_reading),
        nil_read: options.nil_read.unwrap_or(default_nil_read),
    }
}

/// A partitioner whose model type is erased, so that it can be chosen at run time.
trait KeyedSink: OpSink {
    fn check(
        self: Box<Self>,
        options: &LinearizabilityOptions,
        started: Instant,
    ) -> Result<LinearizabilityResult, SinkError>;
}

impl<M: Model> KeyedSink for Partitioner<M>
where
    M::State: Sync,
{
    fn check(
        self: Box<Self>,
        options: &LinearizabilityOptions,
        started: Instant,
    ) -> Result<LinearizabilityResult, SinkError> {
        let records = self.records;
        let keys = self.finish()?;
        Ok(check_keys(keys, records, options, started))
    }
}

fn new_partitioner(kind: ModelKind, config: ModelConfig) -> Box<dyn KeyedSink> {
    match kind {
        ModelKind::Register => Box::new(Partitioner::<Register>::new(config)),
        ModelKind::CasRegister => Box::new(Partitioner::<CasRegister>::new(config)),
        ModelKind::KvAppend => Box::new(Partitioner::<KvAppend>::new(config)),
        ModelKind::Set => Box::new(Partitioner::<SetModel>::new(config)),
    }
}

/// Holds records back until a function name decides the model (when none was given).
struct Sniffer {
    config: ModelConfig,
    kind: Option<ModelKind>,
    inner: Option<Box<dyn KeyedSink>>,
    held: Vec<(Op, u64)>,
}

impl Sniffer {
    fn new(kind: Option<ModelKind>, config: ModelConfig) -> Sniffer {
        let inner = kind.map(|k| new_partitioner(k, config.clone()));
        Sniffer {
            config,
            kind,
            inner,
            held: Vec::new(),
        }
    }

    fn start(&mut self, kind: ModelKind) -> Result<&mut Box<dyn KeyedSink>, SinkError> {
        let mut inner = new_partitioner(kind, self.config.clone());
        for (op, line) in std::mem::take(&mut self.held) {
            let view = OpView {
                process: op.process,
                kind: op.kind,
                f: &op.f,
                key: op.key.as_deref(),
                value: ValRef::Json(&op.value),
            };
            inner.accept(&view, line).map_err(|e| SinkError {
                line: Some(line),
                ..e
            })?;
        }
        self.kind = Some(kind);
        Ok(self.inner.insert(inner))
    }

    fn finish(mut self) -> Result<Box<dyn KeyedSink>, SinkError> {
        if self.inner.is_none() {
            // Only reads (or nothing): a register read is the likeliest meaning.
            self.start(ModelKind::CasRegister)?;
        }
        Ok(self.inner.expect("started above"))
    }
}

impl OpSink for Sniffer {
    fn accept(&mut self, op: &OpView<'_>, line: u64) -> Result<(), SinkError> {
        if let Some(inner) = &mut self.inner {
            return inner.accept(op, line);
        }
        if op.process != Process::Nemesis
            && let Some(kind) = ModelKind::implied_by(op.f)
        {
            return self.start(kind)?.accept(op, line);
        }
        let owned = Op {
            index: line,
            time_ns: 0,
            process: op.process,
            kind: op.kind,
            f: op.f.to_string(),
            key: op.key.map(str::to_string),
            value: op.value.to_value()?,
            error: None,
        };
        self.held.push((owned, line));
        Ok(())
    }
}

/// Steps each key may take in the first pass.
const FIRST_PASS_STEPS: u64 = 1 << 17;
/// Steps each undecided key may take in the pass that explains more invalid keys.
const EXPLAIN_PASS_STEPS: u64 = 1 << 20;
/// The least time the pass that explains more invalid keys may take.
const EXPLAIN_PASS_MIN: Duration = Duration::from_millis(200);
/// How many invalid keys a result explains at most (the first, then the others).
pub const EXPLAINED_KEYS_MAX: usize = 4;

type Outcome = Option<(Option<Explanation>, Option<UnknownReason>)>;

/// Counts violations; the search of every key stops once `stop_at` are found.
struct Violations<'a> {
    found: &'a AtomicUsize,
    stop_at: usize,
}

/// One key's search; `None` when it ran out of its step budget.
fn check_key<M: Model>(
    history: &mut KeyHistory<M>,
    limits: &Limits<'_>,
    violations: &Violations<'_>,
) -> Outcome {
    let outcome = check_calls(&mut history.model, &history.calls, &history.order, limits);
    match outcome {
        KeyOutcome::Linearizable => Some((None, None)),
        KeyOutcome::NotLinearizable(violation) => {
            if violations.found.fetch_add(1, Ordering::Relaxed) + 1 >= violations.stop_at {
                limits.cancel.store(true, Ordering::Relaxed);
            }
            Some((Some(explain(history, &violation)), None))
        }
        KeyOutcome::Unknown(UnknownReason::StepBudget) => None,
        KeyOutcome::Unknown(reason) => Some((None, Some(reason))),
    }
}

/// Checks every key, largest first, in parallel; stops the others at the first violation,
/// then tries to explain a few more invalid keys.
fn check_keys<M: Model>(
    mut keys: Vec<KeyHistory<M>>,
    records: u64,
    options: &LinearizabilityOptions,
    started: Instant,
) -> LinearizabilityResult
where
    M::State: Sync,
{
    keys.par_iter_mut().for_each(|key| {
        key.model.prune_unneeded_info(&mut key.calls);
        key.order = key.model.implied_order(&key.calls);
    });
    keys.sort_unstable_by_key(|k| std::cmp::Reverse(k.calls.len()));
    let cancel = AtomicBool::new(false);
    let found = AtomicUsize::new(0);
    let first_violation = Violations {
        found: &found,
        stop_at: 1,
    };
    let mut limits = Limits {
        deadline: options.time_limit.map(|limit| started + limit),
        memo_limit_bytes: options.memo_limit_bytes,
        cancel: &cancel,
        max_steps: FIRST_PASS_STEPS,
    };
    // First a short pass over every key, so that an easy violation on one key is found
    // before the workers sink into the hardest keys; then the keys left, without a step limit.
    if let [history] = keys.as_mut_slice() {
        // One key (an unkeyed history): no thread pool to start, no second pass to plan.
        limits.max_steps = u64::MAX;
        let outcome = check_key(history, &limits, &first_violation);
        return summarize(keys, vec![outcome], records, started);
    }
    limits.memo_limit_bytes = options.memo_limit_bytes / rayon::current_num_threads().max(1);
    let mut outcomes: Vec<Outcome> = keys
        .par_iter_mut()
        .map(|history| check_key(history, &limits, &first_violation))
        .collect();
    if !cancel.load(Ordering::Relaxed) {
        limits.max_steps = u64::MAX;
        keys.par_iter_mut()
            .zip(outcomes.par_iter_mut())
            .filter(|(_, outcome)| outcome.is_none())
            .for_each(|(history, outcome)| {
                *outcome = check_key(history, &limits, &first_violation)
            });
    }
    let explained = found.load(Ordering::Relaxed);
    if explained > 0 && explained < EXPLAINED_KEYS_MAX {
        // The verdict is invalid already; explain a few more keys if they are easy, in
        // at most as long again as the verdict took (and never past the time limit).
        let cancel = AtomicBool::new(false);
        let budget = started.elapsed().max(EXPLAIN_PASS_MIN);
        let pass_deadline = Instant::now() + budget;
        let limits = Limits {
            cancel: &cancel,
            max_steps: EXPLAIN_PASS_STEPS,
            deadline: Some(
                limits
                    .deadline
                    .map_or(pass_deadline, |d| d.min(pass_deadline)),
            ),
            ..limits
        };
        let more = Violations {
            found: &found,
            stop_at: EXPLAINED_KEYS_MAX,
        };
        let undecided = |outcome: &Outcome| {
            matches!(outcome, None | Some((None, Some(UnknownReason::Cancelled))))
        };
        keys.par_iter_mut()
            .zip(outcomes.par_iter_mut())
            .filter(|(_, outcome)| undecided(outcome))
            .for_each(|(history, outcome)| {
                let again = check_key(history, &limits, &more);
                // Only a decision replaces the first outcome: a search this pass's budget
                // or the full count stopped says nothing new.
                if matches!(again, Some((Some(_), _) | (None, None))) {
                    *outcome = again;
                }
            });
    }
    summarize(keys, outcomes, records, started)
}

/// The verdict from every key's outcome (`None`: not finished).
fn summarize<M: Model>(
    keys: Vec<KeyHistory<M>>,
    outcomes: Vec<Outcome>,
    records: u64,
    started: Instant,
) -> LinearizabilityResult {
    let outcomes: Vec<(Option<Explanation>, Option<UnknownReason>)> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or((None, Some(UnknownReason::Cancelled))))
        .collect();
    let keys_invalid = outcomes.iter().filter(|(e, _)| e.is_some()).count();
    let keys_unknown = outcomes.iter().filter(|(_, u)| u.is_some()).count();
    // Report a real limit rather than "cancelled" when both happened.
    let unknown_reason = outcomes
        .iter()
        .filter_map(|(_, u)| *u)
        .min_by_key(|r| *r == UnknownReason::Cancelled);
    let mut explanations: Vec<Explanation> = outcomes.into_iter().filter_map(|(e, _)| e).collect();
    explanations.sort_by(|a, b| a.key.cmp(&b.key));
    explanations.truncate(EXPLAINED_KEYS_MAX);
    let mut explanations = explanations.into_iter();
    let explanation = explanations.next();
    let other_explanations: Vec<Explanation> = explanations.collect();
    let verdict = if explanation.is_some() {
        Verdict::Invalid
    } else if keys_unknown > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    LinearizabilityResult {
        verdict,
        model: M::KIND,
        format: None,
        history_lines: records,
        ops_checked: keys.iter().map(|k| k.calls.len() as u64).sum(),
        keys: keys.len(),
        keys_valid: keys.len() - keys_invalid - keys_unknown,
        keys_invalid,
        keys_unknown,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        unknown_reason: if verdict == Verdict::Unknown {
            unknown_reason
        } else {
            None
        },
        explanation,
        other_explanations,
    }
}

/// The `linearizable` check.
pub struct Linearizable;

/// Its handle in the registry.
pub const KIND: CheckKind = CheckKind::new(&Linearizable);

impl Check for Linearizable {
    fn name(&self) -> &'static str {
        "linearizable"
    }

    fn about(&self) -> &'static str {
        "linearizability against the workload's model, per key (Wing-Gong/Lowe)"
    }

    fn run(
        &self,
        path: &Path,
        settings: &CheckSettings,
    ) -> Result<Box<dyn CheckReport>, InputError> {
        let options = LinearizabilityOptions {
            time_limit: settings.time_limit,
            ..settings.linearizability.clone()
        };
        let result = check_linearizability_file(path, settings.format, settings.model, &options)?;
        Ok(Box::new(result))
    }
}

impl CheckReport for LinearizabilityResult {
    fn verdict(&self) -> Verdict {
        self.verdict
    }

    fn summary(&self) -> String {
        self.summary_line()
    }

    fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.summary_line());
        for explanation in self.explanations() {
            out.push_str(&explanation.to_text());
        }
        let more = self.keys_invalid - self.explanations().count();
        if more > 0 {
            out.push_str(&format!(
                "({more} more invalid {} not explained)\n",
                if more == 1 { "key" } else { "keys" }
            ));
        }
        out
    }

    fn evidence(&self) -> String {
        self.in_words()
    }

    fn details(&self) -> Value {
        serde_json::to_value(self).expect("a linearizability result serialises")
    }

    fn html_section(&self, ops: &[Op]) -> Option<HtmlSection> {
        (self.verdict == Verdict::Invalid).then(|| HtmlSection {
            title: "Counterexample".into(),
            body_html: crate::html::fragment_timed(self, &crate::html::time_ns_of_line(ops)),
        })
    }
}
