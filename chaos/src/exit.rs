//! The exit codes of the `faultline` binary (DESIGN.md, "Runs, campaigns, the store").
//!
//! One table, so that every subcommand maps verdicts and failures the same way.

use std::process::ExitCode;

/// Every run, campaign and check is valid.
pub const VALID: u8 = 0;
/// Some check found an anomaly.
pub const INVALID: u8 = 1;
/// Some check could not decide (time budget, memory cap): never reported as valid.
pub const UNKNOWN: u8 = 2;
/// The command line is wrong.
pub const USAGE: u8 = 64;
/// An input file (history, schedule) is malformed.
pub const BAD_INPUT: u8 = 65;
/// The run was stopped by Ctrl-C or SIGTERM before it finished (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;
/// The harness itself failed: a bug or an environment problem, not a verdict.
pub const HARNESS_FAILURE: u8 = 70;

/// A verdict's exit status as `ExitCode`.
pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
