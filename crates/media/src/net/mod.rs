//! The socket side of the media engine: port allocation, batched UDP I/O, the relay
//! loop and the pacing engine. Everything else in the crate is sans-IO; this module is
//! where the daemon's media threads touch sockets and clocks.

mod batch;
mod engine;
mod pacer;
mod ports;

pub use batch::{BATCH, MAX_DATAGRAM, RecvBatch, SendBatch};
pub use engine::{EngineConfig, EngineStats, RelayEngine, RelayId};
pub use pacer::{PacedId, Pacer};
pub use ports::PortAllocator;
