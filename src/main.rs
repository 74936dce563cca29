//! The `demoreel` binary: parse arguments and run the command; nothing else.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = demoreel::cli::Cli::parse();
    match demoreel::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
