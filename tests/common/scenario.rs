//! One SIPp (Debian `sip-tester`) scenario from tests/sipp/, run once as a trunk caller,
//! an agent's phone or a carrier, with its logs kept for messages; and phones registered
//! by the test itself (digest authentication) for the scenarios that play them.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{Daemon, PASSWORD, find_program, sipp_scenario, spawn_logged};

/// A SIPp process running one scenario once.
pub(crate) struct Scenario {
    child: Option<Child>,
    /// Its working directory: the scenario with its replacements made, and SIPp's logs.
    pub(crate) dir: PathBuf,
    name: String,
}

/// How to run a [`Scenario`].
pub(crate) struct ScenarioRun<'a> {
    /// The file in tests/sipp/.
    pub(crate) file: &'a str,
    /// Each `(from, to)` replaced in the file.
    pub(crate) replace: Vec<(&'a str, String)>,
    /// The address SIPp listens on.
    pub(crate) local: (&'a str, u16),
    /// Extra arguments (`-s DID`, ...).
    pub(crate) args: Vec<String>,
    /// The address it sends to (none for a phone or carrier that waits for the switch).
    pub(crate) remote: Option<SocketAddr>,
    /// SIPp's own limit on the whole scenario.
    pub(crate) timeout: Duration,
}

impl Scenario {
    /// Starts a trunk's caller as `name`: SIPp on 127.0.0.2 (the trunk network of the
    /// test configurations) calling `did` on `daemon` with `file` and `replace`.
    pub(crate) fn trunk_caller(
        dir: &Path,
        daemon: &Daemon,
        name: &str,
        file: &str,
        did: &str,
        replace: Vec<(&str, String)>,
        timeout: Duration,
    ) -> Scenario {
        let run = ScenarioRun {
            file,
            replace,
            local: ("127.0.0.2", sipp_port_on("127.0.0.2")),
            args: vec!["-s".to_owned(), did.to_owned()],
            remote: Some(daemon.addr),
            timeout,
        };
        Scenario::start(dir, name, run)
    }

    /// Starts `run` as `name` (its directory is `dir/sipp-NAME`), with a media port of
    /// its own, tracing its messages (`*_messages.log`) and errors.
    pub(crate) fn start(dir: &Path, name: &str, run: ScenarioRun<'_>) -> Scenario {
        let sipp = find_program("sipp").expect("install SIPp (apt-get install sip-tester)");
        let (dir, file) = sipp_scenario(dir, name, run.file, &run.replace);
        let (ip, port) = run.local;
        let media = sipp_port_on(ip);
        let mut cmd = Command::new(sipp);
        cmd.arg("-sf")
            .arg(&file)
            .args(["-i", ip, "-mi", ip, "-t", "u1", "-nostdin", "-m", "1"])
            .args(["-p", &port.to_string(), "-mp", &media.to_string()])
            .args(["-timeout", &format!("{}s", run.timeout.as_secs().max(1))])
            .args(["-timeout_error", "-trace_err", "-trace_msg"])
            .args(&run.args);
        if let Some(r) = run.remote {
            cmd.arg(r.to_string());
        }
        let child = spawn_logged(&mut cmd, &dir, "sipp.out");
        Scenario {
            child: Some(child),
            dir,
            name: name.to_owned(),
        }
    }

    /// Waits for SIPp to finish; whether the scenario passed, and its logs for messages.
    pub(crate) fn wait(mut self, timeout: Duration) -> (bool, String) {
        let mut child = self.child.take().expect("a running SIPp");
        let status = wait_for(&mut child, timeout);
        let mut text = format!("SIPp {}: exit {status:?}\n", self.name);
        text.push_str(&log_tails(&self.dir, true, 80));
        (status.is_some_and(|s| s.success()), text)
    }

    /// Waits and panics with the logs unless the scenario passed.
    pub(crate) fn expect_pass(self, timeout: Duration) -> PathBuf {
        let dir = self.dir.clone();
        let (ok, text) = self.wait(timeout);
        assert!(ok, "SIPp scenario failed:\n{text}");
        dir
    }
}

/// Waits up to `timeout` for a SIPp process to exit (killing it after that): its exit
/// status, `None` if it had to be killed.
pub(crate) fn wait_for(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for sipp") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `lines` lines of SIPp's output and error log in `dir` (and, with `messages`,
/// of its message trace), for a failing test's message.
pub(crate) fn log_tails(dir: &Path, messages: bool, lines: usize) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with("_errors.log")
            || (messages && name.ends_with("_messages.log"))
            || name == "sipp.out"
        {
            let body = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(lines).collect();
            text.push_str(&format!("--- {name} (last lines)\n"));
            for l in tail.into_iter().rev() {
                text.push_str(l);
                text.push('\n');
            }
        }
    }
    text
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The SIP messages SIPp received, from the `*_messages.log` (`-trace_msg`) in `dir`:
/// each message's text, in order.
pub(crate) fn received_messages(dir: &Path) -> Vec<String> {
    let log = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_messages.log"))
        .unwrap_or_else(|| panic!("no SIPp message log in {}", dir.display()));
    let text = std::fs::read_to_string(&log).expect("reading SIPp's message log");
    // Entries are separated by a line of dashes (and a time); each starts with a line
    // saying what happened, e.g. "UDP message received [350] bytes :".
    let mut messages = Vec::new();
    for entry in text.split("\n----") {
        let mut lines = entry.lines().skip(1);
        let Some(what) = lines.next() else { continue };
        if !what.contains("message received") || what.starts_with("Unexpected") {
            continue;
        }
        let message: Vec<&str> = lines.map(|l| l.trim_end_matches('\r')).collect();
        let message = message.join("\n").trim().to_owned();
        if !message.is_empty() {
            messages.push(message);
        }
    }
    messages
}

/// The value of header `name` (case-insensitive, first occurrence) in a message's text.
pub(crate) fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A free UDP port on `ip` whose three neighbours (SIPp's media ports) are free too.
///
/// Ports come from 20000-29999, below the kernel's ephemeral range, where neither port-0
/// binds nor the daemons' RTP ranges (30000 and up) land. Each test process starts in a
/// thousand of its own, locked for its lifetime like its RTP range (see
/// [`super::lock_slot`]), so that processes running at once do not race for the same
/// ports; it moves on to the next thousand when its own is used up or taken, and never
/// hands out a port twice.
pub(crate) fn sipp_port_on(ip: &str) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    static SLOT: std::sync::OnceLock<(usize, std::fs::File)> = std::sync::OnceLock::new();
    let (slot, _lock) = SLOT.get_or_init(|| super::lock_slot("sipp", 10));
    let start = *slot as u16 * 1000;
    for _ in 0..2500 {
        let port = 20_000 + (start + NEXT.fetch_add(4, Ordering::Relaxed)) % 10_000;
        let free = (port..port + 4).all(|p| UdpSocket::bind((ip, p)).is_ok());
        if free {
            return port;
        }
    }
    panic!("no free UDP port on {ip}");
}

/// Registers (with `expires` 0: unregisters) `user`'s phone at 127.0.0.1:`port` with
/// the daemon, answering its digest challenge with [`PASSWORD`]; a SIPp scenario playing
/// the phone then runs on that port.
pub(crate) fn register_phone(daemon: &Daemon, user: &str, port: u16, expires: u32) {
    use switchyard_sip::client_auth::ClientAuth;
    use switchyard_sip::transaction::Branch;
    use switchyard_sip::{Message, Request};

    // Each REGISTER is a new transaction: a branch of its own.
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    let n = SERIAL.fetch_add(2, Ordering::Relaxed);
    let sock = UdpSocket::bind(("127.0.0.1", port)).expect("binding the phone's port");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("setting a timeout");
    let server = daemon.addr;
    let text = format!(
        "REGISTER sip:{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-reg-{user}-{n}\r\n\
         From: <sip:{user}@{server}>;tag=reg{user}\r\n\
         To: <sip:{user}@{server}>\r\n\
         Call-ID: reg-{user}-{port}-{expires}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@127.0.0.1:{port}>\r\n\
         Max-Forwards: 70\r\n\
         Expires: {expires}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let Ok(Message::Request(register)) = Message::parse(text.as_bytes()) else {
        panic!("a REGISTER that does not parse: {text}");
    };
    let exchange = |req: &Request| {
        sock.send_to(&req.to_bytes(), server)
            .expect("sending REGISTER");
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, _) = sock.recv_from(&mut buf).expect("an answer to REGISTER");
            match Message::parse(&buf[..n]) {
                Ok(Message::Response(r)) if r.status >= 200 => return r,
                _ => {}
            }
        }
    };
    let challenge = exchange(&register);
    assert_eq!(challenge.status, 401, "{challenge:?}");
    let mut auth = ClientAuth::new(user, PASSWORD, u64::from(port));
    let again = auth
        .authorize(
            &register,
            &challenge,
            &Branch::new(&format!("z9hG4bK-reg-{user}-{}", n + 1)),
        )
        .expect("answering the challenge");
    let ok = exchange(&again);
    assert_eq!(ok.status, 200, "{ok:?}");
}
