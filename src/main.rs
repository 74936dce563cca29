//! The `demoreel` binary: set up logging, parse arguments and run the command; nothing else.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Logs go to stderr; DEMOREEL_LOG filters them (`debug`, `demoreel=debug`, ...). By
    // default PostgreSQL's notices ("relation _sqlx_migrations already exists, skipping"
    // at every start) stay out: they tell the operator nothing.
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEMOREEL_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx::postgres::notice=warn"));
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
