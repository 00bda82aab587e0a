//! Prompts and music on hold: files decoded once into shared mono PCM at the stream rate,
//! and a per-call sans-IO player that pulls frames from a playlist.
//!
//! ```
//! use std::sync::Arc;
//! use switchyard_media::player::{Player, PlayOptions, PlayerEvent, Prompt, DoneReason};
//!
//! // A prompt is normally loaded with `PromptCache::load`; here, 50 ms of PCM.
//! let prompt = Prompt::from_pcm("beep", Arc::from(vec![1000i16; 400]), 8000);
//! let mut player = Player::new(8000);
//! let id = player.play(vec![prompt.into()], PlayOptions::default()).unwrap();
//! let mut frame = [0i16; 160];
//! while player.next_frame(&mut frame) {}
//! assert_eq!(player.poll_event(), Some(PlayerEvent::PlaybackDone { id, reason: DoneReason::Finished }));
//! ```

pub mod decode;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::dtmf::DtmfDigit;

/// Errors loading a prompt; each names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// The file could not be read.
    #[error("cannot open prompt {file}: {reason}")]
    Open {
        /// The file.
        file: Arc<str>,
        /// The OS error.
        reason: String,
    },
    /// The file is not audio symphonia can decode.
    #[error("cannot decode prompt {file}: {reason}")]
    Decode {
        /// The file.
        file: Arc<str>,
        /// The decoder's error.
        reason: String,
    },
    /// The file has no audio track.
    #[error("prompt {file} has no audio track")]
    NoAudioTrack {
        /// The file.
        file: Arc<str>,
    },
    /// Resampling failed.
    #[error("cannot resample prompt {file}: {reason}")]
    Resample {
        /// The file.
        file: Arc<str>,
        /// The resampler's error.
        reason: String,
    },
    /// The file decoded to no samples.
    #[error("prompt {file} contains no audio")]
    Empty {
        /// The file.
        file: Arc<str>,
    },
    /// A prompt at another sample rate than the player's.
    #[error("prompt {file} is at {prompt_rate} Hz, the stream at {stream_rate} Hz")]
    RateMismatch {
        /// The file.
        file: Arc<str>,
        /// The prompt's rate.
        prompt_rate: u32,
        /// The player's rate.
        stream_rate: u32,
    },
}

/// Decoded mono PCM at one sample rate, shared by every call that plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    name: Arc<str>,
    samples: Arc<[i16]>,
    sample_rate: u32,
}

impl Prompt {
    /// A prompt from PCM already at `sample_rate`.
    pub fn from_pcm(name: &str, samples: Arc<[i16]>, sample_rate: u32) -> Self {
        Self {
            name: name.into(),
            samples,
            sample_rate,
        }
    }

    /// Its name (the file path when loaded from a file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The samples.
    pub fn samples(&self) -> &Arc<[i16]> {
        &self.samples
    }

    /// Sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Playing time.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.sample_rate.max(1)))
    }
}

/// Decodes each file once per sample rate and hands out shared copies.
///
/// Load every prompt a dialplan names when the dialplan is loaded: a missing or
/// undecodable file is then an error naming the file before any call is taken.
#[derive(Debug, Default)]
pub struct PromptCache {
    prompts: HashMap<(PathBuf, u32), Prompt>,
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The prompt for `path` at `rate`, decoding it on first use.
    pub fn load(&mut self, path: impl AsRef<Path>, rate: u32) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let key = (path.to_path_buf(), rate);
        if let Some(p) = self.prompts.get(&key) {
            return Ok(p.clone());
        }
        let p = decode::load_file(path, rate)?;
        self.prompts.insert(key, p.clone());
        Ok(p)
    }

    /// A prompt already loaded (never touches the disk).
    pub fn get(&self, path: impl AsRef<Path>, rate: u32) -> Option<Prompt> {
        self.prompts
            .get(&(path.as_ref().to_path_buf(), rate))
            .cloned()
    }

    /// Prompts held.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

/// One entry of a playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistItem {
    /// A prompt.
    Prompt(Prompt),
    /// Silence of this many samples (at the player's rate).
    Silence(usize),
}

impl From<Prompt> for PlaylistItem {
    fn from(p: Prompt) -> Self {
        Self::Prompt(p)
    }
}

/// How to play a playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlayOptions {
    /// Repeat the playlist until stopped (music on hold).
    pub looped: bool,
    /// A DTMF digit stops playback (barge-in).
    pub barge_in: bool,
}

