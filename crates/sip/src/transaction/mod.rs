//! The transaction layer (RFC 3261 §17, updated by RFC 6026), sans-IO.
//!
//! A [`TransactionLayer`] owns every client and server transaction, keyed by [`TsxKey`].
//! It never reads a clock or touches a socket: the caller feeds it received messages and
//! the current time, and drains what it wants sent and what the transaction user (TU) must
//! hear about.
//!
//! Inputs: [`TransactionLayer::handle_receive`], [`TransactionLayer::handle_timeout`],
//! [`TransactionLayer::handle_transport_error`], and the TU's
//! [`send_request`](TransactionLayer::send_request),
//! [`send_response`](TransactionLayer::send_response), [`cancel`](TransactionLayer::cancel),
//! [`send_ack`](TransactionLayer::send_ack).
//! Outputs, polled after every input until they return `None`:
//! [`poll_transmit`](TransactionLayer::poll_transmit) (datagrams / stream writes),
//! [`poll_event`](TransactionLayer::poll_event) (for the TU), then
//! [`poll_timeout`](TransactionLayer::poll_timeout) (when to call `handle_timeout` next).
//!
//! Two deliberate additions to the RFC's split of work, both so that every TU does not have
//! to repeat them:
//! - an INVITE server transaction in Accepted retransmits the TU's 2xx (T1 doubling to T2,
//!   the UAS core's duty in RFC 3261 §13.3.1.4) until the ACK arrives, which it matches by
//!   Call-ID, CSeq and From tag; if Timer L fires first, the TU gets a
//!   [`TsxEvent::Timeout`] with [`TimerName::L`] (RFC 3261 says: end the session);
//! - an INVITE client transaction in Accepted remembers the ACK the TU sent for each 2xx
//!   ([`send_ack`](TransactionLayer::send_ack)) and re-sends it when that 2xx is
//!   retransmitted, so the TU hears about each 2xx once.

mod build;
mod client;
mod key;
mod layer;
mod server;
mod timers;

use std::net::SocketAddr;

use bytes::Bytes;

pub use key::{Branch, KeyError, MAGIC_COOKIE, TsxKey};
pub use layer::{TransactionConfig, TransactionLayer};
pub use timers::{TimerConfig, TimerName};

use crate::{Request, Response};

/// The transport a message arrived on or leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Transport {
    /// Reliable transports need no retransmissions and no lingering (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token used in a Via header field.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it (for a response: the source of the request, RFC 3581 style).
    pub destination: SocketAddr,
    pub transport: Transport,
    /// The whole message as bytes.
    pub payload: Bytes,
    /// The transaction it belongs to, to report a failure with
    /// [`TransactionLayer::handle_transport_error`]; `None` for stateless sends.
    pub tsx: Option<TsxKey>,
}

/// What the transaction layer tells the TU.
#[derive(Debug, Clone, PartialEq)]
pub enum TsxEvent {
    /// A new request (never an ACK, never a retransmission): a server transaction exists
    /// under `key`; answer it with [`TransactionLayer::send_response`].
    Request {
        key: TsxKey,
        request: Request,
        remote: SocketAddr,
        transport: Transport,
    },
    /// A CANCEL matched the INVITE server transaction `invite`, which has not sent a final
    /// response yet. The layer has already answered the CANCEL with 200; the TU should
    /// answer the INVITE (487 Request Terminated).
    Cancelled { invite: TsxKey, cancel: Request },
    /// An ACK for a 2xx. `invite` is the INVITE server transaction whose 2xx it
    /// acknowledges, when that transaction is still in Accepted; `None` when it matched no
    /// transaction (the dialog layer decides).
    Ack {
        invite: Option<TsxKey>,
        request: Request,
        remote: SocketAddr,
        transport: Transport,
    },
    /// A response to the client transaction `key`. Retransmissions are absorbed: each
    /// final response is reported once (each 2xx once per To tag, so forked answers each
    /// arrive), and a provisional response is not repeated back to back.
    Response { key: TsxKey, response: Response },
    /// A timer fired that the TU must know about: B or F (no final response to our
    /// request), H (no ACK for our non-2xx final response), L (no ACK for our 2xx).
    Timeout { key: TsxKey, timer: TimerName },
    /// The transport reported a failure sending for this transaction; it is terminated.
    TransportError { key: TsxKey },
}

/// A TU call the layer refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsxError {
    /// The message cannot be keyed (no Via, no CSeq, ...).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// `send_request` with a top Via branch lacking the magic cookie.
    #[error("request's top Via has no RFC 3261 branch")]
    NoBranch,
    /// `send_request` for a key already in use.
    #[error("a transaction with this key already exists")]
    Exists,
    /// No live transaction under that key (it may have terminated).
    #[error("no such transaction")]
    NoTransaction,
    /// An ACK is not sent through `send_request`; use `send_ack`.
    #[error("ACK is not a transaction request; use send_ack")]
    AckRequest,
    /// The transaction's state does not allow this (e.g. a second final response, a 1xx
    /// after the final one, a CANCEL after the final response).
    #[error("not allowed in the transaction's current state")]
    InvalidState,
    /// The status code is not 100..=699.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
}

/// Outputs queued by transactions, drained by the poll methods.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub(crate) transmits: std::collections::VecDeque<Transmit>,
    pub(crate) events: std::collections::VecDeque<TsxEvent>,
}

/// Whether a transaction lives on after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Live,
    Terminated,
}

/// A retransmission timer (A, E, G, or the 2xx retransmission): when it fires next and the
/// interval after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmit {
    pub(crate) at: std::time::Instant,
    pub(crate) interval: std::time::Duration,
}

impl Retransmit {
    pub(crate) fn start(
        now: std::time::Instant,
        first: Option<std::time::Duration>,
    ) -> Option<Retransmit> {
        first.map(|interval| Retransmit {
            at: now + interval,
            interval,
        })
    }

    /// The next firing after this one: the interval doubles, up to `cap` when given.
    pub(crate) fn next(self, cap: Option<std::time::Duration>) -> Retransmit {
        let doubled = self.interval * 2;
        let interval = cap.map_or(doubled, |c| doubled.min(c));
        Retransmit {
            at: self.at + interval,
            interval,
        }
    }
}

fn earliest(
    a: Option<std::time::Instant>,
    b: Option<std::time::Instant>,
) -> Option<std::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
