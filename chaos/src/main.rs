//! The `faultline` binary: parses the command line and hands over to [`chaos::app`].

use std::process::ExitCode;

use chaos::cli::Cli;
use chaos::exit;
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version are not errors; anything else is bad usage (64), never 2,
        // which means "unknown" to the scripts that read our verdicts.
        Err(e) => {
            let _ = e.print();
            return exit::code(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::VALID
            });
        }
    };
    chaos::app::main_with(cli.command)
}
