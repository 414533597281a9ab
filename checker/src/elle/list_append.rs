//! List-append inference, as Elle does it (Kingsbury & Alvaro, VLDB 2020, section 4).
//!
//! Each key's *version order* is its longest read list: with unique appended values, a
//! list `[1 2 3]` says 1 was appended before 2 before 3, and every other read of the key
//! must be a prefix of it, else the two reads are an `incompatible-order` (such a read
//! gives no edges; the version order is still the longest read, as in Elle). While the
//! file streams in, [`ListState::observe`] compares each `ok` read with the longest so far
//! and keeps only its length and last element (prefixes of a prefix are prefixes).
//!
//! Then, per key with version order `L` and `app(e)` the transaction that appended `e`
//! ([`infer`]):
//! - ww: `app(L[i]) -> app(L[i+1])`;
//! - wr: for a read of the prefix `L[..n]`, `n > 0`: `app(L[n-1]) -> reader`;
//! - rw: for a read of `L[..n]`, `n < len(L)`: `reader -> app(L[n])` (the reader did not see
//!   the next version, so it came before the one that wrote it).
//!
//! Appends nobody read are in no version order and give no edges (their place is unknown).
//! Non-cycle anomalies found here: `G1a` (a read includes an element a failed transaction
//! appended), `G1b` (a read ends at an element that is not its transaction's last append
//! to that key), `dirty-update` (an element appended by a failed transaction is followed
//! by a committed or indeterminate one), `garbage-read` (an element nobody appended),
//! `duplicate-elements` (an element twice in a read: no edges from that key, as the order
//! is not a sequence of distinct versions) and `lost-update` (two committed transactions
//! read the same prefix of a key and both appended to it).

use rustc_hash::FxHashMap;

use super::findings::{Finding, Findings, list_text};
use super::graph::{Builder, RW, WR, WW};
use super::history::{History, Status};
use super::mops::{MopF, Val};
use crate::elle::anomaly::AnomalyKind;

/// Per key: the longest list read so far.
#[derive(Debug, Default)]
pub struct ListState {
    pub longest: Vec<Vec<Val>>,
    /// Per key: the transaction whose read is the longest (`u32::MAX`: none yet).
    pub longest_by: Vec<u32>,
}

impl ListState {
    pub fn add_key(&mut self) {
        self.longest.push(Vec::new());
        self.longest_by.push(u32::MAX);
    }

    /// Compares an `ok` read of `key` with the longest read so far (and replaces it if
    /// this one extends it). False when neither is a prefix of the other.
    pub fn observe(&mut self, key: u32, list: &[Val], txn: u32) -> bool {
        let longest = &mut self.longest[key as usize];
        let common = longest.len().min(list.len());
        if longest[..common] != list[..common] {
            return false;
        }
        if list.len() > longest.len() {
            longest.extend_from_slice(&list[common..]);
            self.longest_by[key as usize] = txn;
        }
        true
    }
}

/// Who appended an element of a version order, when someone did.
#[derive(Debug, Clone, Copy)]
pub struct Appender {
    pub txn: u32,
    pub status: Status,
    /// The transaction's last append to this key.
    pub last_in_txn: bool,
}

/// The per-key result of inference, kept for explanations.
#[derive(Debug, Default)]
pub struct Orders {
    /// Per key: the appender of each element of its version order (`None`: nobody).
    pub appenders: Vec<Vec<Option<Appender>>>,
}

