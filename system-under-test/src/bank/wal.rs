//! The bank's durable logs (the coordinator's decision log, the participant's prepare
//! log): one append-only file of records framed as in [`crate::storage`] (length, CRC32,
//! JSON payload; [`encode_frame`] / [`decode_frames`]).
//!
//! One writer thread group-commits: it takes every batch queued while its previous
//! `fdatasync` ran, writes them in queue order, syncs once, and only then reports each
//! batch durable. Because batches are written in queue order, a batch reported durable
//! implies every batch queued before it is durable too ([`LogWriter::barrier`]).
//! After a failed write or sync the writer is poisoned: the file's content is no longer
//! known, so every later append fails and the node answers errors until restarted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::storage::{decode_frames, encode_frame};

/// Batches waiting for the writer thread before appends are refused.
const QUEUE_CAPACITY: usize = 4096;

/// Failures of a bank log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error("{path}: corrupt record {position}: {detail}")]
    Corrupt {
        path: PathBuf,
        position: usize,
        detail: String,
    },
    #[error("the log writer's queue is full")]
    Overloaded,
    #[error("the log writer stopped after an earlier failure")]
    Poisoned,
}

fn io_error(path: &Path, error: io::Error) -> LogError {
    LogError::Io {
        path: path.to_path_buf(),
        detail: error.to_string(),
    }
}

struct Batch {
    bytes: Vec<u8>,
    done: oneshot::Sender<Result<(), LogError>>,
}

/// Appends records of type `R` to one log file through the group-commit thread.
pub struct LogWriter<R> {
    queue: SyncSender<Batch>,
    _records: PhantomData<fn(R)>,
}

/// A batch handed to the writer; await [`PendingWrite::durable`] before acting on it.
pub struct PendingWrite(oneshot::Receiver<Result<(), LogError>>);

impl PendingWrite {
    pub async fn durable(self) -> Result<(), LogError> {
        self.0.await.unwrap_or(Err(LogError::Poisoned))
    }
}

/// Opens (creating if needed) the log at `path`, returns its records and a writer
/// appending after them. A torn or corrupt tail (a crash during an append) is cut off.
pub fn open_log<R>(path: &Path) -> Result<(Vec<R>, LogWriter<R>), LogError>
where
    R: Serialize + DeserializeOwned,
{
    let records = read_records(path)?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
    }
    let (queue, batches) = sync_channel(QUEUE_CAPACITY);
    let thread_path = path.to_path_buf();
    std::thread::Builder::new()
        .name("bank-log".into())
        .spawn(move || run_writer(file, thread_path, batches))
        .map_err(|e| io_error(path, e))?;
    let writer = LogWriter {
        queue,
        _records: PhantomData,
    };
    Ok((records, writer))
}

fn read_records<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>, LogError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(path, error)),
    };
    let (payloads, valid_bytes) = decode_frames(&bytes);
    let mut records = Vec::with_capacity(payloads.len());
    for (position, payload) in payloads.iter().enumerate() {
        let record = serde_json::from_slice(payload).map_err(|e| LogError::Corrupt {
            path: path.to_path_buf(),
            position,
            detail: e.to_string(),
        })?;
        records.push(record);
    }
    if valid_bytes < bytes.len() {
        tracing::warn!(path = %path.display(), torn_bytes = bytes.len() - valid_bytes, "cutting off a torn log tail");
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        file.set_len(valid_bytes as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(path, e))?;
    }
    Ok(records)
}

impl<R: Serialize> LogWriter<R> {
    /// Queues `records` as one batch (in call order relative to other appends).
    pub fn append(&self, records: &[R]) -> Result<PendingWrite, LogError> {
        let mut bytes = Vec::new();
        for record in records {
            let payload = serde_json::to_vec(record).expect("log records always serialize");
            encode_frame(&mut bytes, &payload);
        }
        let (done, durable) = oneshot::channel();
        match self.queue.try_send(Batch { bytes, done }) {
            Ok(()) => Ok(PendingWrite(durable)),
            Err(TrySendError::Full(_)) => Err(LogError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(LogError::Poisoned),
        }
    }

    /// Completes once everything appended before it is durable.
    pub fn barrier(&self) -> Result<PendingWrite, LogError> {
        self.append(&[])
    }
}

fn run_writer(mut file: File, path: PathBuf, batches: Receiver<Batch>) {
    while let Ok(first) = batches.recv() {
        let mut group = vec![first];
        while let Ok(next) = batches.try_recv() {
            group.push(next);
        }
        let bytes: Vec<u8> = group.iter().flat_map(|b| b.bytes.iter().copied()).collect();
        let outcome = if bytes.is_empty() {
            Ok(())
        } else {
            file.write_all(&bytes)
                .and_then(|()| file.sync_data())
                .map_err(|e| io_error(&path, e))
        };
        let failed = outcome.is_err();
        if let Err(error) = &outcome {
            tracing::error!(%error, "bank log write failed; refusing further appends");
        }
        for batch in group {
            // A requester that stopped waiting is no error.
            let _receiver_gone = batch.done.send(outcome.clone());
        }
        if failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopening_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let (records, writer) = open_log::<String>(&path).unwrap();
            assert!(records.is_empty());
            writer
                .append(&["a".into(), "b".into()])
                .unwrap()
                .durable()
                .await
                .unwrap();
            writer
                .append(&["c".into()])
                .unwrap()
                .durable()
                .await
                .unwrap();
        }
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(file);
        let (records, writer) = open_log::<String>(&path).unwrap();
        assert_eq!(records, vec!["a", "b", "c"]);
        writer
            .append(&["d".into()])
            .unwrap()
            .durable()
            .await
            .unwrap();
        writer.barrier().unwrap().durable().await.unwrap();
        drop(writer);
        let (records, _) = open_log::<String>(&path).unwrap();
        assert_eq!(records, vec!["a", "b", "c", "d"]);
    }
}
