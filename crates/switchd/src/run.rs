//! `switchyard run`: the daemon. It serves a whole contact centre from one configuration
//! (or the built-in demo): the registrar for agents' phones, trunks, dialplans, queues,
//! bridged calls, storage and the HTTP API.
//!
//! Life of the process, top to bottom in [`main`]: read the configuration (exit 78 when it
//! is wrong, saying why), bind every listen address, print them and the demo credentials,
//! open the storage, start the media thread, compile the dialplans and decode their
//! prompts, restore saved bindings, serve until SIGTERM/SIGINT (SIGHUP reloads the
//! dialplans), drain calls for the grace period, save, exit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{broadcast, mpsc};

mod calls;
mod core;
mod net;
mod persist;
mod trunk;

use self::calls::{Calls, CallsSetup};
use self::core::{Core, CoreConfig};
use self::net::Inbound;
use crate::config::{self, Config};

/// Largest SIP message accepted on a stream; larger ones get 513 (RFC 3261 §21.5.14).
const MAX_MESSAGE: usize = 64 * 1024;
/// How long the loop keeps serving after hanging up the last calls at shutdown: the
/// phones' answers to our CANCELs and BYEs (and their retransmissions) are handled.
const CLOSING_LINGER: Duration = Duration::from_millis(1500);
/// How often bindings are saved at most while they change (and always at shutdown).
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// Datagrams handled per loop turn at most, once one has arrived: what else is waiting
/// is taken in the same turn (one wake-up, one batch of sends), but timers, media events
/// and the API still get their turn during a flood.
const RECV_BURST: usize = 64;

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Configuration file (TOML). Without one, the built-in demo contact centre is served.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on for SIP over UDP and TCP (repeatable; port 0 picks a free
    /// port). Default: the configuration's, else 127.0.0.1:5060 and [::1]:5060.
    #[arg(long = "sip-listen", value_name = "ADDR")]
    sip_listen: Vec<SocketAddr>,
    /// SIP domain and digest realm. Default: the host of the first listen address.
    #[arg(long)]
    domain: Option<String>,
    /// Directory for the database, recordings and voicemail (overrides `[storage] path`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Password for every demo phone instead of random ones.
    #[arg(long, env = "SWITCHYARD_DEMO_PASSWORD", hide_env_values = true)]
    demo_password: Option<String>,
    /// API key (overrides `[http] api_key`; the demo's is random otherwise).
    #[arg(long, env = "SWITCHYARD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// HTTP API address (overrides `[http] listen`; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<SocketAddr>,
    /// RTP port range, e.g. 30000-30999 (overrides `[rtp]`).
    #[arg(long, value_name = "MIN-MAX")]
    rtp_ports: Option<String>,
    /// Seconds between OPTIONS probes of each registered contact (0 disables them).
    #[arg(long)]
    qualify_interval: Option<u64>,
    /// Shortest registration accepted, in seconds (shorter ones get 423).
    #[arg(long)]
    min_expires: Option<u32>,
    /// Contacts kept per address-of-record; beyond it the least recently refreshed is dropped.
    #[arg(long)]
    max_contacts: Option<usize>,
    /// The dialplans' wall clock starts at this instant (RFC 3339), for reproducible
    /// business-hours behaviour in tests and demos.
    #[arg(long, hide = true)]
    at: Option<jiff::Timestamp>,
}

pub(crate) fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => match config::load(path) {
            Ok(c) => c,
            Err(errors) => {
                eprintln!("{}", crate::config::render_errors(&errors));
                eprintln!(
                    "switchyard: {} error(s) in {}; not starting (check it with `switchyard config check {}`)",
                    errors.len().max(1),
                    path.display(),
                    path.display()
                );
                return Ok(ExitCode::from(78));
            }
        },
        None => {
            let pw = args.demo_password.clone();
            let key = args.api_key.clone().unwrap_or_else(random_password);
            config::demo(&move || pw.clone().unwrap_or_else(random_password), key)
        }
    };
    // One thread: every message meets the core on the thread that received it, with no
    // cross-thread wake-ups (measured in docs/benchmarks.md). Media has its own thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, config))
}