/// Adds the ww, wr and rw edges of every key to `builder`, and the non-cycle anomalies
/// to `findings`.
pub fn infer(h: &History, builder: &mut Builder, findings: &mut Findings) -> Orders {
    let keys = h.keys.len();
    let mut orders = Orders {
        appenders: Vec::with_capacity(keys),
    };
    // Per key: the first position whose element a failed txn appended / nobody appended;
    // keys with a duplicate give no edges.
    let mut first_failed = vec![usize::MAX; keys];
    let mut first_garbage = vec![usize::MAX; keys];
    let mut usable = vec![true; keys];
    let mut sorted: Vec<Val> = Vec::new();
    for (key, list) in h.list.longest.iter().enumerate() {
        let mut appenders = Vec::with_capacity(list.len());
        sorted.clear();
        sorted.extend_from_slice(list);
        sorted.sort_unstable();
        let duplicate = sorted.windows(2).find(|p| p[0] == p[1]).map(|p| p[0]);
        let mut failed_at: Option<usize> = None;
        let mut dirty_reported = false;
        if let Some(e) = duplicate {
            findings.add(AnomalyKind::DuplicateElements, || Finding {
                kind: AnomalyKind::DuplicateElements,
                key: Some(h.key_name(key as u32)),
                text: format!(
                    "T1 read {} of key {}: {} more than once",
                    list_text(&h.interner, list),
                    h.key_name(key as u32),
                    h.interner.display(e)
                ),
                txns: vec![h.list.longest_by[key]],
            });
            usable[key] = false;
        }
        for (i, &e) in list.iter().enumerate() {
            let appender = h.write_of(key as u32, e).map(|w| Appender {
                txn: w.txn,
                status: w.status,
                last_in_txn: w.final_in_txn,
            });
            match appender {
                None => first_garbage[key] = first_garbage[key].min(i),
                Some(a) if a.status == Status::Fail => {
                    first_failed[key] = first_failed[key].min(i);
                    failed_at.get_or_insert(i);
                }
                Some(a) => {
                    if let Some(f) = failed_at
                        && !dirty_reported
                    {
                        dirty_reported = true;
                        let failed = list[f];
                        findings.add(AnomalyKind::DirtyUpdate, || Finding {
                            kind: AnomalyKind::DirtyUpdate,
                            key: Some(h.key_name(key as u32)),
                            text: format!(
                                "T2 appended {} to key {} after {}, which T1 appended and which \
                                 failed",
                                h.interner.display(e),
                                h.key_name(key as u32),
                                h.interner.display(failed)
                            ),
                            txns: vec![appenders_txn(&appenders, f), a.txn],
                        });
                    }
                }
            }
            appenders.push(appender);
        }
        if usable[key] {
            for pair in appenders.windows(2) {
                if let [Some(a), Some(b)] = pair
                    && a.txn != b.txn
                    && a.status != Status::Fail
                    && b.status != Status::Fail
                {
                    builder.add(a.txn, b.txn, WW);
                }
            }
        }
        orders.appenders.push(appenders);
    }
    // Reads: (key, length) of every first read of each key by an ok txn, for lost updates.
    let mut read_then_appended: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    for (txn, t) in h.txns.iter().enumerate() {
        if t.status != Status::Ok {
            continue;
        }
        let txn = txn as u32;
        let mops = h.mops_of(txn);
        for (i, m) in mops.iter().enumerate() {
            if m.f() != MopF::Read || m.is_odd() {
                continue;
            }
            let key = m.key as usize;
            let n = m.read_len() as usize;
            let appenders = &orders.appenders[key];
            if n > first_garbage[key] {
                let list = &h.list.longest[key];
                findings.add(AnomalyKind::GarbageRead, || Finding {
                    kind: AnomalyKind::GarbageRead,
                    key: Some(h.key_name(key as u32)),
                    text: format!(
                        "T1 read {} of key {}: nobody appended {}",
                        list_text(&h.interner, &list[..n]),
                        h.key_name(key as u32),
                        h.interner.display(list[first_garbage[key]])
                    ),
                    txns: vec![txn],
                });
            }
            if n > first_failed[key] {
                let list = &h.list.longest[key];
                let f = first_failed[key];
                findings.add(AnomalyKind::G1a, || Finding {
                    kind: AnomalyKind::G1a,
                    key: Some(h.key_name(key as u32)),
                    text: format!(
                        "T1 read {} of key {}, including {}, which T2 appended and which failed",
                        list_text(&h.interner, &list[..n]),
                        h.key_name(key as u32),
                        h.interner.display(list[f])
                    ),
                    txns: vec![txn, appenders_txn(appenders, f)],
                });
            }
            if n > 0
                && let Some(w) = appenders[n - 1]
                && w.txn != txn
                && !w.last_in_txn
            {
                let list = &h.list.longest[key];
                findings.add(AnomalyKind::G1b, || Finding {
                    kind: AnomalyKind::G1b,
                    key: Some(h.key_name(key as u32)),
                    text: format!(
                        "T1 read {} of key {}, ending at {}: T2 appended it and then appended \
                         more to that key (an intermediate state)",
                        list_text(&h.interner, &list[..n]),
                        h.key_name(key as u32),
                        h.interner.display(list[n - 1])
                    ),
                    txns: vec![txn, w.txn],
                });
            }
            // Lost update: the first read of the key in this txn, followed by an append.
            let first_read = !mops[..i].iter().any(|o| o.key == m.key);
            if first_read
                && mops[i + 1..]
                    .iter()
                    .any(|o| o.key == m.key && o.f() == MopF::Append)
                && let Some(other) = read_then_appended.insert((m.key, n as u32), txn)
            {
                findings.add(AnomalyKind::LostUpdate, || Finding {
                    kind: AnomalyKind::LostUpdate,
                    key: Some(h.key_name(key as u32)),
                    text: format!(
                        "T1 and T2 both read the same {}-element state of key {} and both \
                         appended to it",
                        n,
                        h.key_name(key as u32)
                    ),
                    txns: vec![other, txn],
                });
            }
            if !usable[key] {
                continue;
            }
            if n > 0
                && let Some(w) = appenders[n - 1]
                && w.status != Status::Fail
            {
                builder.add(w.txn, txn, WR);
            }
            if n < appenders.len()
                && let Some(next) = appenders[n]
                && next.status != Status::Fail
            {
                builder.add(txn, next.txn, RW);
            }
        }
    }
    orders
}

fn appenders_txn(appenders: &[Option<Appender>], i: usize) -> u32 {
    appenders[i].map_or(u32::MAX, |a| a.txn)
}
