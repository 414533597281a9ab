//! Disk faults: what a `kill` does to the stopped node's files.
//!
//! A kill entry of a schedule may carry three disk faults, applied in this order after the
//! node was killed and reaped and before it is restarted (see [`crate::schedule`], "The
//! schedule language", and [`crate::nemesis`]):
//!
//! - `lose_unfsynced: true`: every node's data dir sits on faultfs (the [`faultfs`] crate, a
//!   FUSE layer that keeps written data in a page cache of its own until the file is
//!   fsynced); the kill then tells the node's faultfs daemon to forget everything that was
//!   not fsynced, as a power loss would ([`mount`]). A schedule with at least one such
//!   kill mounts every node's data dir this way ([`crate::schedule::Schedule::uses_faultfs`]);
//!   other schedules run on the plain disk. Nothing about it is system-specific: the node
//!   is given its data dir as always, and that directory is the mount point.
//! - `corrupt: { file: GLOB, bitflip: P }`: flips bits of the matching files ([`damage`]).
//! - `truncate: { file: GLOB, bytes: N }`: cuts the last N bytes off the matching files.
//!
//! Each is recorded in the history as a nemesis event (`lose-unfsynced`, `corrupt`,
//! `truncate`) carrying the kill's fault id, the node and what was done to which file.

pub mod damage;
pub mod mount;

use std::path::PathBuf;

pub use damage::{FileDamage, corrupt_files, truncate_files};
pub use mount::{Faultfs, LossReport};

/// A probability in (0, 1]; never NaN (validated when the schedule is read), so equality
/// is an equivalence.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Probability(pub f64);

impl Eq for Probability {}

/// `corrupt: { file, bitflip }`: each bit of each matching file flips with probability
/// `bitflip` (see [`damage::corrupt_files`] for how the flips are drawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt {
    /// A shell glob (`*`, `?`, `[...]`) relative to the data dir; without a `/` it is
    /// matched against file names at any depth.
    pub file: String,
    pub bitflip: Probability,
}

/// `truncate: { file, bytes }`: the last `bytes` bytes of each matching file are cut off
/// (a file shorter than that becomes empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncate {
    pub file: String,
    pub bytes: u64,
}

/// The disk faults of one kill entry; all absent for every other entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskFaults {
    pub lose_unfsynced: bool,
    pub corrupt: Option<Corrupt>,
    pub truncate: Option<Truncate>,
}

impl DiskFaults {
    /// No disk fault at all.
    pub fn is_empty(&self) -> bool {
        !self.lose_unfsynced && self.corrupt.is_none() && self.truncate.is_none()
    }

    /// What the kill also does to the stopped nodes' files, in words (empty for none):
    /// `; forgets what was not fsynced; flips bits of "wal*" (p 1e-6)`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if self.lose_unfsynced {
            out.push_str("; forgets what was not fsynced");
        }
        if let Some(c) = &self.corrupt {
            out.push_str(&format!(
                "; flips bits of {:?} (p {:e})",
                c.file, c.bitflip.0
            ));
        }
        if let Some(t) = &self.truncate {
            out.push_str(&format!("; cuts {} bytes off {:?}", t.bytes, t.file));
        }
        out
    }
}

/// The program that runs a faultfs daemon: the `faultline` binary and `["faultfs"]` (the
/// hidden `faultline faultfs` subcommand), so that one build serves both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultfsProgram {
    pub program: PathBuf,
    pub args_prefix: Vec<String>,
}

/// Errors of the disk faults.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("the faultfs daemon of {id:?}: {source}")]
    Daemon {
        id: String,
        source: crate::supervisor::SupervisorError,
    },
    #[error(
        "the faultfs daemon of {id:?} did not mount {mount} within {timeout_ms} ms (it exited or hung; see {log})"
    )]
    NotMounted {
        id: String,
        mount: PathBuf,
        timeout_ms: u64,
        log: PathBuf,
    },
    #[error("node {0:?} has no faultfs mount (the schedule has no `lose_unfsynced` kill)")]
    NotMountedNode(String),
    #[error("bad file pattern {pattern:?}: {detail}")]
    Pattern { pattern: String, detail: String },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DiskError {
    let context = context.into();
    move |source| DiskError::Io { context, source }
}
