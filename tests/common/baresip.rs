//! baresip (Debian `baresip`) softphones for the end-to-end tests: one process per phone,
//! each with its own configuration directory, an audio source WAV (a tone longer than the
//! test), `sndfile` recordings of what it sends and hears, and control over ctrl_tcp
//! (netstrings of JSON: commands out, responses and events in).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{find_program, scratch_dir, spawn_logged};

/// Who the phone is.
#[derive(Debug, Clone)]
pub(crate) enum Account {
    /// A phone that registers nowhere (a trunk caller): its address-of-record is
    /// `sip:USER@IP:PORT`, so requests carry `USER` as the caller.
    Local { user: String },
    /// A phone registered with digest authentication at `registrar`.
    Registered {
        user: String,
        password: String,
        registrar: SocketAddr,
        /// Answer incoming calls at once (`answermode=auto`).
        auto_answer: bool,
    },
}

/// A running baresip.
pub(crate) struct Phone {
    child: Child,
    /// A name for messages.
    pub(crate) name: String,
    /// Its configuration directory.
    pub(crate) dir: PathBuf,
    /// Where its recordings go.
    pub(crate) rec_dir: PathBuf,
    /// Its SIP address.
    pub(crate) sip: SocketAddr,
    ctrl: TcpStream,
    events: Arc<Mutex<Vec<Value>>>,
    responses: mpsc::Receiver<Value>,
    token: AtomicU64,
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding port 0")
        .port()
}

/// A UDP port free on `ip` whose TCP port and the next one are free too (baresip binds
/// SIP over TCP on the same port, and TLS one above).
fn free_sip_port(ip: &str) -> u16 {
    for _ in 0..50 {
        let Ok(udp) = UdpSocket::bind((ip, 0)) else {
            continue;
        };
        let port = udp.local_addr().expect("a local address").port();
        if port == u16::MAX {
            continue;
        }
        let tcp = TcpListener::bind((ip, port));
        let tls = TcpListener::bind((ip, port + 1));
        if tcp.is_ok() && tls.is_ok() {
            return port;
        }
    }
    panic!("no free SIP port on {ip}");
}

impl Phone {
    /// A phone on 127.0.0.1 registered as `user` (with the tests' password) at
    /// `registrar`, sending `tone`; returns once it is registered.
    pub(crate) fn registered(
        user: &str,
        registrar: std::net::SocketAddr,
        tone: &Path,
        auto_answer: bool,
    ) -> Phone {
        let phone = Phone::start(
            user,
            "127.0.0.1",
            tone,
            &Account::Registered {
                user: user.to_owned(),
                password: super::PASSWORD.to_owned(),
                registrar,
                auto_answer,
            },
        );
        phone.expect_registered(Duration::from_secs(10));
        phone
    }

    /// Starts baresip as `name`, with SIP on `ip` (a free port), sending `source` (a WAV;
    /// the call is hung up when it ends, so make it longer than the test).
    pub(crate) fn start(name: &str, ip: &str, source: &Path, account: &Account) -> Phone {
        let baresip = find_program("baresip").expect("install baresip (apt-get install baresip)");
        let dir = scratch_dir(&format!("baresip-{name}"));
        let rec_dir = dir.join("rec");
        std::fs::create_dir_all(&rec_dir).expect("creating the recordings directory");
        let sip_port = free_sip_port(ip);
        let ctrl_port = free_tcp_port();
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t{ip}:{sip_port}\n\
             net_interface\t\t{ip}\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module\t\t\taubridge.so\n\
             module\t\t\tsndfile.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n\
             audio_source\t\taufile,{source}\n\
             audio_player\t\taubridge,{name}\n\
             audio_alert\t\taubridge,{name}\n\
             snd_path\t\t{rec}\n\
             rtp_timeout\t\t0\n",
            source = source.display(),
            rec = rec_dir.display(),
        );
        std::fs::write(dir.join("config"), config).expect("writing baresip's config");
        let line = match account {
            Account::Local { user } => {
                format!("<sip:{user}@{ip}:{sip_port}>;regint=0;audio_codecs=PCMU\n")
            }
            Account::Registered {
                user,
                password,
                registrar,
                auto_answer,
            } => format!(
                "<sip:{user}@{registrar};transport=udp>;auth_pass={password};regint=60;\
                 answermode={mode};audio_codecs=PCMU\n",
                mode = if *auto_answer { "auto" } else { "manual" }
            ),
        };
        std::fs::write(dir.join("accounts"), line).expect("writing baresip's accounts");
        // `-s`: SIP messages go to the log too, for failures' messages.
        let child = spawn_logged(
            Command::new(baresip).arg("-s").arg("-f").arg(&dir),
            &dir,
            "baresip.log",
        );

        let deadline = Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    panic!("baresip {name}: ctrl_tcp not reachable: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let (resp_tx, responses) = mpsc::channel();
        let reader = ctrl.try_clone().expect("cloning the control socket");
        let events2 = events.clone();
        let tag = name.to_owned();
        std::thread::spawn(move || read_messages(reader, &tag, &events2, &resp_tx));
        Phone {
            child,
            name: name.to_owned(),
            dir,
            rec_dir,
            sip: SocketAddr::new(ip.parse().expect("an IP address"), sip_port),
            ctrl,
            events,
            responses,
            token: AtomicU64::new(0),
        }
    }

