//! In-band DTMF detection to ITU-T Q.24: Goertzel filters with per-tone frequency checks,
//! twist limits, a tone-to-total-energy check and second-harmonic rejection. Sans-IO: feed
//! samples with [`DtmfDetector::feed`], take digits with [`DtmfDetector::poll_digit`].
//!
//! How it decides, every hop (5 ms by default):
//! - For each of the 8 DTMF frequencies, a Goertzel filter over a window whose length is
//!   inversely proportional to the frequency (`N = K·rate/f`), so every filter has the same
//!   *relative* bandwidth: a tone 1.5% off nominal loses about 1 dB, one 3.5% off about
//!   6 dB. The strongest row and column are the candidates.
//! - Frequency check per tone: the candidate's amplitude over its long window is compared
//!   with its amplitude over a window a third as long (nearly flat across ±3.5%); the ratio
//!   estimates the frequency offset independently of level and twist. This is what accepts
//!   ±1.5% and rejects ±3.5%.
//! - Both tones above a minimum level; twist within limits (normal: row louder than column
//!   by at most 8 dB; reverse: column louder by at most 4 dB).
//! - Each candidate at least 6 dB above the other tones of its group.
//! - Row and column together carry most of the energy of their windows (speech and music
//!   spread theirs), and neither has a strong second harmonic (voices and instruments do).
//! - A digit is reported once it has held for `min_tone` and not again until a pause of
//!   `min_pause` (shorter dropouts are bridged, as Q.24 asks).

use std::collections::VecDeque;
use std::time::Duration;

use super::goertzel::Goertzel;
use super::{DtmfDigit, HIGH_GROUP_HZ, LOW_GROUP_HZ};

/// Detector settings. The defaults follow ITU-T Q.24 for 8 kHz telephone audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Sample rate of the fed audio.
    pub sample_rate: u32,
    /// How often the filters are evaluated.
    pub hop: Duration,
    /// Shortest tone reported (Q.24: 40 ms).
    pub min_tone: Duration,
    /// Shortest pause that separates two digits (Q.24: 40 ms).
    pub min_pause: Duration,
    /// Minimum peak amplitude of each tone (700 ≈ −30 dBm0 on the 16-bit scale).
    pub min_amplitude: f32,
    /// Row may exceed column by this many dB (normal twist).
    pub normal_twist_db: f32,
    /// Column may exceed row by this many dB (reverse twist).
    pub reverse_twist_db: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            sample_rate: 8000,
            hop: Duration::from_millis(5),
            min_tone: Duration::from_millis(40),
            min_pause: Duration::from_millis(40),
            min_amplitude: 700.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
        }
    }
}

/// Window length constant: `x / (π · 0.015)` with `x = 0.8` rad of phase drift across the
/// window at a 1.5% offset.
const WINDOW_K: f32 = 0.8 / (std::f32::consts::PI * 0.015);
/// Minimum long/short power ratio per tone: ≈0.82 at 1.5% off, ≈0.30 at 3.5% off.
const MIN_FREQ_RATIO: f32 = 0.55;
/// Row and column must carry this share of their windows' energy.
const MIN_TONE_SHARE: f32 = 0.6;
/// Each candidate must beat the rest of its group by this power ratio (6 dB).
const MIN_GROUP_MARGIN: f32 = 4.0;
/// Hop blocks whose energies the quiet gate sums.
const GATE_BLOCKS: usize = 16;
/// Second-harmonic power must stay below this fraction of the fundamental's (−10 dB).
const MAX_HARMONIC: f32 = 0.1;

#[derive(Debug, Clone, Copy)]
struct Filter {
    freq: f32,
    n_long: usize,
    short: Goertzel,
    n_short: usize,
    harmonic: Goertzel,
}

/// Per-channel in-band DTMF detector.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    filters: [Filter; 8],
    /// The eight long-window filters run together over the longest window (so the CPU can
    /// overlap them): their coefficients and the index at which each window starts.
    coeffs: [f32; 8],
    starts: [usize; 8],
    longest: usize,
    /// Samples written twice (at `i` and `i + cap`) so the newest `n` are one slice.
    ring: Vec<f32>,
    cap: usize,
    write: usize,
    filled: usize,
    hop: usize,
    since_hop: usize,
    /// Energy of the current hop block, and of the last few blocks (enough to cover the
    /// longest window): a cheap gate that skips the filters on quiet audio.
    hop_energy: f32,
    block_energy: [f32; GATE_BLOCKS],
    block_pos: usize,
    min_level2: f32,
    normal_twist: f32,
    reverse_twist: f32,
    on_hops: u32,
    off_hops: u32,
    candidate: Option<DtmfDigit>,
    candidate_hits: u32,
    reported: Option<DtmfDigit>,
    misses: u32,
    digits: VecDeque<DtmfDigit>,
}

