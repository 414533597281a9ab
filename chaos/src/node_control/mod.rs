//! How a node is started, killed and paused: the implementations of
//! [`crate::supervisor::NodeControl`], the one trait behind which node control sits.
//!
//! - local: [`crate::supervisor::Supervisor`], every node a process of this machine (it
//!   stays in `supervisor.rs`, the one process spawner).
//! - [`ssh`]: every node on a host of its own, driven over OpenSSH (DESIGN.md, "Beyond one
//!   machine"), with the hosts' nftables for partitions ([`crate::network::ssh`]).

pub mod ssh;
