//! The compare-and-set register: `read`, `write v`, `cas [from, to]`, values any JSON.
//!
//! Values are interned per key; the state is the interned id of the current value (the
//! initial value, `null` unless `--initial` says otherwise, is id 0). A read's invoke
//! value is ignored and its `ok` value is what it observed. An `ok` read of `null` means
//! it observed `null` under [`NilRead::Value`] (Porcupine's reading, faultline's JSONL);
//! under [`NilRead::Any`] (Knossos's reading, the default for Jepsen's EDN and JSON) it
//! matches every state and is dropped like an `info` read. A `fail` cas is dropped under
//! Jepsen's reading or becomes "observed a value other than `from`" under Porcupine's.

use super::{
    Completion, FailedCasReading, Interner, Model, ModelConfig, ModelKind, NilRead, RegisterAccess,
    unknown_function,
};
use rustc_hash::FxHashSet;

use crate::format::{SinkError, ValRef};
use crate::partition::Call;

/// A register operation with its observed result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOp {
    /// A read that observed this value.
    Read(u32),
    Write(u32),
    /// A cas that succeeded.
    Cas {
        from: u32,
        to: u32,
    },
    /// A cas with an unknown outcome: it swaps if the value matches, else does nothing.
    CasUnknown {
        from: u32,
        to: u32,
    },
    /// Porcupine's failed cas: the value was not `from` at its linearization point.
    NotEqual(u32),
}

/// What a register invoke leaves until its completion.
#[derive(Debug, Clone, Copy)]
pub enum RegisterPending {
    Read,
    Write(u32),
    Cas { from: u32, to: u32 },
}

/// The compare-and-set register model for one key.
#[derive(Debug)]
pub struct CasRegister {
    values: Interner,
    failed_cas: FailedCasReading,
    nil_read: NilRead,
    allow_cas: bool,
}

impl CasRegister {
    pub(crate) fn with_cas(
        config: &ModelConfig,
        allow_cas: bool,
    ) -> Result<CasRegister, SinkError> {
        let mut values = Interner::default();
        values.intern_value(&ValRef::Json(&config.initial))?;
        Ok(CasRegister {
            values,
            failed_cas: config.failed_cas,
            nil_read: config.nil_read,
            allow_cas,
        })
    }

    fn kind(&self) -> ModelKind {
        if self.allow_cas {
            ModelKind::CasRegister
        } else {
            ModelKind::Register
        }
    }
}

impl Model for CasRegister {
    type State = u32;
    type Op = RegisterOp;
    type Pending = RegisterPending;
    const KIND: ModelKind = ModelKind::CasRegister;

    fn new(config: &ModelConfig) -> Result<Self, SinkError> {
        CasRegister::with_cas(config, true)
    }

    fn initial_state(&mut self) -> u32 {
        0
    }

    fn invoke(&mut self, f: &str, value: &ValRef<'_>) -> Result<RegisterPending, SinkError> {
        match f {
            "read" => Ok(RegisterPending::Read),
            "write" => Ok(RegisterPending::Write(self.values.intern_value(value)?)),
            "cas" if self.allow_cas => {
                let Some((from, to)) = value.as_pair() else {
                    return Err(SinkError::new("a cas value [from, to]", value.preview()));
                };
                Ok(RegisterPending::Cas {
                    from: self.values.intern_value(&from)?,
                    to: self.values.intern_value(&to)?,
                })
            }
            _ if self.allow_cas => Err(unknown_function(self.kind(), f, "read, write, cas")),
            _ => Err(unknown_function(self.kind(), f, "read, write")),
        }
    }

