//! RTCP (RFC 3550 §6): sender and receiver reports with report blocks, SDES (CNAME),
//! BYE, and compound packets. Unknown packet types (RTPFB, PSFB, XR, APP) are kept as
//! raw bodies so a compound packet survives a parse/print round trip.

use std::time::Duration;

#[cfg(test)]
mod tests;

/// RTCP packet types.
pub mod packet_type {
    /// Sender report.
    pub const SR: u8 = 200;
    /// Receiver report.
    pub const RR: u8 = 201;
    /// Source description.
    pub const SDES: u8 = 202;
    /// Goodbye.
    pub const BYE: u8 = 203;
    /// Application-defined.
    pub const APP: u8 = 204;
}

/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;

/// Why a buffer is not a valid (compound) RTCP packet. Positions are byte offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// The buffer ends inside a packet.
    #[error("RTCP truncated at byte {at}: {need} more bytes needed")]
    Truncated {
        /// Offset where data is missing.
        at: usize,
        /// Bytes missing.
        need: usize,
    },
    /// A packet header does not have version 2.
    #[error("RTCP version {version} at byte {at}, expected 2")]
    BadVersion {
        /// Offset of the packet header.
        at: usize,
        /// The version found.
        version: u8,
    },
    /// A packet's body does not match its type (report count, SDES chunk, padding).
    #[error("malformed RTCP {what} at byte {at}")]
    Malformed {
        /// Offset of the bad field.
        at: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// An empty datagram.
    #[error("empty RTCP datagram")]
    Empty,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp.
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// The sender-info part of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP wall-clock timestamp (64-bit fixed point).
    pub ntp: u64,
    /// The RTP timestamp matching `ntp`.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
}

/// An SDES item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesItem {
    /// Item type (1 = CNAME).
    pub kind: u8,
    /// Item value (at most 255 bytes).
    pub value: Vec<u8>,
}

/// An SDES chunk: the items of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    /// The source described.
    pub ssrc: u32,
    /// Its items.
    pub items: Vec<SdesItem>,
}

impl SdesChunk {
    /// A chunk with only a CNAME.
    pub fn cname(ssrc: u32, cname: &str) -> Self {
        SdesChunk {
            ssrc,
            items: vec![SdesItem {
                kind: SDES_CNAME,
                value: cname.as_bytes().to_vec(),
            }],
        }
    }
}

/// One RTCP packet of a compound datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// SR.
    SenderReport {
        /// Sender SSRC.
        ssrc: u32,
        /// Sender info.
        info: SenderInfo,
        /// Reception report blocks (at most 31).
        reports: Vec<ReportBlock>,
    },
    /// RR.
    ReceiverReport {
        /// Reporter SSRC.
        ssrc: u32,
        /// Reception report blocks (at most 31).
        reports: Vec<ReportBlock>,
    },
    /// SDES.
    SourceDescription(Vec<SdesChunk>),
    /// BYE.
    Goodbye {
        /// Sources leaving.
        ssrcs: Vec<u32>,
        /// Optional reason.
        reason: Option<Vec<u8>>,
    },
    /// Any other packet type, body kept raw (without padding).
    Other {
        /// Packet type.
        packet_type: u8,
        /// The 5-bit count/format field.
        count: u8,
        /// Body after the 4-byte header.
        body: Vec<u8>,
    },
}

