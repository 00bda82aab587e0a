//! Parses arbitrary bytes as a SIP message. Whatever parses must print and parse back
//! equal; framing and the stateless reject must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_sip::{Message, frame_len, reject_unparsable};

fuzz_target!(|data: &[u8]| {
    let _ = frame_len(data, 65_535);
    match Message::parse(data) {
        Ok(msg) => {
            let printed = msg.to_bytes();
            let again = Message::parse(&printed).expect("a printed message parses");
            assert_eq!(again, msg, "print/parse changed the message");
            assert_eq!(again.to_bytes(), printed, "printing is not stable");
        }
        Err(err) => {
            if let Some(resp) = reject_unparsable(data, &err) {
                let _ = Message::parse(&resp.to_bytes());
            }
        }
    }
});
