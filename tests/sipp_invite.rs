//! SIPp (Debian `sip-tester`) calls through the daemon as 1001: the INVITE is challenged
//! (digest on INVITE, not only REGISTER), the ACK for the 401 ends that transaction, and
//! the authenticated INVITE gets a final answer (480: the dialled extension, the demo's
//! phone 1002, has no registered phone in this test) that is acknowledged in turn; a
//! wrong password gets a fresh 401.

mod common;

use common::{Daemon, PASSWORD, free_udp_port, scratch_dir};

fn invite(cseq: u32, auth: &str) -> String {
    format!(
        r#"  <send retrans="500">
    <![CDATA[
      INVITE sip:1002@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:1001@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:1002@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:1001@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: SIPp/3.6.1
      {auth}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
"#
    )
}

fn ack(cseq: u32) -> String {
    format!(
        r#"  <send>
    <![CDATA[
      ACK sip:1002@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-2]
      From: <sip:1001@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"#
    )
}

fn scenario(password: &str, final_status: u16) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="invite with digest">
{}  <recv response="401" auth="true"/>
{}{}  <recv response="{final_status}"/>
{}  <pause milliseconds="1000"/>
</scenario>
"#,
        invite(1, ""),
        ack(1),
        invite(
            2,
            &format!("[authentication username=1001 password={password}]")
        ),
        ack(2),
    )
}

#[test]
fn sipp_invite_is_challenged_then_answered() {
    let dir = scratch_dir("sipp-invite");
    let mut daemon = Daemon::start(&dir, &["--qualify-interval", "0"]);
    let (ok, out) = run_sipp(&daemon, &dir, "invite-ok", &scenario(PASSWORD, 480));
    assert!(ok, "SIPp scenario failed:\n{out}");
    // Each final response arrived once: the ACKs ended the INVITE server transactions
    // (over UDP an unacknowledged one repeats its response after 500 ms; SIPp pauses 1 s).
    let log =
        std::fs::read_to_string(dir.join("invite-ok-messages.log")).expect("SIPp's message log");
    assert_eq!(log.matches("SIP/2.0 401 Unauthorized").count(), 1, "{log}");
    assert_eq!(log.matches("SIP/2.0 480 ").count(), 1, "{log}");
    assert!(daemon.stop().success());
}

#[test]
fn sipp_invite_with_a_wrong_password_is_challenged_again() {
    let dir = scratch_dir("sipp-invite-wrong");
    let mut daemon = Daemon::start(&dir, &["--qualify-interval", "0"]);
    let (ok, out) = run_sipp(&daemon, &dir, "invite-wrong", &scenario("wrong", 401));
    assert!(ok, "SIPp scenario failed:\n{out}");
    assert!(daemon.stop().success());
}

/// Runs a scenario with its own media port, keeping SIPp's message trace beside it.
fn run_sipp(daemon: &Daemon, dir: &std::path::Path, name: &str, xml: &str) -> (bool, String) {
    let extra = [
        "-mp".into(),
        free_udp_port().to_string().into(),
        "-trace_msg".into(),
        "-message_file".into(),
        dir.join(format!("{name}-messages.log")).into_os_string(),
    ];
    common::run_sipp(dir, daemon, name, xml, &extra)
}
