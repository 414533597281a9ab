//! Runs the Raft benchmark (`chaos::bench::raft_bench`) without the CLI:
//!
//! ```text
//! cargo build --release -p system-under-test --bin raft-node
//! cargo run --release -p chaos --example raft_bench -- [PATH/TO/raft-node] [--json]
//! ```
//!
//! The node program defaults to `raft-node` next to this example's profile directory.

use std::path::PathBuf;

use anyhow::Context;
use chaos::bench::{RaftBenchOptions, raft_bench};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let program = match args.iter().find(|a| !a.starts_with("--")) {
        Some(path) => PathBuf::from(path),
        None => default_program()?,
    };
    anyhow::ensure!(
        program.is_file(),
        "node program {} not found (build raft-node first)",
        program.display()
    );
    let report = raft_bench(RaftBenchOptions::new(program, Vec::new())).await?;
    print!("{report}");
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// `target/<profile>/raft-node`; examples live in `target/<profile>/examples/`.
fn default_program() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("current_exe")?;
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .context("example not in target/<profile>/examples")?;
    Ok(profile_dir.join("raft-node"))
}
