//! `--bug NAME` on `faultline run` and `faultline campaign`: turns on a planted bug,
//! overriding the schedule's `bug:` (as `--seed` overrides its seed).
//!
//! The names and the check are the system registry's ([`crate::system::check_bug`]): each
//! system's bugs come from its own crate's enum ([`system_under_test::Bug`] for the Raft
//! store, [`system_under_test::bank::BankBug`] for the bank), so a name accepted here is one
//! the node accepts, and the list printed for an unknown name is the whole list.

use crate::schedule::Schedule;
use crate::system;

/// The planted bugs of the system `kind`, by name, in the enum's order (none for an
/// unknown kind or a system without planted bugs).
pub fn names(kind: &str) -> Vec<String> {
    system::entry(kind).map_or_else(Vec::new, |entry| (entry.bugs)())
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
    system::check_bug(schedule.system.kind(), name).map_err(|message| UnknownBug {
        name: name.to_string(),
        schedule: schedule.name.clone(),
        message,
    })?;
    schedule.system.bug = Some(name.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;
    use system_under_test::Bug;
    use system_under_test::bank::BankBug;

    use super::*;

    #[test]
    fn names_are_the_nodes_own() {
        let raft: Vec<String> = Bug::value_variants().iter().map(Bug::to_string).collect();
        assert_eq!(names("raft"), raft);
        assert!(names("raft").contains(&"stale-read".to_string()));
        let bank: Vec<String> = BankBug::value_variants()
            .iter()
            .filter_map(|bug| bug.to_possible_value())
            .map(|value| value.get_name().to_string())
            .collect();
        assert_eq!(names("bank"), bank);
        assert!(names("etcd").is_empty());
    }

    #[test]
    fn the_help_text_lists_every_bug() {
        for kind in system::kinds() {
            for name in names(kind) {
                assert!(
                    crate::cli::bug_help().contains(&name),
                    "{name} not in bug_help()"
                );
            }
        }
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let raft = names("raft").join(", ");
        assert_eq!(
            system::check_bug("raft", "stale-reed"),
            Err(format!(
                "expected a planted bug of the raft store ({raft}), found `stale-reed`"
            ))
        );
        assert_eq!(
            system::check_bug("bank", "stale-read"),
            Err(
                "expected a planted bug of the bank (2pc-commit-without-all-votes, \
                 2pc-forget-prepared), found `stale-read` (a bug of the raft store; this \
                 schedule's system is the bank)"
                    .into()
            )
        );
        assert!(
            system::check_bug("etcd", "stale-read")
                .unwrap_err()
                .starts_with("expected no planted bug for etcd (bugs are planted only in the systems faultline ships: raft, bank)")
        );
        assert_eq!(system::check_bug("raft", "no-dedup"), Ok(()));
    }
}
