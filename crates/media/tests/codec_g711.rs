//! G.711 against the reference bit patterns of ITU-T G.711 and round trips of all codes.

use switchyard_media::codec::g711::*;

/// Samples of the digital milliwatt (1 kHz at 8 kHz, phase π/8), amplitude in range of
/// G.711 Tables 5 and 6.
fn milliwatt() -> Vec<i16> {
    (0..8)
        .map(|k| {
            let ph = std::f64::consts::PI * (1.0 / 8.0 + k as f64 / 4.0 + 1.0);
            (22_900.0 * ph.sin()).round() as i16
        })
        .collect()
}

#[test]
fn ulaw_digital_milliwatt_matches_g711_table() {
    let mut out = [0u8; 8];
    encode_ulaw(&milliwatt(), &mut out);
    assert_eq!(out, [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E]);
}

#[test]
fn alaw_digital_milliwatt_matches_g711_table() {
    let mut out = [0u8; 8];
    encode_alaw(&milliwatt(), &mut out);
    assert_eq!(out, [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4]);
}

#[test]
fn reference_points() {
    assert_eq!(ulaw_to_linear(0xFF), 0);
    assert_eq!(ulaw_to_linear(0x7F), 0);
    assert_eq!(ulaw_to_linear(0x80), 32124);
    assert_eq!(ulaw_to_linear(0x00), -32124);
    assert_eq!(linear_to_ulaw(0), 0xFF);
    assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    assert_eq!(alaw_to_linear(0xD5), 8);
    assert_eq!(alaw_to_linear(0x55), -8);
    assert_eq!(alaw_to_linear(0xAA), 32256);
    assert_eq!(alaw_to_linear(0x2A), -32256);
    assert_eq!(linear_to_alaw(0), 0xD5);
    assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    assert_eq!(linear_to_ulaw(0), ULAW_SILENCE);
    assert_eq!(linear_to_alaw(0), ALAW_SILENCE);
}

#[test]
fn all_256_codes_round_trip() {
    for c in 0..=255u8 {
        let back = linear_to_ulaw(ulaw_to_linear(c));
        if c == 0x7F {
            // Negative zero decodes to 0, which encodes as positive zero.
            assert_eq!(back, 0xFF);
        } else {
            assert_eq!(back, c, "µ-law code {c:#04x}");
        }
        assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "A-law code {c:#04x}");
    }
}

#[test]
fn decoded_values_are_monotonic_in_magnitude() {
    // Within each sign half, a higher code magnitude means a higher level.
    for c in 0x80u8..0xFF {
        assert!(ulaw_to_linear(c) > ulaw_to_linear(c + 1));
    }
    let mut prev = 0;
    for seg_code in 0..128u8 {
        let v = alaw_to_linear((seg_code) ^ 0xD5 ^ 0x55 ^ 0x80 ^ 0x55);
        let v = v.abs();
        assert!(seg_code == 0 || v > prev, "A-law code {seg_code}");
        prev = v;
    }
}

#[test]
fn every_sample_lands_within_half_a_step() {
    // G.711 decodes to the middle of the decision interval the sample fell into, so the
    // error is at most half that segment's step (plus the 14-/13-bit truncation).
    for x in i16::MIN..=i16::MAX {
        let x32 = x as i32;
        let u = linear_to_ulaw(x);
        let du = ulaw_to_linear(u) as i32;
        let step_u = (ulaw_to_linear(u ^ 1) as i32 - du).abs();
        if x32.abs() <= 32124 {
            assert!((du - x32).abs() <= step_u / 2 + 4, "µ-law {x} -> {du}");
        }
        let a = linear_to_alaw(x);
        let da = alaw_to_linear(a) as i32;
        let step_a = (alaw_to_linear(a ^ 1) as i32 - da).abs();
        if x32.abs() <= 32256 {
            assert!((da - x32).abs() <= step_a / 2 + 8, "A-law {x} -> {da}");
        }
    }
}

#[test]
fn transcoding_keeps_level_within_one_step() {
    for c in 0..=255u8 {
        let lin = ulaw_to_linear(c) as i32;
        let a = ulaw_to_alaw(c);
        let via_a = alaw_to_linear(a) as i32;
        // One A-law step at this level: distance to the neighbouring codes.
        let step = (alaw_to_linear(a ^ 1) as i32 - via_a).abs().max(16);
        assert!(
            (via_a - lin).abs() <= step,
            "µ {c:#04x}: {lin} -> A {via_a}"
        );
        assert!(lin.signum() * via_a.signum() >= 0);

        let lin = alaw_to_linear(c) as i32;
        let u = alaw_to_ulaw(c);
        let via_u = ulaw_to_linear(u) as i32;
        let step = (ulaw_to_linear(u ^ 1) as i32 - via_u).abs().max(8);
        assert!(
            (via_u - lin).abs() <= step,
            "A {c:#04x}: {lin} -> µ {via_u}"
        );
    }
    assert_eq!(ulaw_to_alaw(ULAW_SILENCE), ALAW_SILENCE);
    assert_eq!(ulaw_to_alaw(0x80), 0xAA);
    assert_eq!(alaw_to_ulaw(0xAA), 0x80);
}

#[test]
fn slices_match_single_samples_and_stop_at_shorter() {
    let pcm: Vec<i16> = (0..400)
        .map(|i| ((i * 163) % 65536 - 32768) as i16)
        .collect();
    let mut u = vec![0u8; 300];
    assert_eq!(encode_ulaw(&pcm, &mut u), 300);
    let mut a = vec![0u8; 400];
    assert_eq!(encode_alaw(&pcm, &mut a), 400);
    for i in 0..300 {
        assert_eq!(u[i], linear_to_ulaw(pcm[i]));
        assert_eq!(a[i], linear_to_alaw(pcm[i]));
    }
    let mut back = vec![0i16; 500];
    assert_eq!(decode_ulaw(&u, &mut back), 300);
    assert_eq!(back[7], ulaw_to_linear(u[7]));
    assert_eq!(decode_alaw(&a, &mut back), 400);
    assert_eq!(back[399], alaw_to_linear(a[399]));
    let mut t = u.clone();
    ulaw_to_alaw_in_place(&mut t);
    assert_eq!(t[5], ulaw_to_alaw(u[5]));
    alaw_to_ulaw_in_place(&mut t);
    assert_eq!(t[5], alaw_to_ulaw(ulaw_to_alaw(u[5])));
}
