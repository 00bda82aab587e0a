//! End to end: call-control behaviours with real SIP peers. SIPp plays trunk callers (from
//! 127.0.0.2) and agents' phones (registered by the test with digest authentication, then
//! answering, holding, hanging up or racing the switch's CANCEL as the scenarios in
//! tests/sipp/cc_*.xml say); baresip is a phone dialling feature codes. The contact centre
//! is tests/configs/cc.toml with the IVR tests/configs/cc.dialplan (one DID per
//! behaviour); some tests change a setting of it (call length, RTP inactivity, grace).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::baresip::{Account, Phone};
use common::http::{get_json, request};
use common::scenario::{self, Scenario, ScenarioRun, sipp_port_on};
use common::{
    API_KEY, Daemon, PASSWORD, db, repo_root, scratch_dir, start_config_daemon, wait_until,
};
use serde_json::{Value, json};

/// The DID that goes straight to the sales queue (longest idle, 2 s ring timeout).
const SALES: &str = "+861058000001";
/// The DID of the ring-all support queue.
const SUPPORT: &str = "+861058000002";
/// The DID whose dialplan only waits (no queue).
const HOLD_LINE: &str = "+861058000003";

/// A SIPp process running one of the tests/sipp/cc_* scenarios once (within 40 s).
struct Sipp(Scenario);

impl Sipp {
    /// Starts `scenario` (a file in tests/sipp/, with each `(from, to)` replaced) as
    /// `name`, on `ip:port` with a media port of its own, with `args`; `remote`: the
    /// address it sends to (none for a phone that waits for the switch's INVITE).
    fn start(
        dir: &Path,
        name: &str,
        scenario: &str,
        replace: &[(&str, String)],
        local: (&str, u16),
        args: &[&str],
        remote: Option<SocketAddr>,
    ) -> Sipp {
        Sipp(Scenario::start(
            dir,
            name,
            ScenarioRun {
                file: scenario,
                replace: replace.to_vec(),
                local,
                args: args.iter().map(|a| (*a).to_owned()).collect(),
                remote,
                timeout: Duration::from_secs(40),
            },
        ))
    }

    /// Waits and panics with the logs unless the scenario passed.
    fn expect_pass(self, timeout: Duration) {
        self.0.expect_pass(timeout);
    }
}

/// A free UDP port on `ip` whose three neighbours (SIPp's media ports) are free too.
fn free_port_on(ip: &str) -> u16 {
    sipp_port_on(ip)
}

/// The contact centre of these tests, with `settings` replaced in tests/configs/cc.toml.
fn start_daemon(dir: &Path, settings: &[(&str, &str)]) -> (Daemon, PathBuf) {
    start_config_daemon(dir, "cc.toml", settings, 10)
}

/// Registers `user`'s phone (digest authentication) from a fresh port on 127.0.0.1;
/// returns the port, where the phone's SIPp scenario must then run. The REGISTER is sent
/// by the test itself (answering the challenge with the project's digest client, so with
/// SHA-256), which also lets a test unregister and register again from that very port
/// around the phone's SIPp scenarios.
fn register_phone(daemon: &Daemon, user: &str) -> u16 {
    let port = free_port_on("127.0.0.1");
    register_from(daemon, user, port, 3600);
    port
}

/// Registers (or with `expires` 0 unregisters) `user`'s phone at 127.0.0.1:`port`.
fn register_from(daemon: &Daemon, user: &str, port: u16, expires: u32) {
    scenario::register_phone(daemon, user, port, expires);
}

/// Starts `user`'s phone (registered on `port`) running `scenario`.
fn phone(dir: &Path, user: &str, port: u16, scenario: &str) -> Sipp {
    Sipp::start(
        dir,
        &format!("phone-{user}"),
        scenario,
        &[("@USER@", user.to_owned())],
        ("127.0.0.1", port),
        &[],
        None,
    )
}

/// A trunk caller from `number` waits in sales and is offered to nobody while agent
/// 1001's phone (at `port`) is unregistered; the phone registers again, and the call is
/// offered to it and answered. Returns the CDRs once `cdrs` of them are written.
fn waits_unoffered_until_1001_registers(
    dir: &Path,
    daemon: &Daemon,
    events: &Events,
    data: &Path,
    port: u16,
    number: &str,
    cdrs: usize,
) -> Vec<Value> {
    let caller = trunk_caller(dir, daemon, "caller", "cc_caller.xml", number, SALES, None);
    wait_until(Duration::from_secs(10), || {
        let q = daemon.get("/api/v1/queues/sales");
        (q["waiting"].as_array().map_or(0, Vec::len) == 1).then_some(())
    })
    .unwrap_or_else(|| panic!("the call never waited in sales"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        events.of("call_offered").is_empty(),
        "offered to an unregistered phone: {:#?}",
        events.all()
    );
    register_from(daemon, "1001", port, 3600);
    let agent_phone = phone(dir, "1001", port, "cc_agent_hangup.xml");
    agent_phone.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(10));
    db::wait_cdrs(data, cdrs, Duration::from_secs(10))
}

/// Starts a trunk caller (from 127.0.0.2) running `scenario` to `did`; its audio goes to
/// `media_port` (none: SIPp's own media port, where nothing is sent).
fn trunk_caller(
    dir: &Path,
    daemon: &Daemon,
    name: &str,
    scenario: &str,
    number: &str,
    did: &str,
    media_port: Option<u16>,
) -> Sipp {
    let media = media_port.unwrap_or_else(|| free_port_on("127.0.0.2"));
    Sipp::start(
        dir,
        name,
        scenario,
        &[
            ("@CALLER@", number.to_owned()),
            ("@MEDIA_PORT@", media.to_string()),
        ],
        ("127.0.0.2", free_port_on("127.0.0.2")),
        &["-s", did],
        Some(daemon.addr),
    )
}

/// Starts a trunk caller (from 127.0.0.2) to `did` that hangs up `talk_ms` after the
/// answer.
fn hanging_up_caller(dir: &Path, daemon: &Daemon, number: &str, did: &str, talk_ms: u32) -> Sipp {
    Sipp::start(
        dir,
        "caller",
        "cc_caller_hangup.xml",
        &[
            ("@CALLER@", number.to_owned()),
            ("@MEDIA_PORT@", free_port_on("127.0.0.2").to_string()),
            ("@TALK_MS@", talk_ms.to_string()),
        ],
        ("127.0.0.2", free_port_on("127.0.0.2")),
        &["-s", did],
        Some(daemon.addr),
    )
}

/// Starts a trunk caller (from 127.0.0.2) to `did` that must be refused with `status`
/// (perhaps after ringing).
fn refused_caller(
    dir: &Path,
    daemon: &Daemon,
    name: &str,
    number: &str,
    did: &str,
    status: u16,
) -> Sipp {
    Sipp::start(
        dir,
        name,
        "cc_caller_refused.xml",
        &[
            ("@CALLER@", number.to_owned()),
            ("@MEDIA_PORT@", free_port_on("127.0.0.2").to_string()),
            ("@STATUS@", status.to_string()),
        ],
        ("127.0.0.2", free_port_on("127.0.0.2")),
        &["-s", did],
        Some(daemon.addr),
    )
}

