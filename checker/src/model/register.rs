//! The read/write register: `read` and `write v` only, values any JSON.
//!
//! It is the compare-and-set register with `cas` refused, so that a history meant for a
//! plain register that somehow contains a cas is reported rather than silently accepted.

use super::cas_register::{CasRegister, RegisterOp, RegisterPending};
use super::{Completion, Model, ModelConfig, ModelKind, RegisterAccess};
use crate::format::{SinkError, ValRef};

/// The read/write register model for one key.
#[derive(Debug)]
pub struct Register(CasRegister);

impl Model for Register {
    type State = u32;
    type Op = RegisterOp;
    type Pending = RegisterPending;
    const KIND: ModelKind = ModelKind::Register;

    fn new(config: &ModelConfig) -> Result<Self, SinkError> {
        CasRegister::with_cas(config, false).map(Register)
    }

    fn initial_state(&mut self) -> u32 {
        self.0.initial_state()
    }

    fn invoke(&mut self, f: &str, value: &ValRef<'_>) -> Result<RegisterPending, SinkError> {
        self.0.invoke(f, value)
    }

    fn complete(
        &mut self,
        pending: RegisterPending,
        completion: Completion,
        value: &ValRef<'_>,
    ) -> Result<Option<RegisterOp>, SinkError> {
        self.0.complete(pending, completion, value)
    }

    #[inline]
    fn step(&mut self, state: &u32, op: &RegisterOp) -> Option<u32> {
        self.0.step(state, op)
    }

    fn is_pure(&self, op: &RegisterOp) -> bool {
        self.0.is_pure(op)
    }

    fn register_access(&self, op: &RegisterOp) -> Option<RegisterAccess<u32>> {
        self.0.register_access(op)
    }

    fn describe_state(&self, state: &u32) -> String {
        self.0.describe_state(state)
    }

    fn describe_op(&self, op: &RegisterOp) -> String {
        self.0.describe_op(op)
    }
}
