//! End to end: a trunk's OPTIONS health checks (tests/configs/trunk_health.toml, probes
//! every second). Of the carrier's two gateways the first by priority is dead (it takes
//! every request and answers none) and the second answers (200 to OPTIONS, 486 to
//! INVITE). Once the checks have found the first down, a SIPp trunk caller's transfer out
//! goes straight to the second: the dead gateway gets probes and never an INVITE.

mod common;

use std::path::Path;
use std::time::Duration;

use common::events::Events;
use common::gateway::{Answers, Gateway};
use common::scenario::{Scenario, ScenarioRun, sipp_port_on};
use common::{API_KEY, Daemon, Ports, db, scratch_dir, write_config};

/// The contact centre of the test, with the carrier's gateways at `first` and `second`
/// (by priority) and OPTIONS probes every `probe` ("0s": none).
fn start_daemon(dir: &Path, first: u16, second: u16, probe: &str) -> (Daemon, std::path::PathBuf) {
    let data = dir.join("data");
    let ports = Ports::pick();
    let mut replace = ports.config_replacements(&data);
    replace.push(("sip:127.0.0.1:17901", format!("sip:127.0.0.1:{first}")));
    replace.push(("sip:127.0.0.1:17903", format!("sip:127.0.0.1:{second}")));
    replace.push((
        "options_interval = \"1s\"",
        format!("options_interval = \"{probe}\""),
    ));
    let config = write_config("trunk_health.toml", dir, &replace);
    let daemon = Daemon::contact_centre_on(&ports, &data, Some(&config), &[]);
    (daemon, data)
}

#[test]
fn calls_out_skip_a_gateway_the_health_checks_found_down() {
    let dir = scratch_dir("trunk-health");
    let dead = Gateway::start(Answers::Nothing);
    let busy = Gateway::start(Answers::Ok);
    let (mut daemon, data) = start_daemon(&dir, dead.port, busy.port, "1s");
    let events = Events::connect(daemon.api(), API_KEY);
    // Two unanswered rounds of probes take the first gateway down.
    let down = daemon.wait_log(
        &[
            "gateway health",
            "Down",
            &format!("127.0.0.1:{}", dead.port),
        ],
        Duration::from_secs(10),
    );
    assert!(
        down.is_some(),
        "the dead gateway was never found down; it received {:#?}",
        dead.requests()
    );
    assert!(dead.count("OPTIONS") > 0, "{:#?}", dead.requests());
    // Supervisors see it too: an event, and the trunk's gateways in the API.
    let dead_addr = format!("127.0.0.1:{}", dead.port);
    let event = events.wait("gateway_health", Duration::from_secs(5), |e| {
        e["gateway"] == dead_addr.as_str()
    });
    assert_eq!(
        event.as_ref().map(|e| (&e["trunk"], &e["up"])),
        Some((&"carrier".into(), &false.into())),
        "events: {:#?}",
        events.all()
    );
    let trunks = daemon.get("/api/v1/trunks");
    let gateways = &trunks[0]["gateways"];
    assert_eq!(
        (&gateways[0]["address"], &gateways[0]["up"]),
        (&dead_addr.clone().into(), &false.into()),
        "{trunks:#}"
    );
    assert_eq!(gateways[1]["up"], true, "{trunks:#}");
    assert!(gateways[0]["misses"].as_u64() >= Some(2), "{trunks:#}");

    // A trunk call whose dialplan sends it out through the carrier; the second gateway
    // refuses it (486), the transfer fails and the dialplan's `hangup failure` refuses
    // the unanswered caller with 500.
    Scenario::start(
        &dir,
        "caller",
        ScenarioRun {
            file: "caller_refused.xml",
            replace: vec![
                ("@CALLER@", "+8613600000021".to_owned()),
                ("@STATUS@", "500".to_owned()),
            ],
            local: ("127.0.0.2", sipp_port_on("127.0.0.2")),
            args: vec!["-s".into(), "+861058000000".into()],
            remote: Some(daemon.addr),
            timeout: Duration::from_secs(20),
        },
    )
    .expect_pass(Duration::from_secs(30));
    let lines = |g: &Gateway| -> Vec<String> { g.requests().into_iter().map(|(_, l)| l).collect() };
    eprintln!(
        "the dead gateway received {:#?}\nthe live one {:#?}",
        lines(&dead),
        lines(&busy)
    );
    assert_eq!(busy.count("INVITE"), 1, "{:#?}", busy.requests());
    assert_eq!(
        dead.count("INVITE"),
        0,
        "the INVITE went to a gateway found down: {:#?}",
        dead.requests()
    );
    assert!(
        !daemon.logged(&["Down", &format!("127.0.0.1:{}", busy.port)]),
        "the live gateway was taken down"
    );
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    eprintln!("CDR: {:#}", cdrs[0]);
    assert!(daemon.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
