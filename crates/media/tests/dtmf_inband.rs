//! In-band DTMF detection against ITU-T Q.24: tones in noise, frequency tolerance, twist,
//! duration, pauses, and talk-off on speech and music.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchyard_media::codec::g711;
use switchyard_media::dtmf::DtmfDigit;
use switchyard_media::dtmf::generate::DtmfGenerator;
use switchyard_media::dtmf::inband::{DetectorConfig, DtmfDetector};

const RATE: u32 = 8000;

fn ms(n: u64) -> u64 {
    n * u64::from(RATE) / 1000
}

/// One tone burst with explicit frequencies and levels, then a pause.
fn burst(lo: f64, hi: f64, tone_ms: u64, pause_ms: u64, a_lo: i16, a_hi: i16) -> Vec<i16> {
    let mut g =
        DtmfGenerator::with_frequencies(lo, hi, RATE, ms(tone_ms), ms(pause_ms), a_lo, a_hi);
    let mut out = vec![0i16; (ms(tone_ms) + ms(pause_ms)) as usize];
    g.fill(&mut out);
    out
}

fn digit_burst(c: char, tone_ms: u64, pause_ms: u64) -> Vec<i16> {
    let (lo, hi) = DtmfDigit::from_char(c).unwrap().frequencies();
    burst(lo.into(), hi.into(), tone_ms, pause_ms, 5000, 5000)
}

fn add_noise(s: &mut [i16], amplitude: i32, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for x in s {
        let n = rng.random_range(-amplitude..=amplitude);
        *x = (i32::from(*x) + n).clamp(-32768, 32767) as i16;
    }
}

/// Through a µ-law link, as a trunk would deliver it.
fn through_ulaw(s: &mut [i16]) {
    for x in s {
        *x = g711::ulaw_to_linear(g711::linear_to_ulaw(*x));
    }
}

fn detect(samples: &[i16]) -> String {
    let mut det = DtmfDetector::new(DetectorConfig::default());
    let mut out = String::new();
    // Fed in 20 ms frames, as the media path does.
    for frame in samples.chunks(160) {
        det.feed(frame);
        while let Some(d) = det.poll_digit() {
            out.push(d.to_char());
        }
    }
    out
}

fn silence(ms_: u64) -> Vec<i16> {
    vec![0; ms(ms_) as usize]
}

#[test]
fn all_sixteen_digits_in_noise_through_ulaw() {
    let keys = "123A456B789C*0#D";
    let mut s = silence(100);
    for c in keys.chars() {
        s.extend(digit_burst(c, 60, 60));
    }
    s.extend(silence(100));
    // Tones at 5000 peak each; uniform noise of ±1540 is ~15 dB below the pair.
    add_noise(&mut s, 1540, 7);
    through_ulaw(&mut s);
    assert_eq!(detect(&s), keys);
}

#[test]
fn repeated_digit_separated_by_a_forty_ms_pause() {
    let mut s = silence(50);
    for _ in 0..3 {
        s.extend(digit_burst('5', 50, 40));
    }
    assert_eq!(detect(&s), "555");
}

#[test]
fn long_press_is_one_digit() {
    let mut s = silence(50);
    s.extend(digit_burst('9', 2000, 100));
    add_noise(&mut s, 1000, 3);
    assert_eq!(detect(&s), "9");
}

#[test]
fn within_one_and_a_half_percent_is_accepted() {
    let (lo, hi) = DtmfDigit::from_char('0').unwrap().frequencies();
    for (fl, fh) in [
        (1.015, 1.015),
        (0.985, 0.985),
        (1.015, 0.985),
        (0.985, 1.015),
    ] {
        for (c, (l, h)) in [
            ('0', (lo, hi)),
            ('1', (697.0, 1209.0)),
            ('D', (941.0, 1633.0)),
        ] {
            let mut s = silence(30);
            s.extend(burst(
                f64::from(l) * fl,
                f64::from(h) * fh,
                80,
                80,
                5000,
                5000,
            ));
            add_noise(&mut s, 500, 11);
            assert_eq!(detect(&s), c.to_string(), "{c} at {fl}/{fh}");
        }
    }
}

