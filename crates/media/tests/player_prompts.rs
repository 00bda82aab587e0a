//! Prompt loading (WAV, FLAC, OGG/Vorbis, MP3), resampling and down-mixing, the shared
//! cache, and the per-call player's playlists, looping and barge-in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchyard_media::dtmf::DtmfDigit;
use switchyard_media::dtmf::goertzel::tone_amplitude;
use switchyard_media::player::{
    DoneReason, PlayOptions, Player, PlayerEvent, PlaylistItem, Prompt, PromptCache, PromptError,
};

fn data(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    assert!(
        p.exists(),
        "test audio {} is missing: run crates/media/tests/data/gen.sh",
        p.display()
    );
    p
}

/// Check a decoded 1 kHz test file: duration, frequency and level (−6 dBFS sine, so
/// about 16,400 peak; the stereo channels are identical so the down-mix keeps the level).
fn check_tone(p: &Prompt, rate: u32, secs: f64, tol: f64) {
    assert_eq!(p.sample_rate(), rate);
    let d = p.duration().as_secs_f64();
    assert!((d - secs).abs() <= tol, "{}: {d} s at {rate} Hz", p.name());
    let s = p.samples();
    let mid = &s[s.len() / 4..s.len() * 3 / 4];
    let a = tone_amplitude(mid, 1000.0, rate);
    assert!((a - 16_400.0).abs() < 1_200.0, "{}: 1 kHz at {a}", p.name());
    for off in [700.0, 1300.0, 2000.0] {
        let o = tone_amplitude(mid, off, rate);
        assert!(o < 300.0, "{}: {off} Hz at {o}", p.name());
    }
}

#[test]
fn wav_stereo_22k_to_8k_and_16k() {
    let mut cache = PromptCache::new();
    for rate in [8000, 16_000] {
        let p = cache.load(data("tone1k_22k_stereo.wav"), rate).unwrap();
        check_tone(&p, rate, 0.5, 0.01);
    }
}

#[test]
fn flac_48k_stereo() {
    let p = PromptCache::new()
        .load(data("tone1k_48k.flac"), 8000)
        .unwrap();
    check_tone(&p, 8000, 1.0, 0.01);
}

#[test]
fn ogg_vorbis_44k_stereo() {
    let p = PromptCache::new()
        .load(data("tone1k_44k.ogg"), 8000)
        .unwrap();
    check_tone(&p, 8000, 1.0, 0.01);
}

#[test]
fn mp3_16k_mono() {
    // MP3 encoders pad the start and end with up to a frame or two of silence.
    let p = PromptCache::new()
        .load(data("tone1k_16k.mp3"), 8000)
        .unwrap();
    check_tone(&p, 8000, 1.0, 0.12);
}

