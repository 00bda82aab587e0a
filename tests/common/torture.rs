//! The RFC 4475 / RFC 5118 torture messages (in ../shared/fixtures/sip-torture beside the
//! repository, or SWITCHYARD_TORTURE_DIR) and the answer the fixtures' README expects
//! from a registrar/B2BUA with digest authentication on; [`check_all`] sends each to a
//! running daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{status_of, udp_exchange};

/// How long to wait before concluding that no answer comes.
pub(crate) const SILENCE: Duration = Duration::from_millis(400);
pub(crate) const ANSWER: Duration = Duration::from_secs(5);

pub(crate) fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_TORTURE_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures/sip-torture"
            ))
        },
        PathBuf::from,
    );
    assert!(
        dir.join("rfc4475").is_dir() && dir.join("rfc5118").is_dir(),
        "torture fixtures missing at {} (the repository expects ../shared beside it, or set \
         SWITCHYARD_TORTURE_DIR)",
        dir.display()
    );
    dir
}

/// The expected answer per fixture: the README's table for a registrar/B2BUA with digest
/// authentication on. Where the README allows two answers, both are listed. Rows the
/// README only calls "valid: parse/process" get what their content asks of this server:
/// REGISTER and INVITE → 401 challenge, OPTIONS → 200, MESSAGE (not served) → 405, a
/// request with a To tag naming no dialog → 481.
pub(crate) const EXPECTED: &[(&str, &[u16])] = &[
    // RFC 4475 §3.1.1, valid.
    ("rfc4475/wsinv.dat", &[481]),
    ("rfc4475/intmeth.dat", &[501]),
    ("rfc4475/esc01.dat", &[401]),
    ("rfc4475/escnull.dat", &[401]),
    ("rfc4475/esc02.dat", &[501]),
    ("rfc4475/lwsdisp.dat", &[200]),
    ("rfc4475/longreq.dat", &[401]),
    ("rfc4475/dblreq.dat", &[401]),
    ("rfc4475/semiuri.dat", &[200]),
    ("rfc4475/transports.dat", &[200]),
    ("rfc4475/mpart01.dat", &[405]),
    ("rfc4475/unreason.dat", &[]),
    ("rfc4475/noreason.dat", &[]),
    // RFC 4475 §3.1.2, invalid.
    ("rfc4475/badinv01.dat", &[400]),
    ("rfc4475/clerr.dat", &[400]),
    ("rfc4475/ncl.dat", &[400]),
    ("rfc4475/scalar02.dat", &[400]),
    ("rfc4475/scalarlg.dat", &[]),
    ("rfc4475/quotbal.dat", &[400]),
    ("rfc4475/ltgtruri.dat", &[400]),
    ("rfc4475/lwsruri.dat", &[400]),
    ("rfc4475/lwsstart.dat", &[400]),
    ("rfc4475/trws.dat", &[400]),
    ("rfc4475/escruri.dat", &[400]),
    ("rfc4475/baddate.dat", &[400, 401]),
    ("rfc4475/regbadct.dat", &[400]),
    ("rfc4475/badaspec.dat", &[400]),
    ("rfc4475/baddn.dat", &[400]),
    ("rfc4475/badvers.dat", &[505]),
    ("rfc4475/mismatch01.dat", &[400]),
    ("rfc4475/mismatch02.dat", &[501, 400]),
    ("rfc4475/bigcode.dat", &[]),
    // RFC 4475 §3.2–3.4, semantics.
    ("rfc4475/badbranch.dat", &[200, 400]),
    ("rfc4475/insuf.dat", &[400]),
    ("rfc4475/unkscm.dat", &[416]),
    ("rfc4475/novelsc.dat", &[416]),
    ("rfc4475/unksm2.dat", &[400]),
    ("rfc4475/bext01.dat", &[420]),
    ("rfc4475/invut.dat", &[415, 405]),
    ("rfc4475/regaut01.dat", &[401]),
    ("rfc4475/multi01.dat", &[400]),
    ("rfc4475/mcl01.dat", &[400]),
    ("rfc4475/bcast.dat", &[]),
    ("rfc4475/zeromf.dat", &[200]),
    ("rfc4475/cparam01.dat", &[401]),
    ("rfc4475/cparam02.dat", &[401]),
    ("rfc4475/regescrt.dat", &[401]),
    ("rfc4475/sdp01.dat", &[406, 405]),
    ("rfc4475/inv2543.dat", &[401]),
    // RFC 5118.
    ("rfc5118/ipv6-good", &[401]),
    ("rfc5118/port-ambiguous", &[401]),
    ("rfc5118/port-unambiguous", &[401]),
    ("rfc5118/via-received-param-with-delim", &[481]),
    ("rfc5118/via-received-param-no-delim", &[200]),
    ("rfc5118/mult-ip-in-header", &[481]),
    ("rfc5118/mult-ip-in-sdp", &[401]),
    ("rfc5118/ipv6-in-sdp", &[401]),
    ("rfc5118/ipv4-mapped-ipv6", &[401]),
    ("rfc5118/ipv6-correct-abnf-2-colons", &[200]),
    ("rfc5118/ipv6-bad", &[400]),
    ("rfc5118/ipv6-bug-abnf-3-colons", &[200, 400]),
];

/// Checks that every fixture file has an expectation, sends each message over UDP to
/// `daemon` from 127.0.0.1 and returns what did not get its expected answer (or answered
/// from another address).
pub(crate) fn check_all(daemon: SocketAddr) -> Vec<String> {
    let dir = fixtures_dir();
    let mut failures = Vec::new();
    for sub in ["rfc4475", "rfc5118"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("listing fixtures") {
            let name = format!("{sub}/{}", entry.unwrap().file_name().to_string_lossy());
            if !EXPECTED.iter().any(|(f, _)| *f == name) {
                failures.push(format!("no expectation for fixture {name}"));
            }
        }
    }
    for (file, expected) in EXPECTED {
        let bytes = std::fs::read(dir.join(file)).expect("reading a fixture");
        let wait = if expected.is_empty() { SILENCE } else { ANSWER };
        match (udp_exchange(daemon, &bytes, wait), expected.is_empty()) {
            (None, true) => {}
            (None, false) => failures.push(format!("{file}: no answer, expected {expected:?}")),
            (Some((resp, from)), _) => {
                let status = status_of(&resp);
                if from != daemon {
                    failures.push(format!("{file}: answer came from {from}"));
                }
                if !status.is_some_and(|s| expected.contains(&s)) {
                    failures.push(format!(
                        "{file}: got {status:?}, expected {expected:?}: {}",
                        String::from_utf8_lossy(&resp).lines().next().unwrap_or("")
                    ));
                }
            }
        }
    }
    failures
}
