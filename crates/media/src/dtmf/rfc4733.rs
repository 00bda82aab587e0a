//! RFC 4733 telephone-events on payload bytes: the RTP layer passes in the payload, the
//! RTP timestamp and the marker bit, and sends what [`TelephoneEventSender`] produces.

use std::collections::VecDeque;

use super::{DtmfDigit, DtmfError};

/// One telephone-event block (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (0–15 for DTMF).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far in RTP clock ticks.
    pub duration: u16,
}

impl EventPayload {
    /// Parse the first 4-byte event block of a payload.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let b: &[u8; 4] = payload
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(DtmfError::ShortPayload { len: payload.len() })?;
        Ok(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4 wire bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// What the receiver reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A new event started (first packet seen for a new RTP timestamp).
    Begin {
        /// The digit.
        digit: DtmfDigit,
        /// The event's RTP timestamp.
        timestamp: u32,
    },
    /// The event ended: this is the digit, reported exactly once per event.
    End {
        /// The digit.
        digit: DtmfDigit,
        /// Total duration in RTP clock ticks.
        duration: u32,
        /// Power level in −dBm0.
        volume: u8,
    },
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    digit: DtmfDigit,
    /// Duration of earlier segments of a long event (RFC 4733 §2.5.1.3).
    earlier: u32,
    duration: u16,
    volume: u8,
    ended: bool,
}

/// A segment this long is near the 16-bit duration limit: the event may continue in a
/// new segment with a new timestamp (RFC 4733 §2.5.1.3).
const LONG_EVENT_SEGMENT: u16 = u16::MAX - 2 * 960;

/// Receives telephone-event packets and reports each digit once.
///
/// Rules: a new RTP timestamp is a new event (so "1 1" is two digits); the redundant end
/// packets of an event are reported once; packets older than the current event are
/// ignored; if a new event starts before the previous one's end packets arrived, the
/// previous one is ended then (its end packets were lost); a long event split into
/// segments (its duration near the 16-bit limit, then a new timestamp for the same digit)
/// stays one digit.
#[derive(Debug, Default)]
pub struct TelephoneEventReceiver {
    current: Option<Current>,
    events: VecDeque<DtmfEvent>,
}

impl TelephoneEventReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> Self {
        Self {
            current: None,
            events: VecDeque::with_capacity(4),
        }
    }

    /// Feed one telephone-event RTP payload with its RTP timestamp and marker bit.
    /// Events other than DTMF 0–15 are rejected with [`DtmfError::UnsupportedEvent`].
    pub fn handle_packet(
        &mut self,
        payload: &[u8],
        timestamp: u32,
        _marker: bool,
    ) -> Result<(), DtmfError> {
        let p = EventPayload::parse(payload)?;
        let digit = DtmfDigit::from_event(p.event).ok_or(DtmfError::UnsupportedEvent(p.event))?;
        match &mut self.current {
            Some(cur) if cur.timestamp == timestamp => {
                if cur.ended {
                    return Ok(()); // redundant end packet or late continuation
                }
                cur.duration = cur.duration.max(p.duration);
                cur.volume = p.volume;
                if p.end {
                    cur.ended = true;
                    let ev = DtmfEvent::End {
                        digit: cur.digit,
                        duration: cur.earlier + u32::from(cur.duration),
                        volume: cur.volume,
                    };
                    self.events.push_back(ev);
                }
            }
            Some(cur) if (timestamp.wrapping_sub(cur.timestamp) as i32) < 0 => {
                // A packet of an earlier event, arriving late: already handled.
            }
            Some(cur)
                if !cur.ended
                    && cur.digit == digit
                    && cur.duration >= LONG_EVENT_SEGMENT
                    && timestamp.wrapping_sub(cur.timestamp) <= u32::from(u16::MAX) + 1 =>
            {
                // The next segment of a long event: same digit, timestamp moved on by the
                // previous segment's (saturated) duration. Not a new digit.
                cur.earlier += u32::from(cur.duration);
                cur.timestamp = timestamp;
                cur.duration = p.duration;
                cur.volume = p.volume;
                if p.end {
                    cur.ended = true;
                    let ev = DtmfEvent::End {
                        digit,
                        duration: cur.earlier + u32::from(p.duration),
                        volume: p.volume,
                    };
                    self.events.push_back(ev);
                }
            }
            _ => {
                self.end_pending();
                self.current = Some(Current {
                    timestamp,
                    digit,
                    earlier: 0,
                    duration: p.duration,
                    volume: p.volume,
                    ended: p.end,
                });
                self.events.push_back(DtmfEvent::Begin { digit, timestamp });
                if p.end {
                    self.events.push_back(DtmfEvent::End {
                        digit,
                        duration: u32::from(p.duration),
                        volume: p.volume,
                    });
                }
            }
        }
        Ok(())
    }

    /// End the event in progress, if its end packets never came. Call it when the peer's
    /// audio resumes past the event or when the stream goes quiet; a later packet with the
    /// same timestamp is then ignored.
    pub fn end_pending(&mut self) {
        if let Some(cur) = &mut self.current
            && !cur.ended
        {
            cur.ended = true;
            self.events.push_back(DtmfEvent::End {
                digit: cur.digit,
                duration: cur.earlier + u32::from(cur.duration),
                volume: cur.volume,
            });
        }
    }