impl DtmfDetector {
    /// A detector with `config`.
    pub fn new(config: DetectorConfig) -> Self {
        let rate = config.sample_rate.max(1000);
        let mk = |f: f32| {
            let n_long = ((WINDOW_K * rate as f32 / f).round() as usize).max(8);
            Filter {
                freq: f,
                n_long,
                short: Goertzel::new(f, rate),
                n_short: (n_long / 3).max(4),
                harmonic: Goertzel::new(2.0 * f, rate),
            }
        };
        let filters = [
            mk(LOW_GROUP_HZ[0]),
            mk(LOW_GROUP_HZ[1]),
            mk(LOW_GROUP_HZ[2]),
            mk(LOW_GROUP_HZ[3]),
            mk(HIGH_GROUP_HZ[0]),
            mk(HIGH_GROUP_HZ[1]),
            mk(HIGH_GROUP_HZ[2]),
            mk(HIGH_GROUP_HZ[3]),
        ];
        let longest = filters.iter().map(|f| f.n_long).max().unwrap_or(1);
        let cap = longest.next_power_of_two();
        let per_ms = rate as f32 / 1000.0;
        let hop = ((config.hop.as_secs_f32() * 1000.0 * per_ms).round() as usize).max(1);
        let hop_ms = hop as f32 / per_ms;
        // A tone passes the checks for about (duration − half the longest window) of hops
        // (its windows must be mostly filled); require that many consecutive hops.
        let longest_ms = longest as f32 / per_ms;
        let on_ms = (config.min_tone.as_secs_f32() * 1000.0 - longest_ms * 0.5).max(hop_ms);
        let coeffs =
            filters.map(|f| 2.0 * (2.0 * std::f32::consts::PI * f.freq / rate as f32).cos());
        let starts = filters.map(|f| longest - f.n_long);
        Self {
            filters,
            coeffs,
            starts,
            longest,
            ring: vec![0.0; 2 * cap],
            cap,
            write: 0,
            filled: 0,
            hop,
            since_hop: 0,
            hop_energy: 0.0,
            block_energy: [0.0; GATE_BLOCKS],
            block_pos: 0,
            min_level2: config.min_amplitude * config.min_amplitude,
            normal_twist: 10f32.powf(config.normal_twist_db / 10.0),
            reverse_twist: 10f32.powf(config.reverse_twist_db / 10.0),
            on_hops: (on_ms / hop_ms).floor().max(1.0) as u32,
            off_hops: ((config.min_pause.as_secs_f32() * 1000.0 / hop_ms).round() as u32).max(1),
            candidate: None,
            candidate_hits: 0,
            reported: None,
            misses: 0,
            digits: VecDeque::with_capacity(8),
        }
    }

    /// Feed audio samples (any count).
    pub fn feed(&mut self, samples: &[i16]) {
        for &s in samples {
            let x = f32::from(s);
            self.ring[self.write] = x;
            self.ring[self.write + self.cap] = x;
            self.write = (self.write + 1) & (self.cap - 1);
            self.filled = (self.filled + 1).min(self.cap);
            self.since_hop += 1;
            self.hop_energy += x * x;
            if self.since_hop >= self.hop {
                self.since_hop = 0;
                self.block_energy[self.block_pos] = self.hop_energy;
                self.block_pos = (self.block_pos + 1) % GATE_BLOCKS;
                self.hop_energy = 0.0;
                let hit = if self.quiet() { None } else { self.evaluate() };
                self.step(hit);
            }
        }
    }

    /// Next detected digit.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    /// Whether a DTMF tone is present or being confirmed right now. While it is, a leg that
    /// relays this audio to a leg receiving the digit another way (RFC 4733, INFO) should
    /// mute the audio, so the far end does not detect the digit twice.
    pub fn in_tone(&self) -> bool {
        self.candidate_hits > 0 || (self.reported.is_some() && self.misses == 0)
    }

    /// Forget any tone in progress (e.g. after the stream was replaced).
    pub fn reset(&mut self) {
        self.ring.fill(0.0);
        self.filled = 0;
        self.since_hop = 0;
        self.candidate = None;
        self.candidate_hits = 0;
        self.reported = None;
        self.misses = 0;
        self.hop_energy = 0.0;
        self.block_energy = [0.0; GATE_BLOCKS];
    }