/// Starts phone `user` dialling extension `ext` (answering the switch's digest
/// challenge from a fresh port), talking `talk_ms` after the answer, then hanging up.
fn extension_caller(dir: &Path, daemon: &Daemon, user: &str, ext: &str, talk_ms: u32) -> Sipp {
    Sipp::start(
        dir,
        &format!("phone-{user}-dialling"),
        "ext_caller.xml",
        &[
            ("@USER@", user.to_owned()),
            ("@PASSWORD@", PASSWORD.to_owned()),
            ("@EXT@", ext.to_owned()),
            ("@MEDIA_PORT@", free_port_on("127.0.0.1").to_string()),
            ("@TALK_MS@", talk_ms.to_string()),
        ],
        ("127.0.0.1", free_port_on("127.0.0.1")),
        &[],
        Some(daemon.addr),
    )
}

/// `POST path` on the API with `body`; the answer must be 200 with JSON.
fn post(daemon: &Daemon, path: &str, body: Value) -> Value {
    let resp = request(daemon.api(), "POST", path, API_KEY, Some(&body))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert_eq!(resp.status, 200, "POST {path}: {}", resp.json());
    resp.json()
}

/// The agent as the API shows it.
fn agent(daemon: &Daemon, id: &str) -> Value {
    get_json(daemon.api(), &format!("/api/v1/agents/{id}"), API_KEY)
}

/// The sales queue's agent counts as `GET /api/v1/queues` shows them.
fn sales_agents(daemon: &Daemon) -> Value {
    let queues = get_json(daemon.api(), "/api/v1/queues", API_KEY);
    queues
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["name"] == "sales"))
        .map(|q| q["agents"].clone())
        .unwrap_or_else(|| panic!("no sales queue: {queues:#}"))
}

/// Waits until the agent's state is `state`; panics with the last view otherwise.
fn expect_agent_state(daemon: &Daemon, id: &str, state: &str, timeout: Duration) -> Value {
    let mut last = Value::Null;
    wait_until(timeout, || {
        last = agent(daemon, id);
        (last["state"] == state).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("agent {id} never became {state}: {last:#}"))
}

/// Registers `user`'s phone and logs agent `user` in on it through the API.
fn agent_on_phone(daemon: &Daemon, user: &str) -> u16 {
    let port = register_phone(daemon, user);
    post(
        daemon,
        &format!("/api/v1/agents/{user}/login"),
        json!({ "device": user }),
    );
    expect_agent_state(daemon, user, "available", Duration::from_secs(5));
    port
}

/// The events of `/api/v1/events`, collected by a thread as they come.
struct Events {
    seen: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Events {
    fn connect(daemon: &Daemon) -> Events {
        use tokio_tungstenite::tungstenite::{self, Message, stream::MaybeTlsStream};
        let url = format!("ws://{}/api/v1/events?api_key={API_KEY}", daemon.api());
        let (mut client, _) = tungstenite::connect(url).expect("connecting to the event stream");
        if let MaybeTlsStream::Plain(s) = client.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .expect("setting a timeout");
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            while let Ok(msg) = client.read() {
                if let Message::Text(text) = msg
                    && let Ok(v) = serde_json::from_str::<Value>(&text)
                {
                    seen2.lock().unwrap().push((Instant::now(), v));
                }
            }
        });
        Events { seen }
    }

    /// The events of type `kind` so far, with when they came.
    fn of(&self, kind: &str) -> Vec<(Instant, Value)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, v)| v["type"] == kind)
            .cloned()
            .collect()
    }

    /// Waits for an event of type `kind` matching `f`.
    fn wait(
        &self,
        kind: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Option<(Instant, Value)> {
        wait_until(timeout, || self.of(kind).into_iter().find(|(_, v)| f(v)))
    }

    fn all(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A WAV longer than any test, for baresip to send.
fn long_tone(dir: &Path) -> PathBuf {
    let tone = dir.join("tone.wav");
    common::audio::write_tone(&tone, 440.0, 120.0);
    tone
}

#[test]
fn feature_codes_log_an_agent_in_and_out_from_a_registered_phone() {
    let dir = scratch_dir("cc-feature");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let tone = long_tone(&dir);
    let phone = Phone::start(
        "cc-1003",
        "127.0.0.1",
        &tone,
        &Account::Registered {
            user: "1003".into(),
            password: PASSWORD.into(),
            registrar: daemon.addr,
            auto_answer: false,
        },
    );
    phone.expect_registered(Duration::from_secs(10));
    assert_eq!(agent(&daemon, "1003")["state"], "logged_out");

    // Each feature-code call is answered (then says how it went); the code has taken
    // effect by then, so the phone hangs up at once.
    let mut calls = 0;
    let mut dial = |code: &str| {
        calls += 1;
        phone.dial(&daemon.uri(code));
        if phone
            .wait_nth("CALL_ESTABLISHED", calls, Duration::from_secs(10))
            .is_none()
        {
            phone.hangup();
            panic!("the switch never answered the feature-code call {code}");
        }
        phone.hangup();
        phone
            .wait_nth("CALL_CLOSED", calls, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("the feature-code call {code} never ended"));
    };

    // A wrong PIN does not log in.
    dial("*451003*9999");
    let a = agent(&daemon, "1003");
    assert_eq!(a["state"], "logged_out", "{a:#}");
    assert!(
        daemon
            .wait_log(&["agent login refused"], Duration::from_secs(2))
            .is_some()
    );

    // The right PIN logs the agent in on the phone that dialled.
    dial("*451003*3456");
    let a = expect_agent_state(&daemon, "1003", "available", Duration::from_secs(5));
    assert_eq!(a["device"], "1003", "{a:#}");
    assert_eq!(a["device_registered"], true, "{a:#}");

    // *47 pauses, *48 unpauses, *46 logs out.
    dial("*47");
    expect_agent_state(&daemon, "1003", "paused", Duration::from_secs(5));
    dial("*48");
    expect_agent_state(&daemon, "1003", "available", Duration::from_secs(5));
    dial("*46");
    let a = expect_agent_state(&daemon, "1003", "logged_out", Duration::from_secs(5));
    assert!(a["device"].is_null(), "{a:#}");

    // Every feature call answered (no dialplan ran) and has its CDR.
    assert_eq!(phone.count("CALL_ESTABLISHED"), 5);
    let cdrs = db::wait_cdrs(&data, 5, Duration::from_secs(10));
    assert!(
        cdrs.iter().all(|c| c["disposition"] == "feature"),
        "{cdrs:#?}"
    );
    drop(phone);
    assert!(daemon.stop().success());
}

#[test]
fn a_paused_agent_gets_no_offer_and_the_screen_pop_names_the_caller() {
    let dir = scratch_dir("cc-pause");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port = agent_on_phone(&daemon, "1001");
    let events = Events::connect(&daemon);
    let a = post(
        &daemon,
        "/api/v1/agents/1001/pause",
        json!({ "reason": "break" }),
    );
    assert_eq!(a["state"], "paused", "{a:#}");
    events
        .wait("agent_state", Duration::from_secs(5), |v| {
            v["agent"] == "1001" && v["state"] == "paused"
        })
        .unwrap_or_else(|| panic!("no agent_state paused event: {:#?}", events.all()));

    let agent_phone = phone(&dir, "1001", port, "cc_agent_hangup.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137001",
        SALES,
        None,
    );
    // The call waits in the queue; the paused agent is not offered it, even for longer
    // than the queue's ring timeout.
    wait_until(Duration::from_secs(10), || {
        let q = daemon.get("/api/v1/queues/sales");
        (q["waiting"].as_array().map_or(0, Vec::len) == 1).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the call never waited in sales: {:#}",
            daemon.get("/api/v1/queues/sales")
        )
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        events.of("call_offered").is_empty(),
        "offered to a paused agent: {:#?}",
        events.all()
    );
    assert_eq!(agent(&daemon, "1001")["state"], "paused");

    // Unpaused, the agent is offered the call at once, and the offer carries the screen
    // pop: caller, DID, queue and the dialplan's variables.
    post(&daemon, "/api/v1/agents/1001/unpause", json!({}));
    let (_, offer) = events
        .wait("call_offered", Duration::from_secs(5), |_| true)
        .unwrap_or_else(|| panic!("no call_offered after unpause: {:#?}", events.all()));
    eprintln!("offer: {offer:#}");
    assert_eq!(offer["agent"], "1001", "{offer:#}");
    assert_eq!(offer["device"], "1001", "{offer:#}");
    assert_eq!(offer["queue"], "sales", "{offer:#}");
    assert!(
        offer["caller"]
            .as_str()
            .is_some_and(|c| c.ends_with("8613700137001")),
        "{offer:#}"
    );
    assert_eq!(offer["did"], SALES, "{offer:#}");
    assert_eq!(offer["variables"]["ticket"], "T-4242", "{offer:#}");
    assert!(
        events
            .wait("agent_state", Duration::from_secs(5), |v| {
                v["agent"] == "1001" && v["state"] == "on_call"
            })
            .is_some(),
        "no agent_state on_call: {:#?}",
        events.all()
    );

    // The agent answers, talks and hangs up; the caller gets BYE.
    agent_phone.expect_pass(Duration::from_secs(20));
    caller.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs[0]["agent"], "1001", "{:#}", cdrs[0]);
    assert!(daemon.stop().success());
}

#[test]
fn an_agent_whose_phone_unregisters_is_offered_nothing_until_it_is_back() {
    let dir = scratch_dir("cc-unregistered");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port = agent_on_phone(&daemon, "1001");
    let events = Events::connect(&daemon);
    register_from(&daemon, "1001", port, 0);
    let a = wait_until(Duration::from_secs(5), || {
        let a = agent(&daemon, "1001");
        (a["device_registered"] == false).then_some(a)
    })
    .unwrap_or_else(|| panic!("the agent's phone still shows registered"));
    assert_eq!(a["device"], "1001", "still logged in there: {a:#}");
    let cdrs = waits_unoffered_until_1001_registers(
        &dir,
        &daemon,
        &events,
        &data,
        port,
        "+8613700137019",
        1,
    );
    assert_eq!(cdrs[0]["agent"], "1001", "{:#}", cdrs[0]);
    assert!(daemon.stop().success());
}

/// Receives RTP on `sock` until `stop`, noting when each packet came.
fn rtp_arrivals(sock: UdpSocket, stop: Arc<Mutex<bool>>) -> Arc<Mutex<Vec<Instant>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let got2 = got.clone();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("setting a timeout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !*stop.lock().unwrap() {
            if let Ok((n, _)) = sock.recv_from(&mut buf)
                && n >= 12
                && buf[0] >> 6 == 2
            {
                got2.lock().unwrap().push(Instant::now());
            }
        }
    });
    got
}

