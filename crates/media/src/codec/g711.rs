//! ITU-T G.711 µ-law and A-law, by tables.
//!
//! Decoding is one lookup in a 256-entry table of linear 16-bit values. Encoding is one
//! lookup in a table indexed by the top bits of the sample (14 bits for µ-law, 13 for
//! A-law: the precision G.711 quantises from). µ-law ↔ A-law transcoding is one lookup in
//! a 256-entry table. All tables are built at compile time from the G.711 segment rules.

/// Decode one µ-law byte to linear 16-bit PCM.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Encode one linear 16-bit sample to µ-law.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // Arithmetic shift keeps the sign: index the 14-bit value as unsigned.
    ULAW_ENCODE[((sample >> 2) as u16 & 0x3FFF) as usize]
}

/// Decode one A-law byte to linear 16-bit PCM.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encode one linear 16-bit sample to A-law.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 3) as u16 & 0x1FFF) as usize]
}

/// Transcode one µ-law byte to A-law.
#[inline]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW[code as usize]
}

/// Transcode one A-law byte to µ-law.
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[code as usize]
}

/// Decode µ-law bytes into `out`; converts `min(input.len(), out.len())` samples and
/// returns that count.
pub fn decode_ulaw(input: &[u8], out: &mut [i16]) -> usize {
    let n = input.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&input[..n]) {
        *o = ULAW_DECODE[c as usize];
    }
    n
}

/// Encode linear samples into µ-law bytes; returns the count converted.
pub fn encode_ulaw(input: &[i16], out: &mut [u8]) -> usize {
    let n = input.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&input[..n]) {
        *o = linear_to_ulaw(s);
    }
    n
}

/// Decode A-law bytes into `out`; returns the count converted.
pub fn decode_alaw(input: &[u8], out: &mut [i16]) -> usize {
    let n = input.len().min(out.len());
    for (o, &c) in out[..n].iter_mut().zip(&input[..n]) {
        *o = ALAW_DECODE[c as usize];
    }
    n
}

/// Encode linear samples into A-law bytes; returns the count converted.
pub fn encode_alaw(input: &[i16], out: &mut [u8]) -> usize {
    let n = input.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&input[..n]) {
        *o = linear_to_alaw(s);
    }
    n
}

/// Transcode µ-law bytes to A-law in place.
pub fn ulaw_to_alaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ULAW_TO_ALAW[*b as usize];
    }
}

/// Transcode A-law bytes to µ-law in place.
pub fn alaw_to_ulaw_in_place(buf: &mut [u8]) {
    for b in buf {
        *b = ALAW_TO_ULAW[*b as usize];
    }
}

/// The µ-law byte for silence (linear 0).
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law byte for silence (linear +8, the smallest positive step).
pub const ALAW_SILENCE: u8 = 0xD5;

// --- table construction (G.711 §2 / §3 segment rules) ---

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;

/// µ-law encoding of a 14-bit two's-complement value (G.711 Table 2a).
const fn ulaw_encode14(v: i32) -> u8 {
    let (mut mag, mask) = if v < 0 { (-v, 0x7F) } else { (v, 0xFF) };
    if mag > ULAW_CLIP {
        mag = ULAW_CLIP;
    }
    mag += ULAW_BIAS >> 2;
    let mut seg = 0;
    let mut end = 0x3F;
    while seg < 8 && mag > end {
        seg += 1;
        end = (end << 1) | 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let u = ((seg << 4) | ((mag >> (seg + 1)) & 0xF)) as u8;
    u ^ mask
}

/// µ-law decoding to 16-bit linear (G.711 Table 2a, scaled by 4).
const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

/// A-law encoding of a 13-bit two's-complement value (G.711 Table 1a).
const fn alaw_encode13(v: i32) -> u8 {
    let (mag, mask) = if v >= 0 { (v, 0xD5) } else { (-v - 1, 0x55) };
    let mut seg = 0;
    let mut end = 0x1F;
    while seg < 8 && mag > end {
        seg += 1;
        end = (end << 1) | 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut a = seg << 4;
    a |= if seg < 2 {
        (mag >> 1) & 0xF
    } else {
        (mag >> seg) & 0xF
    };
    (a ^ mask) as u8
}

/// A-law decoding to 16-bit linear (G.711 Table 1a, scaled by 8).
const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_ulaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_decode() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode(i as u8);
        i += 1;
    }
    t
}

const fn build_ulaw_encode() -> [u8; 1 << 14] {
    let mut t = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Index is the 14-bit two's-complement value.
        let v = if i >= (1 << 13) {
            i as i32 - (1 << 14)
        } else {
            i as i32
        };
        t[i] = ulaw_encode14(v);
        i += 1;
    }
    t
}

const fn build_alaw_encode() -> [u8; 1 << 13] {
    let mut t = [0u8; 1 << 13];
    let mut i = 0;
    while i < (1 << 13) {
        let v = if i >= (1 << 12) {
            i as i32 - (1 << 13)
        } else {
            i as i32
        };
        t[i] = alaw_encode13(v);
        i += 1;
    }
    t
}

/// Transcoding tables: decode with one law, re-encode with the other. For every code the
/// result is the nearest code of the other law to the decoded value's interval.
const fn build_u2a() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_encode13((ulaw_decode(i as u8) as i32) >> 3);
        i += 1;
    }
    t
}

const fn build_a2u() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_encode14((alaw_decode(i as u8) as i32) >> 2);
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = build_ulaw_decode();
static ALAW_DECODE: [i16; 256] = build_alaw_decode();
static ULAW_ENCODE: [u8; 1 << 14] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 1 << 13] = build_alaw_encode();
static ULAW_TO_ALAW: [u8; 256] = build_u2a();
static ALAW_TO_ULAW: [u8; 256] = build_a2u();
