//! Frame-by-frame sample-rate conversion between legs (e.g. a 16 kHz G.722 leg mixed with
//! 8 kHz G.711 legs), with rubato's synchronous FFT resampler: fixed frame sizes in and
//! out, no allocation per frame, about one frame of added delay.

use std::time::Duration;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::CodecError;

/// Converts fixed-size frames from one sample rate to another.
pub struct FrameResampler {
    inner: Fft<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    in_len: usize,
    out_len: usize,
}

impl std::fmt::Debug for FrameResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameResampler")
            .field("in_len", &self.in_len)
            .field("out_len", &self.out_len)
            .finish_non_exhaustive()
    }
}

impl FrameResampler {
    /// A resampler from `from` Hz to `to` Hz for frames of `frame` (e.g. 20 ms). The frame
    /// must hold a whole number of samples at both rates.
    pub fn new(from: u32, to: u32, frame: Duration) -> Result<Self, CodecError> {
        let bad = CodecError::BadResampleRates { from, to };
        let samples = |rate: u32| {
            let n = u128::from(rate) * frame.as_micros();
            (n.is_multiple_of(1_000_000) && n > 0).then_some((n / 1_000_000) as usize)
        };
        let (in_len, out_len) = (samples(from).ok_or(bad)?, samples(to).ok_or(bad)?);
        let inner = Fft::<f32>::new(from as usize, to as usize, in_len, 1, FixedSync::Both)
            .map_err(|_| bad)?;
        if inner.input_frames_next() != in_len || inner.output_frames_next() != out_len {
            return Err(bad);
        }
        Ok(Self {
            inner,
            input: vec![0.0; in_len],
            output: vec![0.0; out_len],
            in_len,
            out_len,
        })
    }

    /// Samples per input frame.
    pub fn input_len(&self) -> usize {
        self.in_len
    }

    /// Samples per output frame.
    pub fn output_len(&self) -> usize {
        self.out_len
    }

    /// Convert one frame. `input` shorter than a frame is padded with silence; `output`
    /// receives `min(output.len(), output_len())` samples, and that count is returned.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        let n = input.len().min(self.in_len);
        for (d, &s) in self.input.iter_mut().zip(&input[..n]) {
            *d = f32::from(s) / 32768.0;
        }
        self.input[n..].fill(0.0);
        let written = match (
            InterleavedSlice::new(&self.input[..], 1, self.in_len),
            InterleavedSlice::new_mut(&mut self.output[..], 1, self.out_len),
        ) {
            (Ok(i), Ok(mut o)) => self
                .inner
                .process_into_buffer(&i, &mut o, None)
                .map_or(0, |(_, w)| w),
            _ => 0,
        };
        let m = written.min(output.len());
        for (d, &s) in output[..m].iter_mut().zip(&self.output[..m]) {
            *d = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        output[m..].fill(0);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::goertzel::tone_amplitude;

    fn sine(rate: u32, n: usize, from: usize) -> Vec<i16> {
        (from..from + n)
            .map(|i| {
                (10_000.0 * (std::f64::consts::TAU * 1000.0 * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    fn run(from: u32, to: u32) -> Vec<i16> {
        let mut r = FrameResampler::new(from, to, Duration::from_millis(20)).unwrap();
        let (fi, fo) = (r.input_len(), r.output_len());
        let mut out = Vec::new();
        let mut frame = vec![0i16; fo];
        for k in 0..25 {
            assert_eq!(r.process(&sine(from, fi, k * fi), &mut frame), fo);
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn up_and_down_keep_frequency_and_level() {
        for (from, to) in [
            (8000, 16_000),
            (16_000, 8000),
            (48_000, 8000),
            (8000, 48_000),
        ] {
            let out = run(from, to);
            let tail = &out[out.len() / 2..];
            let a = tone_amplitude(tail, 1000.0, to);
            assert!((a - 10_000.0).abs() < 500.0, "{from}->{to}: {a}");
            assert!(tone_amplitude(tail, 1500.0, to) < 300.0, "{from}->{to}");
        }
    }

    #[test]
    fn rejects_frames_without_whole_samples() {
        assert!(FrameResampler::new(8000, 16_000, Duration::from_micros(20_010)).is_err());
        assert!(FrameResampler::new(0, 8000, Duration::from_millis(20)).is_err());
    }
}
