//! `switchyard run`: the daemon.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Configuration file (TOML). Without one, the built-in demo contact centre is served.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

pub(crate) fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`switchyard run` is not built yet (config: {:?})",
        args.config
    )
}