fn count_between(times: &[Instant], from: Instant, to: Instant) -> usize {
    times.iter().filter(|&&t| t >= from && t < to).count()
}

/// Waits for the daemon to log that `held` ("caller" or "agent") went on hold and came
/// off it, then counts the RTP packets that reached the held party: in the 1.5 s before
/// the hold, during it (from 0.3 s in), and from 0.3 to 1.5 s after it. Returns those
/// three counts and the seconds counted during the hold.
fn packets_around_hold(
    daemon: &mut Daemon,
    arrivals: &Mutex<Vec<Instant>>,
    held: &str,
) -> (usize, usize, usize, f64) {
    let on = format!("{held} on hold");
    daemon
        .wait_log(&[&on], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no re-INVITE a=sendonly put the {held} on hold"));
    let start = Instant::now();
    let off = format!("{held} off hold");
    daemon
        .wait_log(&[&off], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no re-INVITE a=sendrecv took the {held} off hold"));
    let end = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let times = arrivals.lock().unwrap().clone();
    (
        count_between(&times, start - Duration::from_millis(1500), start),
        count_between(&times, start + Duration::from_millis(300), end),
        count_between(
            &times,
            end + Duration::from_millis(300),
            end + Duration::from_millis(1500),
        ),
        (end - start).as_secs_f64() - 0.3,
    )
}

/// Starts agent 1001's phone (registered on `port`) answering, then holding the caller
/// (re-INVITE with `a=direction`) after `before_ms`, resuming after `hold_ms`, talking for
/// `after_ms` and hanging up.
fn holding_phone(
    dir: &Path,
    port: u16,
    direction: &str,
    (before_ms, hold_ms, after_ms): (u32, u32, u32),
) -> Sipp {
    Sipp::start(
        dir,
        "phone-1001",
        "cc_agent_hold.xml",
        &[
            ("@USER@", "1001".to_owned()),
            ("@PCAP@", format!("{}/g711a.pcap", common::sipp::PCAP_DIR)),
            ("@HOLD@", direction.to_owned()),
            ("@BEFORE_MS@", before_ms.to_string()),
            ("@HOLD_MS@", hold_ms.to_string()),
            ("@AFTER_MS@", after_ms.to_string()),
        ],
        ("127.0.0.1", port),
        &[],
        None,
    )
}

#[test]
fn a_held_caller_hears_music_then_the_agent_again() {
    let dir = scratch_dir("cc-hold");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port = agent_on_phone(&daemon, "1001");
    // The caller's audio comes to a socket of the test's.
    let media = UdpSocket::bind("127.0.0.2:0").expect("binding the caller's media socket");
    let media_port = media.local_addr().expect("an address").port();
    let stop = Arc::new(Mutex::new(false));
    let arrivals = rtp_arrivals(media, stop.clone());

    let agent_phone = holding_phone(&dir, port, "sendonly", (2000, 3000, 2000));
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137002",
        SALES,
        Some(media_port),
    );
    expect_agent_state(&daemon, "1001", "on_call", Duration::from_secs(10));
    let (before, during, after, held_secs) = packets_around_hold(&mut daemon, &arrivals, "caller");
    eprintln!(
        "RTP packets at the caller: {before} bridged (1.5 s, the agent silent), \
         {during} on hold ({held_secs:.1} s), {after} bridged again (1.2 s, the agent talking)"
    );
    // Bridged to a silent agent, the caller gets nothing; on hold, music (about 50
    // packets a second); off hold, the agent's voice again.
    assert!(before <= 5, "{before} packets before the hold");
    assert!(
        during as f64 >= 25.0 * held_secs,
        "{during} packets in {held_secs:.1} s of hold"
    );
    assert!(after >= 15, "{after} packets in 1.2 s after the hold");
    agent_phone.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(10));
    *stop.lock().unwrap() = true;
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs[0]["agent"], "1001", "{:#}", cdrs[0]);
    assert!(daemon.stop().success());
}

