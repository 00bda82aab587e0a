//! RTP packets (RFC 3550 §5): a zero-copy view for parsing, a writer for building, and
//! in-place header rewriting for the relay.
//!
//! The header is parsed by hand rather than with `rtc-rtp`: the relay needs to read and
//! rewrite four fields of a received buffer in place, which `rtc-rtp`'s owned
//! `Packet { header, payload: Bytes }` model cannot do without a copy; the measured
//! comparison is in `benches/media_rtp.rs` and docs/architecture.md.

mod seq;

pub use seq::{ReceptionStats, SequenceOutcome};

/// Size of the fixed RTP header.
pub const FIXED_HEADER_LEN: usize = 12;

/// Why a buffer is not a valid RTP packet. Positions are byte offsets into the buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The buffer ends before a field that must be there.
    #[error("RTP packet truncated at byte {at}: {need} more bytes needed")]
    Truncated {
        /// Offset where the missing field starts.
        at: usize,
        /// How many bytes are missing.
        need: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {version} at byte 0, expected 2")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The padding count is zero or larger than what follows the header.
    #[error("RTP padding of {count} bytes at byte {at} does not fit the packet")]
    BadPadding {
        /// Offset of the padding count (the last byte).
        at: usize,
        /// The padding count found.
        count: u8,
    },
    /// The output buffer is too small for the packet being written.
    #[error("output buffer of {have} bytes is too small: {need} needed")]
    BufferTooSmall {
        /// Bytes available.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// More than 15 CSRCs, or an extension that is not a whole number of 32-bit words.
    #[error("RTP header field out of range: {0}")]
    OutOfRange(&'static str),
}

/// A header extension (RFC 3550 §5.3.1): profile-defined id and the raw data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The 16-bit profile-defined value (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// The extension data, a multiple of 4 bytes.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing the buffer it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp, in the payload format's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources, as big-endian 32-bit words (`csrc_count() * 4` bytes).
    pub csrcs: &'a [u8],
    /// Header extension, if the X bit is set.
    pub extension: Option<Extension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Padding bytes after the payload (0 when the P bit is clear).
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses `buf` as an RTP packet without copying.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < FIXED_HEADER_LEN {
            return Err(RtpError::Truncated {
                at: buf.len(),
                need: FIXED_HEADER_LEN - buf.len(),
            });
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let cc = usize::from(b0 & 0x0f);
        let b1 = buf[1];
        let mut at = FIXED_HEADER_LEN;
        let csrc_end = at + cc * 4;
        if buf.len() < csrc_end {
            return Err(RtpError::Truncated {
                at: buf.len(),
                need: csrc_end - buf.len(),
            });
        }
        let csrcs = &buf[at..csrc_end];
        at = csrc_end;
        let extension = if has_extension {
            if buf.len() < at + 4 {
                return Err(RtpError::Truncated {
                    at: buf.len(),
                    need: at + 4 - buf.len(),
                });
            }
            let profile = u16::from_be_bytes([buf[at], buf[at + 1]]);
            let words = usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]]));
            let end = at + 4 + words * 4;
            if buf.len() < end {
                return Err(RtpError::Truncated {
                    at: buf.len(),
                    need: end - buf.len(),
                });
            }
            let data = &buf[at + 4..end];
            at = end;
            Some(Extension { profile, data })
        } else {
            None
        };
        let mut end = buf.len();
        let padding = if has_padding {
            let count = buf[end - 1];
            if count == 0 || usize::from(count) > end - at {
                return Err(RtpError::BadPadding { at: end - 1, count });
            }
            end -= usize::from(count);
            count
        } else {
            0
        };
        Ok(RtpPacket {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7f,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            csrcs,
            extension,
            payload: &buf[at..end],
            padding,
        })
    }

    /// Number of CSRCs.
    pub fn csrc_count(&self) -> usize {
        self.csrcs.len() / 4
    }

    /// The `i`th CSRC.
    pub fn csrc(&self, i: usize) -> Option<u32> {
        let w = self.csrcs.get(i * 4..i * 4 + 4)?;
        Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }

    /// Length of the packet once written.
    pub fn len(&self) -> usize {
        FIXED_HEADER_LEN
            + self.csrcs.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// Always false: a packet has at least its fixed header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the packet into `out` and returns its length. Padding bytes are zero
    /// except the last, which holds the count.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let need = self.len();
        if out.len() < need {
            return Err(RtpError::BufferTooSmall {
                have: out.len(),
                need,
            });
        }
        if self.csrcs.len() > 60 || !self.csrcs.len().is_multiple_of(4) {
            return Err(RtpError::OutOfRange("CSRC list"));
        }
        if let Some(e) = self.extension
            && (!e.data.len().is_multiple_of(4) || e.data.len() / 4 > usize::from(u16::MAX))
        {
            return Err(RtpError::OutOfRange("header extension length"));
        }
        let mut b0 = 0x80 | (self.csrcs.len() / 4) as u8;
        if self.padding > 0 {
            b0 |= 0x20;
        }
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        out[0] = b0;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        out[at..at + self.csrcs.len()].copy_from_slice(self.csrcs);
        at += self.csrcs.len();
        if let Some(e) = self.extension {
            out[at..at + 2].copy_from_slice(&e.profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((e.data.len() / 4) as u16).to_be_bytes());
            out[at + 4..at + 4 + e.data.len()].copy_from_slice(e.data);
            at += 4 + e.data.len();
        }
        out[at..at + self.payload.len()].copy_from_slice(self.payload);
        at += self.payload.len();
        if self.padding > 0 {
            let p = usize::from(self.padding);
            out[at..at + p - 1].fill(0);
            out[at + p - 1] = self.padding;
            at += p;
        }
        Ok(at)
    }
}

