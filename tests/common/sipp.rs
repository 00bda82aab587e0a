//! SIPp (Debian `sip-tester`) trunk callers for the IVR: the scenario in
//! tests/sipp/ivr_dtmf.xml, from 127.0.0.2, each call sending one RFC 2833 digit from the
//! pcaps SIPp ships.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use super::{find_program, sipp_scenario, spawn_logged};

/// Where SIPp's RFC 2833 DTMF pcaps are.
pub(crate) const PCAP_DIR: &str = "/usr/share/sip-tester";

/// The pcap of one RFC 2833 digit.
pub(crate) fn dtmf_pcap(digit: char) -> PathBuf {
    let path = PathBuf::from(format!("{PCAP_DIR}/dtmf_2833_{digit}.pcap"));
    assert!(
        path.is_file(),
        "{} missing (apt-get install sip-tester)",
        path.display()
    );
    path
}

/// A running SIPp load of IVR calls.
pub(crate) struct IvrLoad {
    child: Option<Child>,
    /// Its working directory (scenario, logs).
    pub(crate) dir: PathBuf,
    pub(crate) caller: String,
}

impl IvrLoad {
    /// Starts `calls` calls at `rate` calls/s from 127.0.0.2 to `service` at `daemon`,
    /// each from `caller` and sending `digit`.
    pub(crate) fn start(
        dir: &Path,
        daemon: SocketAddr,
        service: &str,
        caller: &str,
        digit: char,
        calls: u32,
        rate: u32,
    ) -> IvrLoad {
        let sipp = find_program("sipp").expect("install SIPp (apt-get install sip-tester)");
        let (dir, file) = sipp_scenario(
            dir,
            caller,
            "ivr_dtmf.xml",
            &[
                ("@CALLER@", caller.to_owned()),
                ("@PCAP@", dtmf_pcap(digit).display().to_string()),
            ],
        );
        let sip_port = free_port_on("127.0.0.2");
        let media_port = free_port_on("127.0.0.2");
        let child = spawn_logged(
            Command::new(sipp)
                .arg("-sf")
                .arg(&file)
                .args(["-s", service])
                .args([
                    "-i",
                    "127.0.0.2",
                    "-mi",
                    "127.0.0.2",
                    "-t",
                    "u1",
                    "-nostdin",
                ])
                .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
                .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
                .args(["-l", &calls.to_string()])
                .args(["-timeout", "120s", "-timeout_error"])
                .args(["-trace_err", "-trace_stat", "-fd", "1"])
                .arg(daemon.to_string()),
            &dir,
            "sipp.out",
        );
        IvrLoad {
            child: Some(child),
            dir,
            caller: caller.to_owned(),
        }
    }

    /// Waits for SIPp to finish; returns whether every call succeeded, and a summary of
    /// its output and error log for messages.
    pub(crate) fn wait(mut self, timeout: Duration) -> (bool, String) {
        let mut child = self.child.take().expect("a running SIPp");
        let status = super::scenario::wait_for(&mut child, timeout);
        let mut text = format!("SIPp ({}): exit {status:?}\n", self.caller);
        text.push_str(&super::scenario::log_tails(&self.dir, false, 40));
        (status.is_some_and(|s| s.success()), text)
    }
}

impl Drop for IvrLoad {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free UDP port on `ip` (SIPp also uses the one above for its media, so both are free).
fn free_port_on(ip: &str) -> u16 {
    for _ in 0..50 {
        let s = std::net::UdpSocket::bind((ip, 0)).expect("binding port 0");
        let port = s.local_addr().expect("a local address").port();
        if port < u16::MAX - 2 && std::net::UdpSocket::bind((ip, port + 2)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port on {ip}");
}
