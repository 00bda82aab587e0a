//! Property test: whatever arrives (duplicates, reordering, wild timestamps, SSRC changes),
//! the jitter buffer never panics, never plays a packet twice, and plays each stream in
//! timestamp order.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchyard_media::jitter::{JitterBuffer, JitterConfig, Playout, PushOutcome};

proptest! {
    #[test]
    fn never_plays_twice_or_out_of_order(
        events in proptest::collection::vec(
            (0u8..4, 0u16..64, prop_oneof![Just(0u32), any::<u32>()], 0u32..2, 0u64..60),
            0..300,
        )
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut jb: JitterBuffer<(u32, u16)> = JitterBuffer::new(JitterConfig::default());
        // Within one epoch (no reset, no idle restart): no packet twice, timestamps rising.
        let mut played = std::collections::HashSet::new();
        let mut last_ts: Option<u32> = None;
        for (kind, seq, wild_ts, ssrc, dt) in events {
            now += Duration::from_millis(dt);
            if kind == 0 {
                match jb.pop(now) {
                    Playout::Frame { payload: (s, q), timestamp, .. } => {
                        prop_assert!(played.insert((s, q)), "played twice");
                        if let Some(lt) = last_ts {
                            prop_assert!((timestamp.wrapping_sub(lt) as i32) > 0, "out of order");
                        }
                        last_ts = Some(timestamp);
                    }
                    Playout::Idle => {
                        played.clear();
                        last_ts = None;
                    }
                    Playout::Conceal { .. } => {}
                }
            } else {
                let ts = if wild_ts == 0 { u32::from(seq) * 160 } else { wild_ts };
                if jb.push(now, ssrc, seq, ts, (ssrc, seq)) == PushOutcome::Reset {
                    played.clear();
                    last_ts = None;
                }
            }
        }
    }
}