#[test]
fn an_agent_held_by_the_caller_hears_music_until_the_caller_resumes() {
    let dir = scratch_dir("cc-caller-hold");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port = agent_on_phone(&daemon, "1001");
    // The agent's audio comes to a socket of the test's.
    let media = UdpSocket::bind("127.0.0.1:0").expect("binding the agent's media socket");
    let media_port = media.local_addr().expect("an address").port();
    let stop = Arc::new(Mutex::new(false));
    let arrivals = rtp_arrivals(media, stop.clone());
    let agent_phone = Sipp::start(
        &dir,
        "phone-1001",
        "cc_agent_answer_media.xml",
        &[
            ("@USER@", "1001".to_owned()),
            ("@MEDIA_PORT@", media_port.to_string()),
        ],
        ("127.0.0.1", port),
        &[],
        None,
    );
    // The caller (silent throughout) holds 2 s after the answer, for 3 s, then stays 2 s.
    let caller = Sipp::start(
        &dir,
        "caller",
        "cc_caller_hold.xml",
        &[
            ("@CALLER@", "+8613700137003".to_owned()),
            ("@MEDIA_PORT@", free_port_on("127.0.0.2").to_string()),
            ("@BEFORE_MS@", "2000".to_owned()),
            ("@HOLD_MS@", "3000".to_owned()),
            ("@AFTER_MS@", "2000".to_owned()),
        ],
        ("127.0.0.2", free_port_on("127.0.0.2")),
        &["-s", SALES],
        Some(daemon.addr),
    );
    expect_agent_state(&daemon, "1001", "on_call", Duration::from_secs(10));
    let (before, during, after, held_secs) = packets_around_hold(&mut daemon, &arrivals, "agent");
    eprintln!(
        "RTP packets at the agent: {before} bridged (1.5 s, the caller silent), \
         {during} on hold ({held_secs:.1} s), {after} bridged again (1.2 s)"
    );
    // Bridged to a silent caller the agent gets nothing; on hold, music (about 50
    // packets a second); off hold, the silent caller again, so the music stopped.
    assert!(before <= 5, "{before} packets before the hold");
    assert!(
        during as f64 >= 25.0 * held_secs,
        "{during} packets in {held_secs:.1} s of hold"
    );
    assert!(
        after <= 5,
        "{after} packets in 1.2 s after the hold: the music went on"
    );
    caller.expect_pass(Duration::from_secs(15));
    agent_phone.expect_pass(Duration::from_secs(10));
    *stop.lock().unwrap() = true;
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs[0]["agent"], "1001", "{:#}", cdrs[0]);
    assert_eq!(cdrs[0]["hangup_by"], "caller", "{:#}", cdrs[0]);
    assert!(daemon.stop().success());
}

#[test]
fn a_call_on_hold_is_not_ended_for_inactivity() {
    let dir = scratch_dir("cc-hold-quiet");
    let (mut daemon, data) = start_daemon(&dir, &[("inactivity = \"60s\"", "inactivity = \"2s\"")]);
    let port = agent_on_phone(&daemon, "1001");
    // Nobody sends RTP for 4 s of hold (a=inactive), twice the inactivity limit: a held
    // call is quiet by design. The agent then talks for a second and hangs up.
    let agent_phone = holding_phone(&dir, port, "inactive", (100, 4000, 1000));
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137011",
        SALES,
        None,
    );
    agent_phone.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["agent"], "1001", "{cdr:#}");
    assert_eq!(cdr["hangup_by"], "agent", "{cdr:#}");
    assert_ne!(cdr["hangup_reason"], "inactivity", "{cdr:#}");
    assert!(daemon.stop().success());
}

#[test]
fn a_call_longer_than_the_maximum_is_hung_up_on_both_legs() {
    let dir = scratch_dir("cc-maxdur");
    let (mut daemon, data) =
        start_daemon(&dir, &[("max_duration = \"10m\"", "max_duration = \"3s\"")]);
    let port = agent_on_phone(&daemon, "1001");
    let agent_phone = phone(&dir, "1001", port, "cc_agent_answer.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137003",
        SALES,
        None,
    );
    // Both scenarios end only on the switch's BYE.
    agent_phone.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(5));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["hangup_reason"], "max-duration", "{cdr:#}");
    assert_eq!(cdr["agent"], "1001", "{cdr:#}");
    // The agent is free for the next call.
    expect_agent_state(&daemon, "1001", "available", Duration::from_secs(5));
    assert!(daemon.stop().success());
}

#[test]
fn a_call_without_media_is_hung_up_for_inactivity() {
    let dir = scratch_dir("cc-inactive");
    let (mut daemon, data) = start_daemon(&dir, &[("inactivity = \"60s\"", "inactivity = \"2s\"")]);
    // The dialplan would hold this call for 30 s; the caller sends no RTP at all.
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137004",
        HOLD_LINE,
        None,
    );
    caller.expect_pass(Duration::from_secs(15));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["hangup_reason"], "inactivity", "{cdr:#}");
    assert!(daemon.stop().success());
}

#[test]
fn an_answer_crossing_the_cancel_of_an_abandoned_call_is_hung_up_and_frees_the_agent() {
    let dir = scratch_dir("cc-cross-abandon");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port = agent_on_phone(&daemon, "1001");
    // The caller hangs up a second into the queue, while 1001's phone rings; its answer
    // crosses the CANCEL that follows.
    let racer = phone(&dir, "1001", port, "cc_agent_cross.xml");
    let caller = hanging_up_caller(&dir, &daemon, "+8613700137012", SALES, 1000);
    caller.expect_pass(Duration::from_secs(10));
    racer.expect_pass(Duration::from_secs(15));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["hangup_by"], "caller", "{cdr:#}");
    assert!(cdr["agent"].is_null() || cdr["agent"] == "", "{cdr:#}");
    // The agent is not left ringing or on a call nobody is on.
    let a = expect_agent_state(&daemon, "1001", "available", Duration::from_secs(5));
    assert!(a["call"].is_null(), "{a:#}");
    assert!(daemon.stop().success());
}

#[test]
fn the_maximum_duration_cancels_a_ringing_offer() {
    let dir = scratch_dir("cc-maxdur-ringing");
    let (mut daemon, data) =
        start_daemon(&dir, &[("max_duration = \"10m\"", "max_duration = \"3s\"")]);
    let port = agent_on_phone(&daemon, "1001");
    // The ring-all queue rings for 10 s; the call may last 3 s.
    let ringing = phone(&dir, "1001", port, "cc_agent_ring_out.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137013",
        SUPPORT,
        None,
    );
    ringing.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(5));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["hangup_reason"], "max-duration", "{cdr:#}");
    expect_agent_state(&daemon, "1001", "available", Duration::from_secs(5));
    assert!(daemon.stop().success());
}

