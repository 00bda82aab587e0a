//! RTP/RTCP, SDP offer/answer, G.711, DTMF, jitter buffer, prompts, recording, relay and mixer.

pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod mixer;
pub mod player;
pub mod recorder;
pub mod tone;
