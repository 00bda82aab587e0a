//! End to end: a trunk with `register = true` (tests/configs/carrier_register.toml)
//! registers with its carrier, here a SIPp (Debian `sip-tester`) registrar that
//! challenges each registration (401, digest MD5 with qop=auth), checks the credentials
//! of the answer itself, and grants a short expiry, so that the refresh comes within the
//! test. What the carrier received is read back from SIPp's message trace. A second
//! registrar expecting another password refuses the trunk; and with two gateways, one
//! dead, the registration should move to the live one once the OPTIONS health checks
//! find the first down.

mod common;

use std::time::{Duration, Instant};

use common::gateway::{Answers, Gateway};
use common::scenario::{Scenario, ScenarioRun, header, received_messages, sipp_port_on};
use common::{Daemon, Ports, scratch_dir, write_config};

/// The trunk's credentials in tests/configs/carrier_register.toml.
const USERNAME: &str = "switchyard";
const PASSWORD: &str = "carrier-secret";
/// The expiry the registrar grants, in seconds: the refresh is due at half of it.
const GRANTED: u64 = 4;

/// The carrier registrar running tests/sipp/carrier_registrar.xml on `port`: it grants a
/// registration and its refresh to `password`.
fn registrar(dir: &std::path::Path, name: &str, port: u16, password: &str) -> Scenario {
    Scenario::start(
        dir,
        name,
        ScenarioRun {
            file: "carrier_registrar.xml",
            replace: vec![
                ("@USERNAME@", USERNAME.to_owned()),
                ("@PASSWORD@", password.to_owned()),
                ("@EXPIRES@", GRANTED.to_string()),
            ],
            local: ("127.0.0.1", port),
            args: Vec::new(),
            remote: None,
            timeout: Duration::from_secs(30),
        },
    )
}

/// The daemon of the test, with the trunk's gateway at 127.0.0.1:`port`.
fn start_daemon(dir: &std::path::Path, port: u16) -> Daemon {
    let data = dir.join("data");
    let ports = Ports::pick();
    let mut replace = ports.config_replacements(&data);
    replace.retain(|(from, _)| !from.starts_with("dialplan"));
    replace.push(("sip:127.0.0.1:17901", format!("sip:127.0.0.1:{port}")));
    let config = write_config("carrier_register.toml", dir, &replace);
    Daemon::contact_centre_on(&ports, &data, Some(&config), &[])
}