fn apply_overrides(args: &RunArgs, config: &mut Config) -> anyhow::Result<()> {
    if !args.sip_listen.is_empty() {
        config.sip.listen = args.sip_listen.clone();
    }
    if let Some(d) = &args.domain {
        config.sip.domain = Some(d.clone());
    }
    if let Some(d) = &args.data_dir {
        config.storage.path = d.clone();
    }
    if let Some(k) = &args.api_key {
        config.http.api_key = k.clone();
    }
    if let Some(h) = args.http_listen {
        config.http.listen = h;
    }
    if let Some(r) = &args.rtp_ports {
        let (a, b) = r
            .split_once('-')
            .context("--rtp-ports takes MIN-MAX, e.g. 30000-30999")?;
        config.rtp.port_min = a.trim().parse().context("--rtp-ports: MIN is not a port")?;
        config.rtp.port_max = b.trim().parse().context("--rtp-ports: MAX is not a port")?;
        anyhow::ensure!(
            config.rtp.port_min < config.rtp.port_max,
            "--rtp-ports: MIN must be below MAX"
        );
    }
    if let Some(q) = args.qualify_interval {
        config.sip.qualify_interval = (q > 0).then(|| Duration::from_secs(q));
    }
    if let Some(m) = args.min_expires {
        config.sip.min_expires = m;
    }
    if let Some(m) = args.max_contacts {
        config.sip.max_contacts = m;
    }
    Ok(())
}

