//! Call-progress tones (ringback, busy) generated at any sample rate into frames, with
//! configurable frequencies and cadences.
//!
//! ```
//! use switchyard_media::tone::{ToneGenerator, ToneSpec};
//!
//! let mut ring = ToneGenerator::new(ToneSpec::ringback_us(), 8000);
//! let mut frame = [0i16; 160]; // 20 ms at 8 kHz
//! ring.next_frame(&mut frame);
//! assert!(frame.iter().any(|&s| s != 0)); // the cadence starts with tone
//! ```

use std::time::Duration;

/// One on/off step of a cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CadenceStep {
    /// Tone on for this long.
    pub on: Duration,
    /// Then silence for this long.
    pub off: Duration,
}

/// A tone: up to two frequencies summed, a level, and a repeating cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSpec {
    /// Frequencies in Hz (one or two are used; 0 Hz entries are ignored).
    pub frequencies: [f32; 2],
    /// Peak amplitude of each frequency (linear, 16-bit scale).
    pub amplitude: i16,
    /// The cadence, repeated; an empty cadence means a continuous tone.
    pub cadence: Vec<CadenceStep>,
}

fn step(on_ms: u64, off_ms: u64) -> CadenceStep {
    CadenceStep {
        on: Duration::from_millis(on_ms),
        off: Duration::from_millis(off_ms),
    }
}

/// About −16 dBm0 per frequency (ITU-T E.180 suggests −10 to −19 dBm0 for the pair).
const DEFAULT_AMPLITUDE: i16 = 3500;

impl ToneSpec {
    /// A tone of `frequencies` with `cadence` at the default level.
    pub fn new(frequencies: [f32; 2], cadence: Vec<CadenceStep>) -> Self {
        Self {
            frequencies,
            amplitude: DEFAULT_AMPLITUDE,
            cadence,
        }
    }

    /// North American ringback: 440 + 480 Hz, 2 s on, 4 s off.
    pub fn ringback_us() -> Self {
        Self::new([440.0, 480.0], vec![step(2000, 4000)])
    }

    /// North American busy: 480 + 620 Hz, 0.5 s on, 0.5 s off.
    pub fn busy_us() -> Self {
        Self::new([480.0, 620.0], vec![step(500, 500)])
    }

    /// UK ringback: 400 + 450 Hz, 0.4 on, 0.2 off, 0.4 on, 2 off.
    pub fn ringback_uk() -> Self {
        Self::new([400.0, 450.0], vec![step(400, 200), step(400, 2000)])
    }

    /// UK busy: 400 Hz, 0.375 s on, 0.375 s off.
    pub fn busy_uk() -> Self {
        Self::new([400.0, 0.0], vec![step(375, 375)])
    }

    /// China ringback: 450 Hz, 1 s on, 4 s off.
    pub fn ringback_china() -> Self {
        Self::new([450.0, 0.0], vec![step(1000, 4000)])
    }

    /// China busy: 450 Hz, 0.35 s on, 0.35 s off.
    pub fn busy_china() -> Self {
        Self::new([450.0, 0.0], vec![step(350, 350)])
    }

    /// A single short beep (1 kHz, 250 ms, e.g. before a voicemail recording): the
    /// cadence's silence is long enough (one hour) that it never repeats in practice.
    pub fn beep() -> Self {
        Self::new([1000.0, 0.0], vec![step(250, 3_600_000)])
    }

    /// Length of one cadence cycle.
    pub fn cycle(&self) -> Duration {
        self.cadence.iter().map(|s| s.on + s.off).sum()
    }
}

/// Generates a [`ToneSpec`] at a sample rate, frame by frame, with continuous phase.
///
/// Each frequency is a rotating phasor (one complex multiply per sample instead of a
/// `sin`), renormalised once per frame so its level cannot drift.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    /// Per-sample rotation (cos, sin) for each frequency; `None` for unused slots.
    rot: [Option<(f64, f64)>; 2],
    /// Current phasor (cos, sin) for each frequency.
    osc: [(f64, f64); 2],
    amplitude: f64,
    /// Cadence as sample boundaries: (end of on, end of off) per step, cumulative.
    bounds: Vec<(u64, u64)>,
    cycle: u64,
    pos: u64,
}

impl ToneGenerator {
    /// A generator for `spec` at `sample_rate` Hz.
    pub fn new(spec: ToneSpec, sample_rate: u32) -> Self {
        let rate = f64::from(sample_rate.max(1));
        let samples = |d: Duration| (d.as_secs_f64() * rate).round() as u64;
        let mut bounds = Vec::with_capacity(spec.cadence.len());
        let mut t = 0;
        for s in &spec.cadence {
            let on_end = t + samples(s.on);
            t = on_end + samples(s.off);
            bounds.push((on_end, t));
        }
        let rot = spec.frequencies.map(|f| {
            (f > 0.0).then(|| {
                let w = std::f64::consts::TAU * f64::from(f) / rate;
                (w.cos(), w.sin())
            })
        });
        Self {
            rot,
            osc: [(1.0, 0.0); 2],
            amplitude: f64::from(spec.amplitude),
            bounds,
            cycle: t,
            pos: 0,
        }
    }

    fn tone_on(&self) -> bool {
        if self.cycle == 0 {
            return true;
        }
        let p = self.pos % self.cycle;
        self.bounds
            .iter()
            .find(|(_, off_end)| p < *off_end)
            .is_some_and(|(on_end, _)| p < *on_end)
    }

    /// Fill one frame (of any length).
    pub fn next_frame(&mut self, out: &mut [i16]) {
        for (c, s) in &mut self.osc {
            let norm = (*c * *c + *s * *s).sqrt();
            if norm > 0.0 {
                *c /= norm;
                *s /= norm;
            }
        }
        for o in out.iter_mut() {
            let on = self.tone_on();
            let mut v = 0.0;
            for (osc, rot) in self.osc.iter_mut().zip(self.rot) {
                if let Some((rc, rs)) = rot {
                    if on {
                        v += osc.1;
                    }
                    *osc = (osc.0 * rc - osc.1 * rs, osc.0 * rs + osc.1 * rc);
                }
            }
            *o = (v * self.amplitude).clamp(-32768.0, 32767.0) as i16;
            self.pos += 1;
        }
    }

    /// Restart the cadence from its beginning.
    pub fn restart(&mut self) {
        self.pos = 0;
        self.osc = [(1.0, 0.0); 2];
    }
}
