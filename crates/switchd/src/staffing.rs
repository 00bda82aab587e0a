//! `switchyard staffing`: Erlang C staffing from a forecast CSV.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct StaffingArgs {
    /// Forecast CSV: interval, calls, average handle time.
    forecast: std::path::PathBuf,
}

pub(crate) fn main(args: StaffingArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`switchyard staffing` is not built yet ({})",
        args.forecast.display()
    )
}
