//! The planted bugs: each `--bug NAME` turns on one known defect so that faultline can prove
//! it finds it. All are off by default.

use std::fmt;

/// One planted defect, selected with `--bug NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bug {
    /// The leader answers reads from its own state at once, without the ReadIndex
    /// heartbeat round: a deposed leader that has not noticed serves stale values.
    StaleRead,
    /// Votes are granted without the election restriction (section 5.4.1): a node with a
    /// shorter log can win and overwrite committed entries.
    VoteWithoutLogCheck,
    /// Followers accept AppendEntries without comparing `prev_log_term`: logs diverge.
    SkipPrevCheck,
    /// The leader commits entries of earlier terms by counting replicas (the figure 8
    /// scenario of section 5.4.2).
    CommitOldTerm,
    /// Replies and the leader's own vote in the commit count happen before the entries are
    /// written: a kill -9 can lose acknowledged writes.
    AckBeforeWrite,
    /// The state machine ignores client request ids: a retried write applies twice.
    NoDedup,
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Bug::StaleRead => "stale-read",
            Bug::VoteWithoutLogCheck => "vote-without-log-check",
            Bug::SkipPrevCheck => "skip-prev-check",
            Bug::CommitOldTerm => "commit-old-term",
            Bug::AckBeforeWrite => "ack-before-write",
            Bug::NoDedup => "no-dedup",
        };
        f.write_str(name)
    }
}