#[test]
fn a_registering_trunk_answers_the_carriers_challenge_and_refreshes() {
    let dir = scratch_dir("trunk-register");
    let port = sipp_port_on("127.0.0.1");
    let carrier = registrar(&dir, "carrier", port, PASSWORD);
    let started = Instant::now();
    let mut daemon = start_daemon(&dir, port);
    // The registrar passes once it has granted the registration and its refresh.
    let trace = carrier.expect_pass(Duration::from_secs(40));
    let took = started.elapsed();
    assert!(
        daemon
            .wait_log(
                &["registered with the carrier", &format!("127.0.0.1:{port}")],
                Duration::from_secs(5)
            )
            .is_some(),
        "the daemon logged no registration"
    );

    let registers: Vec<String> = received_messages(&trace)
        .into_iter()
        .filter(|m| m.starts_with("REGISTER "))
        .collect();
    eprintln!(
        "the carrier received, after {took:?}:\n{}",
        registers.join("\n\n")
    );
    // Each registration: one REGISTER without credentials (challenged), one with.
    assert_eq!(registers.len(), 4, "{registers:#?}");
    let first = &registers[0];
    let call_id = header(first, "Call-ID").expect("a Call-ID");
    let from = header(first, "From").expect("a From");
    let mut last_cseq = 0;
    for (i, r) in registers.iter().enumerate() {
        // One registration: the same Call-ID and From tag throughout, CSeq growing
        // (RFC 3261 §10.2).
        assert!(
            r.starts_with(&format!("REGISTER sip:127.0.0.1:{port} SIP/2.0")),
            "{r}"
        );
        assert_eq!(header(r, "Call-ID"), Some(call_id), "{r}");
        assert_eq!(header(r, "From"), Some(from), "{r}");
        let to = header(r, "To").expect("a To");
        assert!(
            to.contains(&format!("sip:{USERNAME}@127.0.0.1:{port}")),
            "the address of record: {r}"
        );
        let cseq: u32 = header(r, "CSeq")
            .and_then(|c| c.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a CSeq: {r}"));
        assert!(cseq > last_cseq, "CSeq {cseq} after {last_cseq}: {r}");
        last_cseq = cseq;
        let contact = header(r, "Contact").expect("a Contact");
        assert!(
            contact.contains(&format!("sip:{USERNAME}@{}", daemon.addr)),
            "the Contact names the daemon: {r}"
        );
        assert_eq!(header(r, "Expires"), Some("3600"), "{r}");
        // Every other one answers the registrar's challenge (which the registrar checked
        // before granting).
        if i % 2 == 1 {
            let auth = header(r, "Authorization").unwrap_or_else(|| panic!("no credentials: {r}"));
            for part in [
                format!("username=\"{USERNAME}\""),
                "realm=\"carrier.test\"".to_owned(),
                format!("uri=\"sip:127.0.0.1:{port}\""),
                "qop=auth".to_owned(),
            ] {
                assert!(auth.contains(&part), "{part} missing: {r}");
            }
        }
    }
    // The refresh came well after the grant (it is due at half the granted expiry).
    assert!(
        took >= Duration::from_secs(GRANTED / 4),
        "registered and refreshed within {took:?}"
    );
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_carrier_refusing_the_credentials_leaves_the_trunk_unregistered() {
    let dir = scratch_dir("trunk-register-refused");
    let port = sipp_port_on("127.0.0.1");
    // This registrar expects another password: it answers the daemon's credentials 403.
    let carrier = registrar(&dir, "carrier", port, "another-secret");
    let mut daemon = start_daemon(&dir, port);
    let (ok, _) = carrier.wait(Duration::from_secs(40));
    assert!(!ok, "the registrar granted a wrong password");
    assert!(
        daemon
            .wait_log(
                &["registration with the carrier failed", "403"],
                Duration::from_secs(5)
            )
            .is_some(),
        "the daemon logged no failed registration"
    );
    assert!(
        !daemon.logged(&["registered with the carrier"]),
        "registered despite the 403"
    );
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn registration_moves_to_the_next_gateway_when_health_checks_find_the_first_down() {
    let dir = scratch_dir("trunk-register-failover");
    let dead = Gateway::start(Answers::Nothing);
    let alive = Gateway::start(Answers::Ok);
    let data = dir.join("data");
    let ports = Ports::pick();
    let mut replace = ports.config_replacements(&data);
    replace.retain(|(from, _)| !from.starts_with("dialplan"));
    replace.push((
        "gateways = [{ uri = \"sip:127.0.0.1:17901\", priority = 1 }]",
        format!(
            "gateways = [{{ uri = \"sip:127.0.0.1:{}\", priority = 1 }}, \
             {{ uri = \"sip:127.0.0.1:{}\", priority = 2 }}]",
            dead.port, alive.port
        ),
    ));
    replace.push((
        "options_interval = \"0s\"",
        "options_interval = \"1s\"".to_owned(),
    ));
    let config = write_config("carrier_register.toml", &dir, &replace);
    let started = Instant::now();
    let mut daemon = Daemon::contact_centre_on(&ports, &data, Some(&config), &[]);
    // Two unanswered OPTIONS rounds take the first gateway down within about 3 s; the
    // registration should then go to the second, within seconds rather than a minute.
    let registered = daemon.wait_log(
        &[
            "registered with the carrier",
            &format!("127.0.0.1:{}", alive.port),
        ],
        Duration::from_secs(15),
    );
    let dead_got = dead.requests();
    let alive_got = alive.requests();
    eprintln!(
        "after {:?}: the dead gateway received {dead_got:#?}\nthe live one {alive_got:#?}",
        started.elapsed()
    );
    assert!(
        dead_got.iter().any(|(_, l)| l.starts_with("OPTIONS ")),
        "no health check reached the dead gateway"
    );
    assert!(
        registered.is_some(),
        "not registered at the live gateway within 15 s of the start"
    );
    assert!(
        alive_got.iter().any(|(_, l)| l.starts_with("REGISTER ")),
        "{alive_got:#?}"
    );
    // The API shows where the trunk stands: the first gateway down, the registration
    // held at the second.
    let trunk = daemon.get("/api/v1/trunks/carrier");
    eprintln!("trunk: {trunk:#}");
    assert_eq!(trunk["gateways"][0]["up"], false, "{trunk:#}");
    assert_eq!(trunk["gateways"][1]["up"], true, "{trunk:#}");
    assert_eq!(trunk["registration"]["state"], "registered", "{trunk:#}");
    assert_eq!(
        trunk["registration"]["gateway"],
        format!("127.0.0.1:{}", alive.port),
        "{trunk:#}"
    );
    assert!(trunk["registration"]["expires_in_s"].as_u64() > Some(0));
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