async fn serve(args: RunArgs, mut config: Config) -> anyhow::Result<ExitCode> {
    apply_overrides(&args, &mut config)?;
    let listen: Vec<(SocketAddr, bool)> = if config.sip.listen.is_empty() {
        vec![
            (
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
                false,
            ),
            (SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060), true),
        ]
    } else if args.sip_listen.is_empty() && args.config.is_none() {
        // The demo's [::1] is optional: hosts without IPv6 still run it.
        config
            .sip
            .listen
            .iter()
            .map(|a| (*a, a.is_ipv6()))
            .collect()
    } else {
        config.sip.listen.iter().map(|a| (*a, false)).collect()
    };
    let bound = net::bind(&listen).await?;
    for addr in bound.describe() {
        println!("listening on {addr}");
    }
    let first = bound
        .first_addr()
        .expect("bind returns at least one socket");
    let domain = match &config.sip.domain {
        Some(d) => d.clone(),
        None => host_text(first),
    };
    println!("domain {domain}");
    for d in &config.devices {
        println!("demo user {} password {}", d.user, d.password);
    }

    let data_dir = config.storage.path.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the storage directory {}", data_dir.display()))?;
    let store = crate::store::Store::open(&data_dir)?;
    let reader = store.reader()?;
    let saved_registrations = match store.saved_registrations() {
        Ok(Some(saved)) => Some(persist::from_json(saved.snapshot)),
        Ok(None) => persist::load(&data_dir).transpose(),
        Err(err) => Some(Err(err)),
    };

    let (tx, mut rx) = mpsc::channel::<Inbound>(8192);
    // Unbounded: the media thread must never wait for the SIP loop.
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    let media = crate::media::Media::start(
        crate::media::MediaConfig {
            address: config.rtp.address,
            port_min: config.rtp.port_min,
            port_max: config.rtp.port_max,
            inactivity: config.rtp.inactivity,
            xdp: config.rtp.xdp,
        },
        Box::new(move |ev| {
            // The loop is gone only at shutdown.
            let _ = media_tx.send(ev);
        }),
    )
    .context("starting the media thread")?;

    let known = config.known();
    let mut dialplans = std::collections::HashMap::new();
    for t in &config.trunks {
        let Some(ib) = &t.inbound else { continue };
        match crate::dialplan::load(&ib.dialplan, Some(&known))? {
            Ok(plan) => {
                dialplans.insert(t.name.clone(), switchyard_ivr::DialplanSlot::new(plan));
            }
            Err(diags) => {
                eprintln!("{diags}");
                anyhow::bail!(
                    "dialplan {} of trunk {} has errors; not starting",
                    ib.dialplan.display(),
                    t.name
                );
            }
        }
    }
    let (events, _) = broadcast::channel(1024);
    let epoch = std::time::Instant::now();
    let wall_start = args.at.unwrap_or_else(jiff::Timestamp::now);
    let config = Arc::new(config);
    let mut calls = Calls::new(CallsSetup {
        config: config.clone(),
        media,
        store,
        events: events.clone(),
        dialplans,
        wall_start,
        epoch,
        sip_local: Some(first),
    })?;
    let prompts = calls.prompt_files();
    calls
        .media()
        .preload(&prompts)
        .context("decoding the dialplans' prompts")?;

    let (api_tx, mut api_rx) = mpsc::channel(256);
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = crate::api::serve(
        crate::api::ApiContext {
            listen: config.http.listen,
            api_key: config.http.api_key.clone(),
            control: api_tx,
            events,
            store: reader,
        },
        async move {
            let _ = api_stopped.await;
        },
    )
    .await?;
    println!("http on {http}");
    if args.config.is_none() {
        println!("api key {}", config.http.api_key);
    }

    let qualify = config.sip.qualify_interval;
    let mut core = Core::new(CoreConfig {
        domain,
        users: config
            .devices
            .iter()
            .map(|d| (d.user.clone(), d.password.clone()))
            .collect(),
        qualify_interval: qualify,
        min_expires: config.sip.min_expires,
        max_contacts: config.sip.max_contacts,
        seed: rand::random(),
        nonce_key: rand::random(),
        epoch,
    });
    let now = std::time::Instant::now();
    match saved_registrations {
        Some(Ok((snapshot, elapsed))) => {
            let n = snapshot.bindings.len();
            core.restore(now, snapshot, elapsed);
            tracing::info!("restored {n} saved bindings");
        }
        None => {}
        Some(Err(err)) => {
            // Keep an unreadable legacy file for inspection instead of reading it again.
            let aside = persist::set_aside(&data_dir);
            tracing::warn!("ignoring saved bindings ({err:#}); moved to {aside:?}");
        }
    }
    core.set_calls(now, calls);

    let mut net = net::serve(bound, tx.clone(), MAX_MESSAGE);
    let lookups = reqwest::Client::builder()
        .build()
        .context("building the HTTP client for lookups")?;
    println!("ready");

    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut hangup = hup_signal();
    let mut last_save = tokio::time::Instant::now();
    // Set at SIGTERM: calls may finish until then, then they are hung up.
    let mut draining_until: Option<tokio::time::Instant> = None;
    // After the grace: the loop keeps answering (ACKs for 487s, BYE retransmissions, their
    // 200s) until this instant, then exits.
    let mut closing_until: Option<tokio::time::Instant> = None;
    // Datagrams are received here, into this one buffer, and parsed in place.
    let mut buf = vec![0u8; net::MAX_DATAGRAM];
    // One timer for the loop's life, moved only when the deadline changes.
    let timer = tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(3600));
    let mut timer = std::pin::pin!(timer);
    loop {
        let mut deadline = core
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        if core.bindings_changed() {
            // Wake up to save even if nothing else happens.
            deadline = deadline.min(last_save + SAVE_EVERY);
        }
        if let Some(d) = closing_until.or(draining_until) {
            deadline = deadline
                .min(d)
                .min(tokio::time::Instant::now() + Duration::from_millis(200));
        }
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        tokio::select! {
            biased;
            signal = &mut shutdown, if draining_until.is_none() => {
                let grace = config.calls.shutdown_grace;
                let left = core.drain_calls(std::time::Instant::now(), false);
                tracing::info!("{signal}: shutting down; {left} call(s) may finish within {grace:?}");
                draining_until = Some(tokio::time::Instant::now() + grace);
            }
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading");
                match core.reload(std::time::Instant::now()) {
                    Some(Ok(v)) => tracing::info!("reloaded {:?}", v.dialplans),
                    Some(Err(e)) => tracing::warn!("reload refused: {}", e.error),
                    None => {}
                }
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
                    Inbound::Lookup { call, result } => core.handle_lookup(now, call, result),
                }
            }
            Some(ev) = media_rx.recv() => {
                core.handle_media(std::time::Instant::now(), ev);
            }
            request = api_rx.recv() => {
                if let Some(request) = request {
                    core.handle_api(std::time::Instant::now(), request);
                }
            }
            () = &mut timer => {
                core.handle_timeout(std::time::Instant::now());
            }
            received = net.recv_udp(&mut buf) => {
                match received {
                    Ok((n, source)) => {
                        core.handle_message(std::time::Instant::now(), source, &buf[..n]);
                        for _ in 1..RECV_BURST {
                            let Some((n, source)) = net.try_recv_udp(&mut buf) else { break };
                            core.handle_message(std::time::Instant::now(), source, &buf[..n]);
                        }
                    }
                    Err(err) => {
                        tracing::warn!("UDP receive failed: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        while let Some(t) = core.poll_transmit() {
            net.send(t);
        }
        net.flush();
        while let Some(job) = core.poll_lookup() {
            spawn_lookup(&lookups, job, tx.clone());
        }
        if core.bindings_changed() && last_save.elapsed() >= SAVE_EVERY {
            save(&mut core);
            last_save = tokio::time::Instant::now();
        }
        if let Some(until) = closing_until {
            if tokio::time::Instant::now() >= until {
                break;
            }
        } else if let Some(until) = draining_until {
            let now = std::time::Instant::now();
            let left = core.calls().map_or(0, |c| c.active_calls());
            if left == 0 {
                break;
            }
            if tokio::time::Instant::now() >= until {
                tracing::info!("grace period over: hanging up {left} call(s)");
                core.drain_calls(now, true);
                while let Some(t) = core.poll_transmit() {
                    net.send(t);
                }
                net.flush();
                closing_until = Some(tokio::time::Instant::now() + CLOSING_LINGER);
            }
        }
    }
    save(&mut core);
    let _ = stop_api.send(());
    if let Some(calls) = core.take_calls() {
        calls.close();
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a dialplan's customer lookup off the loop; the answer comes back as an
/// [`Inbound::Lookup`].
fn spawn_lookup(client: &reqwest::Client, job: calls::LookupJob, tx: mpsc::Sender<Inbound>) {
    let request = if job.post {
        client
            .post(&job.url)
            .header("Content-Type", "application/json")
            .body(job.body.clone().unwrap_or_default())
    } else {
        client.get(&job.url)
    };
    let request = request.timeout(job.timeout);
    tokio::spawn(async move {
        let result = match request.send().await {
            Ok(resp) if resp.status().is_success() => resp.text().await.map_err(|e| e.to_string()),
            Ok(resp) => Err(format!("HTTP {}", resp.status())),
            Err(err) => Err(err.to_string()),
        };
        let _ = tx
            .send(Inbound::Lookup {
                call: job.call,
                result,
            })
            .await;
    });
}

/// Hands the registrar's bindings to the storage writer.
fn save(core: &mut Core) {
    let snapshot = core.snapshot(std::time::Instant::now());
    match persist::to_json(snapshot) {
        Ok(json) => {
            if let Some(calls) = core.calls() {
                calls
                    .store()
                    .write(crate::store::Record::Registrations(json));
                core.mark_saved();
            }
        }
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

/// SIGHUP: reload (a stream that never yields where signals are unavailable).
fn hup_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send(()).await.is_err() {
                        break;
                    }
                }
            });
            return rx;
        }
    }
    std::mem::forget(tx);
    rx
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
