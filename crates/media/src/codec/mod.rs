//! Codecs: descriptors that keep the audio sample rate apart from the RTP clock rate, and
//! G.711 µ-law/A-law with linear 16-bit PCM inside.
//!
//! Nothing in the media engine may assume 8 kHz: G.722 samples at 16 kHz but signals an
//! 8000 Hz RTP clock (RFC 3551 §4.5.2), Opus always uses a 48 kHz RTP clock (RFC 7587).
//! Convert between the two with [`CodecDescriptor::samples_per_frame`] and
//! [`CodecDescriptor::timestamp_per_frame`].
//!
//! ```
//! use std::time::Duration;
//! use switchyard_media::codec::{g711, CodecDescriptor};
//!
//! let pcmu = CodecDescriptor::PCMU;
//! let n = pcmu.samples_per_frame(Duration::from_millis(20)); // 160
//! let pcm = vec![1000i16; n];
//! let mut wire = vec![0u8; n];
//! g711::encode_ulaw(&pcm, &mut wire);
//! g711::ulaw_to_alaw_in_place(&mut wire); // now PCMA, for the other leg
//! let mut back = vec![0i16; n];
//! g711::decode_alaw(&wire, &mut back);
//! assert!((back[0] - 1000).abs() < 64);
//! ```

pub mod g711;
pub mod resample;

use std::time::Duration;

/// Errors from the codec layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The codec is negotiated but not decoded or encoded here yet.
    #[error("{0:?} is not transcoded by this engine yet")]
    Unsupported(CodecKind),
    /// A frame resampler cannot be built for these rates and frame length.
    #[error("cannot resample frames from {from} Hz to {to} Hz")]
    BadResampleRates {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
    },
}

/// Which codec a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (wideband; not decoded here yet).
    G722,
    /// Opus (not decoded here yet).
    Opus,
    /// RFC 4733 telephone-event.
    TelephoneEvent,
}

/// A codec as negotiated: its audio sample rate and its RTP clock rate, kept separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodecDescriptor {
    /// Which codec.
    pub kind: CodecKind,
    /// The encoding name as written in SDP `a=rtpmap` (case-insensitive there).
    pub name: &'static str,
    /// Audio samples per second per channel that the decoder produces.
    pub sample_rate: u32,
    /// RTP timestamp units per second (the rate in `a=rtpmap`).
    pub clock_rate: u32,
    /// Audio channels.
    pub channels: u8,
    /// The static RTP payload type (RFC 3551), if the codec has one.
    pub static_payload_type: Option<u8>,
}

impl CodecKind {
    /// Decode one payload into `out`; returns the samples written (`min` of the lengths;
    /// G.711 is one sample per byte).
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        match self {
            CodecKind::Pcmu => Ok(g711::decode_ulaw(payload, out)),
            CodecKind::Pcma => Ok(g711::decode_alaw(payload, out)),
            other => Err(CodecError::Unsupported(other)),
        }
    }

    /// Encode samples into `out`; returns the bytes written.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        match self {
            CodecKind::Pcmu => Ok(g711::encode_ulaw(pcm, out)),
            CodecKind::Pcma => Ok(g711::encode_alaw(pcm, out)),
            other => Err(CodecError::Unsupported(other)),
        }
    }

    /// Transcode a payload from `self` to `to` in place when both are G.711 (one table
    /// lookup per byte, no PCM in between). Same codec: nothing to do.
    pub fn transcode_in_place(self, to: CodecKind, payload: &mut [u8]) -> Result<(), CodecError> {
        match (self, to) {
            (a, b) if a == b => Ok(()),
            (CodecKind::Pcmu, CodecKind::Pcma) => {
                g711::ulaw_to_alaw_in_place(payload);
                Ok(())
            }
            (CodecKind::Pcma, CodecKind::Pcmu) => {
                g711::alaw_to_ulaw_in_place(payload);
                Ok(())
            }
            (CodecKind::Pcmu | CodecKind::Pcma, other) | (other, _) => {
                Err(CodecError::Unsupported(other))
            }
        }
    }
}

