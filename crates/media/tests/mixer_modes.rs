//! The mixer's modes proven by what each participant hears: every participant sends its
//! own tone, and a Goertzel filter per output tells whose voices are in it.

use switchyard_media::dtmf::goertzel::tone_amplitude;
use switchyard_media::mixer::{MixMode, Mixer, MixerError, ParticipantId};
use switchyard_media::tone::{ToneGenerator, ToneSpec};

const RATE: u32 = 8000;
const FRAME: usize = 160;

const CALLER: ParticipantId = ParticipantId(1);
const AGENT: ParticipantId = ParticipantId(2);
const SUPERVISOR: ParticipantId = ParticipantId(3);
const THIRD: ParticipantId = ParticipantId(4);

fn freq(id: ParticipantId) -> f32 {
    match id.0 {
        1 => 600.0,
        2 => 900.0,
        3 => 1300.0,
        _ => 1700.0,
    }
}

struct Call {
    mixer: Mixer,
    gens: Vec<(ParticipantId, ToneGenerator)>,
}

impl Call {
    fn new(parts: &[(ParticipantId, MixMode)]) -> Self {
        let mut mixer = Mixer::new(FRAME);
        let mut gens = Vec::new();
        for &(id, mode) in parts {
            mixer.add(id, mode).unwrap();
            let mut spec = ToneSpec::new([freq(id), 0.0], vec![]);
            spec.amplitude = 4000;
            gens.push((id, ToneGenerator::new(spec, RATE)));
        }
        Self { mixer, gens }
    }

    /// Run 200 ms and return, per participant, which participants' tones it heard.
    fn heard(&mut self) -> Vec<(ParticipantId, Vec<ParticipantId>)> {
        let mut outs: Vec<(ParticipantId, Vec<i16>)> =
            self.gens.iter().map(|(id, _)| (*id, Vec::new())).collect();
        let mut frame = [0i16; FRAME];
        for _ in 0..10 {
            for (id, g) in &mut self.gens {
                g.next_frame(&mut frame);
                self.mixer.push_input(*id, &frame).unwrap();
            }
            self.mixer.mix();
            for (id, out) in &mut outs {
                out.extend_from_slice(self.mixer.output(*id).unwrap());
            }
        }
        outs.into_iter()
            .map(|(id, out)| {
                let heard = self
                    .gens
                    .iter()
                    .map(|(other, _)| *other)
                    .filter(|&other| {
                        let a = tone_amplitude(&out, freq(other), RATE);
                        // Either clearly present (≈4000) or clearly absent.
                        assert!(
                            !(100.0..=3800.0).contains(&a),
                            "{id:?} hears {other:?} at {a}"
                        );
                        a > 3800.0
                    })
                    .collect();
                (id, heard)
            })
            .collect()
    }
}

fn hears(result: &[(ParticipantId, Vec<ParticipantId>)], who: ParticipantId) -> Vec<ParticipantId> {
    let mut v = result.iter().find(|(id, _)| *id == who).unwrap().1.clone();
    v.sort();
    v
}

#[test]
fn everyone_hears_everyone_else_but_not_themselves() {
    let mut call = Call::new(&[
        (CALLER, MixMode::Normal),
        (AGENT, MixMode::Normal),
        (SUPERVISOR, MixMode::Normal),
        (THIRD, MixMode::Normal),
    ]);
    let r = call.heard();
    assert_eq!(hears(&r, CALLER), [AGENT, SUPERVISOR, THIRD]);
    assert_eq!(hears(&r, AGENT), [CALLER, SUPERVISOR, THIRD]);
    assert_eq!(hears(&r, SUPERVISOR), [CALLER, AGENT, THIRD]);
    assert_eq!(hears(&r, THIRD), [CALLER, AGENT, SUPERVISOR]);
}

#[test]
fn listen_only_hears_all_and_is_heard_by_none() {
    let mut call = Call::new(&[
        (CALLER, MixMode::Normal),
        (AGENT, MixMode::Normal),
        (SUPERVISOR, MixMode::ListenOnly),
    ]);
    let r = call.heard();
    assert_eq!(hears(&r, CALLER), [AGENT]);
    assert_eq!(hears(&r, AGENT), [CALLER]);
    assert_eq!(hears(&r, SUPERVISOR), [CALLER, AGENT]);
}

