//! `switchyard dialplan ...`: tools for operators who write dialplans.
//!
//! - `check FILE...`: parse and check dialplans (and tests files); exit 0 or 1.
//! - `simulate FILE --to DID --from CALLER --digits 1,2,# --at TIME`: print a call's trace.
//! - `test FILE...`: run expected-trace tests; exit 0 or 1 with a diff per failure.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchyard_ivr::sim::{self, Scenario};
use switchyard_ivr::{CallInfo, Diagnostics, Dialplan, Env, Known};

/// Prints a line to stdout; when stdout is gone (e.g. piped into `head`), stops quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
    };
}

// Declared here rather than in main.rs: it belongs to this subcommand alone.
#[path = "dialplan_config.rs"]
mod dialplan_config;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum DialplanCommand {
    /// Check dialplan files; exit code 0 when all are valid, 1 otherwise.
    ///
    /// Directories are checked file by file. A `.tests` file is parsed and its dialplan
    /// checked. Without --config, the queues and skills the dialplans need are listed.
    Check {
        /// Dialplan files (`.dialplan`), tests files (`.tests`) or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A configuration (TOML) whose `[[queue]]` and skill names the dialplans must use.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the trace of actions a simulated call takes through a dialplan.
    Simulate(Box<SimulateArgs>),
    /// Run expected-trace tests (`.tests` files, or the `.tests` beside a `.dialplan`).
    Test {
        /// Tests files, dialplans or directories.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Rewrite the `expect:` block of each failing test with the trace it gave
        /// (review the change with `git diff` before committing it).
        #[arg(long)]
        update: bool,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The dialplan file.
    file: PathBuf,
    /// The dialled number (DID).
    #[arg(long)]
    to: String,
    /// The caller's number.
    #[arg(long, default_value = "")]
    from: String,
    /// The caller's name.
    #[arg(long, default_value = "")]
    name: String,
    /// The trunk the call comes in on.
    #[arg(long, default_value = "")]
    trunk: String,
    /// Keys pressed when the dialplan listens: `1,2,#`; `wait` lets an input time out,
    /// `hangup` hangs up.
    #[arg(long, default_value = "")]
    digits: String,
    /// When the call starts, e.g. `2026-11-23T10:00+08:00` (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Queue results in order: answered, timeout, full, no_agents, failed,
    /// long_wait:3m (default: answered).
    #[arg(long, default_value = "")]
    queue: String,
    /// Lookup answer: JSON text, `@FILE` with JSON, or `fail` (default: fail). Repeat
    /// for several lookups.
    #[arg(long)]
    lookup: Vec<String>,
    /// Transfer results in order: connected, failed (default: connected).
    #[arg(long, default_value = "")]
    transfer: String,
}

pub(crate) fn main(cmd: DialplanCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DialplanCommand::Check { files, config } => check(&files, config.as_deref()),
        DialplanCommand::Simulate(args) => {
            let SimulateArgs {
                file,
                to,
                from,
                name,
                trunk,
                digits,
                at,
                queue,
                lookup,
                transfer,
            } = *args;
            let at = match at {
                Some(at) => sim::parse_at(&at).map_err(anyhow::Error::msg)?,
                None => jiff::Timestamp::now(),
            };
            let call = CallInfo {
                to,
                from,
                caller_name: name,
                trunk,
            };
            let mut sc = Scenario::new(call, at);
            sc.presses = sim::parse_presses(&digits).map_err(anyhow::Error::msg)?;
            sc.queue = sim::parse_queue_outcomes(&queue).map_err(anyhow::Error::msg)?;
            for l in lookup {
                sc.lookup.push(lookup_answer(&l)?);
            }
            for t in transfer.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                sc.transfer.push(match t {
                    "connected" => true,
                    "failed" => false,
                    other => anyhow::bail!("--transfer: `{other}` is not `connected` or `failed`"),
                });
            }
            let Some(plan) = load_reporting(&file, None)? else {
                return Ok(ExitCode::FAILURE);
            };
            for line in sim::simulate(plan, &sc) {
                out!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        DialplanCommand::Test { files, update } => test(&files, update),
    }
}

fn lookup_answer(arg: &str) -> anyhow::Result<Result<String, String>> {
    if let Some(why) = arg.strip_prefix("fail") {
        let why = why.trim_start_matches(':').trim();
        return Ok(Err(
            if why.is_empty() { "unreachable" } else { why }.to_owned()
        ));
    }
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => arg.to_owned(),
    };
    // The interpreter parses the answer itself; a typo here should fail loudly instead
    // of showing up as a failed lookup in the trace.
    serde_json::from_str::<serde_json::Value>(&text)
        .with_context(|| format!("--lookup: `{text}` is not JSON (or `@FILE`, or `fail`)"))?;
    Ok(Ok(text))
}

/// Files to look at: directories expanded (sorted), files as given.
fn expand(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(f)
                .with_context(|| format!("reading directory {}", f.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            out.extend(inside);
        } else {
            out.push(f.clone());
        }
    }
    Ok(out)
}

fn is_tests(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "tests")
}

