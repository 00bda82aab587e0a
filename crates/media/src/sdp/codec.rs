//! Codec descriptors. The RTP clock rate and the sampling rate are separate fields:
//! G.722 samples at 16 kHz but its RTP clock runs at 8000 Hz (RFC 3551 §4.5.2), Opus
//! always signals 48000 Hz (RFC 7587).

/// A payload format as SDP names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Encoding name as in `a=rtpmap` (compared case-insensitively).
    pub name: &'static str,
    /// RTP timestamp clock rate in Hz.
    pub clock_rate: u32,
    /// Audio sampling rate in Hz of the decoded signal.
    pub sample_rate: u32,
    /// Channels signalled in `a=rtpmap`.
    pub channels: u8,
    /// Static payload type (RFC 3551), if any.
    pub static_pt: Option<u8>,
}

impl Codec {
    /// G.711 µ-law.
    pub const PCMU: Codec = Codec {
        name: "PCMU",
        clock_rate: 8000,
        sample_rate: 8000,
        channels: 1,
        static_pt: Some(0),
    };
    /// G.711 A-law.
    pub const PCMA: Codec = Codec {
        name: "PCMA",
        clock_rate: 8000,
        sample_rate: 8000,
        channels: 1,
        static_pt: Some(8),
    };
    /// G.722: 16 kHz audio, 8000 Hz RTP clock.
    pub const G722: Codec = Codec {
        name: "G722",
        clock_rate: 8000,
        sample_rate: 16000,
        channels: 1,
        static_pt: Some(9),
    };
    /// Opus: always `opus/48000/2` in SDP.
    pub const OPUS: Codec = Codec {
        name: "opus",
        clock_rate: 48000,
        sample_rate: 48000,
        channels: 2,
        static_pt: None,
    };

    /// Codecs this crate knows by name.
    pub const KNOWN: [Codec; 4] = [Codec::PCMU, Codec::PCMA, Codec::G722, Codec::OPUS];

    /// Telephone events (RFC 4733) at a given clock rate (it must match the audio
    /// codec's RTP clock).
    pub fn telephone_event(clock_rate: u32) -> Codec {
        Codec {
            name: "telephone-event",
            clock_rate,
            sample_rate: clock_rate,
            channels: 1,
            static_pt: None,
        }
    }

    /// Whether this is `telephone-event`.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// The `a=rtpmap` value for payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> String {
        if self.channels > 1 {
            format!("{pt} {}/{}/{}", self.name, self.clock_rate, self.channels)
        } else {
            format!("{pt} {}/{}", self.name, self.clock_rate)
        }
    }

    /// RTP timestamp increment for `ptime_ms` of audio.
    pub fn timestamp_step(&self, ptime_ms: u32) -> u32 {
        self.clock_rate / 1000 * ptime_ms
    }

    /// Samples of decoded audio in `ptime_ms`.
    pub fn samples_per_frame(&self, ptime_ms: u32) -> usize {
        (self.sample_rate / 1000 * ptime_ms) as usize
    }

    /// Whether an `a=rtpmap` entry (name, clock, channels) describes this codec.
    pub(crate) fn matches(&self, name: &str, clock_rate: u32, channels: u8) -> bool {
        self.name.eq_ignore_ascii_case(name)
            && self.clock_rate == clock_rate
            && self.channels == channels
    }

    /// The codec a static payload type stands for without `a=rtpmap`.
    pub(crate) fn from_static(pt: u8) -> Option<Codec> {
        Codec::KNOWN.into_iter().find(|c| c.static_pt == Some(pt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_sample_rates_are_separate() {
        assert_eq!(Codec::G722.timestamp_step(20), 160);
        assert_eq!(Codec::G722.samples_per_frame(20), 320);
        assert_eq!(Codec::OPUS.timestamp_step(20), 960);
        assert_eq!(Codec::PCMU.samples_per_frame(30), 240);
        assert_eq!(Codec::OPUS.rtpmap(111), "111 opus/48000/2");
        assert_eq!(
            Codec::telephone_event(8000).rtpmap(101),
            "101 telephone-event/8000"
        );
    }
}
