//! Workloads: clients for each system under test, operation generators and the recorder.
//!
//! Will hold: a client per system (one classification of outcomes into ok / fail / info,
//! a timeout on every request), generators (`register`, `set`, `bank`), a rate limiter and
//! the recorder that appends every op to `history.jsonl` as it happens.
