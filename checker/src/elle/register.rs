//! Read-write register inference, kept to what Elle's `rw-register` infers by default
//! (Kingsbury & Alvaro, VLDB 2020, section 4.2: no linearizable or sequential keys
//! assumed), with unique written values:
//!
//! - the *version order* of a key is only partly known, from two sources: the initial
//!   state `nil` precedes every written version, and *writes follow reads*: a committed
//!   transaction that read `v1` of a key (its external read: before any own write of it)
//!   and then wrote it (its final write `v2`) installed `v2` right after `v1`;
//! - wr: the writer of `v` -> every committed transaction whose external read of the key
//!   returned `v`;
//! - ww: for each version-order step `v1 -> v2` with `v1` written by a transaction:
//!   `writer(v1) -> writer(v2)`;
//! - rw: for each step `v1 -> v2`, every committed transaction whose external read returned
//!   `v1` -> `writer(v2)`; for `nil`, every transaction that read `nil` -> every writer of the
//!   key (through the graph's hubs, linear in size).
//!
//! Versions whose order nothing shows (two blind writes) give no edges: sound, and why
//! rw-register finds fewer anomalies than list-append. Found here as well: `G1a` (read of
//! a failed transaction's write), `G1b` (read of a write its transaction overwrote),
//! `garbage-read` (a value nobody wrote) and `lost-update` (two committed transactions
//! read the same version and both wrote the key).

use rustc_hash::FxHashMap;

use super::findings::{Finding, Findings};
use super::graph::{Builder, RW, WR, WW};
use super::history::{History, Status};
use super::mops::{MopF, Val};
use crate::elle::anomaly::AnomalyKind;

/// One committed transaction's use of one key: its external read (`Val::NULL` for `nil`)
/// and its final write.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub txn: u32,
    pub read: Option<Val>,
    pub write: Option<Val>,
}

/// The (external read, final write) of each key a transaction touches.
pub fn accesses_of(h: &History, txn: u32) -> Vec<(u32, Access)> {
    let mut out: Vec<(u32, Access)> = Vec::new();
    for m in h.mops_of(txn) {
        let at = match out.iter().position(|(k, _)| *k == m.key) {
            Some(at) => at,
            None => {
                out.push((
                    m.key,
                    Access {
                        txn,
                        read: None,
                        write: None,
                    },
                ));
                out.len() - 1
            }
        };
        let access = &mut out[at].1;
        match m.f() {
            MopF::Read if access.read.is_none() && access.write.is_none() => {
                access.read = Some(m.val)
            }
            MopF::Write => access.write = Some(m.val),
            _ => {}
        }
    }
    out
}

/// Adds the ww, wr and rw edges of every key to `builder`, the non-cycle anomalies to
/// `findings`.
pub fn infer(h: &History, builder: &mut Builder, findings: &mut Findings) {
    let keys = h.keys.len();
    // (key, version read) -> readers; (key, version read) -> the txns that wrote after it.
    let mut readers: FxHashMap<(u32, Val), Vec<u32>> = FxHashMap::default();
    let mut successors: FxHashMap<(u32, Val), Vec<u32>> = FxHashMap::default();
    let mut writers: Vec<Vec<u32>> = vec![Vec::new(); keys];
    for (txn, t) in h.txns.iter().enumerate() {
        let txn = txn as u32;
        if t.status == Status::Fail {
            continue;
        }
        for (key, access) in accesses_of(h, txn) {
            if access.write.is_some() {
                writers[key as usize].push(txn);
            }
            if t.status != Status::Ok {
                continue;
            }
            let Some(read) = access.read else { continue };
            readers.entry((key, read)).or_default().push(txn);
            if access.write.is_some() {
                let after = successors.entry((key, read)).or_default();
                after.push(txn);
                if after.len() == 2 {
                    let (first, second) = (after[0], after[1]);
                    findings.add(AnomalyKind::LostUpdate, || Finding {
                        kind: AnomalyKind::LostUpdate,
                        key: Some(h.key_name(key)),
                        text: format!(
                            "T1 and T2 both read {} of key {} and both wrote it",
                            show(h, read),
                            h.key_name(key)
                        ),
                        txns: vec![first, second],
                    });
                }
            }
            if read.is_null() {
                continue;
            }
            match h.write_of(key, read) {
                None => findings.add(AnomalyKind::GarbageRead, || Finding {
                    kind: AnomalyKind::GarbageRead,
                    key: Some(h.key_name(key)),
                    text: format!(
                        "T1 read {} of key {}, which nobody wrote",
                        show(h, read),
                        h.key_name(key)
                    ),
                    txns: vec![txn],
                }),
                Some(w) if w.txn == txn => {}
                Some(w) => {
                    let status = w.status;
                    if status == Status::Fail {
                        findings.add(AnomalyKind::G1a, || Finding {
                            kind: AnomalyKind::G1a,
                            key: Some(h.key_name(key)),
                            text: format!(
                                "T1 read {} of key {}, written by T2, which failed",
                                show(h, read),
                                h.key_name(key)
                            ),
                            txns: vec![txn, w.txn],
                        });
                    } else if !w.final_in_txn {
                        findings.add(AnomalyKind::G1b, || Finding {
                            kind: AnomalyKind::G1b,
                            key: Some(h.key_name(key)),
                            text: format!(
                                "T1 read {} of key {}, which T2 wrote and then overwrote itself \
                                 (an intermediate state)",
                                show(h, read),
                                h.key_name(key)
                            ),
                            txns: vec![txn, w.txn],
                        });
                    } else {
                        builder.add(w.txn, txn, WR);
                    }
                }
            }
        }
    }
    // Version steps v1 -> v2 from writes-follow-reads.
    for (&(key, read), after) in &successors {
        let prior = if read.is_null() {
            None
        } else {
            h.write_of(key, read)
                .filter(|w| w.final_in_txn && w.status != Status::Fail)
        };
        for &t in after {
            if let Some(w) = prior {
                builder.add(w.txn, t, WW);
            }
            if !read.is_null()
                && let Some(rs) = readers.get(&(key, read))
            {
                for &r in rs {
                    builder.add(r, t, RW);
                }
            }
        }
    }
    // nil precedes every version: readers of nil -> every writer of the key.
    for (key, ws) in writers.iter_mut().enumerate() {
        let Some(rs) = readers.get(&(key as u32, Val::NULL)) else {
            continue;
        };
        ws.sort_unstable();
        ws.dedup();
        builder.fan_out(rs, ws, RW);
    }
}

fn show(h: &History, v: Val) -> String {
    if v.is_null() {
        "nil".into()
    } else {
        h.interner.display(v)
    }
}
