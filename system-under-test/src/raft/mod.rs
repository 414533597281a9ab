//! The Raft consensus core: plain data types, the in-memory log and the pure engine.

pub mod engine;
pub mod log;
pub mod types;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod simulation_tests;
