//! RFC 3389 comfort noise: the payload (a noise level in −dBov, optionally followed by
//! spectral coefficients) and a generator of white noise at that level, for the silence a
//! peer suppressed or for slots the jitter buffer has nothing for.

use super::CodecError;

/// The static payload type of CN at 8000 Hz (RFC 3551).
pub const CN_PAYLOAD_TYPE: u8 = 13;

/// A parsed CN payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComfortNoise {
    /// Noise level in −dBov (0–127; 0 dBov is a full-scale square wave).
    pub level_dbov: u8,
    /// Spectral reflection coefficients that followed (not used: the noise is white).
    pub coefficients: usize,
}

impl ComfortNoise {
    /// Parse a CN payload.
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let (&level, rest) = payload.split_first().ok_or(CodecError::EmptyComfortNoise)?;
        Ok(Self {
            level_dbov: level & 0x7F,
            coefficients: rest.len(),
        })
    }

    /// The one-byte payload for a level (no spectral information).
    pub fn payload(level_dbov: u8) -> [u8; 1] {
        [level_dbov.min(127)]
    }

    /// Measure the level of a frame of background noise, for sending CN.
    pub fn level_of(samples: &[i16]) -> u8 {
        let rms = crate::dtmf::goertzel::rms(samples);
        if rms < 1.0 {
            return 127;
        }
        (-20.0 * (rms / 32767.0).log10()).round().clamp(0.0, 127.0) as u8
    }
}

/// White noise at a CN level; deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct ComfortNoiseGenerator {
    state: u32,
    amplitude: f32,
}

impl ComfortNoiseGenerator {
    /// A generator seeded with `seed` (any value), silent until a level is set.
    pub fn new(seed: u32) -> Self {
        Self {
            state: seed | 1,
            amplitude: 0.0,
        }
    }

    /// Set the level from a received CN payload.
    pub fn set_level(&mut self, level_dbov: u8) {
        let rms = 32767.0 * 10f32.powf(-f32::from(level_dbov.min(127)) / 20.0);
        // Uniform noise in [−a, a] has an RMS of a/√3.
        self.amplitude = rms * 3f32.sqrt();
    }

    /// Fill a frame with noise.
    pub fn next_frame(&mut self, out: &mut [i16]) {
        for o in out {
            // xorshift32: plenty for noise, no dependency, no allocation.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 17;
            self.state ^= self.state << 5;
            let u = self.state as f32 / u32::MAX as f32 * 2.0 - 1.0;
            *o = (u * self.amplitude).clamp(-32768.0, 32767.0) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::goertzel::rms;

    #[test]
    fn parse_and_levels() {
        assert_eq!(
            ComfortNoise::parse(&[0x40, 1, 2]).unwrap(),
            ComfortNoise {
                level_dbov: 64,
                coefficients: 2
            }
        );
        assert_eq!(ComfortNoise::parse(&[]), Err(CodecError::EmptyComfortNoise));
        assert_eq!(ComfortNoise::parse(&[0xC0]).unwrap().level_dbov, 64);
        assert_eq!(ComfortNoise::payload(200), [127]);
    }

    #[test]
    fn generated_noise_measures_at_its_level() {
        for level in [40u8, 60, 70] {
            let mut g = ComfortNoiseGenerator::new(7);
            g.set_level(level);
            let mut frame = vec![0i16; 8000];
            g.next_frame(&mut frame);
            let measured = ComfortNoise::level_of(&frame);
            assert!(measured.abs_diff(level) <= 1, "{level} -> {measured}");
            assert!(rms(&frame) > 0.0);
        }
        let mut silent = ComfortNoiseGenerator::new(1);
        let mut frame = [5i16; 160];
        silent.next_frame(&mut frame);
        assert!(frame.iter().all(|&s| s == 0));
        assert_eq!(ComfortNoise::level_of(&[0; 160]), 127);
    }
}
