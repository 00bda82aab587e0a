//! RTP/RTCP, SDP offer/answer, G.711, DTMF, jitter buffer, prompts, recording, relay and mixer.
//!
//! The signal-processing parts are sans-IO cores the daemon drives once per 20 ms frame
//! with its own clock. One IVR leg's frame, from the caller's packet to the prompt sent
//! back (the RTP layer supplies the sequence number, timestamp and payload):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use switchyard_media::codec::CodecKind;
//! use switchyard_media::dtmf::inband::{DetectorConfig, DtmfDetector};
//! use switchyard_media::jitter::{JitterBuffer, JitterConfig, Playout};
//! use switchyard_media::player::{PlayOptions, Player, PlayerEvent, Prompt};
//!
//! let mut jitter: JitterBuffer<Vec<u8>> = JitterBuffer::new(JitterConfig::default());
//! let mut detector = DtmfDetector::new(DetectorConfig::default());
//! let mut player = Player::new(8000);
//! let welcome = Prompt::from_pcm("welcome", Arc::from(vec![900i16; 8000]), 8000);
//! player.play(vec![welcome.into()], PlayOptions { looped: false, barge_in: true }).unwrap();
//!
//! let t0 = Instant::now(); // the daemon's clock, passed in
//! let (mut heard, mut reply, mut wire) = ([0i16; 160], [0i16; 160], [0u8; 160]);
//! for tick in 0..60u32 {
//!     let now = t0 + Duration::from_millis(20 * u64::from(tick));
//!     // A packet arrived from the caller (µ-law silence here).
//!     jitter.push(now, 0xABCD, tick as u16, 160 * tick, vec![0xFF; 160]);
//!     // Play out one frame: decode it, or conceal a gap.
//!     match jitter.pop(now) {
//!         Playout::Frame { payload, .. } => { CodecKind::Pcmu.decode(&payload, &mut heard).unwrap(); }
//!         Playout::Conceal { .. } | Playout::Idle => heard.fill(0),
//!     }
//!     detector.feed(&heard);
//!     while let Some(digit) = detector.poll_digit() {
//!         player.handle_dtmf(digit); // barge-in
//!     }
//!     player.next_frame(&mut reply);
//!     CodecKind::Pcmu.encode(&reply, &mut wire).unwrap(); // hand `wire` to the RTP sender
//! }
//! // 1.2 s of frames played the 1 s prompt to its end.
//! assert!(matches!(player.poll_event(), Some(PlayerEvent::PlaybackDone { .. })));
//! ```

pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod mixer;
pub mod net;
pub mod player;
pub mod recorder;
pub mod relay;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod stream;
pub mod tone;
