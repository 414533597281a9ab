//! Shared by the checker's integration tests: histories built by hand, record by record.
//! Each test file adds the shorthands it needs (`impl History` blocks of its own).

#![allow(dead_code)] // each test file uses a different part

use checker::history::{Op, OpType, Process};
use serde_json::Value;

pub mod kv;

/// Records in the order pushed; a record's index is its position.
#[derive(Default)]
pub struct History {
    pub ops: Vec<Op>,
}

impl History {
    /// Appends one record at `time_ns`.
    pub fn record(
        &mut self,
        time_ns: u64,
        process: Process,
        kind: OpType,
        f: &str,
        key: Option<&str>,
        value: Value,
    ) -> &mut Self {
        let index = self.ops.len() as u64;
        self.ops.push(Op {
            index,
            time_ns,
            process,
            kind,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            error: None,
        });
        self
    }

    /// Appends one client record 1 ms after the previous one (the first at 1 ms).
    pub fn next(
        &mut self,
        process: u64,
        kind: OpType,
        f: &str,
        key: Option<&str>,
        value: Value,
    ) -> &mut Self {
        let time_ns = (self.ops.len() as u64 + 1) * 1_000_000;
        self.record(time_ns, Process::Client(process), kind, f, key, value)
    }
}
