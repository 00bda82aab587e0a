//! Helpers shared by the end-to-end tests: start the built `switchyard` binary on loopback
//! ports it picks itself, read what it prints, wait for log lines, stop it with SIGTERM.

#![allow(dead_code)] // each test binary uses a different subset

pub(crate) mod audio;
pub(crate) mod baresip;
pub(crate) mod db;
pub(crate) mod events;
pub(crate) mod gateway;
pub(crate) mod http;
pub(crate) mod pcap;
pub(crate) mod scenario;
pub(crate) mod sipp;
pub(crate) mod torture;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The password every demo user gets in the tests.
pub(crate) const PASSWORD: &str = "test-secret-1";

/// The API key the contact-centre tests give the daemon.
pub(crate) const API_KEY: &str = "test-api-key";

/// The instant the dialplans' wall clock starts at in the contact-centre tests: a Monday
/// at 10:00 in Shanghai, inside the demo's business hours and no holiday.
pub(crate) const AT: &str = "2026-11-23T10:00:00+08:00";

/// The demo contact centre's number (its DID).
pub(crate) const DEMO_DID: &str = "+861058000000";

/// A running daemon.
pub(crate) struct Daemon {
    child: Child,
    /// Its UDP and TCP listen address (the same port for both).
    pub(crate) addr: SocketAddr,
    pub(crate) data_dir: PathBuf,
    /// Its HTTP API address, when it printed one (`http on ADDR`).
    pub(crate) http: Option<SocketAddr>,
    /// Everything it printed on stdout.
    pub(crate) stdout: Vec<String>,
    log: Arc<Mutex<Vec<String>>>,
    log_rx: Mutex<mpsc::Receiver<String>>,
}

/// A fresh, empty directory for one test.
pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

