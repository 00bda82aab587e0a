//! A recording in progress: the leg's received audio (left) and its bridged peer's
//! (right), collected between ticks and handed to the sans-IO `WavRecorder` once per
//! 20 ms tick, then written to the file every 200 ms.
//!
//! Why a tick and not the packets' arrival: the two sides arrive independently, and
//! either may stop sending for a while (hold, one-way audio, a phone that suppresses
//! silence) while the file must go on in real time, with the two channels of a stereo
//! file in step. Only a clock can say that a side's frame is missing and must be
//! silence, so a recorded leg stays paced; the tick's work per recording is copying two
//! frames, and the ticks fall in wake-ups the packets cause anyway.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use switchyard_media::recorder::{Layout, RecorderConfig, WavRecorder};

use super::{RecordMode, SAMPLE_RATE};

/// Samples per 20 ms tick.
pub(super) const FRAME: usize = SAMPLE_RATE as usize / 50;
/// Audio held per side between ticks: three frames absorb the network's jitter; older
/// samples are dropped when a side runs ahead.
const HELD: usize = 3 * FRAME;
/// Ticks between two writes to the file.
const WRITE_EVERY: u32 = 10;

/// One side's audio since the last tick.
#[derive(Debug)]
pub(super) struct Side {
    samples: [i16; HELD],
    len: usize,
}

impl Side {
    fn new() -> Self {
        Side {
            samples: [0; HELD],
            len: 0,
        }
    }

    /// Appends decoded audio (dropping the oldest if more than `HELD` is waiting).
    pub(super) fn push(&mut self, pcm: &[i16]) {
        let pcm = &pcm[pcm.len().saturating_sub(HELD)..];
        let over = (self.len + pcm.len()).saturating_sub(HELD);
        if over > 0 {
            self.samples.copy_within(over..self.len, 0);
            self.len -= over;
        }
        self.samples[self.len..self.len + pcm.len()].copy_from_slice(pcm);
        self.len += pcm.len();
    }

    /// Takes one frame (silence-padded) into `out`.
    fn take(&mut self, out: &mut [i16; FRAME]) {
        let n = self.len.min(FRAME);
        out[..n].copy_from_slice(&self.samples[..n]);
        out[n..].fill(0);
        self.samples.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// A recording in progress.
#[derive(Debug)]
pub(super) struct Recording {
    pub(super) path: PathBuf,
    pub(super) mode: RecordMode,
    max: Option<Duration>,
    file: BufWriter<File>,
    recorder: WavRecorder,
    /// What the leg's peer sent (the caller, for a call).
    pub(super) left: Side,
    /// What the bridged peer's peer sent (the agent).
    pub(super) right: Side,
    ticks: u32,
    failed: bool,
}

impl Recording {
    /// Creates the file.
    pub(super) fn create(
        path: PathBuf,
        mode: RecordMode,
        max: Option<Duration>,
    ) -> std::io::Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::create(&path)?;
        let layout = match mode {
            RecordMode::Leg => Layout::CallerOnly,
            RecordMode::Stereo => Layout::Stereo,
            RecordMode::Mixed => Layout::MonoMix,
        };
        Ok(Recording {
            path,
            mode,
            max,
            // Holds one write's worth (200 ms of stereo PCM is 6.4 KB).
            file: BufWriter::with_capacity(8 * 1024, file),
            recorder: WavRecorder::new(RecorderConfig {
                sample_rate: SAMPLE_RATE,
                layout,
                ..RecorderConfig::default()
            }),
            left: Side::new(),
            right: Side::new(),
            ticks: 0,
            failed: false,
        })
    }

    /// One 20 ms tick: records a frame of each side. Returns `true` when the maximum
    /// length is reached (the caller then finishes the recording).
    pub(super) fn tick(&mut self) -> bool {
        let (mut l, mut r) = ([0i16; FRAME], [0i16; FRAME]);
        self.left.take(&mut l);
        self.right.take(&mut r);
        self.recorder.push(&l, &r);
        self.ticks += 1;
        if self.ticks.is_multiple_of(WRITE_EVERY)
            && !self.failed
            && let Err(e) = self.recorder.write_to(&mut self.file)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "recording write failed");
            self.failed = true;
        }
        self.max.is_some_and(|m| self.recorder.duration() >= m)
    }

    /// Writes what is left and fixes the header; returns the path and the length.
    pub(super) fn finish(mut self) -> (PathBuf, Duration) {
        let duration = self.recorder.duration();
        if !self.failed
            && let Err(e) = self.recorder.finish(&mut self.file)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "recording not finished");
        }
        (self.path, duration)
    }
}
