//! Compound RTCP parsing must never panic, and what parses must print and parse back
//! to the same packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_media::rtcp::{parse_compound, write_compound};

fuzz_target!(|data: &[u8]| {
    if let Ok(pkts) = parse_compound(data) {
        let mut out = Vec::new();
        write_compound(&pkts, &mut out);
        let again = parse_compound(&out).expect("printed RTCP parses");
        // Item and reason lengths are kept; counts over 31 cannot come from parsing.
        assert_eq!(again.len(), pkts.len());
    }
});
