//! The one client interface of faultline and the one classification of outcomes.
//!
//! Every operation a workload sends ends as exactly one [`Outcome`] (DESIGN.md, "Clients and
//! errors"):
//!
//! - [`Outcome::Ok`]: the operation took effect (or, for a read, observed the value carried);
//! - [`Outcome::Fail`]: it definitely did not take effect: refused before any effect (not the
//!   leader, CAS mismatch, connection refused, bad request);
//! - [`Outcome::Info`]: unknown: it may take effect at any later time, or never (timeout,
//!   connection reset after the request was handed to the connection, 5xx after sending).
//!
//! The mapping from what happened on the wire to an outcome lives in one function,
//! [`classify::classify`]; the Raft client ([`RaftClient`], one leader guess per logical
//! thread) and the bank client ([`BankClient`], [`bank`]) are built on a small pool of
//! keep-alive HTTP/1 connections ([`pool`]) that reports precisely whether a request may have
//! been sent. Every request carries a deadline: a paused node never answers. A system with no
//! client here is driven through a user's stdio adapter ([`StdioClient`], [`stdio`]: JSON
//! lines over a pipe, `docs/adapter-protocol.md`).

pub mod bank;
pub mod classify;
pub mod etcd;
pub mod pool;
pub mod raft;
pub mod status;
pub mod stdio;

#[cfg(test)]
mod wire_tests;

use std::future::Future;

pub use bank::{BankClient, BankClientConfig, BankClientError};
pub use classify::{Classified, Transport, classify};
pub use etcd::{EtcdClient, EtcdClientConfig, EtcdClientError, EtcdWorkload, ReadMode};
pub use raft::{ClientError, RaftClient, RaftClientConfig};
pub use status::{NodeStatus, fetch_status};
pub use stdio::{AdapterReport, AdapterSpawner, StdioClient, StdioClientConfig};

/// One operation as a workload asks for it, in the history's vocabulary (DESIGN.md):
/// `f` = `read` (value `null`), `write` (value `v`) or `cas` (value `[from, to]`), or the
/// kv-append model's `get` (value `null`) and `append` (value a string).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub f: String,
    pub key: Option<String>,
    pub value: serde_json::Value,
}

impl Invocation {
    /// A read of `key`; its invoke value is `null`.
    pub fn read(key: impl Into<String>) -> Self {
        Self {
            f: "read".into(),
            key: Some(key.into()),
            value: serde_json::Value::Null,
        }
    }

    /// A write of `value` to `key`.
    pub fn write(key: impl Into<String>, value: serde_json::Value) -> Self {
        Self {
            f: "write".into(),
            key: Some(key.into()),
            value,
        }
    }

    /// A kv-append `get` of `key`; its invoke value is `null`.
    pub fn get(key: impl Into<String>) -> Self {
        Self {
            f: "get".into(),
            key: Some(key.into()),
            value: serde_json::Value::Null,
        }
    }

    /// A kv-append `append` of `suffix` to `key`'s string.
    pub fn append(key: impl Into<String>, suffix: impl Into<String>) -> Self {
        Self {
            f: "append".into(),
            key: Some(key.into()),
            value: serde_json::Value::String(suffix.into()),
        }
    }

    /// A compare-and-set of `key` from `from` to `to`; its value is `[from, to]`.
    pub fn cas(key: impl Into<String>, from: serde_json::Value, to: serde_json::Value) -> Self {
        Self {
            f: "cas".into(),
            key: Some(key.into()),
            value: serde_json::json!([from, to]),
        }
    }
}

/// How an operation ended. Error strings are short and stable (`timeout`, `not-leader`,
/// `cas-mismatch`, `connection-refused`, `reset`, ...): they go into the history's `error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It took effect; the value is the history's `ok` value (a read's value, the written
    /// value, the `[from, to]` pair of a cas).
    Ok(serde_json::Value),
    /// It definitely did not take effect.
    Fail(String),
    /// Unknown: it may take effect at any later time, or never.
    Info(String),
}

impl Outcome {
    /// The error string of a `Fail` or `Info`, `None` for `Ok`.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Ok(_) => None,
            Outcome::Fail(e) | Outcome::Info(e) => Some(e),
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// A client of one system under test. Shared by all of a workload's logical threads, so it
/// takes `&self`; every call must end within the client's timeout.
///
/// `thread` names the logical thread (Jepsen's worker) that sends the operation: `0..clients`
/// in a workload, unchanged when the thread takes a fresh process id after an `info`. A
/// client may keep per-thread state under it; the Raft client binds each thread to a node
/// (its own leader guess), as Jepsen binds each worker to one.
pub trait Client: Send + Sync {
    fn invoke(&self, thread: usize, inv: &Invocation) -> impl Future<Output = Outcome> + Send;
}
