//! Call recording to 16-bit PCM WAV: one leg, both legs mixed to mono, or stereo with the
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
//! The 44-byte header is written by hand rather than with `hound`, whose writer owns the
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

/// Recorder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Sample rate of the frames pushed (and of the file).
    pub sample_rate: u32,
    /// Channel layout.
    pub layout: Layout,
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
            pause_mode: PauseMode::Silence,
            header_interval: Duration::from_secs(5),
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

/// Size of the canonical PCM WAV header.
pub const HEADER_LEN: usize = 44;

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
        let frames = self.data_len / (2 * u64::from(self.channels));
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
        let at = |s: &[i16], i: usize| {
            if self.paused {
                0
            } else {
                s.get(i).copied().unwrap_or(0)
            }
        };
        for i in 0..n {
            let (c, a) = (at(caller, i), at(agent, i));
            match self.cfg.layout {
                Layout::MonoMix => self
                    .pending
                    .extend_from_slice(&c.saturating_add(a).to_le_bytes()),
                Layout::Stereo => {
                    self.pending.extend_from_slice(&c.to_le_bytes());
                    self.pending.extend_from_slice(&a.to_le_bytes());
                }
                Layout::CallerOnly => self.pending.extend_from_slice(&c.to_le_bytes()),
                Layout::AgentOnly => self.pending.extend_from_slice(&a.to_le_bytes()),
            }
        }
        self.data_len += (n * 2 * usize::from(self.channels)) as u64;
        self.frames_since_rewrite += n as u64;
        if self.frames_since_rewrite >= self.rewrite_every {
            self.frames_since_rewrite = 0;
            self.rewrite_due = true;
        }
    }

    /// The header for `data_len` bytes of audio (sizes saturate at the 4 GiB RIFF limit);
    /// `None` gives the streaming header with maximal sizes.
    pub fn header(&self, data_len: Option<u64>) -> [u8; HEADER_LEN] {
        let rate = self.cfg.sample_rate;
        let block_align = 2 * self.channels;
        // Until the first rewrite: the largest data size in whole frames.
        let max = (u32::MAX - 36) / u32::from(block_align) * u32::from(block_align);
        let data = data_len.map_or(max, |d| d.min(u64::from(max)) as u32);
        let riff = data + 36;
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&riff.to_le_bytes());
        h[8..12].copy_from_slice(b"WAVE");
        h[12..16].copy_from_slice(b"fmt ");
        h[16..20].copy_from_slice(&16u32.to_le_bytes());
        h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
        h[22..24].copy_from_slice(&self.channels.to_le_bytes());
        h[24..28].copy_from_slice(&rate.to_le_bytes());
        h[28..32].copy_from_slice(&rate.saturating_mul(u32::from(block_align)).to_le_bytes());
        h[32..34].copy_from_slice(&block_align.to_le_bytes());
        h[34..36].copy_from_slice(&16u16.to_le_bytes());
        h[36..40].copy_from_slice(b"data");
        h[40..44].copy_from_slice(&data.to_le_bytes());
        h
    }

    /// Write what is pending to `w` (the header first, audio appended, the header
    /// rewritten when due). Call it as often as suits the caller's I/O (e.g. once a second
    /// from a blocking writer task).
    pub fn write_to<W: Write + Seek>(&mut self, w: &mut W) -> Result<(), RecorderError> {
        if !self.header_written {
            w.seek(SeekFrom::Start(0))?;
            w.write_all(&self.header(None))?;
            self.header_written = true;
        }
        w.seek(SeekFrom::Start(
            HEADER_LEN as u64 + self.data_len - self.pending.len() as u64,
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
        w.write_all(&self.header(Some(self.data_len)))?;
        w.seek(SeekFrom::Start(HEADER_LEN as u64 + self.data_len))?;
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