/// Reads and checks a dialplan file, prompt files included (relative to the file), and
/// the queues and skills against `known` when given. The outer error is an I/O error;
/// the inner one the dialplan's diagnostics.
pub(crate) fn load(
    path: &Path,
    known: Option<&Known>,
) -> anyhow::Result<Result<Dialplan, Diagnostics>> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("reading dialplan {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let exists = |p: &Path| p.is_file();
    let env = Env {
        base_dir: base,
        prompt_exists: Some(&exists),
        known,
    };
    Ok(switchyard_ivr::compile(
        &path.display().to_string(),
        &source,
        &env,
    ))
}

/// Loads a dialplan and prints its diagnostics. `Ok(None)` when it has errors.
fn load_reporting(path: &Path, known: Option<&Known>) -> anyhow::Result<Option<Arc<Dialplan>>> {
    match load(path, known)? {
        Ok(plan) => {
            for w in &plan.warnings().0 {
                eprintln!("{w}\n");
            }
            Ok(Some(Arc::new(plan)))
        }
        Err(diags) => {
            eprintln!("{diags}\n");
            Ok(None)
        }
    }
}

/// The dialplan a tests file belongs to.
fn dialplan_of(tests_path: &Path, declared: Option<&str>) -> PathBuf {
    match declared {
        Some(d) => tests_path.parent().unwrap_or(Path::new(".")).join(d),
        None => tests_path.with_extension("dialplan"),
    }
}

fn check(files: &[PathBuf], config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let known = config.map(dialplan_config::load).transpose()?;
    let mut failed = 0;
    let mut queues = std::collections::BTreeSet::new();
    let mut skills = std::collections::BTreeSet::new();
    let files = expand(files)?;
    for path in &files {
        if is_tests(path) {
            let source = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            match sim::parse_tests(&path.display().to_string(), &source) {
                Ok(t) => {
                    let dp = dialplan_of(path, t.dialplan.as_deref());
                    if dp.is_file() {
                        out!(
                            "ok: {} ({} tests for {})",
                            path.display(),
                            t.cases.len(),
                            dp.display()
                        );
                    } else {
                        eprintln!(
                            "error: {}: its dialplan {} does not exist",
                            path.display(),
                            dp.display()
                        );
                        failed += 1;
                    }
                }
                Err(d) => {
                    eprintln!("{d}\n");
                    failed += 1;
                }
            }
            continue;
        }
        match load_reporting(path, known.as_ref())? {
            Some(plan) => {
                let warnings = plan.warnings().0.len();
                out!(
                    "ok: {} ({} steps, {} languages{})",
                    path.display(),
                    plan.step_count(),
                    plan.languages().count(),
                    if warnings > 0 {
                        format!(", {warnings} warnings")
                    } else {
                        String::new()
                    }
                );
                queues.extend(plan.queues_needed().map(str::to_owned));
                skills.extend(plan.skills_needed().map(str::to_owned));
            }
            None => {
                out!("FAILED: {}", path.display());
                failed += 1;
            }
        }
    }
    if known.is_none() && (!queues.is_empty() || !skills.is_empty()) {
        let join = |s: &std::collections::BTreeSet<String>| {
            s.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        out!("needs queues: {}", join(&queues));
        out!("needs skills: {}", join(&skills));
        out!("(give --config FILE to check them against a configuration)");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn test(files: &[PathBuf], update: bool) -> anyhow::Result<ExitCode> {
    let mut tests_files = Vec::new();
    for f in expand(files)? {
        let t = if is_tests(&f) {
            f
        } else if f.with_extension("tests").is_file() {
            f.with_extension("tests")
        } else {
            continue;
        };
        if !tests_files.contains(&t) {
            tests_files.push(t);
        }
    }
    if tests_files.is_empty() {
        anyhow::bail!("no `.tests` files among the arguments");
    }
    let (mut passed, mut failed) = (0, 0);
    for path in &tests_files {
        let source =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let tests = match sim::parse_tests(&path.display().to_string(), &source) {
            Ok(t) => t,
            Err(d) => {
                eprintln!("{d}\n");
                failed += 1;
                continue;
            }
        };
        let dp = dialplan_of(path, tests.dialplan.as_deref());
        let Some(plan) = load_reporting(&dp, None)? else {
            out!(
                "FAILED: {} (its dialplan {} has errors)",
                path.display(),
                dp.display()
            );
            failed += tests.cases.len().max(1);
            continue;
        };
        let mut updates = Vec::new();
        for case in &tests.cases {
            let out = sim::run_test(plan.clone(), case);
            if !out.passed && update {
                updates.push((case.expect_block, out.actual.clone()));
            }
            if out.passed {
                out!("ok    {}:{} {}", path.display(), case.line, case.name);
                passed += 1;
            } else {
                out!("FAIL  {}:{} {}", path.display(), case.line, case.name);
                out!("      (- expected, + actual)");
                for l in out.diff.lines() {
                    out!("      {l}");
                }
                failed += 1;
            }
        }
        if !updates.is_empty() {
            let text = sim::update_expectations(&source, &updates);
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            out!("updated {} tests in {}", updates.len(), path.display());
            failed -= updates.len();
            passed += updates.len();
        }
    }
    out!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
