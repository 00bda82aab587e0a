//! The socket side of the media engine: port allocation, batched UDP I/O, the relay
//! loop and the pacing engine. Everything else in the crate is sans-IO; this module is
//! where the daemon's media threads touch sockets and clocks.
//!
//! A media thread's run loop (one engine per thread; call control reaches it between
//! batches):
//!
//! ```
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//! use switchyard_media::codec::CodecDescriptor;
//! use switchyard_media::net::{EngineConfig, RelayEngine};
//! use switchyard_media::relay::{Leg, LegMedia};
//! use switchyard_media::rtp::write_header;
//!
//! let mut engine = RelayEngine::new(EngineConfig {
//!     port_min: 45000,
//!     port_max: 45999,
//!     ..EngineConfig::default()
//! })?;
//! let (caller, agent) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
//! let now = Instant::now();
//! let pcmu = LegMedia::g711(CodecDescriptor::PCMU, Some(101));
//! // After offer/answer on both legs: local ports go into our SDPs, the peers' into on_sdp.
//! let (id, to_caller_side, _to_agent_side) = engine.add_relay(pcmu, pcmu, now)?;
//! let relay = engine.relay_mut(id).expect("just added");
//! relay.on_sdp(Leg::A, now, Some(caller.local_addr()?), true);
//! relay.on_sdp(Leg::B, now, Some(agent.local_addr()?), true);
//!
//! let mut pkt = [0xffu8; 172];
//! for seq in 0..5u16 {
//!     write_header(&mut pkt, false, 0, seq, 160 * u32::from(seq), 7).unwrap();
//!     caller.send_to(&pkt, to_caller_side)?;
//! }
//! while engine.stats().forwarded < 2 {
//!     engine.run_once(Some(Duration::from_millis(10)))?;
//!     for (relay, leg, event) in engine.drain_events() {
//!         println!("{relay:?} {leg:?} {event:?}"); // to call control
//!     }
//! }
//! let mut buf = [0u8; 2048];
//! let (n, _) = agent.recv_from(&mut buf)?; // the caller's audio, relayed
//! assert_eq!(n, 172);
//! # Ok::<(), std::io::Error>(())
//! ```

mod batch;
mod engine;
mod pacer;
mod ports;
mod rx;
mod xdp;

/// The readiness API the engines are built on, for a daemon that runs its own loop over
/// these sockets (its `Poll`, `Waker` and `SourceFd` must come from the same version).
pub use mio;

pub use batch::{BATCH, MAX_DATAGRAM, RecvBatch, SendBatch, Uring};
pub use engine::{EngineConfig, EngineStats, RelayEngine, RelayId};
pub use pacer::{PacedId, Pacer};
pub use ports::PortAllocator;
pub use rx::{Completion, RxRing};
pub use xdp::{FRAME_SIZE, FrameError, RxFrame, Verdict, XdpPath, XdpStats};
