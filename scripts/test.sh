#!/usr/bin/env bash
# The README's test command runs this: the layout and lint checks, then the whole suite, end-to-end tests included.
set -uo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# ruff owns the layout and the lint rules (pyproject.toml): `ruff format . && ruff check --fix .` mends most.
ruff format --check --quiet . || { echo "ruff format: run 'ruff format .'" >&2; exit 1; }
ruff check --quiet . || exit 1
exec python -m pytest -q "$@"
