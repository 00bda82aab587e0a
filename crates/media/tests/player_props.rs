//! Property test: damaged prompt files are load errors naming the file, never a panic.

use std::sync::Arc;

use proptest::prelude::*;
use switchyard_media::player::decode::decode_bytes;

fn wav_header() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&1000u32.to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&8000u32.to_le_bytes());
    h.extend_from_slice(&16000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&900u32.to_le_bytes());
    h
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn damaged_files_are_errors_not_panics(
        tail in proptest::collection::vec(any::<u8>(), 0..400),
        flips in proptest::collection::vec((0usize..44, any::<u8>()), 0..4),
        ext in prop_oneof![Just("wav"), Just("mp3"), Just("ogg"), Just("flac")],
    ) {
        let mut bytes = wav_header();
        for (i, b) in flips {
            bytes[i] ^= b;
        }
        bytes.extend(tail);
        let name: Arc<str> = Arc::from("damaged.wav");
        if let Err(e) = decode_bytes(name, bytes, Some(ext), 8000) {
            prop_assert!(e.to_string().contains("damaged.wav"));
        }
    }
}