#[test]
fn whisper_is_heard_only_by_the_agent() {
    let mut call = Call::new(&[
        (CALLER, MixMode::Normal),
        (AGENT, MixMode::Normal),
        (SUPERVISOR, MixMode::Whisper { to: AGENT }),
    ]);
    let r = call.heard();
    assert_eq!(hears(&r, CALLER), [AGENT]);
    assert_eq!(hears(&r, AGENT), [CALLER, SUPERVISOR]);
    assert_eq!(hears(&r, SUPERVISOR), [CALLER, AGENT]);
}

#[test]
fn barge_is_heard_by_everyone() {
    let mut call = Call::new(&[
        (CALLER, MixMode::Normal),
        (AGENT, MixMode::Normal),
        (SUPERVISOR, MixMode::Barge),
    ]);
    let r = call.heard();
    assert_eq!(hears(&r, CALLER), [AGENT, SUPERVISOR]);
    assert_eq!(hears(&r, AGENT), [CALLER, SUPERVISOR]);
    assert_eq!(hears(&r, SUPERVISOR), [CALLER, AGENT]);
}

#[test]
fn supervisor_moves_from_monitor_to_whisper_to_barge_mid_call() {
    let mut call = Call::new(&[
        (CALLER, MixMode::Normal),
        (AGENT, MixMode::Normal),
        (SUPERVISOR, MixMode::ListenOnly),
        (THIRD, MixMode::ListenOnly),
    ]);
    let r = call.heard();
    assert_eq!(hears(&r, AGENT), [CALLER]);
    // Two monitors do not hear each other either.
    assert_eq!(hears(&r, THIRD), [CALLER, AGENT]);
    call.mixer
        .set_mode(SUPERVISOR, MixMode::Whisper { to: AGENT })
        .unwrap();
    let r = call.heard();
    assert_eq!(hears(&r, AGENT), [CALLER, SUPERVISOR]);
    assert_eq!(hears(&r, CALLER), [AGENT]);
    assert_eq!(hears(&r, THIRD), [CALLER, AGENT]);
    call.mixer.set_mode(SUPERVISOR, MixMode::Barge).unwrap();
    let r = call.heard();
    assert_eq!(hears(&r, CALLER), [AGENT, SUPERVISOR]);
    assert_eq!(hears(&r, THIRD), [CALLER, AGENT, SUPERVISOR]);
    assert_eq!(call.mixer.mode(SUPERVISOR), Some(MixMode::Barge));
}

#[test]
fn sums_saturate_instead_of_wrapping() {
    let mut m = Mixer::new(4);
    for id in [CALLER, AGENT, SUPERVISOR] {
        m.add(id, MixMode::Normal).unwrap();
    }
    m.push_input(CALLER, &[30_000, -30_000, 30_000, 100])
        .unwrap();
    m.push_input(AGENT, &[30_000, -30_000, -30_000, 100])
        .unwrap();
    m.push_input(SUPERVISOR, &[0, 0, 0, 100]).unwrap();
    m.mix();
    assert_eq!(m.output(SUPERVISOR).unwrap(), [i16::MAX, i16::MIN, 0, 200]);
    assert_eq!(m.output(CALLER).unwrap(), [30_000, -30_000, -30_000, 200]);
    // Inputs are consumed: a participant that sends nothing next frame is silent.
    m.push_input(CALLER, &[5; 2]).unwrap();
    m.mix();
    assert_eq!(m.output(AGENT).unwrap(), [5, 5, 0, 0]);
    assert_eq!(m.output(CALLER).unwrap(), [0, 0, 0, 0]);
}

#[test]
fn membership_errors_and_removal() {
    let mut m = Mixer::new(160);
    m.add(CALLER, MixMode::Normal).unwrap();
    assert_eq!(
        m.add(CALLER, MixMode::Barge),
        Err(MixerError::Duplicate(CALLER))
    );
    assert_eq!(
        m.push_input(AGENT, &[0; 160]),
        Err(MixerError::Unknown(AGENT))
    );
    assert_eq!(
        m.set_mode(AGENT, MixMode::Barge),
        Err(MixerError::Unknown(AGENT))
    );
    m.add(AGENT, MixMode::Normal).unwrap();
    m.remove(CALLER).unwrap();
    assert_eq!(m.len(), 1);
    assert!(m.output(CALLER).is_none());
    assert_eq!(m.remove(CALLER), Err(MixerError::Unknown(CALLER)));
}
