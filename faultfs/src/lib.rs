//! faultfs: a FUSE passthrough filesystem that loses what was not fsynced.
//!
//! See the crate README (`faultfs/README.md`) for the semantics.
pub mod cache;
