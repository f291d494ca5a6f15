#!/usr/bin/env bash
# Builds the wheel, installs it into a fresh virtual environment and runs `synth generate --config ci` from a
# directory outside the checkout: proves that an installed package (not only a checkout) can render and write a
# dataset card. CI runs it after the tests (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
. .venv/bin/activate
python -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" .
deactivate
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1
"$work/venv/bin/python" -m pip install -q "$work"/dist/*.whl
cd "$work"
"$work/venv/bin/synth" generate --config ci --out "$work/out"
"$work/venv/bin/synth" validate "$work/out"
"$work/venv/bin/python" - "$work/out" <<'PY'
import json, sys
from pathlib import Path
card = json.loads((Path(sys.argv[1]) / "dataset_card.json").read_text())
assert card["code"]["source"] == "installed package", card["code"]
assert card["total"]["samples"] > 0, card["total"]
print("wheel check: installed package generated", card["total"]["samples"], "samples;", "code", card["code"])
PY