#[test]
fn missing_and_undecodable_files_are_load_errors_naming_the_file() {
    let mut cache = PromptCache::new();
    match cache.load("/nonexistent/welcome.wav", 8000) {
        Err(e @ PromptError::Open { .. }) => {
            assert!(e.to_string().contains("/nonexistent/welcome.wav"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let bad = data("not_audio.wav");
    match cache.load(&bad, 8000) {
        Err(e @ PromptError::Decode { .. }) => {
            assert!(e.to_string().contains("not_audio.wav"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(cache.is_empty());
}

#[test]
fn cache_decodes_once_and_shares_the_samples() {
    let mut cache = PromptCache::new();
    let a = cache.load(data("tone1k_44k.ogg"), 8000).unwrap();
    let b = cache.load(data("tone1k_44k.ogg"), 8000).unwrap();
    assert!(Arc::ptr_eq(a.samples(), b.samples()));
    assert_eq!(cache.len(), 1);
    let c = cache.load(data("tone1k_44k.ogg"), 16_000).unwrap();
    assert!(!Arc::ptr_eq(a.samples(), c.samples()));
    assert!(cache.get(data("tone1k_44k.ogg"), 8000).is_some());
    assert!(cache.get(data("tone1k_48k.flac"), 8000).is_none());
}

fn pcm(name: &str, value: i16, n: usize) -> Prompt {
    Prompt::from_pcm(name, Arc::from(vec![value; n]), 8000)
}

fn drain(player: &mut Player) -> Vec<PlayerEvent> {
    std::iter::from_fn(|| player.poll_event()).collect()
}

#[test]
fn playlist_plays_in_order_with_silence_between_then_reports_done() {
    let mut player = Player::new(8000);
    let items = vec![
        pcm("a", 100, 200).into(),
        PlaylistItem::Silence(100),
        pcm("b", 200, 180).into(),
    ];
    let id = player.play(items, PlayOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut frame = [0i16; 160];
    while player.next_frame(&mut frame) {
        out.extend_from_slice(&frame);
    }
    assert_eq!(out.len(), 4 * 160); // 480 samples padded to whole frames
    assert!(out[..200].iter().all(|&s| s == 100));
    assert!(out[200..300].iter().all(|&s| s == 0));
    assert!(out[300..480].iter().all(|&s| s == 200));
    assert!(out[480..].iter().all(|&s| s == 0));
    assert_eq!(
        drain(&mut player),
        [PlayerEvent::PlaybackDone {
            id,
            reason: DoneReason::Finished
        }]
    );
    assert!(!player.next_frame(&mut frame));
}

#[test]
fn looped_music_on_hold_never_finishes_until_stopped() {
    let mut player = Player::new(8000);
    let moh = PromptCache::new()
        .load(data("music_moh.wav"), 8000)
        .unwrap();
    let len = moh.samples().len();
    let id = player
        .play(
            vec![moh.clone().into()],
            PlayOptions {
                looped: true,
                barge_in: false,
            },
        )
        .unwrap();
    let mut frame = [0i16; 160];
    // Three times the file's length.
    for _ in 0..(3 * len / 160 + 1) {
        assert!(player.next_frame(&mut frame));
    }
    assert!(drain(&mut player).is_empty());
    // The loop restarts at the beginning: frame k of the second pass equals the file.
    let mut p2 = Player::new(8000);
    p2.play(
        vec![moh.clone().into()],
        PlayOptions {
            looped: true,
            barge_in: false,
        },
    )
    .unwrap();
    let mut all = Vec::new();
    for _ in 0..(len / 160 + 20) {
        p2.next_frame(&mut frame);
        all.extend_from_slice(&frame);
    }
    assert_eq!(&all[len..len + 1000], &moh.samples()[..1000]);
    // Not barge-in: a digit does not stop it.
    assert!(!player.handle_dtmf(DtmfDigit::from_char('1').unwrap()));
    player.stop();
    assert_eq!(
        drain(&mut player),
        [PlayerEvent::PlaybackDone {
            id,
            reason: DoneReason::Stopped
        }]
    );
}

#[test]
fn barge_in_stops_on_dtmf() {
    let mut player = Player::new(8000);
    let id = player
        .play(
            vec![pcm("menu", 500, 8000).into()],
            PlayOptions {
                looped: false,
                barge_in: true,
            },
        )
        .unwrap();
    let mut frame = [0i16; 160];
    player.next_frame(&mut frame);
    let two = DtmfDigit::from_char('2').unwrap();
    assert!(player.handle_dtmf(two));
    assert_eq!(
        drain(&mut player),
        [PlayerEvent::PlaybackDone {
            id,
            reason: DoneReason::BargeIn(two)
        }]
    );
    assert!(!player.next_frame(&mut frame));
    assert!(frame.iter().all(|&s| s == 0));
}

#[test]
fn new_play_replaces_the_old_and_rate_mismatch_is_refused() {
    let mut player = Player::new(8000);
    let first = player
        .play(vec![pcm("a", 1, 800).into()], PlayOptions::default())
        .unwrap();
    let second = player
        .play(vec![pcm("b", 2, 800).into()], PlayOptions::default())
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(
        drain(&mut player),
        [PlayerEvent::PlaybackDone {
            id: first,
            reason: DoneReason::Stopped
        }]
    );
    let wide = Prompt::from_pcm("wide", Arc::from(vec![0i16; 320]), 16_000);
    assert!(matches!(
        player.play(vec![wide.into()], PlayOptions::default()),
        Err(PromptError::RateMismatch {
            prompt_rate: 16_000,
            stream_rate: 8000,
            ..
        })
    ));
    // The refused request left the current playback alone.
    let mut frame = [0i16; 160];
    assert!(player.next_frame(&mut frame));
    assert_eq!(frame[0], 2);
    assert_eq!(Duration::from_millis(100), pcm("x", 0, 800).duration());
}