impl CodecDescriptor {
    /// G.711 µ-law: 8 kHz audio on an 8000 Hz clock, payload type 0.
    pub const PCMU: Self = Self {
        kind: CodecKind::Pcmu,
        name: "PCMU",
        sample_rate: 8000,
        clock_rate: 8000,
        channels: 1,
        static_payload_type: Some(0),
    };
    /// G.711 A-law: 8 kHz audio on an 8000 Hz clock, payload type 8.
    pub const PCMA: Self = Self {
        kind: CodecKind::Pcma,
        name: "PCMA",
        sample_rate: 8000,
        clock_rate: 8000,
        channels: 1,
        static_payload_type: Some(8),
    };
    /// G.722: 16 kHz audio, but an 8000 Hz RTP clock (RFC 3551 §4.5.2), payload type 9.
    pub const G722: Self = Self {
        kind: CodecKind::G722,
        name: "G722",
        sample_rate: 16_000,
        clock_rate: 8000,
        channels: 1,
        static_payload_type: Some(9),
    };
    /// Opus: 48 kHz RTP clock, two channels signalled (RFC 7587); decoded to mono here.
    pub const OPUS: Self = Self {
        kind: CodecKind::Opus,
        name: "opus",
        sample_rate: 48_000,
        clock_rate: 48_000,
        channels: 2,
        static_payload_type: None,
    };
    /// RFC 4733 telephone-event at an 8000 Hz clock (dynamic payload type).
    pub const TELEPHONE_EVENT_8K: Self = Self {
        kind: CodecKind::TelephoneEvent,
        name: "telephone-event",
        sample_rate: 8000,
        clock_rate: 8000,
        channels: 1,
        static_payload_type: None,
    };

    /// Look a codec up by its SDP encoding name and RTP clock rate.
    pub fn from_rtpmap(name: &str, clock_rate: u32) -> Option<Self> {
        [
            Self::PCMU,
            Self::PCMA,
            Self::G722,
            Self::OPUS,
            Self::TELEPHONE_EVENT_8K,
        ]
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case(name) && c.clock_rate == clock_rate)
        .or_else(|| {
            // telephone-event may run at the clock of the audio codec it accompanies.
            name.eq_ignore_ascii_case("telephone-event")
                .then_some(Self {
                    clock_rate,
                    sample_rate: clock_rate,
                    ..Self::TELEPHONE_EVENT_8K
                })
        })
    }

    /// Decoded audio samples (per channel) in one frame of `ptime`.
    pub fn samples_per_frame(&self, ptime: Duration) -> usize {
        // u128 arithmetic: no overflow for any Duration, and exact for whole milliseconds.
        (u128::from(self.sample_rate) * ptime.as_micros() / 1_000_000) as usize
    }

    /// RTP timestamp increment for one frame of `ptime`.
    pub fn timestamp_per_frame(&self, ptime: Duration) -> u32 {
        (u128::from(self.clock_rate) * ptime.as_micros() / 1_000_000) as u32
    }

    /// Convert an RTP timestamp difference into audio samples.
    pub fn timestamp_to_samples(&self, ticks: u32) -> u64 {
        u64::from(ticks) * u64::from(self.sample_rate) / u64::from(self.clock_rate.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g722_samples_and_clock_differ() {
        let ptime = Duration::from_millis(20);
        assert_eq!(CodecDescriptor::G722.samples_per_frame(ptime), 320);
        assert_eq!(CodecDescriptor::G722.timestamp_per_frame(ptime), 160);
        assert_eq!(CodecDescriptor::OPUS.timestamp_per_frame(ptime), 960);
        assert_eq!(CodecDescriptor::PCMU.samples_per_frame(ptime), 160);
        assert_eq!(CodecDescriptor::G722.timestamp_to_samples(160), 320);
    }

    #[test]
    fn kind_level_decode_encode_and_transcode() {
        let pcm = [0i16, 1000, -1000, 32000];
        let mut u = [0u8; 4];
        assert_eq!(CodecKind::Pcmu.encode(&pcm, &mut u), Ok(4));
        let mut a = u;
        CodecKind::Pcmu
            .transcode_in_place(CodecKind::Pcma, &mut a)
            .unwrap();
        let mut back = [0i16; 4];
        CodecKind::Pcma.decode(&a, &mut back).unwrap();
        for (x, y) in pcm.iter().zip(back) {
            assert!((x - y).abs() <= 1100, "{x} {y}");
        }
        assert_eq!(
            CodecKind::G722.decode(&a, &mut back),
            Err(CodecError::Unsupported(CodecKind::G722))
        );
        assert_eq!(
            CodecKind::Pcmu.transcode_in_place(CodecKind::Opus, &mut a),
            Err(CodecError::Unsupported(CodecKind::Opus))
        );
        assert_eq!(
            CodecKind::Opus.transcode_in_place(CodecKind::Opus, &mut a),
            Ok(())
        );
    }

    #[test]
    fn rtpmap_lookup() {
        assert_eq!(
            CodecDescriptor::from_rtpmap("pcma", 8000),
            Some(CodecDescriptor::PCMA)
        );
        assert_eq!(CodecDescriptor::from_rtpmap("PCMA", 16000), None);
        let te = CodecDescriptor::from_rtpmap("telephone-event", 48000).unwrap();
        assert_eq!(te.clock_rate, 48000);
    }
}
