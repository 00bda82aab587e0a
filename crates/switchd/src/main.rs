//! `switchyard`: the softswitch daemon and its operator tools.
//!
//! Each subcommand lives in its own module; `main` only parses the command line,
//! sets up logging and hands over.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod config;
mod dialplan;
mod media;
mod run;
mod staffing;
mod store;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A SIP softswitch for contact centres"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the softswitch (with no config file: the built-in demo contact centre).
    Run(run::RunArgs),
    /// Check, simulate and test dialplans.
    #[command(subcommand)]
    Dialplan(dialplan::DialplanCommand),
    /// Agents needed per interval for a forecast (Erlang C).
    Staffing(staffing::StaffingArgs),
    /// Check the daemon's configuration file, or print the demo's.
    #[command(subcommand)]
    Config(config::cmd::ConfigCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: log files and pipes get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Dialplan(cmd) => dialplan::main(cmd),
        Command::Staffing(args) => staffing::main(args),
        Command::Config(cmd) => config::cmd::main(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("switchyard: {err:#}");
            ExitCode::FAILURE
        }
    }
}
