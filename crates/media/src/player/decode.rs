//! Decoding prompt files (WAV, FLAC, OGG/Vorbis, MP3 via symphonia), down-mixing to mono
//! and resampling (rubato) to the stream's rate. Load-time work, never on the frame path.

use std::path::Path;
use std::sync::Arc;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use super::{Prompt, PromptError};

/// Read and decode the file at `path` into a mono prompt at `rate` Hz.
pub fn load_file(path: &Path, rate: u32) -> Result<Prompt, PromptError> {
    let name: Arc<str> = path.display().to_string().into();
    let bytes = std::fs::read(path).map_err(|e| PromptError::Open {
        file: name.clone(),
        reason: e.to_string(),
    })?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_bytes(name, bytes, ext, rate)
}

/// Decode an in-memory file (`name` is used in errors; `extension` helps the probe).
pub fn decode_bytes(
    name: Arc<str>,
    bytes: Vec<u8>,
    extension: Option<&str>,
    rate: u32,
) -> Result<Prompt, PromptError> {
    let (mono, src_rate) = decode_to_mono(&name, bytes, extension)?;
    let resampled = if src_rate == rate {
        mono
    } else {
        resample(&name, &mono, src_rate, rate)?
    };
    let samples: Arc<[i16]> = resampled
        .iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    if samples.is_empty() {
        return Err(PromptError::Empty { file: name });
    }
    Ok(Prompt {
        name,
        samples,
        sample_rate: rate,
    })
}

fn decode_error(file: &Arc<str>, e: impl std::fmt::Display) -> PromptError {
    PromptError::Decode {
        file: file.clone(),
        reason: e.to_string(),
    }
}

/// Decode every packet of the default audio track to mono f32 in [-1, 1].
fn decode_to_mono(
    name: &Arc<str>,
    bytes: Vec<u8>,
    extension: Option<&str>,
) -> Result<(Vec<f32>, u32), PromptError> {
    let mss = MediaSourceStream::new(
        Box::new(std::io::Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| decode_error(name, e))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| PromptError::NoAudioTrack { file: name.clone() })?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| PromptError::NoAudioTrack { file: name.clone() })?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| decode_error(name, e))?;

    let mut mono = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut rate = params.sample_rate;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(decode_error(name, e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(|e| decode_error(name, e))?;
        let channels = buf.spec().channels().count().max(1);
        rate = Some(buf.spec().rate());
        interleaved.resize(buf.samples_interleaved(), 0.0);
        buf.copy_to_slice_interleaved(&mut interleaved);
        // Down-mix: the mean of the channels.
        let scale = 1.0 / channels as f32;
        mono.extend(
            interleaved
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() * scale),
        );
    }
    let rate = rate
        .filter(|&r| r > 0)
        .ok_or_else(|| decode_error(name, "no sample rate"))?;
    Ok((mono, rate))
}

/// Resample a whole mono clip with rubato's sinc resampler (band-limited, so no aliasing
/// when going down to 8 kHz).
fn resample(name: &Arc<str>, input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, PromptError> {
    let err = |e: &dyn std::fmt::Display| PromptError::Resample {
        file: name.clone(),
        reason: e.to_string(),
    };
    let params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2)
        .interpolation(SincInterpolationType::Linear);
    let mut resampler = Async::<f32>::new_sinc(
        f64::from(to) / f64::from(from),
        1.0,
        &params,
        1024,
        1,
        FixedAsync::Input,
    )
    .map_err(|e| err(&e))?;
    let out_len = resampler.process_all_needed_output_len(input.len());
    let mut output = vec![0.0f32; out_len];
    let inbuf = InterleavedSlice::new(input, 1, input.len()).map_err(|e| err(&e))?;
    let mut outbuf = InterleavedSlice::new_mut(&mut output, 1, out_len).map_err(|e| err(&e))?;
    let (_, written) = resampler
        .process_all_into_buffer(&inbuf, &mut outbuf, input.len(), None)
        .map_err(|e| err(&e))?;
    output.truncate(written);
    Ok(output)
}