    /// Sends a command (`params` may be empty); returns its response, or an error when
    /// baresip says it failed or does not answer within 5 s.
    pub(crate) fn command(&self, cmd: &str, params: &str) -> Result<Value, String> {
        let token = format!("t{}", self.token.fetch_add(1, Ordering::Relaxed));
        let json =
            serde_json::json!({"command": cmd, "params": params, "token": token}).to_string();
        (&self.ctrl)
            .write_all(format!("{}:{json},", json.len()).as_bytes())
            .map_err(|e| format!("{}: writing to baresip: {e}", self.name))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.responses.recv_timeout(left) {
                Ok(resp) if resp["token"] == token.as_str() => {
                    return if resp["ok"] == true {
                        Ok(resp)
                    } else {
                        Err(format!("{}: {cmd} {params} failed: {resp}", self.name))
                    };
                }
                Ok(_) => {}
                Err(_) => return Err(format!("{}: no answer to {cmd}", self.name)),
            }
        }
    }

    /// Dials `uri`.
    pub(crate) fn dial(&self, uri: &str) {
        self.command("dial", uri).expect("dialling");
    }

    /// Answers the ringing call.
    pub(crate) fn answer(&self) {
        self.command("accept", "").expect("answering");
    }

    /// Hangs up the current call.
    pub(crate) fn hangup(&self) {
        self.command("hangup", "").expect("hanging up");
    }

    /// Sends `digits` as DTMF (RFC 4733 events), one key press per digit, 300 ms apart.
    pub(crate) fn send_digits(&self, digits: &str) {
        for d in digits.chars() {
            self.command("sndcode", &d.to_string())
                .expect("sending DTMF");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Every event so far.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// How many events of `kind` (e.g. `CALL_CLOSED`) arrived so far.
    pub(crate) fn count(&self, kind: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind)
            .count()
    }

    /// Waits until the `nth` (1-based) event of `kind` has arrived; returns it.
    pub(crate) fn wait_nth(&self, kind: &str, nth: usize, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self
                .events
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e["type"] == kind)
                .nth(nth - 1)
            {
                return Some(e.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the first event of `kind`.
    pub(crate) fn wait_event(&self, kind: &str, timeout: Duration) -> Option<Value> {
        self.wait_nth(kind, 1, timeout)
    }

    /// Like [`wait_event`](Phone::wait_event), but panics with the phone's events and log
    /// when it does not come.
    pub(crate) fn expect_event(&self, kind: &str, timeout: Duration) -> Value {
        self.wait_event(kind, timeout).unwrap_or_else(|| {
            panic!(
                "{}: no {kind} within {timeout:?}; events: {:?}\nlog tail:\n{}",
                self.name,
                self.events()
                    .iter()
                    .map(|e| format!("{} {}", e["type"], e["param"]))
                    .collect::<Vec<_>>(),
                self.log_tail(30)
            )
        })
    }

    /// The last `lines` lines of baresip's own output.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default();
        // Its status line rewrites itself with carriage returns.
        let all: Vec<&str> = text.lines().flat_map(|l| l.rsplit('\r').next()).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The newest recording of what the phone heard (`*-dec.wav`) and of what it sent
    /// (`*-enc.wav`).
    pub(crate) fn recordings(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        let newest = |suffix: &str| {
            std::fs::read_dir(&self.rec_dir)
                .ok()?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .max_by_key(|p| {
                    (
                        std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                        p.clone(),
                    )
                })
        };
        (newest("-dec.wav"), newest("-enc.wav"))
    }

    /// The recording of what the phone heard on its last call (after the call closed, so
    /// the WAV is complete).
    pub(crate) fn heard(&self) -> super::audio::Wav {
        let path = self
            .recordings()
            .0
            .unwrap_or_else(|| panic!("{}: no recording in {}", self.name, self.rec_dir.display()));
        super::audio::read_wav(&path).expect("reading a recording")
    }

    /// Waits until the registrar has accepted the phone's registration: a `REGISTER_OK`
    /// event, or `reginfo` saying OK (the event may come before the control connection).
    pub(crate) fn expect_registered(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if self.count("REGISTER_OK") > 0 {
                return;
            }
            if let Ok(resp) = self.command("reginfo", "") {
                last = resp["data"].as_str().unwrap_or("").to_owned();
                if last.contains("OK") && !last.contains("ERR") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{}: not registered within {timeout:?}: {last}\nlog tail:\n{}",
                self.name,
                self.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test keeps the phone's log, SIP trace and recordings to look at.
        if std::thread::panicking() {
            eprintln!(
                "{}: configuration, log and recordings kept in {}",
                self.name,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Splits netstrings (`len:payload,`) off the control socket: events into `events`,
/// command responses into `responses`.
fn read_messages(
    mut sock: TcpStream,
    name: &str,
    events: &Mutex<Vec<Value>>,
    responses: &mpsc::Sender<Value>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let Some(len) = std::str::from_utf8(&buf[..colon])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                eprintln!("[{name}] malformed netstring from baresip");
                return;
            };
            if buf.len() < colon + len + 2 {
                break;
            }
            let msg: Result<Value, _> = serde_json::from_slice(&buf[colon + 1..colon + 1 + len]);
            buf.drain(..colon + len + 2);
            match msg {
                Ok(v) if v["event"] == true => {
                    eprintln!("[{name}] {} {}", v["type"], v["param"]);
                    events.lock().unwrap().push(v);
                }
                Ok(v) => {
                    let _ = responses.send(v);
                }
                Err(e) => eprintln!("[{name}] unreadable message from baresip: {e}"),
            }
        }
        match sock.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
