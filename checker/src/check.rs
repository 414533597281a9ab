//! The entry points: [`check_file`] and [`check_history`] read a history, pick the model
//! (given, or implied by the first decisive function name), split it by key and check the
//! keys in parallel with rayon, largest first.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
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
use crate::model::{FailedCasReading, Model, ModelConfig, ModelKind};
use crate::partition::{KeyHistory, Partitioner};
use crate::verdict::{CheckResult, Verdict};

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Every key's initial value (JSON); `None` = the model's default (null, "", empty set).
    pub initial: Option<Value>,
    /// How `fail` cas ops are read; `None` = Porcupine's reading for the porcupine-jepsen
    /// format and Jepsen's (dropped) for everything else.
    pub failed_cas: Option<FailedCasReading>,
    /// After this, undecided keys are `unknown`. `None` = no limit.
    pub time_limit: Option<Duration>,
    /// Budget for all memo tables together (split evenly across worker threads); a search
    /// that reaches its share ends `unknown`.
    pub memo_limit_bytes: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            initial: None,
            failed_cas: None,
            time_limit: Some(Duration::from_secs(30)),
            memo_limit_bytes: 160 << 20,
        }
    }
}

/// Checks a history file for linearizability.
pub fn check_file(
    path: &Path,
    format: Format,
    model: Option<ModelKind>,
    options: &CheckOptions,
) -> Result<CheckResult, InputError> {
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
    let mut sniffer = Sniffer::new(model, config(options, default_reading));
    format::read_file(path, format, &mut sniffer)?;
    let keyed = sniffer.finish().map_err(|e| e.at(&name, 0))?;
    let mut result = keyed.check(options, started).map_err(|e| e.at(&name, 0))?;
    result.format = Some(format);
    Ok(result)
}

/// Checks in-memory ops; errors name `<history>` and the op's position (1-based) as line.
pub fn check_history(
    ops: impl IntoIterator<Item = Op>,
    model: Option<ModelKind>,
    options: &CheckOptions,
) -> Result<CheckResult, InputError> {
    let started = Instant::now();
    let name = "<history>";
    let mut sniffer = Sniffer::new(model, config(options, FailedCasReading::Dropped));
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

fn config(options: &CheckOptions, default_reading: FailedCasReading) -> ModelConfig {
    ModelConfig {
        initial: options.initial.clone().unwrap_or(Value::Null),
        failed_cas: options.failed_cas.unwrap_or(default_reading),
    }
}

/// A partitioner whose model type is erased, so that it can be chosen at run time.
trait KeyedSink: OpSink {
    fn check(
        self: Box<Self>,
        options: &CheckOptions,
        started: Instant,
    ) -> Result<CheckResult, SinkError>;
}

impl<M: Model> KeyedSink for Partitioner<M>
where
    M::State: Sync,
{
    fn check(
        self: Box<Self>,
        options: &CheckOptions,
        started: Instant,
    ) -> Result<CheckResult, SinkError> {
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

/// One key's search; `None` when it ran out of its first-pass step budget.
fn check_key<M: Model>(
    history: &mut KeyHistory<M>,
    limits: &Limits<'_>,
) -> Option<(Option<Explanation>, Option<UnknownReason>)> {
    let outcome = check_calls(&mut history.model, &history.calls, &history.order, limits);
    match outcome {
        KeyOutcome::Linearizable => Some((None, None)),
        KeyOutcome::NotLinearizable(violation) => {
            limits.cancel.store(true, Ordering::Relaxed);
            Some((Some(explain(history, &violation)), None))
        }
        KeyOutcome::Unknown(UnknownReason::StepBudget) => None,
        KeyOutcome::Unknown(reason) => Some((None, Some(reason))),
    }
}

/// Checks every key, largest first, in parallel; stops the others at the first violation.
fn check_keys<M: Model>(
    mut keys: Vec<KeyHistory<M>>,
    records: u64,
    options: &CheckOptions,
    started: Instant,
) -> CheckResult
where
    M::State: Sync,
{
    keys.par_iter_mut().for_each(|key| {
        key.model.prune_unneeded_info(&mut key.calls);
        key.order = key.model.implied_order(&key.calls);
    });
    keys.sort_unstable_by_key(|k| std::cmp::Reverse(k.calls.len()));
    let cancel = AtomicBool::new(false);
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
        let outcome = check_key(history, &limits);
        return summarize(keys, vec![outcome], records, started);
    }
    limits.memo_limit_bytes = options.memo_limit_bytes / rayon::current_num_threads().max(1);
    let mut outcomes: Vec<Option<(Option<Explanation>, Option<UnknownReason>)>> = keys
        .par_iter_mut()
        .map(|history| check_key(history, &limits))
        .collect();
    if !cancel.load(Ordering::Relaxed) {
        limits.max_steps = u64::MAX;
        keys.par_iter_mut()
            .zip(outcomes.par_iter_mut())
            .filter(|(_, outcome)| outcome.is_none())
            .for_each(|(history, outcome)| *outcome = check_key(history, &limits));
    }
    summarize(keys, outcomes, records, started)
}

/// The verdict from every key's outcome (`None`: not finished).
fn summarize<M: Model>(
    keys: Vec<KeyHistory<M>>,
    outcomes: Vec<Option<(Option<Explanation>, Option<UnknownReason>)>>,
    records: u64,
    started: Instant,
) -> CheckResult {
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
    let explanation = outcomes
        .into_iter()
        .filter_map(|(e, _)| e)
        .min_by(|a, b| a.key.cmp(&b.key));
    let verdict = if explanation.is_some() {
        Verdict::Invalid
    } else if keys_unknown > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    CheckResult {
        verdict,
        model: M::KIND,
        format: None,
        ops: records,
        calls: keys.iter().map(|k| k.calls.len() as u64).sum(),
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
    }
}