/// Writes a plain 12-byte header (no CSRC, extension or padding) into `out[..12]`.
/// Returns `None` if `out` is shorter than 12 bytes.
pub fn write_header(
    out: &mut [u8],
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) -> Option<()> {
    let h = out.get_mut(..FIXED_HEADER_LEN)?;
    h[0] = 0x80;
    h[1] = (u8::from(marker) << 7) | (payload_type & 0x7f);
    h[2..4].copy_from_slice(&sequence.to_be_bytes());
    h[4..8].copy_from_slice(&timestamp.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Some(())
}

/// The four fields the relay reads from a received packet, without walking CSRCs or
/// extensions: enough to route and rewrite it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
}

impl FixedHeader {
    /// Reads the fixed header of a version-2 packet; `None` if `buf` is not one.
    #[inline]
    pub fn read(buf: &[u8]) -> Option<Self> {
        let h: &[u8; FIXED_HEADER_LEN] = buf.get(..FIXED_HEADER_LEN)?.try_into().ok()?;
        if h[0] >> 6 != 2 {
            return None;
        }
        Some(FixedHeader {
            marker: h[1] & 0x80 != 0,
            payload_type: h[1] & 0x7f,
            sequence: u16::from_be_bytes([h[2], h[3]]),
            timestamp: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            ssrc: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        })
    }

    /// Overwrites payload type (keeping the marker bit given here), sequence, timestamp
    /// and SSRC of the packet in `buf`. `buf` must hold at least 12 bytes.
    #[inline]
    pub fn write_into(&self, buf: &mut [u8]) -> Option<()> {
        let h: &mut [u8; FIXED_HEADER_LEN] = buf.get_mut(..FIXED_HEADER_LEN)?.try_into().ok()?;
        h[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Some(())
    }
}

/// What a datagram on an RTP port is, by RFC 5761 §4 (rtcp-mux) and RFC 7983.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// An RTP packet.
    Rtp,
    /// An RTCP packet (payload type octet 192..=223 with rtcp-mux).
    Rtcp,
    /// STUN (first byte 0..=3).
    Stun,
    /// DTLS (first byte 20..=63).
    Dtls,
    /// Anything else.
    Unknown,
}

/// Classifies a datagram received on a (possibly rtcp-muxed) RTP port.
#[inline]
pub fn classify(buf: &[u8]) -> PacketKind {
    match buf.first() {
        Some(0..=3) => PacketKind::Stun,
        Some(20..=63) => PacketKind::Dtls,
        Some(128..=191) if buf.len() >= 4 => match buf[1] {
            192..=223 => PacketKind::Rtcp,
            _ if buf.len() >= FIXED_HEADER_LEN => PacketKind::Rtp,
            _ => PacketKind::Unknown,
        },
        _ => PacketKind::Unknown,
    }
}

#[cfg(test)]
mod tests;
