//! The `demoreel` binary: set up logging, parse arguments and run the command; nothing else.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Logs go to stderr; DEMOREEL_LOG filters them (`debug`, `demoreel=debug`, ...).
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEMOREEL_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    let cli = demoreel::cli::Cli::parse();
    match demoreel::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
