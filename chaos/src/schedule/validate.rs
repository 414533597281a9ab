//! Raw schedule -> typed [`Schedule`], refusing every mistake with its position.
//!
//! One file per job: [`compat`] reads the system, the workload, the network, the final
//! phase and the checks, and refuses what does not fit together; [`faults`] reads each
//! nemesis entry's fault (targets, partitions, `one_of`); [`timing`] reads when each fault
//! starts and how long it lasts, and refuses faults that would overlap. This file holds
//! what they share and [`validate`], which calls them in order.

mod compat;
mod faults;
mod timing;

use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::raw::RawSchedule;
use super::{Schedule, ScheduleError, parse_duration};
use crate::system::SystemError;

pub use timing::windows;

/// Most occurrences one periodic entry may expand to.
pub const MAX_OCCURRENCES: u64 = 10_000;
const MAX_KEYS: u64 = 100_000;
const MAX_CLIENTS: u64 = 1_000;

pub(in crate::schedule) struct Validator<'a> {
    pub(in crate::schedule) file: &'a str,
}

type Result<T> = std::result::Result<T, ScheduleError>;

/// Quotes a found value for messages.
fn quoted(text: &str) -> String {
    format!("`{text}`")
}

impl Validator<'_> {
    fn error(&self, location: Location, message: String) -> ScheduleError {
        ScheduleError::Invalid {
            file: self.file.to_string(),
            line: location.line().max(1),
            column: location.column().max(1),
            message,
        }
    }

    fn duration(&self, value: &Spanned<String>, what: &str) -> Result<Duration> {
        parse_duration(&value.value).ok_or_else(|| {
            self.error(
                value.referenced,
                format!(
                    "expected {what} as a duration such as 500ms, 10s, 2m or 1m30s, found {}",
                    quoted(&value.value)
                ),
            )
        })
    }

    fn positive_duration(&self, value: &Spanned<String>, what: &str) -> Result<Duration> {
        let duration = self.duration(value, what)?;
        if duration.is_zero() {
            return Err(self.error(
                value.referenced,
                format!(
                    "expected {what} to be longer than zero, found {}",
                    quoted(&value.value)
                ),
            ));
        }
        Ok(duration)
    }

    fn bounded(&self, value: &Spanned<u64>, what: &str, min: u64, max: u64) -> Result<usize> {
        crate::system::bounded(value, what, min, max).map_err(|e| self.system_error(e))
    }

    fn system_error(&self, error: SystemError) -> ScheduleError {
        self.error(error.location, error.message)
    }

    fn name(&self, name: &Spanned<String>) -> Result<String> {
        let text = &name.value;
        let safe = !text.is_empty()
            && text != "."
            && text != ".."
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !safe {
            return Err(self.error(
                name.referenced,
                format!(
                    "expected a name of letters, digits, `.`, `_` and `-`, found {}",
                    quoted(text)
                ),
            ));
        }
        Ok(text.clone())
    }
}

/// Validates a raw schedule.
pub fn validate(raw: RawSchedule, file: &str) -> Result<Schedule> {
    let v = Validator { file };
    let name = v.name(&raw.name)?;
    let system = v.system(&raw.system)?;
    let duration = v.positive_duration(&raw.duration, "the run's duration")?;
    let workload = v.workload(&raw.workload.value, &system)?;
    let network = v.network(&raw.network, &system)?;
    let mut entries = Vec::new();
    for entry in &raw.nemesis {
        entries.push((entry.referenced, v.fault(entry, &system, duration)?));
    }
    v.check_overlaps(&entries, duration)?;
    let final_phase = v.final_phase(raw.final_phase.as_ref().map(|f| &f.value))?;
    let (checks, elle_models) = v.checks(&raw.checks, raw.elle.as_ref(), workload.kind.checks())?;
    Ok(Schedule {
        name,
        seed: raw.seed.map(|s| s.value),
        system,
        duration,
        workload,
        network,
        nemesis: entries.into_iter().map(|(_, f)| f).collect(),
        final_phase,
        checks,
        elle_models,
    })
}