impl Daemon {
    /// Starts `switchyard run` on 127.0.0.1, port 0, with `data_dir` and extra arguments.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_on(data_dir, "127.0.0.1:0", extra)
    }

    /// Starts `switchyard run` listening on `listen` (port 0 picks a free port).
    pub(crate) fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> Daemon {
        // Each daemon gets an API port of its own unless the test chose one.
        let http_default: &[&str] = if extra.contains(&"--http-listen") {
            &[]
        } else {
            &["--http-listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["run", "--sip-listen", listen])
            .args(http_default)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--demo-password", PASSWORD])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the switchyard binary");

        let log = Arc::new(Mutex::new(Vec::new()));
        let (log_tx, log_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[switchyard] {line}");
                log2.lock().unwrap().push(line.clone());
                let _ = log_tx.send(line);
            }
        });

        let (out_tx, out_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if out_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match out_rx.recv_timeout(left) {
                Ok(line) if line == "ready" => break,
                Ok(line) => lines.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("switchyard did not print `ready`; it printed {lines:?}");
                }
            }
        }
        let addr = lines
            .iter()
            .find_map(|l| l.strip_prefix("listening on udp:"))
            .expect("a `listening on udp:` line")
            .parse()
            .expect("a socket address");
        assert!(
            lines
                .iter()
                .any(|l| l == &format!("listening on tcp:{addr}")),
            "TCP listens on the UDP port too: {lines:?}"
        );
        let http = lines
            .iter()
            .find_map(|l| l.strip_prefix("http on "))
            .and_then(|a| a.trim().trim_start_matches("http://").parse().ok());
        Daemon {
            child,
            addr,
            data_dir: data_dir.to_owned(),
            http,
            stdout: lines,
            log,
            log_rx: Mutex::new(log_rx),
        }
    }

    /// Starts the contact centre: `switchyard run` with `config` (none: the demo), the API
    /// on a free port with [`API_KEY`], the dialplans' clock at [`AT`], RTP on a port range
    /// of its own, and `extra` arguments.
    pub(crate) fn contact_centre(data_dir: &Path, config: Option<&Path>, extra: &[&str]) -> Daemon {
        Daemon::contact_centre_on(&Ports::pick(), data_dir, config, extra)
    }

    /// Like [`contact_centre`](Daemon::contact_centre), on the given ports.
    pub(crate) fn contact_centre_on(
        ports: &Ports,
        data_dir: &Path,
        config: Option<&Path>,
        extra: &[&str],
    ) -> Daemon {
        let http = ports.http.to_string();
        let rtp = format!("{}-{}", ports.rtp.0, ports.rtp.1);
        let mut args: Vec<&str> = vec![
            "--http-listen",
            &http,
            "--api-key",
            API_KEY,
            "--at",
            AT,
            "--rtp-ports",
            &rtp,
        ];
        let config_text;
        if let Some(c) = config {
            config_text = c.display().to_string();
            args.extend(["--config", &config_text]);
        }
        args.extend_from_slice(extra);
        let daemon = Daemon::start_on(data_dir, &ports.sip.to_string(), &args);
        assert!(
            daemon.http.is_some(),
            "the daemon printed no `http on ADDR` line: {:?}",
            daemon.stdout
        );
        daemon
    }

    /// Its API address (panics when it printed none).
    pub(crate) fn api(&self) -> SocketAddr {
        self.http.expect("the daemon's HTTP address")
    }

    /// `GET path` on its API with [`API_KEY`]; the answer must be 200 with JSON.
    pub(crate) fn get(&self, path: &str) -> serde_json::Value {
        http::get_json(self.api(), path, API_KEY)
    }

    /// The SIP URI of `number` at the daemon.
    pub(crate) fn uri(&self, number: &str) -> String {
        format!("sip:{number}@{}", self.addr)
    }

    /// The demo users and passwords it printed.
    pub(crate) fn users(&self) -> HashMap<String, String> {
        self.stdout
            .iter()
            .filter_map(|l| l.strip_prefix("demo user "))
            .filter_map(|rest| {
                let (user, pw) = rest.split_once(" password ")?;
                Some((user.to_owned(), pw.to_owned()))
            })
            .collect()
    }

    /// Waits until a log line containing every one of `needles` appears (including lines
    /// logged before the call); returns it.
    pub(crate) fn wait_log(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let matches = |l: &str| needles.iter().all(|n| l.contains(n));
        if let Some(l) = self.log.lock().unwrap().iter().find(|l| matches(l)) {
            return Some(l.clone());
        }
        let rx = self.log_rx.lock().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match rx.recv_timeout(left) {
                Ok(l) if matches(&l) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Whether any log line so far contains every one of `needles`.
    pub(crate) fn logged(&self, needles: &[&str]) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| needles.iter().all(|n| l.contains(n)))
    }

    /// Sends SIGTERM and waits for the exit.
    pub(crate) fn stop(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for switchyard") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("switchyard did not exit within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The saved registrations, as the database holds them (`None`: none saved yet).
    pub(crate) fn try_saved_bindings(&self) -> Option<serde_json::Value> {
        let db = self.data_dir.join("switchyard.db");
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()?;
        let text: String = conn
            .query_row("SELECT snapshot FROM registrations WHERE id = 1", [], |r| {
                r.get(0)
            })
            .ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The saved registrations (after [`stop`](Daemon::stop)).
    pub(crate) fn saved_bindings(&self) -> serde_json::Value {
        self.try_saved_bindings()
            .expect("registrations saved in the database at shutdown")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `msg` from a fresh ephemeral UDP port and returns the first answer within
/// `wait`, if any, with the address it came from.
pub(crate) fn udp_exchange(
    to: SocketAddr,
    msg: &[u8],
    wait: Duration,
) -> Option<(Vec<u8>, SocketAddr)> {
    let local = if to.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let sock = UdpSocket::bind(local).expect("binding a UDP socket");
    sock.set_read_timeout(Some(wait))
        .expect("setting a timeout");
    sock.send_to(msg, to).expect("sending a datagram");
    let mut buf = vec![0u8; 65_535];
    match sock.recv_from(&mut buf) {
        Ok((n, from)) => Some((buf[..n].to_vec(), from)),
        Err(_) => None,
    }
}

/// The status code of a response's start line.
pub(crate) fn status_of(resp: &[u8]) -> Option<u16> {
    let line = resp.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// Finds a program on PATH (also /usr/sbin, where some Debian packages put theirs).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            "/usr/sbin".into(),
            "/usr/bin".into(),
            "/usr/local/bin".into(),
        ])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The addresses a contact-centre daemon is given (to write into its configuration too).
#[derive(Debug, Clone)]
pub(crate) struct Ports {
    /// SIP over UDP and TCP.
    pub(crate) sip: SocketAddr,
    /// The HTTP API.
    pub(crate) http: SocketAddr,
    /// The RTP port range.
    pub(crate) rtp: (u16, u16),
}

impl Ports {
    /// Free loopback ports.
    pub(crate) fn pick() -> Ports {
        let sip = loop {
            let port = free_udp_port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        Ports {
            sip: SocketAddr::from(([127, 0, 0, 1], sip)),
            http: SocketAddr::from(([127, 0, 0, 1], baresip::free_tcp_port())),
            rtp: rtp_ports(),
        }
    }

    /// The replacements that turn a configuration in tests/configs/ into one for these
    /// ports, with its storage in `data_dir` and its dialplan found where it lies.
    pub(crate) fn config_replacements(&self, data_dir: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("\"127.0.0.1:17100\"", format!("\"{}\"", self.sip)),
            ("\"127.0.0.1:17180\"", format!("\"{}\"", self.http)),
            ("port_min = 17400", format!("port_min = {}", self.rtp.0)),
            ("port_max = 17799", format!("port_max = {}", self.rtp.1)),
            (
                "path = \"data\"",
                format!("path = {:?}", data_dir.display().to_string()),
            ),
            (
                "dialplan = \"",
                format!("dialplan = \"{}/", configs_dir().display()),
            ),
        ]
    }
}

/// The RTP port range of this test process: 400 ports in 30000-49999, one of 50 slots
/// that no other test process holds (see [`lock_slot`]).
pub(crate) fn rtp_ports() -> (u16, u16) {
    static SLOT: std::sync::OnceLock<(usize, std::fs::File)> = std::sync::OnceLock::new();
    let (slot, _lock) = SLOT.get_or_init(|| lock_slot("rtp", 50));
    let lo = 30_000 + *slot as u16 * 400;
    (lo, lo + 399)
}

/// Takes one of `slots` numbered slots of a port space called `kind` for as long as the
/// returned lock file stays open (tests keep it in a static: the process's lifetime).
///
/// Daemons bind their RTP ports only as calls need them, so probing ports cannot tell
/// whether another test process (perhaps of another checkout of the repository) is using
/// a range. Instead each slot is a file `switchyard-test-ports-KIND-N.lock` in the
/// temporary directory, and a process owns a slot while it holds an exclusive `flock` on
/// it; the first slot not locked by another process is taken, starting at one picked
/// from the process id. The kernel drops the lock when the process exits, however it
/// exits, so files left behind never block anyone. With every slot taken, it waits for
/// the one it started at.
pub(crate) fn lock_slot(kind: &str, slots: usize) -> (usize, std::fs::File) {
    let open = |n: usize| {
        let path = std::env::temp_dir().join(format!("switchyard-test-ports-{kind}-{n}.lock"));
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
    };
    let start = std::process::id() as usize % slots;
    for i in 0..slots {
        let n = (start + i) % slots;
        let file = open(n);
        if file.try_lock().is_ok() {
            return (n, file);
        }
    }
    let file = open(start);
    file.lock().expect("waiting for a port slot");
    (start, file)
}

/// Polls `f` every 50 ms until it gives a value or `timeout` passes.
pub(crate) fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The repository's root directory.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A free loopback port (bound then released; good enough for a peer started right after).
pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("binding port 0")
        .port()
}

/// Runs one SIPp scenario (`xml`, written to `dir/NAME.xml`) once against the daemon over
/// UDP, with `extra` arguments; returns whether it passed, and what SIPp printed.
pub(crate) fn run_sipp(
    dir: &Path,
    daemon: &Daemon,
    name: &str,
    xml: &str,
    extra: &[std::ffi::OsString],
) -> (bool, String) {
    let sipp = find_program("sipp").expect("install SIPp (apt-get install sip-tester)");
    let file = dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).expect("writing the scenario");
    let out = Command::new(sipp)
        .arg("-sf")
        .arg(&file)
        .args(["-m", "1", "-i", "127.0.0.1", "-t", "u1", "-nostdin"])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-timeout", "15s", "-timeout_error", "-recv_timeout", "5000"])
        .args(extra)
        .arg(daemon.addr.to_string())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running sipp");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Writes the test configuration `tests/configs/NAME` into `dir` with each `(from, to)`
/// replacement made (ports, paths); returns the written file.
pub(crate) fn write_config(name: &str, dir: &Path, replace: &[(&str, String)]) -> PathBuf {
    let src = repo_root().join("tests/configs").join(name);
    let mut text =
        std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    for (from, to) in replace {
        assert!(text.contains(from), "{} has no `{from}`", src.display());
        text = text.replace(from, to);
    }
    let out = dir.join(name);
    std::fs::write(&out, text).expect("writing a configuration");
    out
}

/// Starts a daemon on the test configuration `name` (with `settings` replaced) for one of
/// the tests of a file that run at once: on ports of its own, each daemon taking the next
/// of `slices` slices of the process's RTP port range. Returns it and its data directory.
pub(crate) fn start_config_daemon(
    dir: &Path,
    name: &str,
    settings: &[(&str, &str)],
    slices: u16,
) -> (Daemon, PathBuf) {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let data = dir.join("data");
    let slot = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % slices;
    let mut ports = Ports::pick();
    let width = (ports.rtp.1 - ports.rtp.0 + 1) / slices;
    ports.rtp.0 += slot * width;
    ports.rtp.1 = ports.rtp.0 + width - 1;
    let mut replace = ports.config_replacements(&data);
    replace.extend(settings.iter().map(|(a, b)| (*a, (*b).to_owned())));
    let config = write_config(name, dir, &replace);
    let daemon = Daemon::contact_centre_on(&ports, &data, Some(&config), &[]);
    (daemon, data)
}

/// Makes SIPp's directory `sipp-NAME` in `dir` and writes scenario tests/sipp/FILE into
/// it with each `(from, to)` replacement made; returns the directory and the scenario.
pub(crate) fn sipp_scenario(
    dir: &Path,
    name: &str,
    file: &str,
    replace: &[(&str, String)],
) -> (PathBuf, PathBuf) {
    let dir = dir.join(format!("sipp-{name}"));
    std::fs::create_dir_all(&dir).expect("creating SIPp's directory");
    let src = repo_root().join("tests/sipp").join(file);
    let mut xml =
        std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    for (from, to) in replace {
        assert!(xml.contains(from), "{} has no `{from}`", src.display());
        xml = xml.replace(from, to);
    }
    let scenario = dir.join(file);
    std::fs::write(&scenario, xml).expect("writing the scenario");
    (dir, scenario)
}

/// Starts `cmd` in `dir` with no input and its output and errors in `dir/LOG`.
pub(crate) fn spawn_logged(cmd: &mut Command, dir: &Path, log: &str) -> Child {
    let file = std::fs::File::create(dir.join(log))
        .unwrap_or_else(|e| panic!("creating {}: {e}", dir.join(log).display()));
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("a second log handle"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {:?}: {e}", cmd.get_program()))
}

/// The directory of the test configurations and dialplans.
pub(crate) fn configs_dir() -> PathBuf {
    repo_root().join("tests/configs")
}

impl Daemon {
    /// Sends the signal `name` (e.g. "TERM", "HUP") without waiting for anything.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `timeout` for the process to exit by itself; its status, if it did.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for switchyard") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