/// Converts a time since the Unix epoch (the caller reads the wall clock) to a 64-bit
/// NTP timestamp.
pub fn ntp_timestamp(since_unix_epoch: Duration) -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let secs = since_unix_epoch.as_secs().wrapping_add(UNIX_TO_NTP);
    let frac = (u64::from(since_unix_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_block(b: &[u8], at: usize) -> ReportBlock {
    let lost = u32::from_be_bytes([0, b[at + 5], b[at + 6], b[at + 7]]);
    // Sign-extend the 24-bit field.
    let cumulative_lost = ((lost << 8) as i32) >> 8;
    ReportBlock {
        ssrc: be32(b, at),
        fraction_lost: b[at + 4],
        cumulative_lost,
        extended_highest_seq: be32(b, at + 8),
        jitter: be32(b, at + 12),
        last_sr: be32(b, at + 16),
        delay_since_last_sr: be32(b, at + 20),
    }
}

fn parse_blocks(
    body: &[u8],
    from: usize,
    count: u8,
    base: usize,
) -> Result<Vec<ReportBlock>, RtcpError> {
    let need = from + usize::from(count) * 24;
    if body.len() < need {
        return Err(RtcpError::Malformed {
            at: base + body.len(),
            what: "report block count",
        });
    }
    Ok((0..usize::from(count))
        .map(|i| parse_block(body, from + i * 24))
        .collect())
}

/// Parses a compound RTCP datagram into its packets.
pub fn parse_compound(buf: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    if buf.is_empty() {
        return Err(RtcpError::Empty);
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        if buf.len() - at < 4 {
            return Err(RtcpError::Truncated {
                at: buf.len(),
                need: at + 4 - buf.len(),
            });
        }
        let b0 = buf[at];
        if b0 >> 6 != 2 {
            return Err(RtcpError::BadVersion {
                at,
                version: b0 >> 6,
            });
        }
        let count = b0 & 0x1f;
        let pt = buf[at + 1];
        let len = (usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]])) + 1) * 4;
        if buf.len() - at < len {
            return Err(RtcpError::Truncated {
                at: buf.len(),
                need: at + len - buf.len(),
            });
        }
        let mut body = &buf[at + 4..at + len];
        if b0 & 0x20 != 0 {
            let p = body.last().copied().unwrap_or(0);
            if p == 0 || usize::from(p) > body.len() {
                return Err(RtcpError::Malformed {
                    at: at + len - 1,
                    what: "padding",
                });
            }
            body = &body[..body.len() - usize::from(p)];
        }
        out.push(parse_one(pt, count, body, at + 4)?);
        at += len;
    }
    Ok(out)
}

fn parse_one(pt: u8, count: u8, body: &[u8], base: usize) -> Result<RtcpPacket, RtcpError> {
    let short = |need: usize, what| {
        if body.len() < need {
            Err(RtcpError::Malformed {
                at: base + body.len(),
                what,
            })
        } else {
            Ok(())
        }
    };
    Ok(match pt {
        packet_type::SR => {
            short(24, "sender info")?;
            RtcpPacket::SenderReport {
                ssrc: be32(body, 0),
                info: SenderInfo {
                    ntp: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
                    rtp_timestamp: be32(body, 12),
                    packet_count: be32(body, 16),
                    octet_count: be32(body, 20),
                },
                reports: parse_blocks(body, 24, count, base)?,
            }
        }
        packet_type::RR => {
            short(4, "reporter SSRC")?;
            RtcpPacket::ReceiverReport {
                ssrc: be32(body, 0),
                reports: parse_blocks(body, 4, count, base)?,
            }
        }
        packet_type::SDES => RtcpPacket::SourceDescription(parse_sdes(body, count, base)?),
        packet_type::BYE => {
            let n = usize::from(count) * 4;
            short(n, "BYE source list")?;
            let ssrcs = (0..usize::from(count)).map(|i| be32(body, i * 4)).collect();
            let reason = match body.get(n) {
                Some(&len) if len > 0 => {
                    let end = n + 1 + usize::from(len);
                    short(end, "BYE reason")?;
                    Some(body[n + 1..end].to_vec())
                }
                _ => None,
            };
            RtcpPacket::Goodbye { ssrcs, reason }
        }
        _ => RtcpPacket::Other {
            packet_type: pt,
            count,
            body: body.to_vec(),
        },
    })
}

