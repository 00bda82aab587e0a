//! `switchyard run`: the daemon. For now it serves what the SIP stack has: a registrar with
//! digest authentication that answers REGISTER and OPTIONS, qualifies registered phones,
//! and keeps its bindings across restarts.
//!
//! Life of the process, top to bottom in [`main`]: read the options (exit 64 when they are
//! wrong), bind every listen address, print them and the demo credentials, restore saved
//! bindings, serve until SIGTERM/SIGINT, save the bindings, exit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;

mod core;
mod net;
mod persist;
mod trunk;

use self::core::{Core, CoreConfig};
use self::net::Inbound;

/// Largest SIP message accepted on a stream; larger ones get 513 (RFC 3261 §21.5.14).
const MAX_MESSAGE: usize = 64 * 1024;
/// How often bindings are saved at most while they change (and always at shutdown).
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// The demo contact centre's agents' extensions.
const DEMO_USERS: [&str; 3] = ["1001", "1002", "1003"];

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Configuration file (TOML). Without one, the built-in demo contact centre is served.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on for SIP over UDP and TCP (repeatable; port 0 picks a free
    /// port). Default: 127.0.0.1:5060 and [::1]:5060 (when IPv6 is available).
    #[arg(long = "sip-listen", value_name = "ADDR")]
    sip_listen: Vec<SocketAddr>,
    /// SIP domain and digest realm. Default: the host of the first listen address.
    #[arg(long)]
    domain: Option<String>,
    /// Directory for persistent state (registrations).
    #[arg(long, default_value = "switchyard-data")]
    data_dir: PathBuf,
    /// Password for every demo user instead of random ones.
    #[arg(long, env = "SWITCHYARD_DEMO_PASSWORD", hide_env_values = true)]
    demo_password: Option<String>,
    /// Seconds between OPTIONS probes of each registered contact (0 disables them).
    #[arg(long, default_value_t = 30)]
    qualify_interval: u64,
    /// Shortest registration accepted, in seconds (shorter ones get 423).
    #[arg(long, default_value_t = 60)]
    min_expires: u32,
    /// Contacts kept per address-of-record; beyond it the least recently refreshed is dropped.
    #[arg(long, default_value_t = 10)]
    max_contacts: usize,
}

pub(crate) fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(config) = &args.config {
        eprintln!(
            "switchyard: configuration files are not supported yet ({}); run without --config for the demo",
            config.display()
        );
        return Ok(ExitCode::from(64));
    }
    // One thread: every message meets the core on the thread that received it, with no
    // cross-thread wake-ups (measured in docs/benchmarks.md).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let listen: Vec<(SocketAddr, bool)> = if args.sip_listen.is_empty() {
        vec![
            (
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
                false,
            ),
            (SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060), true),
        ]
    } else {
        args.sip_listen.iter().map(|a| (*a, false)).collect()
    };
    let bound = net::bind(&listen).await?;
    for addr in bound.describe() {
        println!("listening on {addr}");
    }
    let domain = match &args.domain {
        Some(d) => d.clone(),
        None => host_text(
            bound
                .first_addr()
                .expect("bind returns at least one socket"),
        ),
    };
    println!("domain {domain}");

    let users: Vec<(String, String)> = DEMO_USERS
        .iter()
        .map(|u| {
            let pw = args.demo_password.clone().unwrap_or_else(random_password);
            ((*u).to_owned(), pw)
        })
        .collect();
    for (user, pw) in &users {
        println!("demo user {user} password {pw}");
    }

    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let qualify = (args.qualify_interval > 0).then(|| Duration::from_secs(args.qualify_interval));
    let mut core = Core::new(CoreConfig {
        domain,
        users,
        qualify_interval: qualify,
        min_expires: args.min_expires,
        max_contacts: args.max_contacts,
        seed: rand::random(),
        nonce_key: rand::random(),
        epoch: std::time::Instant::now(),
    });
    let now = std::time::Instant::now();
    match persist::load(&args.data_dir) {
        Ok(Some((snapshot, elapsed))) => {
            let n = snapshot.bindings.len();
            core.restore(now, snapshot, elapsed);
            tracing::info!("restored {n} saved bindings");
        }
        Ok(None) => {}
        Err(err) => {
            // Keep the unreadable file for inspection instead of overwriting it later.
            let aside = persist::set_aside(&args.data_dir);
            tracing::warn!("ignoring saved bindings ({err:#}); moved to {aside:?}");
        }
    }

    let (tx, mut rx) = mpsc::channel::<Inbound>(4096);
    let mut net = net::serve(bound, tx, MAX_MESSAGE);
    println!("ready");

    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut last_save = tokio::time::Instant::now();
    loop {
        let mut deadline = core
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        if core.bindings_changed() {
            // Wake up to save even if nothing else happens.
            deadline = deadline.min(last_save + SAVE_EVERY);
        }
        tokio::select! {
            biased;
            signal = &mut shutdown => {
                tracing::info!("{signal}: shutting down");
                break;
            }
            inbound = rx.recv() => {
                let Some(inbound) = inbound else { break };
                let now = std::time::Instant::now();
                match inbound {
                    Inbound::Message { source, bytes } => core.handle_message(now, source, &bytes),
                    Inbound::Oversized { source, head } => core.handle_oversized(now, source, &head),
                    Inbound::Opened { conn, tx } => net.opened(conn, tx),
                    Inbound::Closed { conn } => {
                        net.closed(conn);
                        core.connection_closed(conn);
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                core.handle_timeout(std::time::Instant::now());
            }
        }
        while let Some(t) = core.poll_transmit() {
            net.send(t);
        }
        if core.bindings_changed() && last_save.elapsed() >= SAVE_EVERY {
            save(&args.data_dir, &mut core);
            last_save = tokio::time::Instant::now();
        }
    }
    save(&args.data_dir, &mut core);
    Ok(())
}

fn save(data_dir: &std::path::Path, core: &mut Core) {
    let snapshot = core.snapshot(std::time::Instant::now());
    match persist::save(data_dir, snapshot) {
        Ok(()) => core.mark_saved(),
        Err(err) => tracing::warn!("saving bindings failed: {err:#}"),
    }
}

/// The host part of a SIP URI for a socket address (IPv6 in brackets).
fn host_text(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..12)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
