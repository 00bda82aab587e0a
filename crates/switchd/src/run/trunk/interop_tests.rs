//! The trunk's requests against a real peer: SIPp (Debian `sip-tester`) plays the
//! carrier's gateways over loopback UDP, checks our digest answers with its own
//! `verifyauth`, and its answers come back through the transaction layer.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_sip::dialog::{Dialog, LocalVia, SessionTimerConfig};
use switchyard_sip::transaction::{
    TransactionConfig, TransactionLayer, Transport, TsxEvent, TsxKey,
};
use switchyard_sip::{Message, Method, Request, Uri};

use super::*;
use crate::config::{Gateway, Outbound};

/// A SIPp instance playing one gateway; killed when dropped.
struct Gw {
    child: Option<Child>,
    address: SocketAddr,
    dir: PathBuf,
}

impl Gw {
    fn start(name: &str, xml: &str) -> Gw {
        let sipp = ["/usr/bin/sipp", "/usr/local/bin/sipp", "/usr/sbin/sipp"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .expect("install SIPp (apt-get install sip-tester)");
        let dir =
            std::env::temp_dir().join(format!("switchyard-trunk-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let file = dir.join(format!("{name}.xml"));
        std::fs::write(&file, xml).expect("writing the scenario");
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(sipp)
            .arg("-sf")
            .arg(&file)
            .args(["-m", "1", "-i", "127.0.0.1", "-t", "u1", "-nostdin"])
            .args(["-p", &port.to_string()])
            .args(["-timeout", "15s", "-timeout_error"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sipp");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        // Ready once the port is taken.
        let until = Instant::now() + Duration::from_secs(5);
        while UdpSocket::bind(address).is_ok() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        Gw {
            child: Some(child),
            address,
            dir,
        }
    }

    fn gateway(&self, priority: u32) -> Gateway {
        Gateway {
            uri: format!("sip:{}", self.address),
            address: self.address,
            priority,
        }
    }

    /// Waits for SIPp to finish its one call; whether the scenario passed, and its output.
    fn finish(mut self) -> (bool, String) {
        let mut child = self.child.take().expect("finished once");
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("sipp's output");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Our side of the wire: one UDP socket and the transaction layer, on the real clock.
struct Wire {
    socket: UdpSocket,
    layer: TransactionLayer,
}

impl Wire {
    fn new() -> Wire {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("binding our socket");
        Wire {
            socket,
            layer: TransactionLayer::new(TransactionConfig::default()),
        }
    }

    fn local(&self) -> Local {
        Local {
            listen: vec![self.socket.local_addr().unwrap()],
            transport: Transport::Udp,
        }
    }

    fn send(&mut self, request: Request, to: SocketAddr) -> TsxKey {
        let key = self
            .layer
            .send_request(Instant::now(), request, to, Transport::Udp)
            .expect("a request the layer takes");
        self.flush();
        key
    }

    fn flush(&mut self) {
        while let Some(tx) = self.layer.poll_transmit() {
            self.socket
                .send_to(&tx.payload, tx.destination)
                .expect("sending on loopback");
        }
    }

    /// The next event for the transaction user, waiting at most `wait`.
    fn next_event(&mut self, wait: Duration) -> Option<TsxEvent> {
        let until = Instant::now() + wait;
        let mut buf = vec![0u8; 65_535];
        loop {
            if let Some(e) = self.layer.poll_event() {
                return Some(e);
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            let deadline = self.layer.poll_timeout().map_or(until, |t| t.min(until));
            let timeout = deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            self.socket.set_read_timeout(Some(timeout)).unwrap();
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                let msg = Message::parse(&buf[..n]).expect("SIPp sends parsable SIP");
                self.layer
                    .handle_receive(Instant::now(), msg, from, Transport::Udp);
            }
            self.layer.handle_timeout(Instant::now());
            self.flush();
        }
    }
}

/// A response to the last request, with our To tag (`tag: false` for an in-dialog
/// request, whose To has it already).
fn answer_with(status: &str, extra: &str, tag: bool) -> String {
    let tag = if tag {
        ";tag=[pid]SIPpTag01[call_number]"
    } else {
        ""
    };
    format!(
        "  <send><![CDATA[\nSIP/2.0 {status}\n[last_Via:]\n[last_From:]\n[last_To:]{tag}\n\
         [last_Call-ID:]\n[last_CSeq:]\n{extra}Content-Length: 0\n\n]]></send>\n"
    )
}

fn reply(status: &str, extra: &str) -> String {
    answer_with(status, extra, true)
}

fn scenario(name: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"{name}\">\n{body}</scenario>\n"
    )
}

/// Answers an INVITE with a digest challenge (`header`: WWW- or Proxy-Authenticate),
/// verifies the retry's credentials and answers it with `ok` when they are right, 403
/// when not.
fn challenged(method: &str, status: &str, header: &str, ok: &str) -> String {
    format!(
        "  <recv request=\"{method}\"/>\n{challenge}{ack}  <recv request=\"{method}\">\n    <action>\n      \
         <verifyauth assign_to=\"authvalid\" username=\"switchyard\" password=\"secret\"/>\n    \
         </action>\n  </recv>\n  <nop next=\"good\" test=\"authvalid\"/>\n{forbidden}  \
         <nop next=\"end\"/>\n  <label id=\"good\"/>\n{ok}  <label id=\"end\"/>\n",
        challenge = reply(
            status,
            &format!(
                "{header}: Digest realm=\"carrier\", nonce=\"4f6e4e2b8a\", algorithm=MD5, qop=\"auth\"\n"
            ),
        ),
        ack = if method == "INVITE" {
            "  <recv request=\"ACK\"/>\n"
        } else {
            ""
        },
        forbidden = reply("403 Forbidden", ""),
    )
}

fn outbound(gateways: Vec<Gateway>) -> Outbound {
    Outbound {
        gateways,
        username: Some("switchyard".into()),
        password: Some("secret".into()),
        register: true,
        options_interval: None,
        failover_after: Duration::from_secs(3),
        caller_id: None,
    }
}

/// A busy gateway (503) and one that challenges with 401, rings and answers: the call
/// fails over, answers the challenge (checked by SIPp), connects, is ACKed and hung up.
#[test]
fn sipp_gateways_fail_over_challenge_and_answer() {
    let busy = Gw::start(
        "busy",
        &scenario(
            "busy",
            &format!(
                "  <recv request=\"INVITE\"/>\n{}  <recv request=\"ACK\"/>\n",
                reply("503 Service Unavailable", "")
            ),
        ),
    );
    let contact = "Contact: <sip:gw@[local_ip]:[local_port]>\n";
    let ok = format!(
        "{}{}  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n{}",
        reply("180 Ringing", contact),
        reply("200 OK", contact),
        answer_with("200 OK", "", false),
    );
    let good = Gw::start(
        "good",
        &scenario(
            "good",
            // SIPp's verifyauth reads only Authorization, so this gateway challenges with
            // 401; the 407 answer differs only in the header names (see tests.rs).
            &challenged("INVITE", "401 Unauthorized", "WWW-Authenticate", &ok),
        ),
    );

    let mut wire = Wire::new();
    let local = wire.local();
    let mut template = Request::new(
        Method::Invite,
        Uri::parse("sip:+8613800138000@carrier").unwrap(),
    );
    let from = local.listen[0];
    template.headers.push("To", "<sip:+8613800138000@carrier>");
    template
        .headers
        .push("From", format!("<sip:+861058000000@{from}>;tag=abc123"));
    template
        .headers
        .push("Call-ID", format!("trunk-test@{}", from.ip()));
    template.headers.push("CSeq", "1 INVITE");
    template
        .headers
        .push("Contact", format!("<sip:switchyard@{from}>"));
    let config = outbound(vec![good.gateway(2), busy.gateway(1)]);
    let mut call = OutboundCall::new(Instant::now(), &config, |_| true, template, local, 11);

    let mut keys = std::collections::HashMap::new();
    let mut seen = Vec::new();
    let mut connected = None;
    let until = Instant::now() + Duration::from_secs(10);
    while connected.is_none() && Instant::now() < until {
        while let Some(e) = call.poll_event() {
            match e {
                CallEvent::Send(a) => {
                    seen.push(format!("send {}", a.gateway));
                    let key = wire.send(a.request, a.gateway);
                    keys.insert(key, a.id);
                }
                CallEvent::Provisional { response, .. } => seen.push(response.status.to_string()),
                CallEvent::Connected { attempt, response } => {
                    connected = Some((attempt, response));
                }
                other => panic!("unexpected {other:?}; so far {seen:?}"),
            }
        }
        if connected.is_some() {
            break;
        }
        match wire.next_event(Duration::from_millis(200)) {
            Some(TsxEvent::Response { response, .. }) => {
                assert!(call.handle_response(Instant::now(), &response));
            }
            Some(TsxEvent::Timeout { key, .. }) => {
                call.handle_tsx_failure(Instant::now(), &key);
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => call.handle_timeout(Instant::now()),
        }
    }
    let (attempt, response) = connected.unwrap_or_else(|| panic!("not connected: {seen:?}"));
    assert_eq!(
        seen,
        vec![
            format!("send {}", busy.address),
            format!("send {}", good.address),
            format!("send {}", good.address),
            "180".to_owned(),
        ]
    );

    // Call control's part: ACK the 2xx in a UAC dialog, later hang up.
    let (invite, gateway) = call.invite(attempt).expect("the answered INVITE");
    let invite = invite.clone();
    let key = keys
        .iter()
        .find(|(_, id)| **id == attempt)
        .map(|(k, _)| k.clone())
        .unwrap();
    let local_via = LocalVia::new(
        Transport::Udp,
        &wire.socket.local_addr().unwrap().to_string(),
    )
    .unwrap();
    let mut dialog = Dialog::uac(
        Instant::now(),
        &invite,
        &response,
        local_via,
        SessionTimerConfig {
            enabled: false,
            ..SessionTimerConfig::default()
        },
    )
    .unwrap();
    let ack = dialog.ack(invite.headers.cseq().unwrap().seq, &wire.layer.new_branch());
    wire.layer
        .send_ack(Instant::now(), &key, ack, gateway, Transport::Udp);
    wire.flush();
    let bye = dialog.request(Method::Bye, &wire.layer.new_branch());
    wire.send(bye, gateway);
    match wire.next_event(Duration::from_secs(5)) {
        Some(TsxEvent::Response { response, .. }) => assert_eq!(response.status, 200),
        other => panic!("no answer to BYE: {other:?}"),
    }

    let (passed, out) = good.finish();
    assert!(passed, "the answering gateway's scenario failed:\n{out}");
    let (passed, out) = busy.finish();
    assert!(passed, "the busy gateway's scenario failed:\n{out}");
}

/// Registration with a SIPp registrar that challenges with 401 and checks our answer.
#[test]
fn sipp_registrar_accepts_our_digest() {
    let ok = reply("200 OK", "[last_Contact:];expires=120\n");
    let registrar = Gw::start(
        "registrar",
        &scenario(
            "registrar",
            &challenged("REGISTER", "401 Unauthorized", "WWW-Authenticate", &ok),
        ),
    );
    let mut wire = Wire::new();
    let config = outbound(vec![registrar.gateway(1)]);
    let start = Instant::now();
    let mut reg = Registration::new(start, &config, wire.local(), 5).expect("register = true");
    reg.handle_timeout(start, |_| true);
    let until = Instant::now() + Duration::from_secs(10);
    while !reg.is_registered(Instant::now()) && Instant::now() < until {
        while let Some(out) = reg.poll_request() {
            wire.send(out.request, out.destination);
        }
        match wire.next_event(Duration::from_millis(200)) {
            Some(TsxEvent::Response { response, .. }) => {
                assert!(reg.handle_response(Instant::now(), &response));
            }
            Some(TsxEvent::Timeout { key, .. }) => {
                reg.handle_tsx_failure(Instant::now(), &key);
            }
            _ => {}
        }
        if matches!(reg.state(), RegistrationState::Failing { .. }) {
            break;
        }
    }
    let (passed, out) = registrar.finish();
    assert!(
        matches!(reg.state(), RegistrationState::Registered { .. }),
        "{:?}\n{out}",
        reg.state()
    );
    assert!(passed, "the registrar's scenario failed:\n{out}");
    let RegistrationState::Registered { expires, .. } = reg.state() else {
        unreachable!()
    };
    // Granted 120 s in the Contact: refreshed at half-time.
    let lifetime = expires.duration_since(start);
    assert!(lifetime <= Duration::from_secs(121) && lifetime >= Duration::from_secs(119));
}
