//! The planted bugs a run can turn on: `bug:` in a schedule's `system`, or `--bug NAME` on
//! `faultline run` and `faultline campaign` (which overrides the schedule's, as `--seed`
//! overrides its seed).
//!
//! The names come from the systems' own enums ([`system_under_test::Bug`] for the Raft
//! store, [`system_under_test::bank::BankBug`] for the bank), so that a name accepted here
//! is one the node accepts, and the list printed for an unknown name is the whole list.

use clap::ValueEnum;
use system_under_test::Bug;
use system_under_test::bank::BankBug;

use crate::schedule::{Schedule, SystemKind};

/// The planted bugs of one system, by name, in the enum's order.
pub fn names(kind: SystemKind) -> Vec<String> {
    fn of<T: ValueEnum>() -> Vec<String> {
        T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect()
    }
    match kind {
        SystemKind::Raft => of::<Bug>(),
        SystemKind::Bank => of::<BankBug>(),
    }
}

/// How messages name a system.
fn system_name(kind: SystemKind) -> &'static str {
    match kind {
        SystemKind::Raft => "the raft store",
        SystemKind::Bank => "the bank",
    }
}

/// Whether `name` is a planted bug of `kind`; the error is the `expected ..., found ...`
/// message, naming every valid bug (and the system that has `name`, if another one does).
pub fn check(kind: SystemKind, name: &str) -> Result<(), String> {
    let known = names(kind);
    if known.iter().any(|known| known == name) {
        return Ok(());
    }
    let elsewhere = [SystemKind::Raft, SystemKind::Bank]
        .into_iter()
        .filter(|other| *other != kind)
        .find(|other| names(*other).iter().any(|known| known == name))
        .map(|other| {
            format!(
                " (a bug of {}; this schedule's system is {})",
                system_name(other),
                system_name(kind)
            )
        })
        .unwrap_or_default();
    Err(format!(
        "expected a planted bug of {} ({}), found `{name}`{elsewhere}",
        system_name(kind),
        known.join(", ")
    ))
}

/// `--bug NAME` named no planted bug of the schedule's system: bad input (exit 65).
#[derive(Debug, thiserror::Error)]
#[error("--bug {name} for schedule {schedule}: {message}")]
pub struct UnknownBug {
    pub name: String,
    pub schedule: String,
    pub message: String,
}

/// Turns on `--bug NAME` in `schedule`, replacing the schedule's own `bug:`.
pub fn apply_bug_flag(schedule: &mut Schedule, name: &str) -> Result<(), UnknownBug> {
    check(schedule.system.kind, name).map_err(|message| UnknownBug {
        name: name.to_string(),
        schedule: schedule.name.clone(),
        message,
    })?;
    schedule.system.bug = Some(name.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::BANK_BUGS;

    #[test]
    fn names_are_the_nodes_own() {
        assert_eq!(
            names(SystemKind::Raft),
            [
                "stale-read",
                "vote-without-log-check",
                "skip-prev-check",
                "commit-old-term",
                "ack-before-write",
                "no-dedup"
            ]
        );
        for bug in Bug::value_variants() {
            assert!(names(SystemKind::Raft).contains(&bug.to_string()));
        }
        let bank: Vec<String> = BANK_BUGS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            names(SystemKind::Bank),
            bank,
            "BANK_BUGS lists every BankBug"
        );
    }

    #[test]
    fn the_help_text_lists_every_bug() {
        for kind in [SystemKind::Raft, SystemKind::Bank] {
            for name in names(kind) {
                assert!(
                    crate::cli::BUG_HELP.contains(&name),
                    "{name} not in BUG_HELP"
                );
            }
        }
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        assert_eq!(
            check(SystemKind::Raft, "stale-reed"),
            Err(
                "expected a planted bug of the raft store (stale-read, vote-without-log-check, \
                 skip-prev-check, commit-old-term, ack-before-write, no-dedup), found `stale-reed`"
                    .into()
            )
        );
        assert_eq!(
            check(SystemKind::Bank, "stale-read"),
            Err(
                "expected a planted bug of the bank (2pc-commit-without-all-votes, \
                 2pc-forget-prepared), found `stale-read` (a bug of the raft store; this \
                 schedule's system is the bank)"
                    .into()
            )
        );
        assert_eq!(check(SystemKind::Raft, "no-dedup"), Ok(()));
    }
}
