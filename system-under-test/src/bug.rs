//! The planted bugs: each `--bug NAME` turns on one known defect so that faultline can prove
//! it finds it. All are off by default.

use std::fmt;

/// One planted defect, selected with `--bug NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bug {
    /// The leader trusts a read lease it never checks: it answers reads at once from its
    /// own applied state, without the ReadIndex heartbeat round (and without waiting for a
    /// commit in its term), and it does not step down by CheckQuorum, only when it hears
    /// of a higher term. An isolated leader thus keeps serving stale values for as long as
    /// its partition lasts, while the majority elects a new leader and moves on.
    StaleRead,
    /// Votes are granted without the election restriction (section 5.4.1): a node with a
    /// shorter log can win and overwrite committed entries.
    VoteWithoutLogCheck,
    /// Followers accept AppendEntries without comparing `prev_log_term`: logs diverge.
    SkipPrevCheck,
    /// The leader commits entries of earlier terms by counting replicas (the figure 8
    /// scenario of section 5.4.2). Such an implementation has no reason to append a
    /// no-op at the start of its term, so it does not, and it serves reads once the log
    /// it was elected with is committed (by count): the no-op would otherwise reach the
    /// same majority in the same message as the old entries and almost always hide the bug.
    CommitOldTerm,
    /// Every reply (AppendEntries acknowledgements, but also votes and refusals) leaves
    /// before the log entries and hard state it depends on are written, and the leader
    /// counts itself toward a commit before its own fsync. Worse, the storage thread keeps
    /// each batch in memory and writes it only when the next batch arrives (a write-back
    /// cache trusting the process to live), so a kill -9 loses the last acknowledged batch
    /// of every node it hits, however long ago that batch came: kill a majority at once
    /// and acknowledged writes are gone (and a restarted node can vote twice in a term).
    AckBeforeWrite,
    /// The state machine ignores client request ids: a retried write (or append) applies
    /// twice.
    NoDedup,
    /// The WAL's appends are written to the file but never fdatasynced, while the node
    /// goes on as if they were durable (votes, acknowledgements, commits). A kill -9 loses
    /// nothing (the kernel's page cache keeps the writes); a machine crash, modelled by
    /// faultfs's `lose_unfsynced`, loses every append since the file was last synced.
    /// Snapshots and log rewrites still fsync (their loss would only stop the node from
    /// starting, not lose acknowledged writes quietly).
    SkipFsync,
    /// The leader answers a transaction's reads from its own applied state at the moment
    /// it proposes the txn, as a store that "reads locally, writes through Raft" would,
    /// while the txn's writes apply later, at its log entry. Whatever commits in between
    /// (other txns proposed earlier or in the same batch) is invisible to the reads and yet
    /// ordered before the writes: two txns that read and append the same key each miss
    /// the other's append (Elle: G-single, G2-item, lost update). Single-key ops and the
    /// state machine itself are unchanged.
    TxnReadsBeforeCommit,
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
            Bug::SkipFsync => "skip-fsync",
            Bug::TxnReadsBeforeCommit => "txn-reads-before-commit",
        };
        f.write_str(name)
    }
}
