//! `switchyard config ...`: tools for operators who write the daemon's configuration.
//!
//! - `check FILE`: validate a configuration; exit 0 with a summary, 65 with every error,
//!   66 when the file cannot be read.
//! - `demo`: print the built-in demo configuration as TOML (a starting point).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for a configuration with errors (sysexits' EX_DATAERR).
pub(crate) const EX_DATAERR: u8 = 65;
/// Exit code for a configuration that cannot be read (sysexits' EX_NOINPUT).
pub(crate) const EX_NOINPUT: u8 = 66;

/// The `config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a configuration file: exit 0 when valid, 65 with every error found.
    Check {
        /// The configuration (TOML).
        file: PathBuf,
    },
    /// Print the built-in demo contact centre's configuration as TOML.
    Demo,
}

/// Runs a `config` subcommand.
pub(crate) fn main(cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Check { file } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!(
                        "{}: error: cannot read the configuration: {e}",
                        file.display()
                    );
                    return Ok(ExitCode::from(EX_NOINPUT));
                }
            };
            match super::load_str(&file, &text) {
                Ok(c) => {
                    let _ = writeln!(
                        std::io::stdout().lock(),
                        "ok: {} ({} trunks, {} devices, {} agents, {} queues)",
                        file.display(),
                        c.trunks.len(),
                        c.devices.len(),
                        c.agents.len(),
                        c.queues.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{}\n", super::render_errors(&errors));
                    eprintln!(
                        "{}: {} error{}",
                        file.display(),
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" }
                    );
                    Ok(ExitCode::from(EX_DATAERR))
                }
            }
        }
        ConfigCommand::Demo => {
            let config = super::demo(&|| "change-me".to_owned(), "change-me".to_owned());
            let text = format!(
                "# The built-in demo contact centre (`switchyard run` without --config).\n\
                 # Passwords and the API key are placeholders: change them.\n\
                 # Reference: docs/config.md\n\n{}",
                super::to_toml(&config)
            );
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
    }
}
