//! Transport-level types shared by the registrar, the UAS and the daemon's sockets, and the
//! sans-IO half of stream transports (TCP framing, keep-alives).
//!
//! The sockets themselves live in the daemon (`switchyard run`): this module never opens
//! one. It describes where a message came from ([`Source`]) so that answers and later
//! requests can be sent back the same way (RFC 3261 §18.2.2 with RFC 3581 `rport`, forced
//! for every request because phones sit behind NAT).

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

mod stream;

pub use stream::{StreamFramer, StreamItem};

/// The transport protocol a message travelled over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transport {
    /// UDP (RFC 3261 §18).
    Udp,
    /// TCP (RFC 3261 §18), messages framed by Content-Length.
    Tcp,
}

impl Transport {
    /// The token used in a Via's sent-protocol (`SIP/2.0/UDP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// Whether this is a stream (connection-oriented) transport.
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one stream connection for as long as it is open. Assigned by whoever owns the
/// sockets; never reused within one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Where a message came from: its transport, the peer's address as seen on the socket (the
/// NAT's public side), the local address it arrived on, and the connection for streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    pub transport: Transport,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// The stream connection it arrived on (`None` for datagrams).
    pub conn: Option<ConnId>,
}

impl Source {
    /// A datagram source.
    pub fn udp(remote: SocketAddr, local: SocketAddr) -> Source {
        Source {
            transport: Transport::Udp,
            remote,
            local,
            conn: None,
        }
    }

    /// A stream source on connection `conn`.
    pub fn tcp(remote: SocketAddr, local: SocketAddr, conn: ConnId) -> Source {
        Source {
            transport: Transport::Tcp,
            remote,
            local,
            conn: Some(conn),
        }
    }
}
