//! The `faultfs` binary (the mount daemon; filled in by the next commits).
fn main() {}
