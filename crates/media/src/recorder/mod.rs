//! Call recording to WAV (16-bit PCM, or G.711 µ-law/A-law at half the size): one leg, both legs mixed to mono, or stereo with the
//! caller on the left and the agent on the right; pause and resume (for card numbers).
//!
//! The recorder is sans-IO: it turns frames into bytes, and [`WavRecorder::write_to`]
//! applies them to any `Write + Seek` the caller owns (a file, in the daemon).
//!
//! Crash safety: the header is written first with both RIFF sizes at their maximum (the
//! streaming convention: readers such as sox, symphonia and hound read up to the end of the
//! file; the data size is the largest whole number of sample frames, as hound requires),
//! then rewritten with the true sizes every `header_interval` of audio and on close. A
//! file cut short by a crash therefore reads either to its end or to the last rewrite.
//!
//! The header (44 bytes, 58 with G.711) is written by hand rather than with `hound`, whose writer owns the
//! file and seeks inside it on every flush; this recorder has to stay sans-IO and decide
//! itself when the header is rewritten.
//!
//! ```
//! use std::io::Cursor;
//! use switchyard_media::recorder::{RecorderConfig, Layout, WavRecorder};
//!
//! let mut rec = WavRecorder::new(RecorderConfig { layout: Layout::Stereo, ..RecorderConfig::default() });
//! let mut file = Cursor::new(Vec::new());
//! rec.push(&[1000; 160], &[-1000; 160]); // 20 ms of caller and agent
//! rec.write_to(&mut file).unwrap();
//! rec.finish(&mut file).unwrap();
//! assert_eq!(file.get_ref().len(), 44 + 160 * 4);
//! ```

use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use crate::codec::g711;

/// Which audio goes into the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Both legs summed (with saturation) into one channel.
    #[default]
    MonoMix,
    /// Two channels: caller left, agent right.
    Stereo,
    /// Only what the caller says.
    CallerOnly,
    /// Only what the agent says.
    AgentOnly,
}

/// What a pause leaves in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PauseMode {
    /// Silence for the paused time: the file stays aligned with the call's clock (what
    /// quality review and dispute handling expect).
    #[default]
    Silence,
    /// Nothing: the paused time is cut out.
    Cut,
}

/// Sample encoding in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// 16-bit linear PCM (readable by everything).
    #[default]
    Pcm16,
    /// G.711 µ-law, 8 bits (half the size; WAVE format 7).
    Ulaw,
    /// G.711 A-law, 8 bits (WAVE format 6).
    Alaw,
}

impl Encoding {
    fn bytes_per_sample(self) -> u16 {
        match self {
            Encoding::Pcm16 => 2,
            Encoding::Ulaw | Encoding::Alaw => 1,
        }
    }

    /// Length of the header this encoding uses: 44 bytes for PCM; 58 for G.711, whose
    /// `fmt ` chunk carries `cbSize` and which needs a `fact` chunk.
    pub fn header_len(self) -> usize {
        match self {
            Encoding::Pcm16 => 44,
            Encoding::Ulaw | Encoding::Alaw => 58,
        }
    }
}

/// Recorder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Sample rate of the frames pushed (and of the file).
    pub sample_rate: u32,
    /// Channel layout.
    pub layout: Layout,
    /// Sample encoding.
    pub encoding: Encoding,
    /// What pausing records.
    pub pause_mode: PauseMode,
    /// How much audio between header rewrites.
    pub header_interval: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            sample_rate: 8000,
            layout: Layout::MonoMix,
            encoding: Encoding::Pcm16,
            pause_mode: PauseMode::Silence,
            header_interval: Duration::from_secs(5),
        }
    }
}

