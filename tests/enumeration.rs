//! sipvicious' `svwar` (Debian `sipvicious`), the usual extension scanner, cannot tell the
//! demo users 1001–1003 from extensions that do not exist: every REGISTER it sends gets
//! the same 401 challenge.

mod common;

use std::process::{Command, Stdio};

use common::{Daemon, find_program, free_udp_port, scratch_dir};

#[test]
fn svwar_finds_no_extensions() {
    let svwar = find_program("svwar").expect("install sipvicious (apt-get install sipvicious)");
    let data = scratch_dir("svwar");
    let mut daemon = Daemon::start(&data, &["--qualify-interval", "0"]);
    let out = Command::new(svwar)
        .args(["-e", "1000-1010", "-b", "127.0.0.1"])
        .args(["-P", &free_udp_port().to_string()])
        .args(["-p", &daemon.addr.port().to_string()])
        .arg(daemon.addr.ip().to_string())
        .stdin(Stdio::null())
        .output()
        .expect("running svwar");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("authentication request for an unknown extension"),
        "svwar saw a difference between users:\n{text}"
    );
    for user in ["1001", "1002", "1003"] {
        assert!(!text.contains(user), "svwar reported {user}:\n{text}");
    }
    assert!(daemon.stop().success());
}
