//! Audio for the end-to-end tests: tone WAVs the softphones send, reading the WAVs they
//! record, tone detection (Goertzel) and the normalised cross-correlation of a recording
//! with a prompt at the best lag.

use std::path::Path;

/// The sample rate of every WAV written here (G.711's).
pub(crate) const RATE: u32 = 8000;

/// Writes a mono 16-bit WAV of a sine at `freq` Hz, `secs` long, at half full scale.
pub(crate) fn write_tone(path: &Path, freq: f64, secs: f64) {
    let n = (secs * f64::from(RATE)) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            (16_000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect();
    write_wav(path, RATE, &samples);
}

/// Writes mono 16-bit PCM samples as a WAV file.
pub(crate) fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let data_len = u32::try_from(samples.len() * 2).expect("a WAV under 4 GiB");
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).expect("writing a WAV file");
}

/// A decoded WAV: its sample rate and samples scaled to -1.0..1.0 (first channel only).
#[derive(Debug, Clone)]
pub(crate) struct Wav {
    pub(crate) rate: u32,
    pub(crate) samples: Vec<f32>,
}

impl Wav {
    /// Length in seconds.
    pub(crate) fn secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }

    /// The part from `from` to `to` seconds (clamped to the recording).
    pub(crate) fn slice(&self, from: f64, to: f64) -> &[f32] {
        let at = |s: f64| ((s.max(0.0) * f64::from(self.rate)) as usize).min(self.samples.len());
        let (a, b) = (at(from), at(to));
        &self.samples[a..b.max(a)]
    }
}

/// Reads a PCM WAV file (8- or 16-bit integer, or G.711 μ-law/A-law). A file whose
/// header was never finished (its writer was killed) is read up to its end.
pub(crate) fn read_wav(path: &Path) -> Result<Wav, String> {
    read_wav_channel(path, 0).map(|(wav, _)| wav)
}

/// As [`read_wav`], the samples of channel `channel` (0: left or mono, 1: right); also
/// says how many channels the file has. A channel the file does not have is an error.
pub(crate) fn read_wav_channel(path: &Path, channel: usize) -> Result<(Wav, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(format!("{} is not a WAV file", path.display()));
    }
    let (mut format, mut channels, mut rate, mut bits) = (None, 1usize, 0u32, 16u16);
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        if id == b"fmt " && body + 16 <= bytes.len() {
            format = Some(u16::from_le_bytes([bytes[body], bytes[body + 1]]));
            channels = usize::from(u16::from_le_bytes([bytes[body + 2], bytes[body + 3]])).max(1);
            rate = u32::from_le_bytes(bytes[body + 4..body + 8].try_into().unwrap());
            bits = u16::from_le_bytes([bytes[body + 14], bytes[body + 15]]);
        } else if id == b"data" {
            let end = if len == 0 || body + len > bytes.len() {
                bytes.len()
            } else {
                body + len
            };
            let data = &bytes[body..end];
            let format = format.ok_or_else(|| format!("{}: no fmt chunk", path.display()))?;
            if channel >= channels {
                return Err(format!("{}: no channel {channel}", path.display()));
            }
            let samples = decode(format, bits, channels, channel, data)
                .ok_or_else(|| format!("{}: unsupported format {format}/{bits}", path.display()))?;
            return Ok((Wav { rate, samples }, channels));
        }
        pos = body + len + (len & 1);
    }
    Err(format!("{}: no data chunk", path.display()))
}

fn decode(
    format: u16,
    bits: u16,
    channels: usize,
    channel: usize,
    data: &[u8],
) -> Option<Vec<f32>> {
    let one: Vec<f32> = match (format, bits) {
        (1, 16) | (0xFFFE, 16) => data
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
        (1, 8) => data
            .iter()
            .map(|&b| (f32::from(b) - 128.0) / 128.0)
            .collect(),
        (7, 8) => data.iter().map(|&b| f32::from(ulaw(b)) / 32768.0).collect(),
        (6, 8) => data.iter().map(|&b| f32::from(alaw(b)) / 32768.0).collect(),
        _ => return None,
    };
    Some(one.into_iter().skip(channel).step_by(channels).collect())
}