    fn complete(
        &mut self,
        pending: RegisterPending,
        completion: Completion,
        value: &ValRef<'_>,
    ) -> Result<Option<RegisterOp>, SinkError> {
        Ok(match (pending, completion) {
            // Knossos: `(or (nil? v) (= value v))`, a nil read is consistent with any state.
            (RegisterPending::Read, Completion::Ok)
                if self.nil_read == NilRead::Any && value.is_null() =>
            {
                None
            }
            (RegisterPending::Read, Completion::Ok) => {
                Some(RegisterOp::Read(self.values.intern_value(value)?))
            }
            // A read that failed or may have happened constrains nothing.
            (RegisterPending::Read, Completion::Fail | Completion::Info) => None,
            (RegisterPending::Write(v), Completion::Ok | Completion::Info) => {
                Some(RegisterOp::Write(v))
            }
            (RegisterPending::Cas { from, to }, Completion::Ok) => {
                Some(RegisterOp::Cas { from, to })
            }
            (RegisterPending::Cas { from, to }, Completion::Info) => {
                Some(RegisterOp::CasUnknown { from, to })
            }
            (RegisterPending::Cas { from, .. }, Completion::Fail) => match self.failed_cas {
                FailedCasReading::Dropped => None,
                FailedCasReading::CompareFalse => Some(RegisterOp::NotEqual(from)),
            },
            (RegisterPending::Write(_), Completion::Fail) => None,
        })
    }

    #[inline]
    fn step(&mut self, state: &u32, op: &RegisterOp) -> Option<u32> {
        let s = *state;
        match *op {
            RegisterOp::Read(v) => (v == s).then_some(s),
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas { from, to } => (from == s).then_some(to),
            RegisterOp::CasUnknown { from, to } => Some(if from == s { to } else { s }),
            RegisterOp::NotEqual(v) => (v != s).then_some(s),
        }
    }

    /// Drops `info` writes (and `info` cas) whose written value no op observes: no ok
    /// read returned it and no cas (ok or info) expects it as `from`.
    ///
    /// Why no linearization needs such an op W that writes v: after W the state is v until
    /// the next state-changing op. Nothing between can be a read (none returns v), an ok
    /// cas (none expects v) or an info cas that swaps (none expects v); an info cas that
    /// did nothing there can be left out as well. So deleting W, and those no-op info
    /// cases, from a valid linearization leaves a valid one. The argument needs every
    /// observation of the state to name the value it saw, so a key with Porcupine's failed
    /// cas (`NotEqual`: "the value was not x", true of v) is left alone.
    ///
    /// Under a partition most timed-out writes are such ops, and each one is free to
    /// float to the end of the history: dropping them is what keeps a stale-read history
    /// of a few hundred ops from exhausting the memo.
    fn prune_unneeded_info(&self, calls: &mut Vec<Call<RegisterOp>>) -> usize {
        let mut observed = FxHashSet::default();
        for call in calls.iter() {
            match call.op {
                RegisterOp::Read(v) => observed.insert(v),
                RegisterOp::Cas { from, .. } | RegisterOp::CasUnknown { from, .. } => {
                    observed.insert(from)
                }
                RegisterOp::NotEqual(_) => return 0,
                RegisterOp::Write(_) => false,
            };
        }
        let before = calls.len();
        calls.retain(|call| {
            let written = match call.op {
                RegisterOp::Write(v) | RegisterOp::CasUnknown { to: v, .. } => v,
                _ => return true,
            };
            !call.is_info() || observed.contains(&written)
        });
        before - calls.len()
    }

    fn register_access(&self, op: &RegisterOp) -> Option<RegisterAccess<u32>> {
        let (observes, writes) = match *op {
            RegisterOp::Read(v) => (Some(v), None),
            RegisterOp::Write(v) => (None, Some(v)),
            RegisterOp::Cas { from, to } => (Some(from), Some(to)),
            // May or may not have swapped: it requires nothing and may leave `to`.
            RegisterOp::CasUnknown { to, .. } => (None, Some(to)),
            // "Not `from`" names no single value.
            RegisterOp::NotEqual(_) => return None,
        };
        Some(RegisterAccess { observes, writes })
    }

    fn is_pure(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::NotEqual(_))
    }

    fn describe_state(&self, state: &u32) -> String {
        self.values.text(*state).to_string()
    }

    fn describe_op(&self, op: &RegisterOp) -> String {
        let t = |id: u32| self.values.text(id);
        match *op {
            RegisterOp::Read(v) => format!("read -> {}", t(v)),
            RegisterOp::Write(v) => format!("write {}", t(v)),
            RegisterOp::Cas { from, to } => format!("cas {} -> {}", t(from), t(to)),
            RegisterOp::CasUnknown { from, to } => {
                format!("cas {} -> {} (outcome unknown)", t(from), t(to))
            }
            RegisterOp::NotEqual(v) => format!("cas from {} failed (value was not {})", t(v), t(v)),
        }
    }
}
