//! N-party mixer: each participant hears the sum of everyone else (never itself), with
//! saturation, and per-participant modes for supervisors.
//!
//! | mode | hears | heard by |
//! |---|---|---|
//! | `Normal` | everyone else | everyone else |
//! | `ListenOnly` (monitor) | everyone | nobody |
//! | `Whisper { to }` (coach) | everyone | only `to` (the agent) |
//! | `Barge` | everyone else | everyone else |
//!
//! ```
//! use switchyard_media::mixer::{Mixer, MixMode, ParticipantId};
//!
//! let (caller, agent, sup) = (ParticipantId(1), ParticipantId(2), ParticipantId(3));
//! let mut m = Mixer::new(160);
//! m.add(caller, MixMode::Normal).unwrap();
//! m.add(agent, MixMode::Normal).unwrap();
//! m.add(sup, MixMode::Whisper { to: agent }).unwrap();
//! m.push_input(caller, &[100; 160]).unwrap();
//! m.push_input(agent, &[20; 160]).unwrap();
//! m.push_input(sup, &[3; 160]).unwrap();
//! m.mix();
//! assert_eq!(m.output(caller).unwrap()[0], 20);       // the agent only
//! assert_eq!(m.output(agent).unwrap()[0], 103);       // the caller and the whisper
//! assert_eq!(m.output(sup).unwrap()[0], 120);         // the whole call
//! ```

/// Identifies a participant (the caller's choice: a leg id, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u32);

/// How a participant takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MixMode {
    /// Hears everyone else, heard by everyone else.
    #[default]
    Normal,
    /// Supervisor monitoring: hears everyone, heard by nobody.
    ListenOnly,
    /// Supervisor coaching: hears everyone, heard only by one participant (the agent).
    Whisper {
        /// Who hears the whisper.
        to: ParticipantId,
    },
    /// Supervisor barge-in: hears and is heard by everyone, like a normal party.
    Barge,
}

impl MixMode {
    fn heard_by_all(self) -> bool {
        matches!(self, MixMode::Normal | MixMode::Barge)
    }
}

/// Mixer errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MixerError {
    /// The id is already in the mix.
    #[error("participant {0:?} is already in the mix")]
    Duplicate(ParticipantId),
    /// No such participant.
    #[error("participant {0:?} is not in the mix")]
    Unknown(ParticipantId),
}

#[derive(Debug)]
struct Participant {
    id: ParticipantId,
    mode: MixMode,
    input: Box<[i16]>,
    output: Box<[i16]>,
}

/// Mixes one frame at a time; buffers are allocated when participants join, never per
/// frame. All inputs and outputs share one sample rate and frame length.
#[derive(Debug)]
pub struct Mixer {
    frame_len: usize,
    parts: Vec<Participant>,
    /// Sum of everyone heard by all.
    acc: Box<[i32]>,
}

impl Mixer {
    /// A mixer for frames of `frame_len` samples.
    pub fn new(frame_len: usize) -> Self {
        Self {
            frame_len,
            parts: Vec::new(),
            acc: vec![0; frame_len].into_boxed_slice(),
        }
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Participants in the mix.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether the mix is empty.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Add a participant.
    pub fn add(&mut self, id: ParticipantId, mode: MixMode) -> Result<(), MixerError> {
        if self.parts.iter().any(|p| p.id == id) {
            return Err(MixerError::Duplicate(id));
        }
        self.parts.push(Participant {
            id,
            mode,
            input: vec![0; self.frame_len].into_boxed_slice(),
            output: vec![0; self.frame_len].into_boxed_slice(),
        });
        Ok(())
    }

    /// Remove a participant.
    pub fn remove(&mut self, id: ParticipantId) -> Result<(), MixerError> {
        let i = self.index(id)?;
        self.parts.swap_remove(i);
        Ok(())
    }

    /// Change a participant's mode (e.g. a supervisor going from listen to whisper to
    /// barge).
    pub fn set_mode(&mut self, id: ParticipantId, mode: MixMode) -> Result<(), MixerError> {
        let i = self.index(id)?;
        self.parts[i].mode = mode;
        Ok(())
    }

    /// A participant's mode.
    pub fn mode(&self, id: ParticipantId) -> Option<MixMode> {
        self.parts.iter().find(|p| p.id == id).map(|p| p.mode)
    }

    fn index(&self, id: ParticipantId) -> Result<usize, MixerError> {
        self.parts
            .iter()
            .position(|p| p.id == id)
            .ok_or(MixerError::Unknown(id))
    }

    /// Give a participant's audio for this frame. Shorter input is padded with silence,
    /// longer input truncated; a participant with no input this frame is silent.
    pub fn push_input(&mut self, id: ParticipantId, samples: &[i16]) -> Result<(), MixerError> {
        let i = self.index(id)?;
        let input = &mut self.parts[i].input;
        let n = samples.len().min(input.len());
        input[..n].copy_from_slice(&samples[..n]);
        input[n..].fill(0);
        Ok(())
    }

    /// Mix the frame: compute every participant's output, then clear the inputs.
    pub fn mix(&mut self) {
        self.acc.fill(0);
        for p in self.parts.iter().filter(|p| p.mode.heard_by_all()) {
            for (a, &x) in self.acc.iter_mut().zip(p.input.iter()) {
                *a += i32::from(x);
            }
        }
        for i in 0..self.parts.len() {
            let (id, own_in_acc) = (self.parts[i].id, self.parts[i].mode.heard_by_all());
            // Start from everyone heard by all, minus itself.
            {
                let p = &mut self.parts[i];
                for ((o, &a), &x) in p.output.iter_mut().zip(self.acc.iter()).zip(p.input.iter()) {
                    let v = if own_in_acc { a - i32::from(x) } else { a };
                    *o = v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
                }
            }
            // Add whispers addressed to it. Rare, so re-saturate per whisper rather than
            // keep a second accumulator.
            for j in 0..self.parts.len() {
                if j == i || self.parts[j].mode != (MixMode::Whisper { to: id }) {
                    continue;
                }
                let (a, b) = if i < j {
                    let (l, r) = self.parts.split_at_mut(j);
                    (&mut l[i], &r[0])
                } else {
                    let (l, r) = self.parts.split_at_mut(i);
                    (&mut r[0], &l[j])
                };
                for (o, &x) in a.output.iter_mut().zip(b.input.iter()) {
                    *o = o.saturating_add(x);
                }
            }
        }
        for p in &mut self.parts {
            p.input.fill(0);
        }
    }

    /// What `id` hears this frame (after [`Mixer::mix`]).
    pub fn output(&self, id: ParticipantId) -> Option<&[i16]> {
        self.parts
            .iter()
            .find(|p| p.id == id)
            .map(|p| &p.output[..])
    }
}
