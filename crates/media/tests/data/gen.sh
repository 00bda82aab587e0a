#!/usr/bin/env bash
# Regenerates the test audio in this folder (committed, so tests do not need the tools).
# Needs espeak-ng and sox (Debian: espeak-ng sox libsox-fmt-all).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Speech for DTMF talk-off, 8 kHz mono 16-bit, as telephone prompts are.
espeak-ng -v en -s 150 -w "$tmp/en.wav" \
  "Thank you for calling. Press one for sales, two for support, or stay on the line. \
Enter your account number and the hash key. Zero, four, seven, nine."
sox "$tmp/en.wav" -r 8000 -c 1 -b 16 speech_en.wav gain -n -1

espeak-ng -v cmn -s 150 -w "$tmp/zh.wav" \
  "感谢您的来电。销售请按一，技术支持请按二，或请稍候。请输入您的账号，并以井号键结束。零，四，七，九。"
sox "$tmp/zh.wav" -r 8000 -c 1 -b 16 speech_zh.wav gain -n -1

# Music-on-hold-like audio: a chord progression (C, Am, F, G) on plucked strings with a
# melody over it, 8 kHz mono.
chord() { # name duration notes...
  local out=$1 dur=$2; shift 2
  local args=()
  for n in "$@"; do args+=(pluck "$n"); done
  sox -n -r 8000 -c 1 -b 16 "$tmp/$out.wav" synth "$dur" "${args[@]}" remix - gain -n -6
}
chord c 2 C3 E4 G4 C5
chord am 2 A2 C4 E4 A4
chord f 2 F2 A3 C4 F4
chord g 2 G2 B3 D4 G4
sox "$tmp/c.wav" "$tmp/am.wav" "$tmp/f.wav" "$tmp/g.wav" "$tmp/chords.wav"
sox -n -r 8000 -c 1 -b 16 "$tmp/melody.wav" synth 0.5 triangle E5 : synth 0.5 triangle G5 \
  : synth 0.5 triangle C6 : synth 0.5 triangle B5 : synth 0.5 triangle A5 : synth 0.5 triangle E5 \
  : synth 1 triangle C5 : synth 0.5 triangle F5 : synth 0.5 triangle A5 : synth 1 triangle C6 \
  : synth 0.5 triangle D6 : synth 0.5 triangle B5 : synth 1 triangle G5 gain -n -10
sox -m "$tmp/chords.wav" "$tmp/melody.wav" music_moh.wav gain -n -3

# Player inputs: 1 s of 1 kHz, stereo, at rates other than 8 kHz, in each container.
sox -n -r 22050 -c 2 -b 16 tone1k_22k_stereo.wav synth 0.5 sine 1000 gain -6
sox -n -r 48000 -c 2 -b 16 tone1k_48k.flac synth 1 sine 1000 gain -6
sox -n -r 44100 -c 2 tone1k_44k.ogg synth 1 sine 1000 gain -6
sox -n -r 16000 -c 1 tone1k_16k.mp3 synth 1 sine 1000 gain -6
# Not audio: the player must refuse it at load time.
printf 'this is not audio\n' > not_audio.wav
