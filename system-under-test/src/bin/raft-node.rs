//! The store's own thin binary: `raft-node --id n1 --listen 127.0.0.1:7001 ...`, the same
//! node that `faultline node ...` embeds.

use clap::Parser;
use system_under_test::NodeArgs;

#[derive(Parser)]
#[command(
    name = "raft-node",
    about = "One node of the faultline Raft key-value store"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    system_under_test::node_main(cli.node)?;
    Ok(())
}