#[test]
fn shutdown_refuses_new_calls_and_ends_calls_in_progress_after_the_grace() {
    let dir = scratch_dir("cc-shutdown");
    let (mut daemon, data) = start_daemon(
        &dir,
        &[("shutdown_grace = \"2s\"", "shutdown_grace = \"4s\"")],
    );
    let port = agent_on_phone(&daemon, "1001");
    let agent_phone = phone(&dir, "1001", port, "cc_agent_answer.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137005",
        SALES,
        None,
    );
    expect_agent_state(&daemon, "1001", "on_call", Duration::from_secs(10));

    daemon.signal("TERM");
    daemon
        .wait_log(&["shutting down"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("the daemon did not start shutting down"));
    // A new call is refused while the call in progress carries on.
    refused_caller(&dir, &daemon, "late-caller", "+8613700137006", SALES, 503)
        .expect_pass(Duration::from_secs(10));
    // After the 4 s grace both legs get BYE and the daemon exits.
    agent_phone.expect_pass(Duration::from_secs(10));
    caller.expect_pass(Duration::from_secs(5));
    let status = daemon
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the daemon did not exit after its grace period"));
    assert!(status.success(), "{status:?}");
    // The call's CDR was written before the exit.
    let cdrs = db::cdrs(&data);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    assert_eq!(cdrs[0]["hangup_reason"], "shutdown", "{:#}", cdrs[0]);
    assert_eq!(cdrs[0]["agent"], "1001", "{:#}", cdrs[0]);
}

#[test]
fn shutdown_refuses_feature_codes_too() {
    let dir = scratch_dir("cc-shutdown-feature");
    let (mut daemon, _data) = start_daemon(
        &dir,
        &[("shutdown_grace = \"2s\"", "shutdown_grace = \"4s\"")],
    );
    let tone = long_tone(&dir);
    let phone = Phone::start(
        "cc-1003-drain",
        "127.0.0.1",
        &tone,
        &Account::Registered {
            user: "1003".into(),
            password: PASSWORD.into(),
            registrar: daemon.addr,
            auto_answer: false,
        },
    );
    phone.expect_registered(Duration::from_secs(10));
    // A call in progress keeps the daemon draining for its grace.
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137018",
        HOLD_LINE,
        None,
    );
    wait_until(Duration::from_secs(10), || {
        (!common::http::items(&daemon.get("/api/v1/calls")).is_empty()).then_some(())
    })
    .unwrap_or_else(|| panic!("the call never started"));
    daemon.signal("TERM");
    daemon
        .wait_log(&["shutting down"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("the daemon did not start shutting down"));
    // A login by feature code is a new call like any other: refused, not answered.
    phone.dial(&daemon.uri("*451003*3456"));
    let closed = phone
        .wait_event("CALL_CLOSED", Duration::from_secs(5))
        .unwrap_or_else(|| {
            phone.hangup();
            panic!("the feature-code call was not refused")
        });
    eprintln!("closed: {closed}");
    assert_eq!(phone.count("CALL_ESTABLISHED"), 0, "{closed}");
    assert!(closed.to_string().contains("503"), "{closed}");
    assert_eq!(agent(&daemon, "1003")["state"], "logged_out");
    caller.expect_pass(Duration::from_secs(10));
    drop(phone);
    assert!(
        daemon
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
}

#[test]
fn shutdown_cancels_a_ringing_offer_after_the_grace() {
    let dir = scratch_dir("cc-shutdown-ringing");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port = agent_on_phone(&daemon, "1001");
    // The ring-all queue rings for 10 s, longer than the 2 s grace.
    let ringing = phone(&dir, "1001", port, "cc_agent_ring_out.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137014",
        SUPPORT,
        None,
    );
    expect_agent_state(&daemon, "1001", "ringing", Duration::from_secs(10));
    daemon.signal("TERM");
    // At the end of the 2 s grace: CANCEL (not "completed elsewhere"), 487 ACKed, and the
    // caller's BYE.
    ringing.expect_pass(Duration::from_secs(10));
    caller.expect_pass(Duration::from_secs(5));
    let status = daemon
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the daemon did not exit after its grace period"));
    assert!(status.success(), "{status:?}");
    let cdrs = db::cdrs(&data);
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    assert_eq!(cdrs[0]["hangup_reason"], "shutdown", "{:#}", cdrs[0]);
}

#[test]
fn the_api_hangs_up_a_call_on_both_legs() {
    let dir = scratch_dir("cc-api-hangup");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port = agent_on_phone(&daemon, "1001");
    let agent_phone = phone(&dir, "1001", port, "cc_agent_answer.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137015",
        SALES,
        None,
    );
    let a = expect_agent_state(&daemon, "1001", "on_call", Duration::from_secs(10));
    let call = a["call"].as_str().expect("the agent's call").to_owned();
    let resp = request(
        daemon.api(),
        "DELETE",
        &format!("/api/v1/calls/{call}"),
        API_KEY,
        None,
    )
    .expect("DELETE the call");
    assert_eq!(resp.status, 200, "{}", resp.json());
    agent_phone.expect_pass(Duration::from_secs(5));
    caller.expect_pass(Duration::from_secs(5));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs[0]["hangup_reason"], "api", "{:#}", cdrs[0]);
    expect_agent_state(&daemon, "1001", "available", Duration::from_secs(5));
    assert!(daemon.stop().success());
}

#[test]
fn an_answer_crossing_our_cancel_is_acked_and_hung_up() {
    let dir = scratch_dir("cc-cross");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    // 1001 is offered the call first (longest idle: logged in first).
    let port1 = agent_on_phone(&daemon, "1001");
    std::thread::sleep(Duration::from_millis(100));
    let port2 = agent_on_phone(&daemon, "1002");
    let events = Events::connect(&daemon);
    let racer = phone(&dir, "1001", port1, "cc_agent_cross.xml");
    let second = phone(&dir, "1002", port2, "cc_agent_hangup.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137007",
        SALES,
        None,
    );
    let (first_at, first) = events
        .wait("call_offered", Duration::from_secs(10), |_| true)
        .unwrap_or_else(|| panic!("no offer: {:#?}", events.all()));
    assert_eq!(first["agent"], "1001", "{first:#}");
    // 1001's phone answers the 2 s ring timeout's CANCEL with 200 and then, 1.5 s
    // later, the INVITE with 200 too: the switch must ACK it and hang up (BYE), the
    // scenario checks both.
    racer.expect_pass(Duration::from_secs(15));
    // Meanwhile the call was not offered to 1002: only after the INVITE to 1001 ended.
    let (second_at, offer) = events
        .wait("call_offered", Duration::from_secs(10), |v| {
            v["agent"] == "1002"
        })
        .unwrap_or_else(|| panic!("never offered to 1002: {:#?}", events.all()));
    let gap = second_at - first_at;
    eprintln!("offered to 1002 {:.2} s after 1001", gap.as_secs_f64());
    assert!(
        gap >= Duration::from_millis(3200),
        "offered to 1002 {gap:?} after 1001, before the crossing answer was dealt with: {offer:#}"
    );
    second.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    assert_eq!(cdrs[0]["agent"], "1002", "{:#}", cdrs[0]);
    assert!(daemon.stop().success());
}

#[test]
fn ring_all_cancels_say_the_call_was_completed_elsewhere() {
    let dir = scratch_dir("cc-ringall");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port1 = agent_on_phone(&daemon, "1001");
    let port2 = agent_on_phone(&daemon, "1002");
    // 1001 answers; 1002 rings and must get a CANCEL with the Reason header.
    let winner = phone(&dir, "1001", port1, "cc_agent_hangup.xml");
    let loser = phone(&dir, "1002", port2, "cc_agent_ring.xml");
    let caller = trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller.xml",
        "+8613700137008",
        SUPPORT,
        None,
    );
    loser.expect_pass(Duration::from_secs(15));
    winner.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs[0]["agent"], "1001", "{:#}", cdrs[0]);
    assert!(daemon.stop().success());
}

