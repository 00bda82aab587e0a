//! A stand-in for a carrier's gateway on a loopback port of its own: it records every
//! request it receives and answers as told (or stays silent, like a dead gateway), for
//! the tests of a trunk's health checks and failover.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a [`Gateway`] answers requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answers {
    /// Nothing at all.
    Nothing,
    /// 200 to OPTIONS and REGISTER (granting an hour to the Contact), 486 Busy Here to
    /// INVITE; nothing to ACK.
    Ok,
}

/// A running gateway stand-in.
pub(crate) struct Gateway {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Gateway {
    /// Binds a free port on 127.0.0.1 and serves it on a thread of its own.
    pub(crate) fn start(answers: Answers) -> Gateway {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("binding a gateway");
        let port = sock.local_addr().expect("an address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                seen.lock().unwrap().push((Instant::now(), text.clone()));
                if answers == Answers::Ok
                    && let Some(resp) = answer(&text)
                {
                    let _ = sock.send_to(resp.as_bytes(), from);
                }
            }
        });
        Gateway { port, received }
    }

    /// The start lines of the requests received so far, with when they came.
    pub(crate) fn requests(&self) -> Vec<(Instant, String)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(t, m)| (*t, m.lines().next().unwrap_or("").to_owned()))
            .collect()
    }

    /// How many requests with `method` it received (retransmissions included).
    pub(crate) fn count(&self, method: &str) -> usize {
        let prefix = format!("{method} ");
        self.requests()
            .iter()
            .filter(|(_, l)| l.starts_with(&prefix))
            .count()
    }
}

/// The answer to the request `req` ([`Answers::Ok`]): its Via, From, To with a tag,
/// Call-ID and CSeq; for a REGISTER its Contact with an hour's expiry. `None` for
/// responses and ACK.
fn answer(req: &str) -> Option<String> {
    let method = req.split(' ').next().unwrap_or("");
    let status = match method {
        "SIP/2.0" | "ACK" | "" => return None,
        "INVITE" => "486 Busy Here",
        _ => "200 OK",
    };
    let mut resp = format!("SIP/2.0 {status}\r\n");
    for line in req.lines().map(|l| l.trim_end_matches('\r')) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                resp.push_str(line);
                resp.push_str("\r\n");
            }
            "to" | "t" => resp.push_str(&format!("{line};tag=gw\r\n")),
            "contact" | "m" if method == "REGISTER" => {
                resp.push_str(&format!("{line};expires=3600\r\n"));
            }
            _ => {}
        }
    }
    resp.push_str("Content-Length: 0\r\n\r\n");
    Some(resp)
}
