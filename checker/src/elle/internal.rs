//! Checks of one committed transaction on its own: `internal` (Cerone et al.'s INT axiom:
//! a read must agree with the transaction's own earlier reads and writes of the key) and
//! `future-read` (a read that returned a value the transaction only appends or writes
//! later in itself).
//!
//! List-append: after a read `R` and appends `a1 .. an` of a key, the next read must be
//! `R ++ [a1 .. an]`; with no earlier read, it must end with `[a1 .. an]`. Register: after
//! a read or write of `v`, the next read must return `v`.

use super::findings::{Finding, list_text};
use super::history::History;
use super::mops::{MopF, ParsedTxn, ReadValue, Val};
use crate::elle::anomaly::AnomalyKind;

/// What the transaction knows of one key so far.
struct KeyState {
    key: Val,
    /// The whole value, when an earlier read (plus own appends since) gives it.
    known: Option<Vec<Val>>,
    /// Own appends (or the last own write) since the start, when nothing was read.
    suffix: Vec<Val>,
}

pub fn check_txn(h: &mut History, txn: u32, parsed: &ParsedTxn) {
    // Both anomalies need two micro-ops on one key; most transactions have none.
    let mops = &parsed.mops;
    let repeated = (1..mops.len()).any(|i| mops[..i].iter().any(|o| o.key == mops[i].key));
    if !repeated {
        return;
    }
    let mut states: Vec<KeyState> = Vec::new();
    for (i, mop) in parsed.mops.iter().enumerate() {
        let at = match states.iter().position(|s| s.key == mop.key) {
            Some(at) => at,
            None => {
                states.push(KeyState {
                    key: mop.key,
                    known: None,
                    suffix: Vec::new(),
                });
                states.len() - 1
            }
        };
        let state = &mut states[at];
        match (mop.f, mop.read) {
            (MopF::Append, _) => match &mut state.known {
                Some(list) => list.push(mop.value),
                None => state.suffix.push(mop.value),
            },
            (MopF::Write, _) => {
                state.known = Some(vec![mop.value]);
            }
            (MopF::Read, ReadValue::Null) if h.workload == Some(super::Workload::ListAppend) => {
                check_read(h, txn, parsed, i, state, &[]);
            }
            (MopF::Read, ReadValue::Null) => check_read(h, txn, parsed, i, state, &[Val::NULL]),
            (MopF::Read, ReadValue::Scalar(v)) => check_read(h, txn, parsed, i, state, &[v]),
            (MopF::Read, ReadValue::List(..)) => {
                let list = parsed.list(mop.read).to_vec();
                check_read(h, txn, parsed, i, state, &list);
            }
        }
    }
}

fn check_read(
    h: &mut History,
    txn: u32,
    parsed: &ParsedTxn,
    i: usize,
    state: &mut KeyState,
    read: &[Val],
) {
    let mop = parsed.mops[i];
    let register = h.workload == Some(super::Workload::RwRegister);
    let consistent = match &state.known {
        Some(expected) => expected.as_slice() == read,
        None if register => state.suffix.is_empty(),
        None => read.ends_with(&state.suffix),
    };
    let show = |h: &History, list: &[Val]| {
        if register {
            list.first()
                .map_or("nil".to_string(), |v| h.interner.display(*v))
        } else {
            list_text(&h.interner, list)
        }
    };
    if !consistent {
        let expected = match &state.known {
            Some(expected) => show(h, expected),
            None => format!("a list ending in {}", list_text(&h.interner, &state.suffix)),
        };
        let text = format!(
            "T1 read {} of key {}, but its own earlier micro-ops imply {}",
            show(h, read),
            h.interner.display(mop.key),
            expected
        );
        let key = h.interner.display(mop.key);
        h.findings.add(AnomalyKind::Internal, || Finding {
            kind: AnomalyKind::Internal,
            key: Some(key),
            text,
            txns: vec![txn],
        });
    }
    let later = parsed.mops[i + 1..].iter().find(|o| {
        o.key == mop.key && matches!(o.f, MopF::Append | MopF::Write) && read.contains(&o.value)
    });
    if let Some(later) = later {
        let text = format!(
            "T1 read {} of key {}, which includes {}, a value it only {} later",
            show(h, read),
            h.interner.display(mop.key),
            h.interner.display(later.value),
            if later.f == MopF::Append {
                "appends"
            } else {
                "writes"
            }
        );
        let key = h.interner.display(mop.key);
        h.findings.add(AnomalyKind::FutureRead, || Finding {
            kind: AnomalyKind::FutureRead,
            key: Some(key),
            text,
            txns: vec![txn],
        });
    }
    state.known = Some(read.to_vec());
    state.suffix.clear();
}
