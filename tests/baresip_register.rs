//! baresip (Debian `baresip`) registers as 1001 with digest authentication, and the
//! daemon qualifies it: an OPTIONS reaches baresip at the address its REGISTER came from,
//! baresip answers, and the daemon logs "contact qualified".

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, PASSWORD, find_program, free_udp_port, scratch_dir};

struct Baresip(Child);

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a ctrl_tcp command (a netstring of JSON) and returns the response's `data`, skipping
/// events that arrive meanwhile.
fn command(ctrl: &mut TcpStream, cmd: &str, token: &str) -> Result<String, String> {
    let json = format!(r#"{{"command":"{cmd}","token":"{token}"}}"#);
    ctrl.write_all(format!("{}:{json},", json.len()).as_bytes())
        .map_err(|e| format!("writing to baresip: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    loop {
        // Split complete netstrings (`len:payload,`) off the front.
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let len: usize = std::str::from_utf8(&buf[..colon])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("baresip sent a malformed netstring")?;
            if buf.len() < colon + len + 2 {
                break;
            }
            let msg = String::from_utf8_lossy(&buf[colon + 1..colon + 1 + len]).into_owned();
            buf.drain(..colon + len + 2);
            if msg.contains(&format!(r#""token":"{token}""#)) {
                return Ok(msg);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no answer to {cmd}"));
        }
        ctrl.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 4096];
        match ctrl.read(&mut chunk) {
            Ok(0) => return Err("baresip closed its control socket".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
}

#[test]
fn baresip_registers_with_digest_and_is_qualified() {
    let baresip = find_program("baresip").expect("install baresip (apt-get install baresip)");
    let data = scratch_dir("baresip-daemon");
    let daemon = Daemon::start(&data, &["--qualify-interval", "2"]);

    let conf = scratch_dir("baresip-conf");
    let sip_port = free_udp_port();
    let ctrl_port = free_udp_port();
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{sip_port}\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n\
             audio_player\t\tnone\n\
             audio_source\t\tnone\n"
        ),
    )
    .expect("writing baresip config");
    std::fs::write(
        conf.join("accounts"),
        format!(
            "<sip:1001@{addr};transport=udp>;auth_pass={PASSWORD};regint=60\n",
            addr = daemon.addr
        ),
    )
    .expect("writing baresip accounts");
    let child = Command::new(baresip)
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting baresip");
    let _baresip = Baresip(child);

    // Connect to ctrl_tcp (baresip needs a moment to open it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ctrl = loop {
        match TcpStream::connect(("127.0.0.1", ctrl_port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("baresip ctrl_tcp not reachable: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    // baresip's own view: its registration with the daemon is OK.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    for round in 0.. {
        last = command(&mut ctrl, "reginfo", &format!("r{round}")).expect("reginfo");
        if last.contains("sip:1001@") && last.contains("OK") && !last.contains("ERR") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "baresip did not register: {last}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        last.contains("Switchyard"),
        "registered with the daemon: {last}"
    );
    assert!(
        daemon
            .wait_log(&["registered", "1001"], Duration::from_secs(5))
            .is_some(),
        "the daemon logged no registration for 1001"
    );
    let qualified = daemon.wait_log(&["contact qualified", "1001"], Duration::from_secs(15));
    assert!(
        qualified.is_some(),
        "the daemon never saw baresip answer its OPTIONS"
    );
}
