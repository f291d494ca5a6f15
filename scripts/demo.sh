#!/usr/bin/env bash
# The README's main command: set up, generate a small dataset on the embedded defaults, inspect it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
OUT=${1:-out/demo}
synth generate --out "$OUT" --resume
synth inspect "$OUT" --out "$OUT/inspect"
echo "done: shards and dataset card in $OUT, pictures in $OUT/inspect"
