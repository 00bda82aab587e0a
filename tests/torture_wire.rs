//! Every RFC 4475 / RFC 5118 torture message, sent over UDP to the running daemon, gets the
//! answer the fixtures' README expects (or none, for discards), back at the sending port;
//! afterwards the daemon still answers a valid OPTIONS.

mod common;

use common::torture::{ANSWER, check_all};
use common::{Daemon, scratch_dir, status_of, udp_exchange};

#[test]
fn every_torture_message_gets_its_expected_answer_over_udp() {
    // Every fixture has its expected answer in `common::torture::EXPECTED` (the fixtures'
    // README's table), and each gets it from the address it was sent to.
    let data = scratch_dir("torture");
    let mut daemon = Daemon::start(&data, &["--qualify-interval", "0"]);
    let failures = check_all(daemon.addr);
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Still serving.
    let options = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKafter\r\n\
         Max-Forwards: 70\r\nTo: <sip:{addr}>\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\n\
         Call-ID: after-torture\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        addr = daemon.addr
    );
    let (resp, _) = udp_exchange(daemon.addr, options.as_bytes(), ANSWER).expect("an answer");
    assert_eq!(status_of(&resp), Some(200));
    let text = String::from_utf8_lossy(&resp);
    // RFC 3581: the top Via records where the request really came from.
    assert!(text.contains(";received=127.0.0.1"), "{text}");
    assert!(text.contains(";rport="), "{text}");
    assert!(daemon.stop().success());
}
