//! Transaction timer values (RFC 3261 §17 and Table 4, RFC 6026 Timers L and M).

use std::fmt;
use std::time::Duration;

/// The base timer values a transaction layer runs with.
///
/// Every other timer is derived from these (RFC 3261 Table 4). Reliable transports zero the
/// retransmission timers (A, E, G) and the "wait for stray retransmissions" timers (D, I, J,
/// K): see the methods below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1: round-trip time estimate (default 500 ms).
    pub t1: Duration,
    /// T2: maximum retransmit interval for non-INVITE requests and INVITE responses
    /// (default 4 s).
    pub t2: Duration,
    /// T4: maximum duration a message remains in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, L, M, and J on unreliable transports.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer A / E / G initial interval: T1 on unreliable transports, none on reliable ones.
    pub fn first_retransmit(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then_some(self.t1)
    }

    /// Timer D: at least 32 s on unreliable transports, zero on reliable ones.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t1x64())
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64()
        }
    }
}

/// The RFC 3261 / RFC 6026 timer names, as reported in timeout events and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerName {
    /// INVITE client request retransmission.
    A,
    /// INVITE client transaction timeout.
    B,
    /// Wait time for response retransmissions (INVITE client, Completed).
    D,
    /// Non-INVITE client request retransmission.
    E,
    /// Non-INVITE client transaction timeout.
    F,
    /// INVITE server response retransmission.
    G,
    /// Wait time for ACK receipt (INVITE server, Completed).
    H,
    /// Wait time for ACK retransmissions (INVITE server, Confirmed).
    I,
    /// Wait time for request retransmissions (non-INVITE server, Completed).
    J,
    /// Wait time for response retransmissions (non-INVITE client, Completed).
    K,
    /// Wait time for INVITE retransmissions and the ACK (INVITE server, Accepted).
    L,
    /// Wait time for 2xx retransmissions (INVITE client, Accepted).
    M,
}

impl fmt::Display for TimerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timer {self:?}")
    }
}
