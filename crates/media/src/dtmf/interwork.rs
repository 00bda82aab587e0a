//! DTMF interworking: each leg has a delivery mode; a digit received on one leg in any way
//! is turned into what the other leg needs.

use std::time::Duration;

use super::DtmfDigit;
use super::generate::DtmfGenerator;
use super::info::{InfoContentType, format_dtmf_relay};

/// How a leg carries DTMF, as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfMode {
    /// RFC 4733 telephone-events with this payload type and RTP clock rate.
    Rfc4733 {
        /// Negotiated telephone-event payload type.
        payload_type: u8,
        /// Its RTP clock rate.
        clock_rate: u32,
    },
    /// SIP INFO requests with this body type.
    SipInfo(InfoContentType),
    /// Tones in the audio, at this audio sample rate.
    InBand {
        /// The leg's decoded audio sample rate.
        sample_rate: u32,
    },
}

/// Whether to run the in-band detector on a leg's received audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InbandDetection {
    /// Only if the leg did not negotiate RFC 4733 (tones in its audio would duplicate the
    /// events, and detection costs CPU).
    #[default]
    Auto,
    /// Always (for gateways that send both).
    Always,
    /// Never.
    Never,
}

/// A leg's DTMF settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegDtmf {
    /// How the leg carries DTMF.
    pub mode: DtmfMode,
    /// Whether its audio is scanned for tones.
    pub inband_detection: InbandDetection,
}

impl LegDtmf {
    /// Settings with automatic in-band detection.
    pub fn new(mode: DtmfMode) -> Self {
        Self {
            mode,
            inband_detection: InbandDetection::Auto,
        }
    }

    /// Whether the in-band detector should run on this leg's audio.
    pub fn detects_inband(&self) -> bool {
        match self.inband_detection {
            InbandDetection::Always => true,
            InbandDetection::Never => false,
            InbandDetection::Auto => !matches!(self.mode, DtmfMode::Rfc4733 { .. }),
        }
    }
}

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event.
    Rfc4733,
    /// SIP INFO.
    SipInfo,
    /// Detected in the audio.
    InBand,
}

/// A digit received on a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDigit {
    /// The digit.
    pub digit: DtmfDigit,
    /// How long it was pressed, if known.
    pub duration: Option<Duration>,
    /// How it arrived.
    pub source: DtmfSource,
}

/// What the other leg must be given.
#[derive(Debug, Clone)]
pub enum DtmfDelivery {
    /// Start a [`super::rfc4733::TelephoneEventSender`] with these values at the leg's
    /// current RTP timestamp.
    Rfc4733 {
        /// Payload type to send with.
        payload_type: u8,
        /// The digit.
        digit: DtmfDigit,
        /// Duration in RTP clock ticks.
        duration_ticks: u32,
    },
    /// Send an INFO request with this body.
    SipInfo {
        /// Content-Type header value.
        content_type: &'static str,
        /// Body.
        body: String,
    },
    /// Mix these tone samples into (or in place of) the leg's outgoing audio.
    InBand(DtmfGenerator),
}

/// Duration used when the source gave none.
pub const DEFAULT_DIGIT_DURATION: Duration = Duration::from_millis(100);
/// Shortest tone sent in-band, so that far-end detectors see it (Q.24 asks for 40 ms).
pub const MIN_INBAND_TONE: Duration = Duration::from_millis(70);
/// Pause after an in-band tone.
pub const INBAND_PAUSE: Duration = Duration::from_millis(60);
/// Peak amplitude of each in-band tone (about −10 dBm0).
pub const INBAND_AMPLITUDE: i16 = 7000;

/// Turn a received digit into what `to` needs.
pub fn deliver(digit: ReceivedDigit, to: &LegDtmf) -> DtmfDelivery {
    let duration = digit.duration.unwrap_or(DEFAULT_DIGIT_DURATION);
    match to.mode {
        DtmfMode::Rfc4733 {
            payload_type,
            clock_rate,
        } => DtmfDelivery::Rfc4733 {
            payload_type,
            digit: digit.digit,
            duration_ticks: (u128::from(clock_rate) * duration.as_micros() / 1_000_000)
                .min(u128::from(u16::MAX)) as u32,
        },
        DtmfMode::SipInfo(ct) => DtmfDelivery::SipInfo {
            content_type: ct.as_str(),
            body: match ct {
                InfoContentType::DtmfRelay => format_dtmf_relay(digit.digit, duration),
                InfoContentType::Dtmf => digit.digit.to_char().to_string(),
            },
        },
        DtmfMode::InBand { sample_rate } => {
            let tone = duration.max(MIN_INBAND_TONE);
            let samples = |d: Duration| u64::from(sample_rate) * d.as_micros() as u64 / 1_000_000;
            DtmfDelivery::InBand(DtmfGenerator::new(
                digit.digit,
                sample_rate,
                samples(tone),
                samples(INBAND_PAUSE),
                INBAND_AMPLITUDE,
            ))
        }
    }
}
