//! Durable storage of one node: the write-ahead log (WAL) with the hard state, and the
//! snapshot file. Recovery reads both back and cuts off a torn last record.
//!
//! Files in the data dir:
//!
//! - `wal.log`: records, each framed as `len: u32 LE | crc32(payload): u32 LE | payload`,
//!   the payload a JSON [`WalRecord`]. The first record is always `start` (the index and
//!   term just before the first entry, i.e. the compaction point); then `hard-state`
//!   records (the last one wins) and `entry` records. An entry whose index is not just
//!   after the previous one cuts the log back first (a follower's suffix truncation is
//!   written as the new entries, nothing is overwritten in place). Appends are made
//!   durable with `fdatasync`.
//! - `snapshot.bin`: one framed record holding a JSON [`SnapshotFile`].
//!
//! Compaction and snapshot installation rewrite a whole file as `*.tmp`, fsync it, rename
//! it over the old one and fsync the directory, so a crash leaves the old or the new file,
//! never a mix. A crash in the middle of an append leaves a short or mis-checksummed last
//! record: recovery drops it (and only it) and truncates the file there.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::raft::types::{Entry, HardState, SnapshotMeta};

const WAL_FILE: &str = "wal.log";
const SNAPSHOT_FILE: &str = "snapshot.bin";
const FRAME_HEADER_BYTES: usize = 8;
/// No record is larger than this; a bigger length field means a torn or corrupt header.
const MAX_RECORD_BYTES: usize = 512 * 1024 * 1024;

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One WAL record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum WalRecord {
    Start { offset: u64, offset_term: u64 },
    HardState(HardState),
    Entry(Entry),
}

/// The content of the snapshot file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub meta: SnapshotMeta,
    /// The state machine as JSON (`StateMachine::to_snapshot_json`).
    pub data: String,
}

/// Everything recovered from a data dir.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    pub hard_state: HardState,
    pub snapshot: Option<SnapshotFile>,
    pub log_offset: u64,
    pub log_offset_term: u64,
    pub entries: Vec<Entry>,
    /// Bytes of a torn last record that were cut off.
    pub torn_bytes: u64,
}

/// Appends `payload` as one framed record to `buffer`.
pub fn encode_frame(buffer: &mut Vec<u8>, payload: &[u8]) {
    buffer.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buffer.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buffer.extend_from_slice(payload);
}

/// Splits `bytes` into frame payloads. Returns them with the length of the valid prefix;
/// anything after it is a torn or corrupt tail.
pub fn decode_frames(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut payloads = Vec::new();
    let mut position = 0;
    while bytes.len() - position >= FRAME_HEADER_BYTES {
        let header = &bytes[position..position + FRAME_HEADER_BYTES];
        let length = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let checksum = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let start = position + FRAME_HEADER_BYTES;
        if length > MAX_RECORD_BYTES || bytes.len() - start < length {
            break;
        }
        let payload = &bytes[start..start + length];
        if crc32fast::hash(payload) != checksum {
            break;
        }
        payloads.push(payload);
        position = start + length;
    }
    (payloads, position)
}

fn encode_record(buffer: &mut Vec<u8>, record: &WalRecord) {
    let payload = serde_json::to_vec(record).expect("WAL records always serialize");
    encode_frame(buffer, &payload);
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, directory fsync.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}

/// The open storage of one node.
pub struct Storage {
    dir: PathBuf,
    wal_path: PathBuf,
    wal: File,
    hard_state: HardState,
    /// Records encoded but not yet written.
    pending: Vec<u8>,
    /// The planted bug `skip-fsync`: `sync` writes but does not fdatasync.
    skip_fsync: bool,
}

