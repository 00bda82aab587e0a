//! Call-progress tones: frequency (Goertzel) and cadence at several sample rates.

use std::time::Duration;

use switchyard_media::dtmf::goertzel::{rms, tone_amplitude};
use switchyard_media::tone::{CadenceStep, ToneGenerator, ToneSpec};

/// Render `secs` seconds in 20 ms frames.
fn render(spec: ToneSpec, rate: u32, secs: f64) -> Vec<i16> {
    let mut g = ToneGenerator::new(spec, rate);
    let frame = (rate / 50) as usize;
    let frames = (secs * 50.0).round() as usize;
    let mut out = vec![0i16; frame * frames];
    for f in out.chunks_mut(frame) {
        g.next_frame(f);
    }
    out
}

fn window(s: &[i16], rate: u32, from_s: f64, to_s: f64) -> &[i16] {
    &s[(from_s * f64::from(rate)) as usize..(to_s * f64::from(rate)) as usize]
}

#[test]
fn us_ringback_frequencies_and_cadence_at_each_rate() {
    for rate in [8000, 16_000, 48_000] {
        let s = render(ToneSpec::ringback_us(), rate, 12.0);
        // On for the first 2 s: both 440 and 480 Hz at the set level, nothing at 400 Hz.
        let on = window(&s, rate, 0.5, 1.5);
        for f in [440.0, 480.0] {
            let a = tone_amplitude(on, f, rate);
            assert!((a - 3500.0).abs() < 150.0, "{rate} Hz: {f} Hz at {a}");
        }
        assert!(tone_amplitude(on, 400.0, rate) < 200.0);
        assert!(tone_amplitude(on, 620.0, rate) < 200.0);
        // Off from 2 s to 6 s, on again from 6 s.
        assert_eq!(rms(window(&s, rate, 2.01, 5.99)), 0.0, "{rate}");
        assert!(tone_amplitude(window(&s, rate, 6.5, 7.5), 440.0, rate) > 3000.0);
        assert_eq!(rms(window(&s, rate, 8.01, 11.99)), 0.0);
    }
}

#[test]
fn us_busy() {
    let rate = 8000;
    let s = render(ToneSpec::busy_us(), rate, 3.0);
    for k in 0..3 {
        let on = window(&s, rate, k as f64 + 0.05, k as f64 + 0.45);
        assert!(tone_amplitude(on, 480.0, rate) > 3000.0);
        assert!(tone_amplitude(on, 620.0, rate) > 3000.0);
        assert_eq!(rms(window(&s, rate, k as f64 + 0.51, k as f64 + 0.99)), 0.0);
    }
}

#[test]
fn uk_double_ring_and_china_single_frequency() {
    let rate = 16_000;
    let s = render(ToneSpec::ringback_uk(), rate, 3.0);
    assert!(tone_amplitude(window(&s, rate, 0.05, 0.35), 400.0, rate) > 3000.0);
    assert!(tone_amplitude(window(&s, rate, 0.05, 0.35), 450.0, rate) > 3000.0);
    assert_eq!(rms(window(&s, rate, 0.41, 0.59)), 0.0);
    assert!(tone_amplitude(window(&s, rate, 0.65, 0.95), 400.0, rate) > 3000.0);
    assert_eq!(rms(window(&s, rate, 1.01, 2.99)), 0.0);

    let s = render(ToneSpec::ringback_china(), 8000, 6.0);
    let on = window(&s, 8000, 0.1, 0.9);
    assert!(tone_amplitude(on, 450.0, 8000) > 3000.0);
    assert!(tone_amplitude(on, 400.0, 8000) < 200.0);
    assert_eq!(rms(window(&s, 8000, 1.01, 4.99)), 0.0);
    assert!(tone_amplitude(window(&s, 8000, 5.1, 5.9), 450.0, 8000) > 3000.0);
}

#[test]
fn configurable_cadence_and_continuous_phase_across_frames() {
    let spec = ToneSpec {
        frequencies: [1000.0, 0.0],
        amplitude: 8000,
        cadence: vec![CadenceStep {
            on: Duration::from_millis(100),
            off: Duration::from_millis(50),
        }],
    };
    assert_eq!(spec.cycle(), Duration::from_millis(150));
    let s = render(spec, 8000, 0.3);
    // 1 kHz at 8 kHz repeats every 8 samples: continuous phase means no seam at 20 ms.
    for n in 150..160 {
        assert_eq!(s[n], s[n + 8]);
    }
    assert_eq!(rms(window(&s, 8000, 0.1, 0.15)), 0.0);
    assert!(tone_amplitude(window(&s, 8000, 0.15, 0.25), 1000.0, 8000) > 7500.0);
    // An empty cadence is a continuous tone.
    let cont = render(ToneSpec::new([425.0, 0.0], vec![]), 8000, 2.0);
    assert!(tone_amplitude(window(&cont, 8000, 1.5, 2.0), 425.0, 8000) > 3000.0);
}
