//! RTP/RTCP, SDP offer/answer, G.711, DTMF, jitter buffer, prompts, recording, relay and mixer.

pub mod codec;
pub mod dtmf;
pub mod net;
pub mod relay;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod stream;