/// Identifies one `play` request in its [`PlayerEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaybackId(pub u64);

/// Why a playback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneReason {
    /// The playlist played to its end.
    Finished,
    /// [`Player::stop`] or a new `play` replaced it.
    Stopped,
    /// The caller pressed a key.
    BargeIn(DtmfDigit),
}

/// Events for call control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerEvent {
    /// A playback ended.
    PlaybackDone {
        /// Which.
        id: PlaybackId,
        /// Why.
        reason: DoneReason,
    },
}

#[derive(Debug)]
struct Playback {
    id: PlaybackId,
    items: Vec<PlaylistItem>,
    opts: PlayOptions,
    index: usize,
    offset: usize,
}

/// A per-call player: sans-IO, pulls one frame at a time, never allocates per frame.
#[derive(Debug)]
pub struct Player {
    sample_rate: u32,
    current: Option<Playback>,
    next_id: u64,
    events: VecDeque<PlayerEvent>,
}

impl Player {
    /// A player for a stream at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        Self {
            sample_rate,
            current: None,
            next_id: 0,
            events: VecDeque::with_capacity(4),
        }
    }

    /// Start a playlist, replacing (and reporting as stopped) any playback in progress.
    /// Fails if a prompt is at another sample rate than the player's.
    pub fn play(
        &mut self,
        items: Vec<PlaylistItem>,
        opts: PlayOptions,
    ) -> Result<PlaybackId, PromptError> {
        for item in &items {
            if let PlaylistItem::Prompt(p) = item
                && p.sample_rate != self.sample_rate
            {
                return Err(PromptError::RateMismatch {
                    file: p.name.clone(),
                    prompt_rate: p.sample_rate,
                    stream_rate: self.sample_rate,
                });
            }
        }
        self.finish(DoneReason::Stopped);
        let id = PlaybackId(self.next_id);
        self.next_id += 1;
        self.current = Some(Playback {
            id,
            items,
            opts,
            index: 0,
            offset: 0,
        });
        Ok(id)
    }

    /// Whether something is playing.
    pub fn is_playing(&self) -> bool {
        self.current.is_some()
    }

    /// Stop playback (reports `Stopped`).
    pub fn stop(&mut self) {
        self.finish(DoneReason::Stopped);
    }

    /// A digit arrived from the caller: stops a barge-in playback. Returns whether it did.
    pub fn handle_dtmf(&mut self, digit: DtmfDigit) -> bool {
        if self.current.as_ref().is_some_and(|p| p.opts.barge_in) {
            self.finish(DoneReason::BargeIn(digit));
            true
        } else {
            false
        }
    }

    fn finish(&mut self, reason: DoneReason) {
        if let Some(p) = self.current.take() {
            self.events
                .push_back(PlayerEvent::PlaybackDone { id: p.id, reason });
        }
    }

    /// Fill `out` with the next frame. Returns `false` (and fills silence) when nothing is
    /// playing. A playlist that ends inside the frame is padded with silence and reported
    /// as finished.
    pub fn next_frame(&mut self, out: &mut [i16]) -> bool {
        let Some(pb) = self.current.as_mut() else {
            out.fill(0);
            return false;
        };
        let mut written = 0;
        let mut empty_pass = 0;
        while written < out.len() {
            if pb.index >= pb.items.len() {
                if pb.opts.looped && empty_pass == 0 {
                    pb.index = 0;
                    pb.offset = 0;
                    empty_pass = 1; // an all-empty looped playlist must not spin
                    continue;
                }
                out[written..].fill(0);
                self.finish(DoneReason::Finished);
                return true;
            }
            let item_len = match &pb.items[pb.index] {
                PlaylistItem::Prompt(p) => p.samples.len(),
                PlaylistItem::Silence(n) => *n,
            };
            let n = (item_len - pb.offset.min(item_len)).min(out.len() - written);
            match &pb.items[pb.index] {
                PlaylistItem::Prompt(p) => {
                    out[written..written + n].copy_from_slice(&p.samples[pb.offset..pb.offset + n]);
                }
                PlaylistItem::Silence(_) => out[written..written + n].fill(0),
            }
            if n > 0 {
                empty_pass = 0;
            }
            written += n;
            pb.offset += n;
            if pb.offset >= item_len {
                pb.index += 1;
                pb.offset = 0;
            }
        }
        true
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<PlayerEvent> {
        self.events.pop_front()
    }
}
