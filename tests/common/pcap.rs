//! RTP captures for SIPp's `play_pcap_audio`: G.711 μ-law audio (in-band DTMF tones and
//! silence) as a pcap of Ethernet/IPv4/UDP/RTP packets, 20 ms of audio each, timestamped
//! 20 ms apart (SIPp paces its sending by the capture's timestamps and keeps each
//! packet's RTP header and payload).

use std::f64::consts::PI;
use std::path::Path;

/// Samples per second of G.711.
pub(crate) const RATE: u32 = 8000;
/// Samples in one packet (20 ms).
const PACKET_SAMPLES: usize = 160;

/// The two frequencies (low, high) of a DTMF key (ITU-T Q.23).
pub(crate) fn dtmf_frequencies(key: char) -> (f64, f64) {
    let (row, col) = match key {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => panic!("{key:?} is not a DTMF key"),
    };
    (
        [697.0, 770.0, 852.0, 941.0][row],
        [1209.0, 1336.0, 1477.0, 1633.0][col],
    )
}

/// `lead_ms` of silence, the dual tone of `key` for `tone_ms` (each frequency at peak
/// `amplitude`), then `tail_ms` of silence: linear samples at 8 kHz.
pub(crate) fn dtmf_samples(
    key: char,
    lead_ms: u32,
    tone_ms: u32,
    tail_ms: u32,
    amplitude: f64,
) -> Vec<i16> {
    let (low, high) = dtmf_frequencies(key);
    let n = |ms: u32| (ms * RATE / 1000) as usize;
    let mut samples = vec![0i16; n(lead_ms)];
    samples.extend((0..n(tone_ms)).map(|i| {
        let t = i as f64 / f64::from(RATE);
        let v = amplitude * ((2.0 * PI * low * t).sin() + (2.0 * PI * high * t).sin());
        v.round().clamp(-32768.0, 32767.0) as i16
    }));
    samples.extend(std::iter::repeat_n(0, n(tail_ms)));
    samples
}

/// G.711 μ-law encoding of one linear sample (ITU-T G.711, with the usual bias of 0x84
/// and the 14-bit clip at 32635).
pub(crate) fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(CLIP) + BIAS;
    // The segment: the position of the highest set bit above bit 7.
    let exponent = (0..8).rev().find(|e| s & (0x80 << e) != 0).unwrap_or(0);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Writes `samples` (linear, 8 kHz) as PCMU RTP packets of 20 ms (the last one padded
/// with silence) from 127.0.0.1:6000 to 127.0.0.1:6002 into a pcap at `path`.
pub(crate) fn write_pcmu_pcap(path: &Path, samples: &[i16]) {
    let mut out = Vec::new();
    // The global header: microsecond timestamps, version 2.4, Ethernet link type.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());

    let ssrc: u32 = 0x5157_4954;
    for (i, chunk) in samples.chunks(PACKET_SAMPLES).enumerate() {
        let mut payload: Vec<u8> = chunk.iter().map(|&s| ulaw_encode(s)).collect();
        payload.resize(PACKET_SAMPLES, ulaw_encode(0));
        let seq = i as u16;
        let timestamp = (i * PACKET_SAMPLES) as u32;
        let mut rtp = vec![0x80, if i == 0 { 0x80 } else { 0x00 }];
        rtp.extend_from_slice(&seq.to_be_bytes());
        rtp.extend_from_slice(&timestamp.to_be_bytes());
        rtp.extend_from_slice(&ssrc.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let frame = ethernet_ipv4_udp(6000, 6002, &rtp);

        let at_us = i as u64 * 20_000;
        out.extend_from_slice(&((at_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((at_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// An Ethernet frame carrying `payload` in UDP over IPv4 on 127.0.0.1.
fn ethernet_ipv4_udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00]);
    let mut ip = vec![0x45, 0x00];
    ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&[0x00, 0x00, 0x40, 0x00, 64, 17, 0x00, 0x00]);
    ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let checksum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}
