//! SDP parsing and answering must never panic, and printing is stable: what parses
//! prints to a text that parses back to the same description.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use switchyard_media::sdp::{Direction, LocalMedia, SdpConfig, SdpSession, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sdp) = SessionDescription::parse(text) else {
        return;
    };
    let printed = sdp.to_string();
    let again = SessionDescription::parse(&printed).expect("printed SDP parses");
    assert_eq!(again.to_string(), printed);
    let local = LocalMedia {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 30000,
        direction: Direction::SendRecv,
    };
    let _ = SdpSession::new(SdpConfig::default()).create_answer(&sdp, &local);
    let mut offerer = SdpSession::new(SdpConfig::default());
    offerer.create_offer(&local);
    let _ = offerer.apply_answer(&sdp);
});
