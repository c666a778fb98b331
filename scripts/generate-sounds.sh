#!/usr/bin/env bash
# Generates the shipped voice prompts (sounds/<lang>/<name>.wav, from sounds/prompts.json) and the default
# music on hold (sounds/moh/default.wav). With the same espeak-ng and sox versions every run gives the same
# bytes, so the committed files can be checked against their source.
#
#   scripts/generate-sounds.sh [-o OUT_DIR] [NAME...]
#
# NAME is a prompt name from the manifest or `moh`; without names everything is generated.
# OUT_DIR defaults to the repository's sounds/.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
manifest="$repo_root/sounds/prompts.json"
out_dir="$repo_root/sounds"

usage() {
  echo "usage: $0 [-o OUT_DIR] [NAME...]   (NAME: a prompt from sounds/prompts.json, or moh)" >&2
  exit 2
}

while getopts 'o:h' opt; do
  case "$opt" in
    o) out_dir=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))

for tool in espeak-ng sox node; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is not installed" >&2; exit 1; }
done

# Fixed voice settings: output may change only when a text or a tool version does.
readonly ESPEAK_FLAGS=(-s 160 -p 50 -a 100)
# -D: dither is random noise, it would make every run differ. -R: seed any other randomness.
readonly SOX=(sox -D -R)
# Telephone-band PCM: what the media layer plays without converting.
readonly PCM_OUT=(-r 8000 -b 16 -e signed-integer -c 1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One "lang<TAB>voice<TAB>name<TAB>text" line per prompt and language; unknown names are an error.
prompt_lines() {
  node -e '
    const fs = require("node:fs");
    const fail = (message) => {
      console.error(message);
      process.exit(1);
    };
    const [manifestPath, ...wanted] = process.argv.slice(1);
    const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    const names = wanted.length > 0 ? wanted.filter((n) => n !== "moh") : Object.keys(manifest.prompts);
    for (const name of names) {
      const texts = manifest.prompts[name];
      if (!texts) fail(`no prompt named ${name} in ${manifestPath}`);
      for (const [lang, { voice }] of Object.entries(manifest.languages)) {
        const text = texts[lang];
        if (typeof text !== "string" || text.trim() === "" || /[\t\n\r]/.test(text)) {
          fail(`prompt ${name} needs a one-line ${lang} text`);
        }
        console.log([lang, voice, name, text].join("\t"));
      }
    }
  ' "$manifest" "$@"
}

# Speech, trimmed to 50 ms of silence at each end, with its peak at -3 dBFS. espeak-ng speaks near full
# scale, so the first gain leaves the resampler headroom for its overshoot.
make_prompt() {
  local voice=$1 text=$2 target=$3
  mkdir -p "$(dirname "$target")"
  printf '%s' "$text" | espeak-ng -v "$voice" "${ESPEAK_FLAGS[@]}" --stdout --stdin \
    | "${SOX[@]}" -t wav - "${PCM_OUT[@]}" "$work/prompt.wav" \
        silence 1 0.02 -50d reverse silence 1 0.02 -50d reverse \
        gain -6 rate -v 8000 gain -n -3 pad 0.05 0.05
  mv "$work/prompt.wav" "$target"
}

# Pitches are semitones from A4 (sox's %n notation), kept between about 200 Hz and 2 kHz because
# handsets pass little below 300 Hz. Four bars of 7.5 s: Cmaj7, Am7, Dm7, G7, so the end leads back to
# the start when the player loops the file.
readonly CHORD_PADS=(
  "-9 -2 2 7"
  "-12 -5 -2 3"
  "-7 0 3 8"
  "-14 -7 -4 2"
)
readonly CHORD_ARPEGGIOS=(
  "3 7 10 14 15 14 10 7"
  "0 3 7 10 12 10 7 3"
  "5 8 12 15 17 15 12 8"
  "-2 2 5 8 10 8 5 2"
)
readonly BAR_SECONDS=7.5
readonly NOTE_SECONDS=0.9375

# A soft sine pad under a slow bell-like arpeggio, 30 s, fading in and out so the loop point is quiet.
# Synthesised here from nothing but sine waves, so it is our own work and free of royalties.
make_moh() {
  local target=$1 bar pitch
  local pads=() notes=()
  mkdir -p "$(dirname "$target")"
  for bar in "${!CHORD_PADS[@]}"; do
    local synth=()
    for pitch in ${CHORD_PADS[$bar]}; do synth+=(sine "%$pitch"); done
    # Each pad rings 1 s into the next bar and both fade across it, so chord changes do not dip.
    "${SOX[@]}" -r 8000 -c 4 -n "$work/pad-$bar.wav" synth 8.5 "${synth[@]}" remix - \
      fade q 1 8.5 1 pad "$(awk "BEGIN { print $bar * $BAR_SECONDS }")"
    pads+=("$work/pad-$bar.wav")
    for pitch in ${CHORD_ARPEGGIOS[$bar]}; do
      local note="$work/note$pitch.wav"
      if [ ! -e "$note" ]; then
        # Fundamental plus a quiet octave, fast attack and long decay: a mellow bell.
        "${SOX[@]}" -r 8000 -c 2 -n "$note" synth "$NOTE_SECONDS" sine "%$pitch" sine "%$((pitch + 12))" \
          remix 1v0.8,2v0.2 fade q 0.02 "$NOTE_SECONDS" 0.85
      fi
      notes+=("$note")
    done
  done
  "${SOX[@]}" "${notes[@]}" "$work/arpeggio.wav" pad 0 1
  "${SOX[@]}" -m "${pads[@]}" "$work/pads.wav"
  "${SOX[@]}" -m -v 0.4 "$work/pads.wav" -v 0.6 "$work/arpeggio.wav" "${PCM_OUT[@]}" "$work/moh.wav" \
    trim 0 30 fade h 1 30 1.5 gain -n -6
  mv "$work/moh.wav" "$target"
}

lines=$(prompt_lines "$@")
if [ -n "$lines" ]; then
  while IFS=$'\t' read -r lang voice name text; do
    make_prompt "$voice" "$text" "$out_dir/$lang/$name.wav"
  done <<<"$lines"
fi

generate_moh=$([ $# -eq 0 ] && echo yes || echo no)
for name in "$@"; do
  if [ "$name" = moh ]; then generate_moh=yes; fi
done
if [ "$generate_moh" = yes ]; then
  make_moh "$out_dir/moh/default.wav"
fi
