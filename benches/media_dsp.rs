//! Media DSP costs: G.711 throughput, in-band DTMF detection per channel, the N-party
//! mixer per participant, concurrent prompt playbacks, jitter buffer and recorder per frame.
//! Nothing to compare against here; the figures size the media engine (see
//! docs/benchmarks.md).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard_media::codec::g711;
use switchyard_media::codec::resample::FrameResampler;
use switchyard_media::dtmf::inband::{DetectorConfig, DtmfDetector};
use switchyard_media::jitter::{JitterBuffer, JitterConfig};
use switchyard_media::mixer::{MixMode, Mixer, ParticipantId};
use switchyard_media::player::{PlayOptions, Player, Prompt};
use switchyard_media::recorder::{Layout, RecorderConfig, WavRecorder};
use switchyard_media::tone::{ToneGenerator, ToneSpec};

const FRAME: usize = 160; // 20 ms at 8 kHz

/// Deterministic speech-band noise (no rand dependency needed for a bench).
fn noise(n: usize) -> Vec<i16> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ((x >> 16) as i16) / 4
        })
        .collect()
}

fn g711_bench(c: &mut Criterion) {
    let pcm = noise(8000);
    let mut law = vec![0u8; 8000];
    let mut back = vec![0i16; 8000];
    let mut g = c.benchmark_group("g711");
    g.throughput(Throughput::Elements(8000));
    g.bench_function("encode_ulaw_1s", |b| {
        b.iter(|| g711::encode_ulaw(black_box(&pcm), &mut law))
    });
    g711::encode_ulaw(&pcm, &mut law);
    g.bench_function("decode_ulaw_1s", |b| {
        b.iter(|| g711::decode_ulaw(black_box(&law), &mut back))
    });
    g.bench_function("encode_alaw_1s", |b| {
        b.iter(|| g711::encode_alaw(black_box(&pcm), &mut law))
    });
    g.bench_function("ulaw_to_alaw_1s", |b| {
        b.iter(|| g711::ulaw_to_alaw_in_place(black_box(&mut law)))
    });
    g.finish();
    let mut up =
        FrameResampler::new(8000, 16_000, Duration::from_millis(20)).expect("whole frames");
    let mut wide = [0i16; 320];
    c.bench_function("resample_8k_to_16k_frame", |b| {
        b.iter(|| up.process(black_box(&pcm[..FRAME]), &mut wide))
    });
}

fn dtmf_bench(c: &mut Criterion) {
    let audio = noise(FRAME * 50);
    let mut det = DtmfDetector::new(DetectorConfig::default());
    let mut i = 0;
    c.bench_function("dtmf_detector_per_channel_20ms", |b| {
        b.iter(|| {
            let f = &audio[i * FRAME..(i + 1) * FRAME];
            i = (i + 1) % 50;
            det.feed(black_box(f));
            black_box(det.poll_digit())
        })
    });
    // A listening party's channel is mostly quiet: the energy gate skips the filters.
    let quiet: Vec<i16> = audio.iter().map(|&x| x / 100).collect();
    let mut det = DtmfDetector::new(DetectorConfig::default());
    c.bench_function("dtmf_detector_per_channel_20ms_quiet", |b| {
        b.iter(|| {
            let f = &quiet[i * FRAME..(i + 1) * FRAME];
            i = (i + 1) % 50;
            det.feed(black_box(f));
            black_box(det.poll_digit())
        })
    });
}

fn mixer_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixer_frame");
    let input = noise(FRAME);
    for n in [2usize, 3, 5, 10, 50] {
        let mut m = Mixer::new(FRAME);
        for k in 0..n {
            let mode = if k == 2 && n == 3 {
                MixMode::Whisper {
                    to: ParticipantId(1),
                }
            } else {
                MixMode::Normal
            };
            m.add(ParticipantId(k as u32), mode).expect("distinct ids");
        }
        // Per participant: one input pushed, one output read, a share of the mix.
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                for k in 0..n {
                    m.push_input(ParticipantId(k as u32), &input)
                        .expect("member");
                }
                m.mix();
                black_box(m.output(ParticipantId(0)));
            })
        });
    }
    g.finish();
}

fn playback_bench(c: &mut Criterion) {
    // One shared 10 s prompt, N calls each at its own position, one 20 ms frame each.
    let prompt = Prompt::from_pcm("bench", Arc::from(noise(80_000)), 8000);
    let mut g = c.benchmark_group("playbacks_frame");
    for n in [100usize, 1000, 2000] {
        let mut players: Vec<Player> = (0..n)
            .map(|k| {
                let mut p = Player::new(8000);
                p.play(
                    vec![prompt.clone().into()],
                    PlayOptions {
                        looped: true,
                        barge_in: true,
                    },
                )
                .expect("rates match");
                let mut f = [0i16; FRAME];
                for _ in 0..(k % 400) {
                    p.next_frame(&mut f);
                }
                p
            })
            .collect();
        let mut frame = [0i16; FRAME];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                for p in &mut players {
                    p.next_frame(&mut frame);
                    black_box(&frame);
                }
            })
        });
    }
    g.finish();
}

fn misc_bench(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut jb: JitterBuffer<u32> = JitterBuffer::new(JitterConfig::default());
    let mut seq: u16 = 0;
    let mut now = t0;
    c.bench_function("jitter_push_pop_per_packet", |b| {
        b.iter(|| {
            now += Duration::from_millis(20);
            seq = seq.wrapping_add(1);
            jb.push(now, 1, seq, u32::from(seq) * 160, u32::from(seq));
            black_box(jb.pop(now));
        })
    });
    let mut tone = ToneGenerator::new(ToneSpec::ringback_us(), 8000);
    let mut frame = [0i16; FRAME];
    c.bench_function("ringback_tone_frame", |b| {
        b.iter(|| {
            tone.next_frame(&mut frame);
            black_box(&frame);
        })
    });
    let a = noise(FRAME);
    let mut rec = WavRecorder::new(RecorderConfig {
        layout: Layout::Stereo,
        ..RecorderConfig::default()
    });
    let mut sink = NullFile(0);
    c.bench_function("recorder_stereo_frame", |b| {
        b.iter(|| {
            rec.push(black_box(&a), black_box(&a));
            rec.write_to(&mut sink).expect("null write");
        })
    });
}

/// A file that discards what is written (the recorder's own cost, not the disk's).
struct NullFile(u64);

impl std::io::Write for NullFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for NullFile {
    fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
        Ok(self.0)
    }
}

criterion_group!(
    benches,
    g711_bench,
    dtmf_bench,
    mixer_bench,
    playback_bench,
    misc_bench
);
criterion_main!(benches);