    /// Whether an event is in progress (begun, not ended).
    pub fn in_progress(&self) -> bool {
        self.current.is_some_and(|c| !c.ended)
    }

    /// Next event to report.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }
}

/// One packet for the RTP layer to send with the telephone-event payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// Payload bytes.
    pub payload: [u8; 4],
    /// RTP timestamp: the event's start, held for all its packets.
    pub timestamp: u32,
    /// RTP marker bit: set on the first packet of the event.
    pub marker: bool,
    /// Whether this is one of the end packets.
    pub end: bool,
}

/// Generates the packets of one event: a start packet (marker set), a continuation every
/// ptime with the growing duration, then three end packets with the final duration; the
/// timestamp stays at the event's start. Call [`TelephoneEventSender::next_packet`] once per
/// ptime tick.
#[derive(Debug, Clone)]
pub struct TelephoneEventSender {
    ptime_ticks: u32,
    volume: u8,
    state: Option<SendState>,
}

#[derive(Debug, Clone, Copy)]
struct SendState {
    digit: DtmfDigit,
    timestamp: u32,
    target: u32,
    sent_duration: u32,
    ends_left: u8,
    started: bool,
}

/// End packets sent per event (RFC 4733 §2.5.1.4 recommends three).
pub const END_PACKETS: u8 = 3;

impl TelephoneEventSender {
    /// A sender producing one packet per `ptime_ticks` RTP clock ticks, at `volume` −dBm0.
    pub fn new(ptime_ticks: u32, volume: u8) -> Self {
        Self {
            ptime_ticks: ptime_ticks.max(1),
            volume: volume.min(63),
            state: None,
        }
    }

    /// Start sending `digit` at RTP `timestamp` for `duration` ticks (capped at the 16-bit
    /// field). A digit still being sent is cut short and replaced.
    pub fn start(&mut self, digit: DtmfDigit, timestamp: u32, duration: u32) {
        self.state = Some(SendState {
            digit,
            timestamp,
            target: duration.clamp(self.ptime_ticks, u32::from(u16::MAX)),
            sent_duration: 0,
            ends_left: END_PACKETS,
            started: false,
        });
    }

    /// Whether packets remain to be sent.
    pub fn is_active(&self) -> bool {
        self.state.is_some()
    }

    /// The next packet, or `None` once the three end packets are out.
    pub fn next_packet(&mut self) -> Option<EventPacket> {
        let st = self.state.as_mut()?;
        let marker = !st.started;
        st.started = true;
        let end = st.sent_duration >= st.target;
        if end {
            if st.ends_left == 0 {
                self.state = None;
                return None;
            }
            st.ends_left -= 1;
        } else {
            st.sent_duration = (st.sent_duration + self.ptime_ticks).min(st.target);
            // The packet that reaches the target duration is the first end packet.
            if st.sent_duration >= st.target {
                st.ends_left -= 1;
            }
        }
        let is_end = st.sent_duration >= st.target;
        let pkt = EventPacket {
            payload: EventPayload {
                event: st.digit.event(),
                end: is_end,
                volume: self.volume,
                duration: st.sent_duration as u16,
            }
            .to_bytes(),
            timestamp: st.timestamp,
            marker,
            end: is_end,
        };
        if is_end && st.ends_left == 0 {
            self.state = None;
        }
        Some(pkt)
    }
}

/// Maps payload types between two legs (e.g. telephone-event 101 on one, 96 on the other).
#[derive(Debug, Clone)]
pub struct PayloadTypeMap {
    a_to_b: [Option<u8>; 128],
    b_to_a: [Option<u8>; 128],
}

impl PayloadTypeMap {
    /// A map from (leg A type, leg B type) pairs; types above 127 are ignored.
    pub fn new(pairs: &[(u8, u8)]) -> Self {
        let mut m = Self {
            a_to_b: [None; 128],
            b_to_a: [None; 128],
        };
        for &(a, b) in pairs {
            if a < 128 && b < 128 {
                m.a_to_b[a as usize] = Some(b);
                m.b_to_a[b as usize] = Some(a);
            }
        }
        m
    }

    /// The leg B payload type for a leg A one (`None`: not negotiated on B, drop).
    pub fn a_to_b(&self, pt: u8) -> Option<u8> {
        self.a_to_b.get(pt as usize).copied().flatten()
    }

    /// The leg A payload type for a leg B one.
    pub fn b_to_a(&self, pt: u8) -> Option<u8> {
        self.b_to_a.get(pt as usize).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 1600,
        };
        assert_eq!(p.to_bytes(), [11, 0x8A, 0x06, 0x40]);
        assert_eq!(EventPayload::parse(&p.to_bytes()).unwrap(), p);
        assert_eq!(
            EventPayload::parse(&[1, 2]),
            Err(DtmfError::ShortPayload { len: 2 })
        );
    }

    #[test]
    fn pt_map() {
        let m = PayloadTypeMap::new(&[(0, 8), (101, 96)]);
        assert_eq!(m.a_to_b(101), Some(96));
        assert_eq!(m.b_to_a(96), Some(101));
        assert_eq!(m.a_to_b(96), None);
        assert_eq!(m.a_to_b(200), None);
    }
}