#[test]
fn when_two_ring_all_agents_answer_at_once_one_gets_the_call() {
    let dir = scratch_dir("cc-ringall-both");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port1 = agent_on_phone(&daemon, "1001");
    let port2 = agent_on_phone(&daemon, "1002");
    // Both phones answer at once; each scenario passes only if its answer is ACKed and
    // then hung up: the loser's at once, the winner's when the caller hangs up.
    let phone1 = phone(&dir, "1001", port1, "cc_agent_answer_race.xml");
    let phone2 = phone(&dir, "1002", port2, "cc_agent_answer_race.xml");
    let caller = hanging_up_caller(&dir, &daemon, "+8613700137016", SUPPORT, 2000);
    phone1.expect_pass(Duration::from_secs(15));
    phone2.expect_pass(Duration::from_secs(15));
    caller.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert!(cdr["agent"] == "1001" || cdr["agent"] == "1002", "{cdr:#}");
    let call = cdr["id"].as_str().expect("the call's id");
    let log = db::queue_log_of(&data, call);
    let events = db::events(&log);
    assert_eq!(
        events.iter().filter(|e| *e == "connect").count(),
        1,
        "{log:#?}"
    );
    for id in ["1001", "1002"] {
        expect_agent_state(&daemon, id, "available", Duration::from_secs(5));
    }
    assert!(daemon.stop().success());
}