/// Append `n` sample periods of the two legs to `pending` in `layout`, encoding each
/// sample with `put` (silence while `paused`).
fn fill(
    pending: &mut Vec<u8>,
    caller: &[i16],
    agent: &[i16],
    n: usize,
    paused: bool,
    layout: Layout,
    put: impl Fn(&mut Vec<u8>, i16),
) {
    let at = |s: &[i16], i: usize| {
        if paused {
            0
        } else {
            s.get(i).copied().unwrap_or(0)
        }
    };
    for i in 0..n {
        let (c, a) = (at(caller, i), at(agent, i));
        match layout {
            Layout::MonoMix => put(pending, c.saturating_add(a)),
            Layout::Stereo => {
                put(pending, c);
                put(pending, a);
            }
            Layout::CallerOnly => put(pending, c),
            Layout::AgentOnly => put(pending, a),
        }
    }
}

/// Errors from writing a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The writer failed.
    #[error("writing the recording failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Size of the largest header written (G.711 encodings).
pub const MAX_HEADER_LEN: usize = 58;

/// A WAV recorder for one call.
#[derive(Debug)]
pub struct WavRecorder {
    cfg: RecorderConfig,
    channels: u16,
    /// Audio bytes not yet written.
    pending: Vec<u8>,
    /// Audio bytes produced so far (written or pending).
    data_len: u64,
    header_written: bool,
    rewrite_due: bool,
    frames_since_rewrite: u64,
    rewrite_every: u64,
    paused: bool,
}

impl WavRecorder {
    /// A recorder; nothing is written until [`WavRecorder::write_to`].
    pub fn new(cfg: RecorderConfig) -> Self {
        let channels = if cfg.layout == Layout::Stereo { 2 } else { 1 };
        let rewrite_every =
            (cfg.header_interval.as_secs_f64() * f64::from(cfg.sample_rate)).max(1.0) as u64;
        Self {
            cfg,
            channels,
            pending: Vec::with_capacity(cfg.sample_rate as usize / 25 * usize::from(channels)),
            data_len: 0,
            header_written: false,
            rewrite_due: false,
            frames_since_rewrite: 0,
            rewrite_every,
            paused: false,
        }
    }

    /// Channels in the file.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Audio recorded so far.
    pub fn duration(&self) -> Duration {
        let frames = self.data_len / u64::from(self.block_align());
        Duration::from_secs_f64(frames as f64 / f64::from(self.cfg.sample_rate.max(1)))
    }

    /// Pause recording (see [`PauseMode`]).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Resume recording.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Whether paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Record one frame period: what the caller said and what the agent said (either may
    /// be shorter or empty, e.g. a leg on hold; missing samples are silence).
    pub fn push(&mut self, caller: &[i16], agent: &[i16]) {
        let n = caller.len().max(agent.len());
        if self.paused && self.cfg.pause_mode == PauseMode::Cut {
            return;
        }
        // One monomorphised loop per encoding: no per-sample dispatch on it.
        let (paused, layout) = (self.paused, self.cfg.layout);
        let pending = &mut self.pending;
        match self.cfg.encoding {
            Encoding::Pcm16 => fill(pending, caller, agent, n, paused, layout, |p, s| {
                p.extend_from_slice(&s.to_le_bytes())
            }),
            Encoding::Ulaw => fill(pending, caller, agent, n, paused, layout, |p, s| {
                p.push(g711::linear_to_ulaw(s))
            }),
            Encoding::Alaw => fill(pending, caller, agent, n, paused, layout, |p, s| {
                p.push(g711::linear_to_alaw(s))
            }),
        }
        self.data_len += (n * usize::from(self.block_align())) as u64;
        self.frames_since_rewrite += n as u64;
        if self.frames_since_rewrite >= self.rewrite_every {
            self.frames_since_rewrite = 0;
            self.rewrite_due = true;
        }
    }

    fn block_align(&self) -> u16 {
        self.cfg.encoding.bytes_per_sample() * self.channels
    }

    /// Length of this recording's header.
    pub fn header_len(&self) -> usize {
        self.cfg.encoding.header_len()
    }

