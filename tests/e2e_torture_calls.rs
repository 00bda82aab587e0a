//! End to end: every RFC 4475 / RFC 5118 torture message sent to the running contact
//! centre (tests/configs/ivr_load.toml) gets the answer the fixtures' README expects, or
//! none where it expects silence; afterwards a SIPp trunk call through the IVR still
//! completes and reaches the queue its digit names.

mod common;

use std::time::Duration;

use common::sipp::IvrLoad;
use common::{Daemon, Ports, db, scratch_dir, torture, write_config};

#[test]
fn torture_messages_get_their_answers_and_calls_still_go_through() {
    let dir = scratch_dir("torture-calls");
    let data = dir.join("data");
    let ports = Ports::pick();
    let config = write_config("ivr_load.toml", &dir, &ports.config_replacements(&data));
    let mut daemon = Daemon::contact_centre_on(&ports, &data, Some(&config), &[]);

    let failures = torture::check_all(daemon.addr);
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let load = IvrLoad::start(
        &dir,
        daemon.addr,
        "+861058000000",
        "+8613800000001",
        '1',
        1,
        1,
    );
    let (ok, text) = load.wait(Duration::from_secs(60));
    assert!(ok, "the call after the torture failed:\n{text}");
    let cdrs = db::wait_cdrs(&data, 1, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 1, "{cdrs:#?}");
    assert_eq!(cdrs[0]["queue"], "sales", "{:#}", cdrs[0]);
    assert!(daemon.stop().success());
    // Kept when the test fails, for its database, recordings and logs.
    let _ = std::fs::remove_dir_all(&dir);
}