#[test]
fn beyond_three_and_a_half_percent_is_rejected() {
    for (c, (l, h)) in [
        ('1', (697.0f64, 1209.0f64)),
        ('5', (770.0, 1336.0)),
        ('D', (941.0, 1633.0)),
    ] {
        for (fl, fh) in [
            (1.035, 1.035),
            (0.965, 0.965),
            (1.0, 1.035),
            (1.0, 0.965),
            (1.035, 1.0),
            (0.965, 1.0),
        ] {
            let mut s = silence(30);
            s.extend(burst(l * fl, h * fh, 80, 80, 5000, 5000));
            assert_eq!(detect(&s), "", "{c} at {fl}/{fh} must be rejected");
        }
    }
}

#[test]
fn forty_ms_accepted_twenty_ms_rejected() {
    let mut s = silence(30);
    s.extend(digit_burst('7', 40, 60));
    assert_eq!(detect(&s), "7");
    let mut s = silence(30);
    for c in "123".chars() {
        s.extend(digit_burst(c, 20, 60));
    }
    assert_eq!(detect(&s), "");
}

#[test]
fn twist_limits() {
    let (lo, hi) = (852.0, 1477.0); // '9'
    let amp = |db: f64| (5000.0 * 10f64.powf(db / 20.0)) as i16;
    // Normal twist (row louder) up to 8 dB, reverse (column louder) up to 4 dB.
    for (row_db, col_db, expect) in [
        (0.0, -6.0, "9"),
        (0.0, -12.0, ""),
        (-3.0, 0.0, "9"),
        (-7.0, 0.0, ""),
    ] {
        let mut s = silence(30);
        s.extend(burst(lo, hi, 80, 80, amp(row_db), amp(col_db)));
        assert_eq!(detect(&s), expect, "row {row_db} dB, column {col_db} dB");
    }
}

#[test]
fn single_tones_and_weak_tones_are_not_digits() {
    let mut s = silence(30);
    s.extend(burst(770.0, 1336.0, 100, 50, 5000, 0));
    s.extend(burst(770.0, 1336.0, 100, 50, 0, 5000));
    // −36 dBm0 per tone: below the detector's floor.
    s.extend(burst(770.0, 1336.0, 100, 50, 360, 360));
    assert_eq!(detect(&s), "");
}

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Read a mono 16-bit WAV; panics (failing the test) if the file is missing.
fn read_wav(path: &std::path::Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| {
        panic!(
            "test audio {} missing or unreadable ({e}); run crates/media/tests/data/gen.sh",
            path.display()
        )
    });
    let spec = r.spec();
    assert_eq!(spec.sample_rate, RATE, "{}", path.display());
    let ch = spec.channels as usize;
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    all.chunks(ch).map(|f| f[0]).collect()
}

#[test]
fn no_talk_off_on_english_speech() {
    let s = read_wav(&data_dir().join("speech_en.wav"));
    assert!(s.len() > 8000 * 5);
    assert_eq!(detect(&s), "");
    let mut s = s;
    through_ulaw(&mut s);
    assert_eq!(detect(&s), "");
}

#[test]
fn no_talk_off_on_mandarin_speech() {
    let s = read_wav(&data_dir().join("speech_zh.wav"));
    assert!(s.len() > 8000 * 5);
    assert_eq!(detect(&s), "");
}

#[test]
fn no_talk_off_on_music_on_hold() {
    let s = read_wav(&data_dir().join("music_moh.wav"));
    assert!(s.len() > 8000 * 5);
    assert_eq!(detect(&s), "");
}

