//! The checker: history types and formats, models, linearizability and the bank, set and
//! list-append checks.
//!
//! Everything here is pure logic over histories: no sockets, no processes. `workloads`
//! writes histories with these types and `chaos` calls these checks after a run; the
//! `faultline check` subcommand calls them on any history file.

pub mod history;