#[test]
fn sighup_reloads_the_dialplan_for_new_calls_only() {
    let dir = scratch_dir("cc-reload");
    let plan = dir.join("cc_reload.dialplan");
    let old = std::fs::read_to_string(common::configs_dir().join("cc_reload.dialplan"))
        .expect("reading cc_reload.dialplan");
    // Prompts are found from the copy as from the original.
    let old = old.replace(
        "prompts \"../../prompts\"",
        &format!(
            "prompts {:?}",
            repo_root().join("prompts").display().to_string()
        ),
    );
    std::fs::write(&plan, &old).expect("writing the dialplan");
    // The configuration's dialplan (made absolute by the test's replacements) becomes the
    // copy.
    let configured = format!(
        "dialplan = \"{}/cc.dialplan\"",
        common::configs_dir().display()
    );
    let copy = format!("dialplan = {:?}", plan.display().to_string());
    let (mut daemon, data) = start_daemon(&dir, &[(&configured, &copy)]);
    let first = trunk_caller(
        &dir,
        &daemon,
        "first",
        "cc_caller.xml",
        "+8613700137009",
        SALES,
        None,
    );
    // While the first call waits in the old plan, the plan changes and is reloaded.
    wait_until(Duration::from_secs(10), || {
        let calls = daemon.get("/api/v1/calls");
        (!common::http::items(&calls).is_empty()).then_some(())
    })
    .unwrap_or_else(|| panic!("the first call never started"));
    std::fs::write(&plan, old.replace("queue sales", "queue support"))
        .expect("rewriting the dialplan");
    daemon.signal("HUP");
    daemon
        .wait_log(&["dialplan reloaded"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no reload after SIGHUP"));
    let second = trunk_caller(
        &dir,
        &daemon,
        "second",
        "cc_caller.xml",
        "+8613700137010",
        SALES,
        None,
    );
    // A plan that fails the checker is refused; the last good one keeps serving.
    std::fs::write(&plan, old.replace("queue sales", "queue nowhere"))
        .expect("breaking the dialplan");
    daemon.signal("HUP");
    daemon
        .wait_log(&["reload refused"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("a broken dialplan was not refused"));
    let third = trunk_caller(
        &dir,
        &daemon,
        "third",
        "cc_caller.xml",
        "+8613700137017",
        SALES,
        None,
    );
    first.expect_pass(Duration::from_secs(15));
    second.expect_pass(Duration::from_secs(15));
    third.expect_pass(Duration::from_secs(15));
    let cdrs = db::wait_cdrs(&data, 3, Duration::from_secs(10));
    let queue_of = |caller: &str| {
        cdrs.iter()
            .find(|c| c["caller"].as_str().is_some_and(|n| n.ends_with(caller)))
            .map(|c| c["queue"].clone())
            .unwrap_or_else(|| panic!("no CDR from {caller}: {cdrs:#?}"))
    };
    assert_eq!(queue_of("8613700137009"), "sales", "{cdrs:#?}");
    assert_eq!(queue_of("8613700137010"), "support", "{cdrs:#?}");
    assert_eq!(queue_of("8613700137017"), "support", "{cdrs:#?}");
    assert!(daemon.stop().success());
}

#[test]
fn early_media_plays_the_announcement_before_refusing_the_call() {
    let dir = scratch_dir("cc-early");
    let (mut daemon, data) = start_daemon(&dir, &[("early_media = false", "early_media = true")]);
    // The announcement reaches a socket of the test's while the call is not answered.
    let media = UdpSocket::bind("127.0.0.2:0").expect("binding the caller's media socket");
    let media_port = media.local_addr().expect("an address").port();
    let stop = Arc::new(Mutex::new(false));
    let arrivals = rtp_arrivals(media, stop.clone());
    // 183 with SDP, then 503 (the dialplan's `hangup unavailable`), never a 200.
    trunk_caller(
        &dir,
        &daemon,
        "caller",
        "cc_caller_early.xml",
        "+8613700137021",
        "+861058000004",
        Some(media_port),
    )
    .expect_pass(Duration::from_secs(15));
    *stop.lock().unwrap() = true;
    let packets = arrivals.lock().unwrap().len();
    eprintln!("{packets} RTP packets of early media");
    // `goodbye` lasts about a second: 20 ms packets.
    assert!(
        packets >= 25,
        "only {packets} RTP packets before the refusal"
    );
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert!(cdr["answer_ms"].is_null(), "never answered: {cdr:#}");
    assert_eq!(cdr["billable_ms"].as_i64(), Some(0), "{cdr:#}");
    assert_eq!(cdr["hangup_reason"], "dialplan:unavailable", "{cdr:#}");
    assert!(daemon.stop().success());
}

#[test]
fn sighup_reloads_the_configuration_and_refuses_a_broken_one() {
    let dir = scratch_dir("cc-reload-config");
    let (mut daemon, _data) = start_daemon(&dir, &[]);
    let config = dir.join("cc.toml");
    let text = std::fs::read_to_string(&config).expect("reading the test's configuration");
    let queues = |daemon: &Daemon| -> Vec<String> {
        common::http::items(&daemon.get("/api/v1/queues"))
            .iter()
            .filter_map(|q| q["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(!queues(&daemon).contains(&"billing".to_owned()));
    // A new queue: there after SIGHUP, without a restart. A changed [rtp] section is
    // kept as started, and the log says a restart applies it.
    let added = format!(
        "{}\n[[queue]]\nname = \"billing\"\nskills = {{ sales = 1 }}\nring_timeout = \"5s\"\n",
        text.replace("inactivity = \"60s\"", "inactivity = \"90s\"")
    );
    std::fs::write(&config, &added).expect("adding a queue");
    daemon.signal("HUP");
    daemon
        .wait_log(&["configuration reloaded"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no reload after SIGHUP"));
    let kept = daemon
        .wait_log(&["the reload keeps"], Duration::from_secs(1))
        .unwrap_or_else(|| panic!("no word that [rtp] needs a restart"));
    assert!(kept.contains("[rtp]") && kept.contains("restart"), "{kept}");
    assert!(
        queues(&daemon).contains(&"billing".to_owned()),
        "{:?}",
        queues(&daemon)
    );
    // A broken file is refused with its error, and the running configuration stays.
    std::fs::write(
        &config,
        added.replace("ring_timeout = \"5s\"", "ring_timeout = \"soon\""),
    )
    .expect("breaking the configuration");
    daemon.signal("HUP");
    daemon
        .wait_log(&["reload refused"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("a broken configuration was not refused"));
    assert!(queues(&daemon).contains(&"billing".to_owned()));
    assert!(daemon.stop().success());
}

#[test]
fn a_transfer_out_fails_over_to_the_next_gateway_when_the_first_stays_silent() {
    let dir = scratch_dir("cc-failover");
    // The first gateway takes INVITEs and never answers; the second is a SIPp that answers.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("binding the silent gateway");
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("setting a timeout");
    let silent_port = silent.local_addr().expect("an address").port();
    let answering_port = free_port_on("127.0.0.1");
    let (mut daemon, data) = start_daemon(
        &dir,
        &[
            (
                "sip:127.0.0.1:17901",
                &format!("sip:127.0.0.1:{silent_port}"),
            ),
            (
                "sip:127.0.0.1:17903",
                &format!("sip:127.0.0.1:{answering_port}"),
            ),
        ],
    );
    let gateway = phone(&dir, "gateway", answering_port, "cc_agent_answer.xml");
    let started = Instant::now();
    let caller = hanging_up_caller(&dir, &daemon, "+8613700137031", "+861058000005", 1000);
    // The INVITE reached the first gateway, which says nothing.
    let mut buf = [0u8; 4096];
    let (n, _) = silent
        .recv_from(&mut buf)
        .expect("the first gateway got no INVITE");
    assert!(
        buf[..n].starts_with(b"INVITE sip:+861058000099@"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    caller.expect_pass(Duration::from_secs(15));
    gateway.expect_pass(Duration::from_secs(10));
    // Answered through the second gateway after `failover_after` (1 s), not Timer B's 32 s.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(10), "the call took {waited:?}");
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["disposition"], "transferred", "{cdr:#}");
    assert!(cdr["answer_ms"].as_i64().is_some(), "{cdr:#}");
    assert!(cdr["billable_ms"].as_i64().unwrap_or(0) > 0, "{cdr:#}");
    assert!(daemon.stop().success());
}

#[test]
fn a_key_sent_as_sip_info_drives_the_menu() {
    let dir = scratch_dir("cc-info");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    // The caller offers no telephone-event: its key comes as INFO application/dtmf-relay.
    Sipp::start(
        &dir,
        "caller",
        "cc_caller_info.xml",
        &[
            ("@CALLER@", "+8613700137041".to_owned()),
            ("@DIGIT@", "2".to_owned()),
        ],
        ("127.0.0.2", free_port_on("127.0.0.2")),
        &["-s", "+861058000006"],
        Some(daemon.addr),
    )
    .expect_pass(Duration::from_secs(15));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    // The CDR keeps the IVR's variables as JSON text.
    let variables: serde_json::Value =
        serde_json::from_str(cdr["variables"].as_str().unwrap_or("{}")).expect("JSON variables");
    assert_eq!(variables["pressed"], "two", "{cdr:#}");
    assert!(daemon.stop().success());
}

/// Phone 1002 registers; agent 1001's phone dials it and talks `talk_ms` once 1002 has
/// answered (its scenario notes the switch's RTP port on the ACK). Returns 1002's and
/// 1001's scenarios.
fn phone_1001_calls_1002(dir: &Path, daemon: &Daemon, talk_ms: u32) -> (Sipp, Sipp) {
    let port_1002 = register_phone(daemon, "1002");
    let phone_1002 = Sipp::start(
        dir,
        "phone-1002",
        "ext_callee_answer.xml",
        &[
            ("@USER@", "1002".to_owned()),
            ("@MEDIA_PORT@", free_port_on("127.0.0.1").to_string()),
        ],
        ("127.0.0.1", port_1002),
        &[],
        None,
    );
    let dialling = extension_caller(dir, daemon, "1001", "1002", talk_ms);
    wait_until(Duration::from_secs(10), || {
        phone_1002.0.dir.join("rtp_port").exists().then_some(())
    })
    .unwrap_or_else(|| panic!("1002 never answered"));
    (phone_1002, dialling)
}

#[test]
fn an_agent_on_a_phone_to_phone_call_is_offered_no_queue_call_until_it_ends() {
    let dir = scratch_dir("cc-agent-on-extension-call");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    // 1001 logs in first: the longest-idle queue would choose them before 1003.
    let port_1001 = agent_on_phone(&daemon, "1001");
    let port_1003 = agent_on_phone(&daemon, "1003");
    let agent_1001 = phone(&dir, "1001", port_1001, "cc_agent_answer.xml");
    let agent_1003 = phone(&dir, "1003", port_1003, "cc_agent_answer.xml");
    assert_eq!(agent(&daemon, "1001")["on_phone_call"], false);
    let events = Events::connect(&daemon);
    // 1001 calls 1002 (a phone, no agent logged in on it), which answers; they talk 6 s.
    let (phone_1002, dialling) = phone_1001_calls_1002(&dir, &daemon, 6000);
    // The API shows 1001 busy on it: still `available` to the distributor, but on a
    // phone call, and a wallboard hears of it.
    let during = agent(&daemon, "1001");
    assert_eq!(during["state"], "available", "{during:#}");
    assert_eq!(during["on_phone_call"], true, "{during:#}");
    assert_eq!(agent(&daemon, "1003")["on_phone_call"], false);
    // The queue views agree: of sales' two agents, 1003 is available and 1001 busy on a
    // phone call.
    let sales = sales_agents(&daemon);
    assert_eq!(sales["available"], 1, "{sales:#}");
    assert_eq!(sales["on_phone_call"], 1, "{sales:#}");
    let on_phone_call = |agent: &'static str, flag: bool| {
        move |v: &Value| {
            v["agent"] == agent && v["state"] == "available" && v["on_phone_call"] == flag
        }
    };
    events
        .wait(
            "agent_state",
            Duration::from_secs(5),
            on_phone_call("1001", true),
        )
        .unwrap_or_else(|| {
            panic!(
                "no agent_state of 1001 on a phone call: {:#?}",
                events.all()
            )
        });

    // A queue call while 1001 talks to 1002 goes to 1003, not to 1001.
    hanging_up_caller(&dir, &daemon, "+8613700137051", SALES, 1000)
        .expect_pass(Duration::from_secs(15));
    agent_1003.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let first = cdrs
        .iter()
        .find(|c| c["caller"] == "+8613700137051")
        .unwrap_or_else(|| panic!("no CDR of the first queue call: {cdrs:#?}"));
    assert_eq!(first["agent"], "1003", "{first:#}");
    // Not being offered calls left 1001 logged in and ready, with no wrap-up.
    assert_eq!(agent(&daemon, "1001")["state"], "available");

    // The phone-to-phone call ends: the API and the event stream say 1001 is free. Only
    // 1001 is logged in now, and the next queue call reaches them.
    dialling.expect_pass(Duration::from_secs(20));
    phone_1002.expect_pass(Duration::from_secs(10));
    let mut after = Value::Null;
    wait_until(Duration::from_secs(5), || {
        after = agent(&daemon, "1001");
        (after["on_phone_call"] == false).then_some(())
    })
    .unwrap_or_else(|| panic!("1001 still on a phone call after it ended: {after:#}"));
    assert_eq!(after["state"], "available", "{after:#}");
    let mut sales = Value::Null;
    wait_until(Duration::from_secs(5), || {
        sales = sales_agents(&daemon);
        (sales["available"] == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("sales does not count both agents available: {sales:#}"));
    assert_eq!(sales["on_phone_call"], 0, "{sales:#}");
    events
        .wait(
            "agent_state",
            Duration::from_secs(5),
            on_phone_call("1001", false),
        )
        .unwrap_or_else(|| {
            panic!(
                "no agent_state of 1001 off the phone call: {:#?}",
                events.all()
            )
        });
    assert!(
        events
            .of("agent_state")
            .iter()
            .all(|(_, v)| v["agent"] != "1003" || v["on_phone_call"] == false),
        "1003 was never on a phone call: {:#?}",
        events.all()
    );
    post(&daemon, "/api/v1/agents/1003/logout", json!({}));
    hanging_up_caller(&dir, &daemon, "+8613700137052", SALES, 1000)
        .expect_pass(Duration::from_secs(15));
    agent_1001.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 3, Duration::from_secs(10));
    let second = cdrs
        .iter()
        .find(|c| c["caller"] == "+8613700137052")
        .unwrap_or_else(|| panic!("no CDR of the second queue call: {cdrs:#?}"));
    assert_eq!(second["agent"], "1001", "{second:#}");
    let phone_call = cdrs
        .iter()
        .find(|c| c["trunk"] == "phone")
        .unwrap_or_else(|| panic!("no CDR of the phone-to-phone call: {cdrs:#?}"));
    assert_eq!(phone_call["disposition"], "answered", "{phone_call:#}");
    assert!(daemon.stop().success());
}

#[test]
fn a_call_transferred_to_a_number_is_recorded_while_bridged() {
    let dir = scratch_dir("cc-transfer-recorded");
    // The far end plays 3 s of a 1 kHz tone (G.711 μ-law) as soon as it answers.
    let pcap = dir.join("tone.pcap");
    let tone: Vec<i16> = (0..24_000)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 8000.0).sin()) as i16
        })
        .collect();
    common::pcap::write_pcmu_pcap(&pcap, &tone);
    let gateway_port = free_port_on("127.0.0.1");
    let (mut daemon, data) = start_daemon(
        &dir,
        &[
            ("record = false", "record = true"),
            (
                "sip:127.0.0.1:17901",
                &format!("sip:127.0.0.1:{gateway_port}"),
            ),
        ],
    );
    let gateway = Sipp::start(
        &dir,
        "gateway",
        "gw_answer_tone.xml",
        &[("@PCAP@", pcap.display().to_string())],
        ("127.0.0.1", gateway_port),
        &[],
        None,
    );
    // The dialplan transfers the (silent) caller to a number through the carrier; the
    // caller hangs up 4 s after the far end answered.
    hanging_up_caller(&dir, &daemon, "+8613700137091", "+861058000005", 4000)
        .expect_pass(Duration::from_secs(20));
    gateway.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["disposition"], "transferred", "{cdr:#}");
    let path = PathBuf::from(
        cdr["recording"]
            .as_str()
            .unwrap_or_else(|| panic!("no recording in the CDR: {cdr:#}")),
    );
    // Named like an agent call's recording: <storage>/recordings/<date>-<time>-<call>.wav.
    assert_eq!(
        path.parent(),
        Some(data.join("recordings").as_path()),
        "{cdr:#}"
    );
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let id = cdr["id"].as_str().unwrap_or_default();
    assert!(name.ends_with(&format!("-{id}.wav")), "{name}");
    // The recording stops with the call: its header is finished, its length the file's.
    let finished = wait_until(Duration::from_secs(5), || {
        let bytes = std::fs::read(&path).ok()?;
        let riff = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
        (bytes.len() > 44 && riff + 8 == bytes.len()).then_some(())
    });
    assert!(finished.is_some(), "{} never finished", path.display());
    let (far, channels) = common::audio::read_wav_channel(&path, 1)
        .unwrap_or_else(|e| panic!("not a readable WAV: {e}"));
    let (caller, _) = common::audio::read_wav_channel(&path, 0).expect("the caller's channel");
    let far_tone = common::audio::tone_secs(&far, 1000.0);
    let caller_tone = common::audio::tone_secs(&caller, 1000.0);
    eprintln!(
        "recording: {channels} channels, {:.2} s; the far end's tone {far_tone:.2} s, \
         on the caller's side {caller_tone:.2} s",
        far.secs()
    );
    // Stereo like an agent call (caller left, far end right), as long as the bridged
    // part (4 s), with the far end's 3 s tone on its side only.
    assert_eq!(channels, 2);
    assert!(
        (3.0..7.0).contains(&far.secs()),
        "{:.2} s recorded",
        far.secs()
    );
    assert!(
        far_tone >= 2.5,
        "{far_tone:.2} s of the far end's tone recorded"
    );
    assert!(
        caller_tone < 0.3,
        "{caller_tone:.2} s of tone on the caller's side"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_transfer_the_far_end_refuses_leaves_its_status_in_the_cdr() {
    let dir = scratch_dir("cc-transfer-busy");
    // The first gateway answers the transfer's INVITE with 486 Busy Here; a 4xx other
    // than 408 is final, so the second gateway is never tried.
    let busy_port = free_port_on("127.0.0.1");
    let (mut daemon, data) = start_daemon(
        &dir,
        &[("sip:127.0.0.1:17901", &format!("sip:127.0.0.1:{busy_port}"))],
    );
    let gateway = phone(&dir, "gateway", busy_port, "ext_callee_busy.xml");
    // The dialplan transfers the unanswered caller, then gives up (`hangup failure`: 500).
    refused_caller(
        &dir,
        &daemon,
        "caller",
        "+8613700137061",
        "+861058000005",
        500,
    )
    .expect_pass(Duration::from_secs(15));
    gateway.expect_pass(Duration::from_secs(10));
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdr = &cdrs[0];
    eprintln!("CDR: {cdr:#}");
    assert_eq!(cdr["hangup_reason"], "transfer-failed:486", "{cdr:#}");
    assert_eq!(cdr["hangup_by"], "system", "{cdr:#}");
    assert!(cdr["answer_ms"].is_null(), "{cdr:#}");
    assert!(daemon.stop().success());
}

#[test]
fn an_agent_whose_phone_unregisters_during_a_phone_to_phone_call_stays_unreachable() {
    let dir = scratch_dir("cc-extension-unregistered");
    let (mut daemon, data) = start_daemon(&dir, &[]);
    let port_1001 = agent_on_phone(&daemon, "1001");
    let events = Events::connect(&daemon);
    let (phone_1002, dialling) = phone_1001_calls_1002(&dir, &daemon, 2000);
    // 1001's phone unregisters during the call; the call's end must not make it
    // reachable again.
    register_from(&daemon, "1001", port_1001, 0);
    dialling.expect_pass(Duration::from_secs(20));
    phone_1002.expect_pass(Duration::from_secs(10));
    db::wait_cdrs(&data, 1, Duration::from_secs(10));
    let cdrs = waits_unoffered_until_1001_registers(
        &dir,
        &daemon,
        &events,
        &data,
        port_1001,
        "+8613700137071",
        2,
    );
    let queued = cdrs
        .iter()
        .find(|c| c["caller"] == "+8613700137071")
        .unwrap_or_else(|| panic!("no CDR of the queue call: {cdrs:#?}"));
    assert_eq!(queued["agent"], "1001", "{queued:#}");
    assert!(daemon.stop().success());
}
