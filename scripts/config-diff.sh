#!/usr/bin/env bash
# The differential config check (a dev tool, not part of the tests): draws COUNT random tiny models of the
# supported families with src/test/scripts/config_diff_gen.py (transformers writes each model and its outputs),
# then loads every one in this server's model runtime and compares (dev.reftserver.bench.ConfigDiff: all positions'
# logits, 8 greedy steps through the KV cache, all prompts as one batch). Needs a Python with torch and
# transformers (PYTHON, default python3); about a second a case on two cores. STORED=bfloat16 (or float16, or
# mixed) saves the weights in 16 bits, as real checkpoints are. DTYPE=bfloat16 compares the Llama family's bfloat16
# path instead, against transformers' float32 outputs within twice its own bfloat16 forward's departure from them.
# Usage: scripts/config-diff.sh OUT_DIR SEED COUNT [ARCH,ARCH,...]
#   cases go to OUT_DIR/<arch>-<seed>/, one result line per case to OUT_DIR.results.jsonl (the loader's log to
#   OUT_DIR.log), counts by outcome to stdout. To rerun one case after a change: ConfigDiff RESULTS.jsonl
#   OUT_DIR/<arch>-<seed> (the java lines below).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DJL_OFFLINE=true
mvn -B -q test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
"${PYTHON:-python3}" src/test/scripts/config_diff_gen.py ${STORED:+--stored=$STORED} "$out" "$2" "$3" ${4:-} \
  > "$out.gen.jsonl"
rm -f "$out.results.jsonl"
cp="target/classes:target/test-classes:$(cat target/cp.txt)"
find "$out" -mindepth 1 -maxdepth 1 -type d -print0 | sort -z \
  | xargs -0 -n 100 java -cp "$cp" dev.reftserver.bench.ConfigDiff ${DTYPE:+--dtype=$DTYPE} "$out.results.jsonl" \
      >> "$out.log" 2>&1
java -cp "$cp" dev.reftserver.bench.ConfigDiff --summary "$out.results.jsonl"
