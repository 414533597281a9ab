//! Splitting a history by key and pairing each invoke with its completion by process.
//!
//! The [`Partitioner`] is an [`OpSink`]: records arrive in file order, nemesis records are
//! counted and skipped, an invoke opens a pending call for its process, and the next
//! completion of that process closes it. Each key gets its own model instance (its own
//! interning tables) and a compact list of [`Call`]s. An invoke with no completion by the
//! end of the history is treated as `info`: it may take effect at any time after its
//! invoke, or never.

use rustc_hash::FxHashMap;

use crate::format::{OpSink, OpView, SinkError};
use crate::history::{OpType, Process};
use crate::model::{Completion, Model, ModelConfig};

/// `Call::ret` of an op whose outcome is unknown: it returns "after everything".
pub const NO_RETURN: u32 = u32::MAX;

/// One operation of one key, invoke and completion paired.
#[derive(Debug, Clone)]
pub struct Call<O> {
    pub op: O,
    /// Position of the invoke among the history's client records (real-time order).
    pub inv: u32,
    /// Position of the completion, or [`NO_RETURN`] for `info` ops.
    pub ret: u32,
    pub inv_line: u32,
    /// Line of the completion; 0 when there was none.
    pub ret_line: u32,
    pub process: u64,
}

impl<O> Call<O> {
    pub fn is_info(&self) -> bool {
        self.ret == NO_RETURN
    }
}

/// Everything about one key that the search needs.
#[derive(Debug)]
pub struct KeyHistory<M: Model> {
    /// The key; the empty string for an unkeyed history.
    pub name: Box<str>,
    pub model: M,
    pub calls: Vec<Call<M::Op>>,
    /// Pairs of indices into `calls` that every explaining linearization keeps
    /// ([`Model::implied_order`]); filled in by the check once `calls` is final.
    pub order: Vec<(u32, u32)>,
}

struct PendingCall<P> {
    key: u32,
    f: u16,
    inv: u32,
    inv_line: u32,
    pending: P,
}

/// Pairs and splits records into per-key call lists.
pub struct Partitioner<M: Model> {
    config: ModelConfig,
    key_ids: FxHashMap<Box<str>, u32>,
    keys: Vec<KeyHistory<M>>,
    pending: FxHashMap<u64, PendingCall<M::Pending>>,
    functions: Vec<Box<str>>,
    position: u32,
    /// Every record read, nemesis included.
    pub records: u64,
}

impl<M: Model> Partitioner<M> {
    pub fn new(config: ModelConfig) -> Partitioner<M> {
        Partitioner {
            config,
            key_ids: FxHashMap::default(),
            keys: Vec::new(),
            pending: FxHashMap::default(),
            functions: Vec::new(),
            position: 0,
            records: 0,
        }
    }

    fn key_id(&mut self, key: &str) -> Result<u32, SinkError> {
        if let Some(&id) = self.key_ids.get(key) {
            return Ok(id);
        }
        let id = self.keys.len() as u32;
        self.keys.push(KeyHistory {
            name: key.into(),
            model: M::new(&self.config)?,
            calls: Vec::new(),
            order: Vec::new(),
        });
        self.key_ids.insert(key.into(), id);
        Ok(id)
    }

    fn function_id(&mut self, f: &str) -> u16 {
        if let Some(i) = self.functions.iter().position(|g| &**g == f) {
            return i as u16;
        }
        self.functions.push(f.into());
        (self.functions.len() - 1) as u16
    }

    fn invoke(&mut self, process: u64, op: &OpView<'_>, line: u32) -> Result<(), SinkError> {
        if let Some(open) = self.pending.get(&process) {
            return Err(SinkError::new(
                format!(
                    "a completion of process {process}'s op invoked at line {} before its next invoke",
                    open.inv_line
                ),
                format!("another invoke of {:?}", op.f),
            ));
        }
        let key = self.key_id(op.key.unwrap_or(""))?;
        let pending = self.keys[key as usize].model.invoke(op.f, &op.value)?;
        let f = self.function_id(op.f);
        let call = PendingCall {
            key,
            f,
            inv: self.position,
            inv_line: line,
            pending,
        };
        self.pending.insert(process, call);
        Ok(())
    }

    fn complete(&mut self, process: u64, op: &OpView<'_>, line: u32) -> Result<(), SinkError> {
        let Some(open) = self.pending.remove(&process) else {
            return Err(SinkError::new(
                format!("an invoke by process {process} before its completion"),
                format!("a {:?} completion with no pending invoke", op.f),
            ));
        };
        if *self.functions[open.f as usize] != *op.f {
            return Err(SinkError::new(
                format!(
                    "a completion of {:?} (invoked at line {})",
                    self.functions[open.f as usize], open.inv_line
                ),
                format!("{:?}", op.f),
            ));
        }
        let history = &mut self.keys[open.key as usize];
        if let Some(key) = op.key
            && *history.name != *key
        {
            return Err(SinkError::new(
                format!(
                    "key {:?} as at the invoke on line {}",
                    history.name, open.inv_line
                ),
                format!("key {key:?}"),
            ));
        }
        let completion = match op.kind {
            OpType::Ok => Completion::Ok,
            OpType::Fail => Completion::Fail,
            _ => Completion::Info,
        };
        if let Some(model_op) = history
            .model
            .complete(open.pending, completion, &op.value)?
        {
            let definite = completion != Completion::Info;
            history.calls.push(Call {
                op: model_op,
                inv: open.inv,
                ret: if definite { self.position } else { NO_RETURN },
                inv_line: open.inv_line,
                ret_line: line,
                process,
            });
        }
        Ok(())
    }

    /// Closes calls left pending as `info` and hands over the per-key histories.
    pub fn finish(mut self) -> Result<Vec<KeyHistory<M>>, SinkError> {
        let mut open: Vec<(u64, PendingCall<M::Pending>)> = self.pending.drain().collect();
        open.sort_by_key(|(_, call)| call.inv);
        for (process, call) in open {
            let history = &mut self.keys[call.key as usize];
            let value = crate::format::ValRef::Null;
            if let Some(op) = history
                .model
                .complete(call.pending, Completion::Info, &value)?
            {
                history.calls.push(Call {
                    op,
                    inv: call.inv,
                    ret: NO_RETURN,
                    inv_line: call.inv_line,
                    ret_line: 0,
                    process,
                });
            }
        }
        Ok(self.keys)
    }
}

impl<M: Model> OpSink for Partitioner<M> {
    fn accept(&mut self, op: &OpView<'_>, line: u64) -> Result<(), SinkError> {
        self.records += 1;
        let Process::Client(process) = op.process else {
            return Ok(());
        };
        let line = u32::try_from(line).map_err(|_| SinkError::new("at most 2^32 lines", "more"))?;
        if self.position == NO_RETURN - 1 {
            return Err(SinkError::new("fewer than 2^32 - 1 client records", "more"));
        }
        match op.kind {
            OpType::Invoke => self.invoke(process, op, line)?,
            _ => self.complete(process, op, line)?,
        }
        self.position += 1;
        Ok(())
    }
}
