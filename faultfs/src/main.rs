//! The `faultfs` binary: the mount daemon of [`faultfs::daemon`].
//!
//! `faultfs --backing DIR --mount DIR --control SOCKET [--max-dirty-mb N]`; exit 0 after
//! a clean unmount, 64 on bad usage, 70 when mounting or serving failed.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "faultfs",
    about = "A FUSE filesystem that can lose what was not fsynced"
)]
struct Cli {
    #[command(flatten)]
    args: faultfs::daemon::Args,
}

fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|error| {
        let usage = error.use_stderr();
        let _ = error.print();
        std::process::exit(if usage { 64 } else { 0 });
    });
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = faultfs::daemon::run(&cli.args) {
        eprintln!("faultfs: {error}");
        std::process::exit(70);
    }
}
