//! The bank's own thin binary: `bank-node coordinator ...` or `bank-node participant ...`
//! (see `system_under_test::bank`), the same processes that `faultline bank ...` can embed.

use clap::Parser;
use system_under_test::bank::BankArgs;

#[derive(Parser)]
#[command(
    name = "bank-node",
    about = "One process of the faultline two-phase-commit bank"
)]
struct Cli {
    #[command(flatten)]
    bank: BankArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    system_under_test::bank::bank_main(cli.bank)?;
    Ok(())
}
