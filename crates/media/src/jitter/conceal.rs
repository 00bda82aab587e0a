//! Packet-loss concealment for [`super::Playout::Conceal`] slots: pitch-period repetition
//! in the manner of ITU-T G.711 Appendix I, simplified. On the first lost frame the pitch
//! period of the last good audio is found by autocorrelation; the last period is then
//! repeated with continuous phase, full level for the first 10 ms, fading by 20% per
//! 10 ms after that, silent after 60 ms. Allocation-free after construction.

/// Conceals lost frames from the history of good ones.
#[derive(Debug, Clone)]
pub struct Concealer {
    history: Vec<i16>,
    rate: usize,
    period: usize,
    /// Samples of concealment produced in the current loss run.
    lost: usize,
    /// Read position within the repeated period.
    phase: usize,
}

impl Concealer {
    /// A concealer for audio at `sample_rate` Hz.
    pub fn new(sample_rate: u32) -> Self {
        let rate = sample_rate.max(1000) as usize;
        Self {
            // 30 ms: two periods of the lowest pitch searched (15 ms).
            history: vec![0; rate * 30 / 1000],
            rate,
            period: 0,
            lost: 0,
            phase: 0,
        }
    }

    /// Record a good frame (call for every frame that played).
    pub fn good_frame(&mut self, frame: &[i16]) {
        let h = self.history.len();
        if frame.len() >= h {
            self.history.copy_from_slice(&frame[frame.len() - h..]);
        } else {
            self.history.copy_within(frame.len().., 0);
            self.history[h - frame.len()..].copy_from_slice(frame);
        }
        self.lost = 0;
    }

    /// Fill `out` for a lost frame.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.lost == 0 {
            self.period = self.find_period();
            self.phase = 0;
        }
        let h = self.history.len();
        let ten_ms = self.rate / 100;
        for o in out.iter_mut() {
            // Gain: 1.0 for 10 ms, then a linear fade of 20% per 10 ms, 0 from 60 ms.
            let faded = self.lost.saturating_sub(ten_ms) as f32 / (5 * ten_ms.max(1)) as f32;
            let gain = (1.0 - faded).max(0.0);
            let s = if self.period == 0 || gain == 0.0 {
                0
            } else {
                self.history[h - self.period + self.phase]
            };
            *o = (f32::from(s) * gain) as i16;
            if self.period > 0 {
                self.phase = (self.phase + 1) % self.period;
            }
            self.lost += 1;
        }
    }

    /// The lag (2.5–15 ms) with the best normalised autocorrelation over the newest
    /// period-sized stretch; 0 if the history is silent.
    fn find_period(&self) -> usize {
        let h = &self.history;
        let (min_lag, max_lag) = (self.rate * 25 / 10_000, self.rate * 15 / 1000);
        let win = max_lag.min(h.len() - max_lag);
        let tail = &h[h.len() - win..];
        let energy: f64 = tail.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        if energy == 0.0 {
            return 0;
        }
        let mut best = (f64::MIN, min_lag);
        for lag in min_lag..=max_lag {
            let past = &h[h.len() - win - lag..h.len() - lag];
            let (mut xy, mut yy) = (0f64, 0f64);
            for (&x, &y) in tail.iter().zip(past) {
                xy += f64::from(x) * f64::from(y);
                yy += f64::from(y) * f64::from(y);
            }
            let score = if yy > 0.0 { xy / yy.sqrt() } else { f64::MIN };
            if score > best.0 {
                best = (score, lag);
            }
        }
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, from: usize, n: usize) -> Vec<i16> {
        (from..from + n)
            .map(|i| (8000.0 * (std::f64::consts::TAU * freq * i as f64 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn continues_a_voiced_signal_through_one_lost_frame() {
        let mut c = Concealer::new(8000);
        for k in 0..5 {
            c.good_frame(&sine(250.0, 160 * k, 160));
        }
        let mut out = [0i16; 160];
        c.conceal(&mut out);
        // The first 10 ms match the true continuation closely (250 Hz = 32-sample period).
        let truth = sine(250.0, 800, 160);
        let err: f64 = out[..80]
            .iter()
            .zip(&truth[..80])
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / 80.0;
        assert!(err < 200.0, "mean error {err}");
    }

    #[test]
    fn fades_to_silence_and_resets_on_good_audio() {
        let mut c = Concealer::new(8000);
        c.good_frame(&sine(200.0, 0, 240));
        let mut out = [0i16; 160];
        for _ in 0..3 {
            c.conceal(&mut out);
        }
        assert!(
            out[..80].iter().any(|&s| s != 0),
            "still fading at 40-50 ms"
        );
        c.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0), "silent from 60 ms");
        c.good_frame(&sine(200.0, 0, 160));
        c.conceal(&mut out);
        assert!(out[..40].iter().any(|&s| s.abs() > 4000));
        let mut quiet = Concealer::new(8000);
        quiet.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0));
    }
}
