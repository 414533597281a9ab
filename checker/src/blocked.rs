//! Blocked time of the bank per fault window, as its users feel it.
//!
//! The bank checker's *longest gap* counts only time during which some transfer was in
//! flight: right for a slow system, but a dead coordinator refuses connections at once, so
//! clients fail fast and nothing is ever in flight; the gap then says "66 ms" for a window
//! in which no transfer succeeded for 3 s. These two measures count wall time instead:
//!
//! - `longest_without_ok_ns`: the longest stretch inside the window with no `ok` transfer
//!   completion (the window's edges count as boundaries: a window without any `ok`
//!   transfer scores its whole length);
//! - `until_first_ok_ns`: from the window's start to the first `ok` transfer completion at
//!   or after it (possibly after the window ended; `None` if none ever came): how long the
//!   fault stopped every transfer.
//!
//! Both are computed from the history alone (completions of `transfer` ops and the
//! nemesis' windows, [`crate::calls::fault_windows`]).

use crate::calls::fault_windows;
use crate::history::{Op, OpType, Process};
use serde::Serialize;

/// Blocked time in one fault window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedWindow {
    /// `kill`, `pause`, `partition`, with the nemesis' id.
    pub fault: String,
    pub id: Option<u64>,
    pub start_ns: u64,
    pub stop_ns: u64,
    pub ok_transfers: u64,
    pub longest_without_ok_ns: u64,
    pub until_first_ok_ns: Option<u64>,
}

/// The blocked time of every fault window of `ops`, in order of start.
pub fn blocked_windows(ops: &[Op]) -> Vec<BlockedWindow> {
    let mut ok_times: Vec<u64> = ops
        .iter()
        .filter(|op| {
            matches!(op.process, Process::Client(_)) && op.kind == OpType::Ok && op.f == "transfer"
        })
        .map(|op| op.time_ns)
        .collect();
    ok_times.sort_unstable();
    fault_windows(ops)
        .into_iter()
        .map(|window| {
            let (start, stop) = (window.start_ns, window.stop_ns);
            let inside: Vec<u64> = ok_times
                .iter()
                .copied()
                .filter(|t| (start..=stop).contains(t))
                .collect();
            let longest_without_ok_ns = std::iter::once(start)
                .chain(inside.iter().copied())
                .chain(std::iter::once(stop))
                .collect::<Vec<u64>>()
                .windows(2)
                .map(|pair| pair[1] - pair[0])
                .max()
                .unwrap_or(0);
            let until_first_ok_ns = ok_times.iter().find(|t| **t >= start).map(|t| t - start);
            BlockedWindow {
                fault: window.fault,
                id: window.id,
                start_ns: start,
                stop_ns: stop,
                ok_transfers: inside.len() as u64,
                longest_without_ok_ns,
                until_first_ok_ns,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(time_ns: u64, process: Process, kind: OpType, f: &str) -> Op {
        let value = if process == Process::Nemesis {
            json!({"id": 0})
        } else {
            json!(null)
        };
        Op {
            index: 0,
            time_ns,
            process,
            kind,
            f: f.into(),
            key: None,
            value,
            error: None,
        }
    }

    #[test]
    fn wall_time_without_ok_transfers_counts_even_when_clients_fail_fast() {
        let client = Process::Client(1);
        let ops = vec![
            op(100, client, OpType::Ok, "transfer"),
            op(1_000, Process::Nemesis, OpType::Info, "start-kill"),
            op(1_200, client, OpType::Fail, "transfer"),
            op(1_500, client, OpType::Ok, "read"),
            op(4_000, client, OpType::Ok, "transfer"),
            op(4_100, client, OpType::Ok, "transfer"),
            op(4_500, Process::Nemesis, OpType::Info, "stop-kill"),
        ];
        let windows = blocked_windows(&ops);
        assert_eq!(windows.len(), 1);
        let w = &windows[0];
        assert_eq!((w.start_ns, w.stop_ns, w.ok_transfers), (1_000, 4_500, 2));
        assert_eq!(w.longest_without_ok_ns, 3_000, "start to the first ok");
        assert_eq!(w.until_first_ok_ns, Some(3_000));
    }

    #[test]
    fn a_window_without_any_ok_transfer_is_blocked_throughout() {
        let ops = vec![
            op(0, Process::Nemesis, OpType::Info, "start-pause"),
            op(700, Process::Nemesis, OpType::Info, "stop-pause"),
        ];
        let w = &blocked_windows(&ops)[0];
        assert_eq!(w.longest_without_ok_ns, 700);
        assert_eq!(w.until_first_ok_ns, None);
    }
}