#[test]
fn no_talk_off_on_shipped_prompts() {
    // The project's shipped prompts (prompts/ at the repository root, any format the
    // player reads), decoded to 8 kHz as a call would hear them.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the shipped prompts in {} are missing: {e}", dir.display()));
    let mut checked = 0;
    let mut cache = switchyard_media::player::PromptCache::new();
    let mut stack: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(
                std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
            continue;
        }
        let audio = ["wav", "mp3", "flac", "ogg"];
        if p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| audio.contains(&e))
        {
            let prompt = cache
                .load(&p, RATE)
                .unwrap_or_else(|e| panic!("shipped prompt does not load: {e}"));
            assert_eq!(detect(prompt.samples()), "", "talk-off in {}", p.display());
            checked += 1;
        }
    }
    // English and Mandarin prompts both ship (see prompts/README.md).
    assert!(
        checked >= 20,
        "only {checked} shipped prompts found in {}",
        dir.display()
    );
}

#[test]
fn digits_survive_speech_in_the_background() {
    // A caller pressing keys while a prompt plays back to them (echo at −12 dB).
    let speech = read_wav(&data_dir().join("speech_en.wav"));
    let mut s = silence(0);
    for c in "2580".chars() {
        s.extend(digit_burst(c, 80, 300));
    }
    for (x, v) in s.iter_mut().zip(speech.iter().skip(8000)) {
        *x = x.saturating_add(v / 4);
    }
    assert_eq!(detect(&s), "2580");
}

#[test]
fn wideband_legs_detect_at_16_khz() {
    let rate = 16_000;
    let mut s = vec![0i16; 1600];
    for c in "147*".chars() {
        let mut g = DtmfGenerator::new(DtmfDigit::from_char(c).unwrap(), rate, 1280, 1280, 5000);
        let mut b = vec![0i16; 2560];
        g.fill(&mut b);
        s.extend(b);
    }
    add_noise(&mut s, 1000, 5);
    let mut det = DtmfDetector::new(DetectorConfig {
        sample_rate: rate,
        ..DetectorConfig::default()
    });
    let mut got = String::new();
    for f in s.chunks(320) {
        det.feed(f);
        while let Some(d) = det.poll_digit() {
            got.push(d.to_char());
        }
    }
    assert_eq!(got, "147*");
}

#[test]
fn no_talk_off_on_loud_speech_and_music_through_alaw() {
    // Prompts mastered hot: +6 dB (clipping where it must), then an A-law trunk.
    for name in ["speech_en.wav", "speech_zh.wav", "music_moh.wav"] {
        let mut s = read_wav(&data_dir().join(name));
        for x in &mut s {
            *x = x.saturating_mul(2);
            *x = g711::alaw_to_linear(g711::linear_to_alaw(*x));
        }
        assert_eq!(detect(&s), "", "{name}");
    }
}

#[test]
fn fastest_dialling_forty_on_forty_off() {
    let keys = "0123456789*#";
    let mut s = silence(50);
    for c in keys.chars() {
        s.extend(digit_burst(c, 40, 40));
    }
    s.extend(silence(100));
    add_noise(&mut s, 800, 21);
    assert_eq!(detect(&s), keys);
}

#[test]
fn a_ten_ms_dropout_does_not_split_a_digit() {
    let mut s = silence(50);
    s.extend(digit_burst('8', 100, 10)); // 10 ms gap inside the press
    s.extend(digit_burst('8', 100, 100));
    assert_eq!(detect(&s), "8");
}

#[test]
fn in_tone_flags_the_frames_to_mute() {
    let mut det = DtmfDetector::new(DetectorConfig::default());
    let mut s = silence(100);
    s.extend(digit_burst('6', 200, 200));
    let flags: Vec<bool> = s
        .chunks(160)
        .map(|f| {
            det.feed(f);
            det.in_tone()
        })
        .collect();
    // Frames 0-4 silence, 5-14 tone, 15-24 silence (20 ms each).
    assert!(flags[..5].iter().all(|f| !f));
    assert!(flags[7..15].iter().all(|f| *f), "{flags:?}");
    assert!(flags[18..].iter().all(|f| !f), "{flags:?}");
    assert_eq!(det.poll_digit().map(|d| d.to_char()), Some('6'));
}
