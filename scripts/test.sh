#!/usr/bin/env bash
# The README's test command runs this: the whole suite, end-to-end tests included.
set -uo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec python -m pytest -q "$@"
