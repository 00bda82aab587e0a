//! In-band DTMF generation: the two sinusoids of a digit, then silence, into frames.

use super::DtmfDigit;

/// Generates one digit's dual tone followed by a pause, at any sample rate.
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    low: Osc,
    high: Osc,
    tone_samples: u64,
    total_samples: u64,
    pos: u64,
    amps: (f64, f64),
}

#[derive(Debug, Clone, Copy)]
struct Osc {
    /// Phase increment per sample, radians.
    step: f64,
}

impl DtmfGenerator {
    /// `digit` for `tone_samples`, then `pause_samples` of silence, at `sample_rate`, with
    /// each tone at `amplitude` (peak, linear; about 5,000–7,000 is a normal level).
    pub fn new(
        digit: DtmfDigit,
        sample_rate: u32,
        tone_samples: u64,
        pause_samples: u64,
        amplitude: i16,
    ) -> Self {
        let (lo, hi) = digit.frequencies();
        Self::with_frequencies(
            f64::from(lo),
            f64::from(hi),
            sample_rate,
            tone_samples,
            pause_samples,
            amplitude,
            amplitude,
        )
    }

    /// Arbitrary frequencies and levels (for tests of off-nominal and twisted tones).
    pub fn with_frequencies(
        low_hz: f64,
        high_hz: f64,
        sample_rate: u32,
        tone_samples: u64,
        pause_samples: u64,
        low_amplitude: i16,
        high_amplitude: i16,
    ) -> Self {
        let rate = f64::from(sample_rate.max(1));
        let tau = std::f64::consts::TAU;
        Self {
            low: Osc {
                step: tau * low_hz / rate,
            },
            high: Osc {
                step: tau * high_hz / rate,
            },
            tone_samples,
            total_samples: tone_samples + pause_samples,
            pos: 0,
            amps: (f64::from(low_amplitude), f64::from(high_amplitude)),
        }
    }

    /// Whether samples remain.
    pub fn is_done(&self) -> bool {
        self.pos >= self.total_samples
    }

    /// Fill `out`; returns how many samples were written (fewer than `out.len()` only at
    /// the end, and the rest of `out` is zeroed).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut n = 0;
        for o in out.iter_mut() {
            if self.pos >= self.total_samples {
                *o = 0;
                continue;
            }
            *o = if self.pos < self.tone_samples {
                let t = self.pos as f64;
                let v = self.amps.0 * (self.low.step * t).sin()
                    + self.amps.1 * (self.high.step * t).sin();
                v.clamp(-32768.0, 32767.0) as i16
            } else {
                0
            };
            self.pos += 1;
            n += 1;
        }
        n
    }
}
