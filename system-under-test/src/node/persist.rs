//! The storage thread: executes the engine's persistence actions in order, batching every
//! job that queued up while the previous fsync ran into one write and one fsync, then
//! releases the messages that had to wait for that fsync and reports what is durable.
//!
//! Under the planted bug `ack-before-write` the thread *holds* each batch in memory and
//! writes it only when the next batch arrives (a write-back cache that trusts the process
//! to live): the engine has already acknowledged those entries (it counts them persisted
//! at append, and sends every reply at once), so a `kill -9` loses the last batch of every
//! node it hits, and on an idle node that batch stays unwritten indefinitely.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::peers::PeerRouter;
use crate::raft::types::{Entry, Envelope, HardState};
use crate::storage::{SnapshotFile, Storage, StorageError};

/// Jobs drained into one fsync at most.
const MAX_JOBS_PER_SYNC: usize = 4096;

/// One persistence step.
#[derive(Debug)]
pub enum StorageOp {
    HardState(HardState),
    Append(Vec<Entry>),
    /// A local snapshot of the state machine.
    WriteSnapshot(Arc<SnapshotFile>),
    /// A snapshot received from the leader: replaces the snapshot and empties the log.
    InstallSnapshot(Arc<SnapshotFile>),
    RewriteLog {
        offset: u64,
        offset_term: u64,
        entries: Vec<Entry>,
    },
}

/// Operations to make durable, and the messages that may leave only afterwards.
#[derive(Debug, Default)]
pub struct StorageJob {
    pub ops: Vec<StorageOp>,
    pub messages: Vec<Envelope>,
}

impl StorageJob {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.messages.is_empty()
    }
}

/// What the storage thread reports back to the driver.
#[derive(Debug)]
pub enum Completion {
    LogPersisted {
        index: u64,
        term: u64,
    },
    SnapshotPersisted(Arc<SnapshotFile>),
    /// The disk failed: the node must stop (fail-stop, never answer from lost state).
    Failed(StorageError),
}

/// Runs until the job channel closes or the disk fails. `hold_last_batch` turns on the
/// planted bug `ack-before-write` (see the module docs).
pub fn run_storage_thread(
    mut storage: Storage,
    mut jobs: mpsc::Receiver<StorageJob>,
    completions: mpsc::UnboundedSender<Completion>,
    peers: PeerRouter,
    hold_last_batch: bool,
) {
    let mut held: Vec<StorageJob> = Vec::new();
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_JOBS_PER_SYNC {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if hold_last_batch {
            // Write the batch held so far; keep this one in memory only. Its messages
            // (none under the bug: the engine sends every reply at once) still go now.
            for job in &mut batch {
                for envelope in job.messages.drain(..) {
                    peers.send(envelope);
                }
            }
            batch = std::mem::replace(&mut held, batch);
        }
        match persist_batch(&mut storage, &mut batch) {
            Ok(done) => {
                for job in batch {
                    for envelope in job.messages {
                        peers.send(envelope);
                    }
                }
                for completion in done {
                    // The driver only goes away when the node is shutting down.
                    if completions.send(completion).is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "storage failed; stopping the node");
                let _ = completions.send(Completion::Failed(error));
                return;
            }
        }
    }
}

fn persist_batch(
    storage: &mut Storage,
    batch: &mut [StorageJob],
) -> Result<Vec<Completion>, StorageError> {
    let mut last_entry = None;
    let mut done = Vec::new();
    for job in batch.iter_mut() {
        for op in job.ops.drain(..) {
            match op {
                StorageOp::HardState(hard_state) => storage.set_hard_state(&hard_state),
                StorageOp::Append(entries) => {
                    storage.append_entries(&entries);
                    last_entry = entries.last().map(|e| (e.index, e.term)).or(last_entry);
                }
                StorageOp::WriteSnapshot(snapshot) => {
                    storage.write_snapshot(&snapshot)?;
                    done.push(Completion::SnapshotPersisted(snapshot));
                }
                StorageOp::InstallSnapshot(snapshot) => {
                    storage.write_snapshot(&snapshot)?;
                    storage.rewrite_log(snapshot.meta.index, snapshot.meta.term, &[])?;
                    last_entry = None;
                }
                StorageOp::RewriteLog {
                    offset,
                    offset_term,
                    entries,
                } => storage.rewrite_log(offset, offset_term, &entries)?,
            }
        }
    }
    storage.sync()?;
    if let Some((index, term)) = last_entry {
        done.insert(0, Completion::LogPersisted { index, term });
    }
    Ok(done)
}
