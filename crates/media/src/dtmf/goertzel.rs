//! The Goertzel algorithm: the power of one frequency in a block of samples, at the cost of
//! one multiply-add per sample. Used by the in-band DTMF detector and handy for checking
//! what a stream carries (tones, mixer outputs) in tests.

/// Goertzel filter for one frequency at one sample rate.
#[derive(Debug, Clone, Copy)]
pub struct Goertzel {
    coeff: f32,
}

impl Goertzel {
    /// A filter for `freq_hz` at `sample_rate` Hz.
    pub fn new(freq_hz: f32, sample_rate: u32) -> Self {
        let w = 2.0 * std::f32::consts::PI * freq_hz / sample_rate.max(1) as f32;
        Self {
            coeff: 2.0 * w.cos(),
        }
    }

    /// |X(f)|² of the block (unnormalised).
    #[inline]
    pub fn power<I: IntoIterator<Item = f32>>(&self, samples: I) -> f32 {
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for x in samples {
            let s0 = x + self.coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - self.coeff * s1 * s2
    }

    /// The amplitude of a sinusoid at this frequency in `samples` (about `A` for
    /// `A·sin(2πft)` filling the block).
    pub fn amplitude(&self, samples: &[i16]) -> f32 {
        if samples.is_empty() {
            return 0.0;
        }
        2.0 * self
            .power(samples.iter().map(|&s| f32::from(s)))
            .max(0.0)
            .sqrt()
            / samples.len() as f32
    }
}

/// Amplitude of `freq_hz` in `samples` at `sample_rate` (see [`Goertzel::amplitude`]).
pub fn tone_amplitude(samples: &[i16], freq_hz: f32, sample_rate: u32) -> f32 {
    Goertzel::new(freq_hz, sample_rate).amplitude(samples)
}

/// Root-mean-square level of `samples`.
pub fn rms(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tone_and_not_its_neighbour() {
        let s: Vec<i16> = (0..800)
            .map(|n| {
                (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * n as f32 / 8000.0).sin()) as i16
            })
            .collect();
        let a = tone_amplitude(&s, 1000.0, 8000);
        assert!((a - 8000.0).abs() < 100.0, "{a}");
        assert!(tone_amplitude(&s, 1300.0, 8000) < 200.0);
        assert!((rms(&s) - 8000.0 / 2f32.sqrt()).abs() < 50.0);
    }
}
