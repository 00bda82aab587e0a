//! One IVR leg end to end on simulated time: the caller's µ-law packets cross a jittery,
//! lossy link into the jitter buffer, are decoded and scanned for DTMF while a welcome
//! prompt plays with barge-in, and both directions are recorded in stereo.

use std::io::Cursor;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchyard_media::codec::CodecKind;
use switchyard_media::dtmf::DtmfDigit;
use switchyard_media::dtmf::generate::DtmfGenerator;
use switchyard_media::dtmf::goertzel::{rms, tone_amplitude};
use switchyard_media::dtmf::inband::{DetectorConfig, DtmfDetector};
use switchyard_media::dtmf::interwork::{DtmfMode, LegDtmf};
use switchyard_media::jitter::{JitterBuffer, JitterConfig, Playout};
use switchyard_media::player::{DoneReason, PlayOptions, Player, PlayerEvent, PromptCache};
use switchyard_media::recorder::{Layout, RecorderConfig, WavRecorder};

const FRAME: usize = 160;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn caller_barges_into_the_welcome_prompt_with_an_inband_digit() {
    // The caller: 1 s of silence, then '3' for 100 ms, then silence, as µ-law packets.
    let mut caller_pcm = vec![0i16; 8000];
    let mut g = DtmfGenerator::new(DtmfDigit::from_char('3').unwrap(), 8000, 800, 0, 6000);
    let mut tone = vec![0i16; 800];
    g.fill(&mut tone);
    caller_pcm.extend(tone);
    caller_pcm.extend(vec![0i16; 8000 * 2]);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut arrivals: Vec<(Duration, u16, u32, Vec<u8>)> = Vec::new();
    for (i, pcm) in caller_pcm.chunks(FRAME).enumerate() {
        if rng.random::<f64>() < 0.02 {
            continue; // lost
        }
        let mut payload = vec![0u8; FRAME];
        CodecKind::Pcmu.encode(pcm, &mut payload).unwrap();
        let sent = Duration::from_millis(20 * i as u64);
        let delay = Duration::from_micros(rng.random_range(30_000..50_000));
        arrivals.push((sent + delay, i as u16, 160 * i as u32, payload));
    }
    arrivals.sort_by_key(|a| a.0);

    // The leg negotiated no RFC 4733, so its audio is scanned for tones.
    let leg = LegDtmf::new(DtmfMode::InBand { sample_rate: 8000 });
    assert!(leg.detects_inband());

    let welcome = PromptCache::new()
        .load(data("speech_en.wav"), 8000)
        .expect("test prompt");
    let mut jb: JitterBuffer<Vec<u8>> = JitterBuffer::new(JitterConfig::default());
    let mut det = DtmfDetector::new(DetectorConfig::default());
    let mut player = Player::new(8000);
    let id = player
        .play(
            vec![welcome.into()],
            PlayOptions {
                looped: false,
                barge_in: true,
            },
        )
        .unwrap();
    let mut rec = WavRecorder::new(RecorderConfig {
        layout: Layout::Stereo,
        ..Default::default()
    });
    let mut file = Cursor::new(Vec::new());

    let t0 = Instant::now();
    let (mut heard, mut to_caller) = ([0i16; FRAME], [0i16; FRAME]);
    let mut digits = Vec::new();
    let mut barge_at = None;
    let mut next = 0;
    for tick in 0..150u64 {
        let now = Duration::from_millis(20 * tick + 5);
        while next < arrivals.len() && arrivals[next].0 <= now {
            let (at, seq, ts, payload) = arrivals[next].clone();
            jb.push(t0 + at, 0x5151, seq, ts, payload);
            next += 1;
        }
        match jb.pop(t0 + now) {
            Playout::Frame { payload, .. } => {
                CodecKind::Pcmu.decode(&payload, &mut heard).unwrap();
            }
            Playout::Conceal { .. } | Playout::Idle => heard.fill(0),
        }
        det.feed(&heard);
        while let Some(d) = det.poll_digit() {
            digits.push((d, now));
            player.handle_dtmf(d);
        }
        player.next_frame(&mut to_caller);
        while let Some(PlayerEvent::PlaybackDone { id: done, reason }) = player.poll_event() {
            assert_eq!(done, id);
            assert_eq!(
                reason,
                DoneReason::BargeIn(DtmfDigit::from_char('3').unwrap())
            );
            barge_at = Some(now);
        }
        rec.push(&heard, &to_caller);
        rec.write_to(&mut file).unwrap();
    }
    rec.finish(&mut file).unwrap();

    assert_eq!(digits.len(), 1, "{digits:?}");
    assert_eq!(digits[0].0.to_char(), '3');
    // The tone was sent at 1.0 s; network (≤50 ms), jitter buffer and detection add the rest.
    let barge = barge_at.expect("the prompt was barged into");
    assert!(
        barge > Duration::from_millis(1000) && barge < Duration::from_millis(1200),
        "{barge:?}"
    );

    // The recording: caller left (silence, the tone), prompt right (speech, then nothing).
    let r = hound::WavReader::new(Cursor::new(file.into_inner())).unwrap();
    let all: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = all.iter().step_by(2).copied().collect();
    let right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let at = |v: &Vec<i16>, from_ms: usize, to_ms: usize| v[from_ms * 8..to_ms * 8].to_vec();
    let tone_part = at(&left, 1000, 1300);
    assert!(tone_amplitude(&tone_part, 697.0, 8000) > 1000.0);
    assert!(tone_amplitude(&tone_part, 1477.0, 8000) > 1000.0);
    assert!(
        rms(&at(&right, 200, 1000)) > 300.0,
        "the prompt played before the digit"
    );
    let after = (barge.as_millis() as usize) + 20;
    assert_eq!(
        rms(&at(&right, after, 2900)),
        0.0,
        "the prompt stopped at the digit"
    );
}
