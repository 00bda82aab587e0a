//! WAV recording: layouts, pause modes, the header fixed on close, and files cut short by
//! a crash staying readable by hound, symphonia (through the prompt loader) and sox.

use std::io::Cursor;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use switchyard_media::dtmf::goertzel::{rms, tone_amplitude};
use switchyard_media::player::PromptCache;
use switchyard_media::recorder::{Encoding, Layout, PauseMode, RecorderConfig, WavRecorder};
use switchyard_media::tone::{ToneGenerator, ToneSpec};

const RATE: u32 = 8000;

fn tone(freq: f32) -> ToneGenerator {
    let mut spec = ToneSpec::new([freq, 0.0], vec![]);
    spec.amplitude = 6000;
    ToneGenerator::new(spec, RATE)
}

/// Record `secs` seconds of caller 440 Hz and agent 1000 Hz in 20 ms frames.
fn record(rec: &mut WavRecorder, out: &mut (impl std::io::Write + std::io::Seek), secs: u32) {
    let (mut c, mut a) = (tone(440.0), tone(1000.0));
    let (mut fc, mut fa) = ([0i16; 160], [0i16; 160]);
    for _ in 0..secs * 50 {
        c.next_frame(&mut fc);
        a.next_frame(&mut fa);
        rec.push(&fc, &fa);
        rec.write_to(out).unwrap();
    }
}

fn read(bytes: &[u8]) -> (hound::WavSpec, Vec<Vec<i16>>) {
    let r = hound::WavReader::new(Cursor::new(bytes)).unwrap();
    let spec = r.spec();
    let all: Vec<i16> = r.into_samples::<i16>().map_while(Result::ok).collect();
    let ch = spec.channels as usize;
    let chans = (0..ch)
        .map(|k| all.iter().skip(k).step_by(ch).copied().collect())
        .collect();
    (spec, chans)
}

fn finished(layout: Layout, secs: u32) -> Vec<u8> {
    let cfg = RecorderConfig {
        layout,
        ..RecorderConfig::default()
    };
    let mut rec = WavRecorder::new(cfg);
    let mut file = Cursor::new(Vec::new());
    record(&mut rec, &mut file, secs);
    rec.finish(&mut file).unwrap();
    file.into_inner()
}

#[test]
fn stereo_puts_caller_left_and_agent_right() {
    let bytes = finished(Layout::Stereo, 2);
    let (spec, ch) = read(&bytes);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, RATE, 16)
    );
    assert_eq!(ch[0].len(), 2 * RATE as usize);
    let (l, r) = (&ch[0][..8000], &ch[1][..8000]);
    assert!(tone_amplitude(l, 440.0, RATE) > 5500.0);
    assert!(tone_amplitude(l, 1000.0, RATE) < 100.0);
    assert!(tone_amplitude(r, 1000.0, RATE) > 5500.0);
    assert!(tone_amplitude(r, 440.0, RATE) < 100.0);
}

#[test]
fn mono_mix_and_single_legs() {
    let (spec, ch) = read(&finished(Layout::MonoMix, 1));
    assert_eq!(spec.channels, 1);
    assert!(tone_amplitude(&ch[0], 440.0, RATE) > 5500.0);
    assert!(tone_amplitude(&ch[0], 1000.0, RATE) > 5500.0);
    let (_, ch) = read(&finished(Layout::CallerOnly, 1));
    assert!(tone_amplitude(&ch[0], 440.0, RATE) > 5500.0);
    assert!(tone_amplitude(&ch[0], 1000.0, RATE) < 100.0);
    let (_, ch) = read(&finished(Layout::AgentOnly, 1));
    assert!(tone_amplitude(&ch[0], 1000.0, RATE) > 5500.0);
    assert!(tone_amplitude(&ch[0], 440.0, RATE) < 100.0);
}

#[test]
fn header_is_fixed_on_close() {
    let bytes = finished(Layout::Stereo, 1);
    let data = RATE * 4;
    assert_eq!(bytes.len(), 44 + data as usize);
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(
        u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
        data + 36
    );
    assert_eq!(&bytes[36..40], b"data");
    assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), data);
    let r = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
    assert_eq!(r.duration(), RATE);
}