    /// The header for `data_len` bytes of audio (sizes saturate at the 4 GiB RIFF limit);
    /// `None` gives the streaming header with maximal sizes. Only the first
    /// [`WavRecorder::header_len`] bytes are the header.
    pub fn header(&self, data_len: Option<u64>) -> [u8; MAX_HEADER_LEN] {
        let rate = self.cfg.sample_rate;
        let block_align = self.block_align();
        let bits = 8 * self.cfg.encoding.bytes_per_sample();
        let overhead = self.header_len() as u32 - 8;
        // Until the first rewrite: the largest data size in whole frames.
        let max = (u32::MAX - overhead) / u32::from(block_align) * u32::from(block_align);
        let data = data_len.map_or(max, |d| d.min(u64::from(max)) as u32);
        let mut h = [0u8; MAX_HEADER_LEN];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&(data + overhead).to_le_bytes());
        h[8..12].copy_from_slice(b"WAVE");
        h[12..16].copy_from_slice(b"fmt ");
        let (fmt_len, tag): (u32, u16) = match self.cfg.encoding {
            Encoding::Pcm16 => (16, 1),
            Encoding::Alaw => (18, 6),
            Encoding::Ulaw => (18, 7),
        };
        h[16..20].copy_from_slice(&fmt_len.to_le_bytes());
        h[20..22].copy_from_slice(&tag.to_le_bytes());
        h[22..24].copy_from_slice(&self.channels.to_le_bytes());
        h[24..28].copy_from_slice(&rate.to_le_bytes());
        h[28..32].copy_from_slice(&rate.saturating_mul(u32::from(block_align)).to_le_bytes());
        h[32..34].copy_from_slice(&block_align.to_le_bytes());
        h[34..36].copy_from_slice(&bits.to_le_bytes());
        let mut at = 36;
        if fmt_len == 18 {
            // cbSize = 0, then the fact chunk with the number of sample frames.
            h[36..38].copy_from_slice(&0u16.to_le_bytes());
            h[38..42].copy_from_slice(b"fact");
            h[42..46].copy_from_slice(&4u32.to_le_bytes());
            h[46..50].copy_from_slice(&(data / u32::from(block_align)).to_le_bytes());
            at = 50;
        }
        h[at..at + 4].copy_from_slice(b"data");
        h[at + 4..at + 8].copy_from_slice(&data.to_le_bytes());
        h
    }

    /// Write what is pending to `w` (the header first, audio appended, the header
    /// rewritten when due). Call it as often as suits the caller's I/O (e.g. once a second
    /// from a blocking writer task).
    pub fn write_to<W: Write + Seek>(&mut self, w: &mut W) -> Result<(), RecorderError> {
        if !self.header_written {
            w.seek(SeekFrom::Start(0))?;
            w.write_all(&self.header(None)[..self.header_len()])?;
            self.header_written = true;
        }
        w.seek(SeekFrom::Start(
            self.header_len() as u64 + self.data_len - self.pending.len() as u64,
        ))?;
        w.write_all(&self.pending)?;
        self.pending.clear();
        if self.rewrite_due {
            self.rewrite_due = false;
            self.write_header(w)?;
        }
        Ok(())
    }

    fn write_header<W: Write + Seek>(&self, w: &mut W) -> Result<(), RecorderError> {
        w.seek(SeekFrom::Start(0))?;
        w.write_all(&self.header(Some(self.data_len))[..self.header_len()])?;
        w.seek(SeekFrom::Start(self.header_len() as u64 + self.data_len))?;
        Ok(())
    }

    /// Write everything, fix the header with the final sizes, flush. Returns the audio
    /// byte count.
    pub fn finish<W: Write + Seek>(mut self, w: &mut W) -> Result<u64, RecorderError> {
        self.write_to(w)?;
        self.write_header(w)?;
        w.flush()?;
        Ok(self.data_len)
    }
}
