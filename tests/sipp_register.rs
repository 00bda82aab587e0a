//! SIPp (Debian `sip-tester`) registers as 1001: with the right password the digest
//! challenge is answered and the binding is created (and survives a restart, then is
//! dropped when its probes go unanswered); with a wrong one the answer is 401 again and no
//! binding exists.

mod common;

use std::time::Duration;

use common::{Daemon, PASSWORD, scratch_dir};

fn register(cseq: u32, auth: &str) -> String {
    format!(
        r#"  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:1001@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:1001@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:1001@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 300
      User-Agent: SIPp/3.6.1
      {auth}
      Content-Length: [len]

    ]]>
  </send>
"#
    )
}

/// A scenario: REGISTER, expect the 401 challenge, REGISTER again with `password`, expect
/// `final_status`.
fn scenario(password: &str, final_status: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
{first}  <recv response="401" auth="true"/>
{second}  <recv response="{final_status}"/>
</scenario>
"#,
        first = register(1, ""),
        second = register(
            2,
            &format!("[authentication username=1001 password={password}]")
        ),
    )
}

fn saved_file_has(daemon: &Daemon, aor: &str) -> bool {
    daemon.try_saved_bindings().is_some_and(|b| {
        b["bindings"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["aor"] == aor))
    })
}

fn bindings_of(daemon: &Daemon, aor: &str) -> usize {
    daemon.saved_bindings()["bindings"]
        .as_array()
        .expect("a bindings array")
        .iter()
        .filter(|b| b["aor"] == aor)
        .count()
}

#[test]
fn sipp_registers_with_the_right_password() {
    let dir = scratch_dir("sipp-ok");
    let mut daemon = Daemon::start(&dir, &["--qualify-interval", "0"]);
    let (ok, out) = common::run_sipp(&dir, &daemon, "register-ok", &scenario(PASSWORD, 200), &[]);
    assert!(ok, "SIPp scenario failed:\n{out}");
    assert!(
        daemon
            .wait_log(&["registered", "1001"], Duration::from_secs(5))
            .is_some()
    );
    // Saved while running (within about a second), not only at shutdown.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !saved_file_has(&daemon, "1001") {
        assert!(
            std::time::Instant::now() < deadline,
            "the binding was not saved while running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(daemon.stop().success());
    assert_eq!(bindings_of(&daemon, "1001"), 1, "the binding was saved");

    // After a restart the binding is back; SIPp is gone, so its probes go unanswered and
    // after three misses in a row the binding is dropped.
    let mut again = Daemon::start(&dir, &["--qualify-interval", "1"]);
    assert!(
        again
            .wait_log(&["restored 1 saved bindings"], Duration::from_secs(5))
            .is_some()
    );
    assert!(
        again
            .wait_log(
                &["contact unreachable, binding dropped", "1001"],
                Duration::from_secs(15)
            )
            .is_some()
    );
    assert!(again.stop().success());
    assert_eq!(
        bindings_of(&again, "1001"),
        0,
        "the dropped binding is gone"
    );
}

#[test]
fn sipp_with_a_wrong_password_gets_401_and_no_binding() {
    let dir = scratch_dir("sipp-wrong");
    let mut daemon = Daemon::start(&dir, &["--qualify-interval", "0"]);
    let (ok, out) = common::run_sipp(
        &dir,
        &daemon,
        "register-wrong",
        &scenario("not-the-password", 401),
        &[],
    );
    assert!(ok, "SIPp scenario failed:\n{out}");
    assert!(!daemon.logged(&["registered"]));
    assert!(daemon.stop().success());
    assert_eq!(bindings_of(&daemon, "1001"), 0, "no binding was created");
}