#[test]
fn pause_records_silence_or_cuts() {
    for (mode, expect_secs) in [(PauseMode::Silence, 3), (PauseMode::Cut, 2)] {
        let cfg = RecorderConfig {
            layout: Layout::MonoMix,
            pause_mode: mode,
            ..Default::default()
        };
        let mut rec = WavRecorder::new(cfg);
        let mut file = Cursor::new(Vec::new());
        record(&mut rec, &mut file, 1);
        rec.pause();
        assert!(rec.is_paused());
        record(&mut rec, &mut file, 1); // the card number: must not be in the file
        rec.resume();
        record(&mut rec, &mut file, 1);
        assert_eq!(rec.duration(), Duration::from_secs(expect_secs));
        rec.finish(&mut file).unwrap();
        let (_, ch) = read(file.get_ref());
        let s = &ch[0];
        assert_eq!(s.len(), expect_secs as usize * RATE as usize, "{mode:?}");
        let sec = |k: usize| &s[k * 8000..(k + 1) * 8000];
        assert!(rms(sec(0)) > 3000.0);
        if mode == PauseMode::Silence {
            assert_eq!(rms(sec(1)), 0.0);
            assert!(rms(sec(2)) > 3000.0);
        } else {
            assert!(rms(sec(1)) > 3000.0);
        }
    }
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-media-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// sox must read the file and report about `secs` seconds.
fn sox_reads(path: &std::path::Path, min_secs: f64) {
    let out = Command::new("sox")
        .arg(path)
        .args(["-n", "stat"])
        .output()
        .expect("sox is needed for this test (Debian package sox)");
    assert!(
        out.status.success(),
        "sox failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stderr);
    let len: f64 = text
        .lines()
        .find(|l| l.starts_with("Length (seconds)"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no length in sox output: {text}"));
    assert!(len >= min_secs, "sox read {len} s of {}", path.display());
}

/// A recording killed mid-call: written frame by frame, never finished, then cut at an
/// arbitrary byte (mid-sample).
fn crashed_file(name: &str, secs: u32, cut_extra: usize) -> PathBuf {
    let path = temp_path(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let mut rec = WavRecorder::new(RecorderConfig {
        layout: Layout::Stereo,
        ..Default::default()
    });
    record(&mut rec, &mut f, secs);
    drop(f); // the process dies: no finish()
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - cut_extra as u64).unwrap();
    path
}

#[test]
fn crash_after_header_rewrites_stays_readable() {
    // 12 s with a header rewrite every 5 s: the header says 10 s.
    let path = crashed_file("crash12.wav", 12, 3);
    let bytes = std::fs::read(&path).unwrap();
    let (spec, ch) = read(&bytes);
    assert_eq!(spec.channels, 2);
    assert_eq!(ch[0].len(), 10 * RATE as usize);
    assert!(tone_amplitude(&ch[0][70_000..78_000], 440.0, RATE) > 5500.0);
    let p = PromptCache::new().load(&path, RATE).unwrap();
    assert!(
        p.duration() >= Duration::from_secs(10),
        "{:?}",
        p.duration()
    );
    sox_reads(&path, 10.0);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn crash_before_the_first_rewrite_stays_readable() {
    // 3 s, no rewrite yet: the header carries the maximal streaming sizes.
    let path = crashed_file("crash3.wav", 3, 1);
    let bytes = std::fs::read(&path).unwrap();
    assert!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()) > 0xFFFF_FF00);
    // hound reads every whole sample up to the end of the file.
    let (_, ch) = read(&bytes);
    assert!(ch[0].len() >= 3 * RATE as usize - 1, "{}", ch[0].len());
    let p = PromptCache::new().load(&path, RATE).unwrap();
    assert!(
        p.duration() >= Duration::from_millis(2990),
        "{:?}",
        p.duration()
    );
    sox_reads(&path, 2.99);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn g711_recordings_are_half_the_size_and_read_back() {
    for (encoding, name) in [(Encoding::Ulaw, "ulaw.wav"), (Encoding::Alaw, "alaw.wav")] {
        let path = temp_path(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let cfg = RecorderConfig {
            layout: Layout::Stereo,
            encoding,
            ..Default::default()
        };
        let mut rec = WavRecorder::new(cfg);
        assert_eq!(rec.header_len(), 58);
        record(&mut rec, &mut f, 2);
        assert_eq!(rec.finish(&mut f).unwrap(), 2 * 8000 * 2);
        drop(f);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 58 + 2 * 8000 * 2);
        assert_eq!(&bytes[38..42], b"fact");
        assert_eq!(
            u32::from_le_bytes(bytes[46..50].try_into().unwrap()),
            16_000
        );
        // symphonia decodes it (and down-mixes caller and agent into one channel).
        let p = PromptCache::new().load(&path, RATE).unwrap();
        assert_eq!(p.duration(), Duration::from_secs(2));
        let mid = &p.samples()[4000..12_000];
        assert!(tone_amplitude(mid, 440.0, RATE) > 2500.0, "{encoding:?}");
        assert!(tone_amplitude(mid, 1000.0, RATE) > 2500.0, "{encoding:?}");
        sox_reads(&path, 2.0);
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn crashed_ulaw_recording_stays_readable() {
    let path = temp_path("crash_ulaw.wav");
    let mut f = std::fs::File::create(&path).unwrap();
    let cfg = RecorderConfig {
        encoding: Encoding::Ulaw,
        ..Default::default()
    };
    let mut rec = WavRecorder::new(cfg);
    record(&mut rec, &mut f, 3);
    drop(f); // no finish()
    let p = PromptCache::new().load(&path, RATE).unwrap();
    assert!(
        p.duration() >= Duration::from_millis(2990),
        "{:?}",
        p.duration()
    );
    sox_reads(&path, 2.99);
    let _ = std::fs::remove_file(&path);
}