fn ulaw(b: u8) -> i16 {
    let b = !b;
    let t = ((i32::from(b & 0x0F) << 3) + 0x84) << ((b & 0x70) >> 4);
    (if b & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

fn alaw(b: u8) -> i16 {
    let b = b ^ 0x55;
    let mut t = i32::from(b & 0x0F) << 4;
    let seg = (b & 0x70) >> 4;
    t = match seg {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (seg - 1),
    };
    (if b & 0x80 != 0 { t } else { -t }) as i16
}

/// Root mean square of `samples`.
pub(crate) fn rms(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len() as f64)
        .sqrt()
}

/// The share (0..1) of `samples`' energy at `freq` Hz (Goertzel). A pure tone at that
/// frequency gives about 1; silence or another frequency about 0.
pub(crate) fn tone_share(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    if energy <= f64::EPSILON {
        return 0.0;
    }
    // A sine of amplitude A over n samples: Goertzel power n²A²/4, energy nA²/2.
    (2.0 * power / (n as f64 * energy)).min(1.0)
}

/// Seconds of `wav` in which the tone at `freq` dominates: 50 ms windows that are not
/// silent and carry at least half of their energy at `freq`.
pub(crate) fn tone_secs(wav: &Wav, freq: f64) -> f64 {
    let win = (wav.rate / 20) as usize;
    let hits = wav
        .samples
        .chunks_exact(win)
        .filter(|w| rms(w) > 0.01 && tone_share(w, wav.rate, freq) > 0.5)
        .count();
    hits as f64 * 0.05
}

/// The normalised cross-correlation (-1..1) of `prompt` with `recording` at the lag (in
/// samples into the recording) where it is highest. Windows of the recording with almost
/// no energy are skipped, so silence never scores.
pub(crate) fn best_correlation(recording: &[f32], prompt: &[f32]) -> (f64, usize) {
    let (n, m) = (recording.len(), prompt.len());
    if m == 0 || n < m {
        return (0.0, 0);
    }
    let size = (n + m).next_power_of_two();
    let mut a: Vec<(f64, f64)> = recording.iter().map(|&x| (f64::from(x), 0.0)).collect();
    a.resize(size, (0.0, 0.0));
    let mut b: Vec<(f64, f64)> = prompt.iter().map(|&x| (f64::from(x), 0.0)).collect();
    b.resize(size, (0.0, 0.0));
    fft(&mut a, false);
    fft(&mut b, false);
    // corr[lag] = Σ r[lag+i]·p[i]  ⇔  IFFT(R · conj(P)).
    let mut c: Vec<(f64, f64)> = a
        .iter()
        .zip(&b)
        .map(|(&(ar, ai), &(br, bi))| (ar * br + ai * bi, ai * br - ar * bi))
        .collect();
    fft(&mut c, true);

    let p_energy: f64 = prompt.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0f64);
    for &x in recording {
        prefix.push(prefix.last().unwrap() + f64::from(x) * f64::from(x));
    }
    let mut best = (0.0, 0);
    for lag in 0..=n - m {
        let r_energy = prefix[lag + m] - prefix[lag];
        if r_energy < p_energy * 1e-3 || r_energy <= f64::EPSILON {
            continue;
        }
        let corr = c[lag].0 / size as f64 / (r_energy * p_energy).sqrt();
        if corr > best.0 {
            best = (corr, lag);
        }
    }
    best
}

/// In-place iterative radix-2 FFT (`inverse` without the 1/n scaling).
fn fft(x: &mut [(f64, f64)], inverse: bool) {
    let n = x.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            x.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = 2.0 * std::f64::consts::PI / len as f64 * if inverse { 1.0 } else { -1.0 };
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0, 0.0);
            for k in 0..len / 2 {
                let (ur, ui) = x[start + k];
                let (vr0, vi0) = x[start + k + len / 2];
                let (vr, vi) = (vr0 * cr - vi0 * ci, vr0 * ci + vi0 * cr);
                x[start + k] = (ur + vr, ui + vi);
                x[start + k + len / 2] = (ur - vr, ui - vi);
                let ncr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = ncr;
            }
        }
        len <<= 1;
    }
}
