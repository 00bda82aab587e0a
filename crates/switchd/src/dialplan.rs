//! `switchyard dialplan ...`: tools for operators who write dialplans.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum DialplanCommand {
    /// Check dialplan files; exit code 0 when all are valid, 1 otherwise.
    Check {
        /// Dialplan files to check.
        files: Vec<std::path::PathBuf>,
    },
}

pub(crate) fn main(cmd: DialplanCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DialplanCommand::Check { files } => {
            anyhow::bail!(
                "`switchyard dialplan check` is not built yet ({} files)",
                files.len()
            )
        }
    }
}