fn parse_sdes(body: &[u8], count: u8, base: usize) -> Result<Vec<SdesChunk>, RtcpError> {
    let mut chunks = Vec::with_capacity(usize::from(count));
    let mut at = 0;
    for _ in 0..count {
        if body.len() < at + 4 {
            return Err(RtcpError::Malformed {
                at: base + at,
                what: "SDES chunk",
            });
        }
        let ssrc = be32(body, at);
        at += 4;
        let mut items = Vec::new();
        loop {
            let Some(&kind) = body.get(at) else {
                return Err(RtcpError::Malformed {
                    at: base + at,
                    what: "SDES item list",
                });
            };
            if kind == 0 {
                // End of list, then pad to the next 32-bit boundary.
                at = (at + 4) & !3;
                break;
            }
            let Some(&len) = body.get(at + 1) else {
                return Err(RtcpError::Malformed {
                    at: base + at + 1,
                    what: "SDES item length",
                });
            };
            let end = at + 2 + usize::from(len);
            let Some(value) = body.get(at + 2..end) else {
                return Err(RtcpError::Malformed {
                    at: base + at + 2,
                    what: "SDES item value",
                });
            };
            items.push(SdesItem {
                kind,
                value: value.to_vec(),
            });
            at = end;
        }
        chunks.push(SdesChunk { ssrc, items });
    }
    Ok(chunks)
}

fn put_block(out: &mut Vec<u8>, b: &ReportBlock) {
    out.extend_from_slice(&b.ssrc.to_be_bytes());
    let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
    out.extend_from_slice(&(u32::from(b.fraction_lost) << 24 | lost).to_be_bytes());
    out.extend_from_slice(&b.extended_highest_seq.to_be_bytes());
    out.extend_from_slice(&b.jitter.to_be_bytes());
    out.extend_from_slice(&b.last_sr.to_be_bytes());
    out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
}

impl RtcpPacket {
    /// Appends this packet (with its header, padded to 32 bits) to `out`.
    ///
    /// Counts are limited by the 5-bit field: report blocks and BYE sources beyond 31
    /// and SDES chunks beyond 31 are not written; items and reasons longer than 255
    /// bytes are cut.
    pub fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0x80, 0, 0, 0]);
        let (pt, count) = match self {
            RtcpPacket::SenderReport {
                ssrc,
                info,
                reports,
            } => {
                out.extend_from_slice(&ssrc.to_be_bytes());
                out.extend_from_slice(&info.ntp.to_be_bytes());
                out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
                out.extend_from_slice(&info.packet_count.to_be_bytes());
                out.extend_from_slice(&info.octet_count.to_be_bytes());
                reports.iter().take(31).for_each(|b| put_block(out, b));
                (packet_type::SR, reports.len().min(31) as u8)
            }
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                out.extend_from_slice(&ssrc.to_be_bytes());
                reports.iter().take(31).for_each(|b| put_block(out, b));
                (packet_type::RR, reports.len().min(31) as u8)
            }
            RtcpPacket::SourceDescription(chunks) => {
                for c in chunks.iter().take(31) {
                    out.extend_from_slice(&c.ssrc.to_be_bytes());
                    for it in &c.items {
                        let v = &it.value[..it.value.len().min(255)];
                        out.push(it.kind);
                        out.push(v.len() as u8);
                        out.extend_from_slice(v);
                    }
                    // Terminating null, then nulls to the 32-bit boundary.
                    out.push(0);
                    while !(out.len() - start).is_multiple_of(4) {
                        out.push(0);
                    }
                }
                (packet_type::SDES, chunks.len().min(31) as u8)
            }
            RtcpPacket::Goodbye { ssrcs, reason } => {
                ssrcs
                    .iter()
                    .take(31)
                    .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
                if let Some(r) = reason {
                    let r = &r[..r.len().min(255)];
                    out.push(r.len() as u8);
                    out.extend_from_slice(r);
                }
                (packet_type::BYE, ssrcs.len().min(31) as u8)
            }
            RtcpPacket::Other {
                packet_type,
                count,
                body,
            } => {
                out.extend_from_slice(body);
                (*packet_type, *count & 0x1f)
            }
        };
        while !(out.len() - start).is_multiple_of(4) {
            out.push(0);
        }
        let words = ((out.len() - start) / 4 - 1) as u16;
        out[start] = 0x80 | count;
        out[start + 1] = pt;
        out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    }
}

/// Writes a compound RTCP datagram.
pub fn write_compound(packets: &[RtcpPacket], out: &mut Vec<u8>) {
    for p in packets {
        p.write(out);
    }
}
