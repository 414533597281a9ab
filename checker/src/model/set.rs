//! The set: `add v` and `read` returning `[...]` (elements any JSON, order ignored).
//!
//! Elements are interned per key; a state is a bitset over element ids with trailing
//! zero words trimmed, so equal sets are equal vectors. An `add` with an unknown outcome
//! may happen or not; a read that failed or is unknown constrains nothing.

use super::{Completion, Interner, Model, ModelConfig, ModelKind, unknown_function};
use crate::format::{SinkError, ValRef};

/// A set operation with its observed result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOp {
    Add(u32),
    /// A read that observed exactly these elements (a trimmed bitset).
    Read(Box<[u64]>),
}

/// What a set invoke leaves until its completion.
#[derive(Debug, Clone, Copy)]
pub enum SetPending {
    Add(u32),
    Read,
}

/// The set model for one key.
#[derive(Debug)]
pub struct SetModel {
    elements: Interner,
    initial: Box<[u64]>,
}

fn with_bit(bits: &[u64], id: u32) -> Box<[u64]> {
    let word = id as usize / 64;
    let mut out = bits.to_vec();
    if out.len() <= word {
        out.resize(word + 1, 0);
    }
    out[word] |= 1 << (id % 64);
    out.into_boxed_slice()
}

impl SetModel {
    fn bits_of(&mut self, value: &ValRef<'_>) -> Result<Box<[u64]>, SinkError> {
        if value.is_null() {
            return Ok(Box::new([]));
        }
        let Some(items) = value.as_items() else {
            return Err(SinkError::new("a set read value [...]", value.preview()));
        };
        let mut bits: Box<[u64]> = Box::new([]);
        for item in items {
            bits = with_bit(&bits, self.elements.intern_value(&item)?);
        }
        Ok(bits)
    }
}

impl Model for SetModel {
    type State = Box<[u64]>;
    type Op = SetOp;
    type Pending = SetPending;
    const KIND: ModelKind = ModelKind::Set;

    fn new(config: &ModelConfig) -> Result<Self, SinkError> {
        let mut model = SetModel {
            elements: Interner::default(),
            initial: Box::new([]),
        };
        model.initial = model.bits_of(&ValRef::Json(&config.initial))?;
        Ok(model)
    }

    fn initial_state(&mut self) -> Box<[u64]> {
        self.initial.clone()
    }

    fn invoke(&mut self, f: &str, value: &ValRef<'_>) -> Result<SetPending, SinkError> {
        match f {
            "add" => Ok(SetPending::Add(self.elements.intern_value(value)?)),
            "read" => Ok(SetPending::Read),
            _ => Err(unknown_function(ModelKind::Set, f, "add, read")),
        }
    }

    fn complete(
        &mut self,
        pending: SetPending,
        completion: Completion,
        value: &ValRef<'_>,
    ) -> Result<Option<SetOp>, SinkError> {
        Ok(match (pending, completion) {
            (_, Completion::Fail) | (SetPending::Read, Completion::Info) => None,
            (SetPending::Add(e), _) => Some(SetOp::Add(e)),
            (SetPending::Read, Completion::Ok) => Some(SetOp::Read(self.bits_of(value)?)),
        })
    }

    fn step(&mut self, state: &Box<[u64]>, op: &SetOp) -> Option<Box<[u64]>> {
        match op {
            SetOp::Add(e) => Some(with_bit(state, *e)),
            SetOp::Read(bits) => (bits == state).then(|| state.clone()),
        }
    }

    fn is_pure(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }

    fn describe_state(&self, state: &Box<[u64]>) -> String {
        format!("[{}]", self.elements_of(state).join(","))
    }

    fn describe_op(&self, op: &SetOp) -> String {
        match op {
            SetOp::Add(e) => format!("add {}", self.elements.text(*e)),
            SetOp::Read(bits) => format!("read -> [{}]", self.elements_of(bits).join(",")),
        }
    }

    fn state_heap_bytes(state: &Box<[u64]>) -> usize {
        state.len() * 8
    }
}

impl SetModel {
    fn elements_of(&self, bits: &[u64]) -> Vec<&str> {
        let mut out = Vec::new();
        for (w, word) in bits.iter().enumerate() {
            for b in 0..64 {
                if word & (1 << b) != 0 {
                    out.push(self.elements.text((w * 64 + b) as u32));
                }
            }
        }
        out
    }
}