impl Storage {
    /// Opens (creating if needed) the data dir and recovers its content.
    pub fn open(dir: &Path) -> Result<(Storage, Recovered), StorageError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let wal_path = dir.join(WAL_FILE);
        let snapshot = read_snapshot(&dir.join(SNAPSHOT_FILE))?;
        let snapshot_meta = snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        if !wal_path.exists() {
            let mut bytes = Vec::new();
            encode_record(
                &mut bytes,
                &WalRecord::Start {
                    offset: snapshot_meta.index,
                    offset_term: snapshot_meta.term,
                },
            );
            encode_record(&mut bytes, &WalRecord::HardState(HardState::default()));
            write_atomically(dir, &wal_path, &bytes)?;
        }
        let mut recovered = read_wal(&wal_path)?;
        recovered.snapshot = snapshot;
        let wal = OpenOptions::new()
            .append(true)
            .open(&wal_path)
            .map_err(io_err(&wal_path))?;
        let mut storage = Storage {
            dir: dir.to_path_buf(),
            wal_path,
            wal,
            hard_state: recovered.hard_state.clone(),
            pending: Vec::new(),
            skip_fsync: false,
        };
        storage.reconcile_with_snapshot(&mut recovered, snapshot_meta)?;
        Ok((storage, recovered))
    }

    /// A snapshot newer than the log's end makes the log useless: start it afresh after
    /// the snapshot so later appends are contiguous.
    fn reconcile_with_snapshot(
        &mut self,
        recovered: &mut Recovered,
        snapshot: SnapshotMeta,
    ) -> Result<(), StorageError> {
        if snapshot.index < recovered.log_offset {
            return Err(StorageError::Corrupt {
                path: self.wal_path.clone(),
                detail: format!(
                    "log compacted to {} beyond the snapshot at {}",
                    recovered.log_offset, snapshot.index
                ),
            });
        }
        let last_index = recovered.log_offset + recovered.entries.len() as u64;
        let covered_term = recovered
            .entries
            .iter()
            .find(|e| e.index == snapshot.index)
            .map(|e| e.term);
        let log_extends_snapshot = snapshot.index == recovered.log_offset
            || (snapshot.index < last_index && covered_term == Some(snapshot.term));
        if !log_extends_snapshot {
            self.rewrite_log(snapshot.index, snapshot.term, &[])?;
            recovered.log_offset = snapshot.index;
            recovered.log_offset_term = snapshot.term;
            recovered.entries.clear();
        }
        Ok(())
    }

    /// Queues entries for the log (written by the next `sync`).
    pub fn append_entries(&mut self, entries: &[Entry]) {
        for entry in entries {
            encode_record(&mut self.pending, &WalRecord::Entry(entry.clone()));
        }
    }

    /// Queues a new hard state (written by the next `sync`).
    pub fn set_hard_state(&mut self, hard_state: &HardState) {
        self.hard_state = hard_state.clone();
        encode_record(&mut self.pending, &WalRecord::HardState(hard_state.clone()));
    }

    /// Writes everything queued and makes it durable with one fdatasync (only written,
    /// not synced, under the planted bug `skip-fsync`).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.wal
            .write_all(&self.pending)
            .map_err(io_err(&self.wal_path))?;
        self.pending.clear();
        if self.skip_fsync {
            return Ok(());
        }
        self.wal.sync_data().map_err(io_err(&self.wal_path))
    }

    /// Turns the planted bug `skip-fsync` on or off (see `crate::bug::Bug::SkipFsync`).
    pub fn set_skip_fsync(&mut self, skip: bool) {
        self.skip_fsync = skip;
    }

    /// Makes a snapshot durable (atomically replacing the previous one).
    pub fn write_snapshot(&mut self, snapshot: &SnapshotFile) -> Result<(), StorageError> {
        let payload = serde_json::to_vec(snapshot).expect("snapshot files always serialize");
        let mut bytes = Vec::with_capacity(payload.len() + FRAME_HEADER_BYTES);
        encode_frame(&mut bytes, &payload);
        write_atomically(&self.dir, &self.dir.join(SNAPSHOT_FILE), &bytes)
    }

    /// Atomically replaces the log with: compacted up to (`offset`, `offset_term`), the
    /// current hard state, then `entries`. Anything queued is written first so nothing
    /// that was promised durable is lost.
    pub fn rewrite_log(
        &mut self,
        offset: u64,
        offset_term: u64,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        self.sync()?;
        let mut bytes = Vec::new();
        encode_record(
            &mut bytes,
            &WalRecord::Start {
                offset,
                offset_term,
            },
        );
        encode_record(&mut bytes, &WalRecord::HardState(self.hard_state.clone()));
        for entry in entries {
            encode_record(&mut bytes, &WalRecord::Entry(entry.clone()));
        }
        write_atomically(&self.dir, &self.wal_path, &bytes)?;
        self.wal = OpenOptions::new()
            .append(true)
            .open(&self.wal_path)
            .map_err(io_err(&self.wal_path))?;
        Ok(())
    }
}

fn read_snapshot(path: &Path) -> Result<Option<SnapshotFile>, StorageError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_err(path)(error)),
    };
    let corrupt = |detail: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let (payloads, valid) = decode_frames(&bytes);
    if payloads.len() != 1 || valid != bytes.len() {
        return Err(corrupt("not exactly one valid record".into()));
    }
    serde_json::from_slice(payloads[0])
        .map(Some)
        .map_err(|e| corrupt(e.to_string()))
}

fn read_wal(path: &Path) -> Result<Recovered, StorageError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let (payloads, valid) = decode_frames(&bytes);
    let corrupt = |detail: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let mut recovered = Recovered::default();
    for (position, payload) in payloads.iter().enumerate() {
        let record: WalRecord = serde_json::from_slice(payload)
            .map_err(|e| corrupt(format!("record {position}: {e}")))?;
        match (position, record) {
            (
                0,
                WalRecord::Start {
                    offset,
                    offset_term,
                },
            ) => {
                recovered.log_offset = offset;
                recovered.log_offset_term = offset_term;
            }
            (0, _) => return Err(corrupt("first record is not `start`".into())),
            (_, WalRecord::Start { .. }) => {
                return Err(corrupt(format!("record {position}: a second `start`")));
            }
            (_, WalRecord::HardState(hard_state)) => recovered.hard_state = hard_state,
            (_, WalRecord::Entry(entry)) => push_entry(&mut recovered, entry)
                .map_err(|detail| corrupt(format!("record {position}: {detail}")))?,
        }
    }
    if payloads.is_empty() {
        return Err(corrupt("no `start` record".into()));
    }
    if valid < bytes.len() {
        recovered.torn_bytes = (bytes.len() - valid) as u64;
        tracing::warn!(path = %path.display(), torn_bytes = recovered.torn_bytes, "dropping a torn WAL tail");
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        file.set_len(valid as u64).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
    }
    Ok(recovered)
}

/// Adds a recovered entry, applying the logical suffix truncation it may imply.
fn push_entry(recovered: &mut Recovered, entry: Entry) -> Result<(), String> {
    let offset = recovered.log_offset;
    if entry.index <= offset {
        return Err(format!(
            "entry {} at or below the offset {offset}",
            entry.index
        ));
    }
    let last_index = offset + recovered.entries.len() as u64;
    if entry.index > last_index + 1 {
        return Err(format!(
            "entry {} after last index {last_index}",
            entry.index
        ));
    }
    recovered
        .entries
        .truncate((entry.index - offset - 1) as usize);
    recovered.entries.push(entry);
    Ok(())
}

#[cfg(test)]
mod tests;