    /// Whether the newest blocks covering the longest window hold less energy than two
    /// tones at the minimum level would: then no digit can be present.
    fn quiet(&self) -> bool {
        let blocks = self.longest.div_ceil(self.hop).min(GATE_BLOCKS);
        let e: f32 = (1..=blocks)
            .map(|b| self.block_energy[(self.block_pos + GATE_BLOCKS - b) % GATE_BLOCKS])
            .sum();
        // Two tones of amplitude A carry A² per sample; the shortest window must see both.
        let shortest = self.filters.iter().map(|f| f.n_long).min().unwrap_or(1);
        e < self.min_level2 * shortest as f32
    }

    /// The newest `n` samples, oldest first.
    fn recent(&self, n: usize) -> &[f32] {
        // `write` is the next slot; the newest sample sits at write-1. The doubled buffer
        // keeps [write + cap - n, write + cap) contiguous.
        let end = self.write + self.cap;
        &self.ring[end - n..end]
    }

    /// One decision: the digit present in the newest windows, if any.
    fn evaluate(&self) -> Option<DtmfDigit> {
        if self.filled < self.cap {
            return None;
        }
        // Long-window power, window energy and amplitude² for each frequency: the eight
        // Goertzel recurrences side by side over the longest window, each fed zeros
        // before its own window starts (leading zeros do not change |X|).
        let (mut s1, mut s2, mut e) = ([0f32; 8], [0f32; 8], [0f32; 8]);
        let w = self.recent(self.longest);
        // Windows start at different indices: between two starts the set of running
        // filters is fixed, so each segment is a branch-free loop with a 0/1 gain per lane.
        let mut bounds = self.starts;
        bounds.sort_unstable();
        let mut from = 0;
        for to in bounds.into_iter().chain(std::iter::once(self.longest)) {
            if to <= from {
                continue;
            }
            let gain: [f32; 8] = std::array::from_fn(|k| f32::from(u8::from(self.starts[k] < to)));
            for &x in &w[from..to] {
                for k in 0..8 {
                    let xm = x * gain[k];
                    let s0 = xm + self.coeffs[k] * s1[k] - s2[k];
                    s2[k] = s1[k];
                    s1[k] = s0;
                    e[k] += xm * xm;
                }
            }
            from = to;
        }
        let mut amp2 = [0f32; 8];
        let mut share = [0f32; 8];
        for k in 0..8 {
            let p = s1[k] * s1[k] + s2[k] * s2[k] - self.coeffs[k] * s1[k] * s2[k];
            let n = self.filters[k].n_long as f32;
            amp2[k] = 4.0 * p / (n * n);
            share[k] = if e[k] > 0.0 {
                2.0 * p / (n * e[k])
            } else {
                0.0
            };
        }
        let (r, c) = (argmax(&amp2[..4]), 4 + argmax(&amp2[4..]));
        let (ar, ac) = (amp2[r], amp2[c]);
        if ar < self.min_level2 || ac < self.min_level2 {
            return None;
        }
        if ar > ac * self.normal_twist || ac > ar * self.reverse_twist {
            return None;
        }
        for k in 0..8 {
            let best = if k < 4 { r } else { c };
            if k != best && amp2[k] * MIN_GROUP_MARGIN > amp2[best] {
                return None;
            }
        }
        if share[r] + share[c] < MIN_TONE_SHARE {
            return None;
        }
        for &k in &[r, c] {
            let f = &self.filters[k];
            // Frequency check: long vs short window amplitude.
            let s = self.recent(f.n_short);
            let ps = f.short.power(s.iter().copied());
            let ns = f.n_short as f32;
            let amp2_short = 4.0 * ps / (ns * ns);
            if amp2[k] < MIN_FREQ_RATIO * amp2_short {
                return None;
            }
            // Second harmonic over the long window.
            let w = self.recent(f.n_long);
            let ph = f.harmonic.power(w.iter().copied());
            let n = f.n_long as f32;
            if 4.0 * ph / (n * n) > MAX_HARMONIC * amp2[k] {
                return None;
            }
        }
        DtmfDigit::from_position(r, c - 4)
    }

    fn step(&mut self, hit: Option<DtmfDigit>) {
        match hit {
            Some(d) => {
                if self.candidate == Some(d) {
                    self.candidate_hits += 1;
                } else {
                    self.candidate = Some(d);
                    self.candidate_hits = 1;
                }
                if self.reported == Some(d) {
                    self.misses = 0;
                } else {
                    self.misses += 1;
                    if self.candidate_hits >= self.on_hops {
                        self.reported = Some(d);
                        self.misses = 0;
                        self.digits.push_back(d);
                    }
                }
            }
            None => {
                self.candidate = None;
                self.candidate_hits = 0;
                self.misses += 1;
            }
        }
        if self.misses >= self.off_hops {
            self.reported = None;
        }
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
