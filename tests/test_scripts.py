"""The shell scripts a user runs first, end to end at toy size (real generation, training and evaluation)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ci.yaml's tiny scenes, three built-in subjects so that train, val and test each get one
TOY_DATA = (
    (ROOT / "synth/pipeline/configs/ci.yaml")
    .read_text()
    .replace('sources: ["builtin:walk", "builtin:squat"]', 'sources: ["builtin:walk", "builtin:squat", "builtin:wave"]')
    .replace("splits: {train: 0.5, val: 0.5}", "splits: {train: 0.34, val: 0.33, test: 0.33}")
)


def test_cpu_proof_script_runs_from_nothing_to_tables(tmp_path):
    """scripts/cpu_proof.sh at toy size: generate (no sequence fails, so no failures.jsonl: the script
    once died there under `set -o pipefail`), validate, the run and the control trained, both evaluated on
    test and val, curves and previews drawn."""
    assert "builtin:wave" in TOY_DATA and "test: 0.33" in TOY_DATA
    data_config = tmp_path / "toy.yaml"
    data_config.write_text(TOY_DATA)
    out = tmp_path / "proof"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "DATA_CONFIG": str(data_config),
        "N_SEQ": "3",
        "HMR_STEPS": "2",
        "MVIPER_STEPS": "2",
        "OMP_NUM_THREADS": "1",
    }
    run = subprocess.run(
        ["bash", str(ROOT / "scripts/cpu_proof.sh"), str(out)], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert not (out / "data/failures.jsonl").exists()
    for split in ("test", "val"):
        table = (out / f"eval_run_{split}.txt").read_text()
        assert "mviper" in table and "mean pose" in table, table
        assert "hmr" in (out / f"eval_control_{split}.txt").read_text()
        assert (out / f"preview_{split}.png").stat().st_size > 1000
    assert (out / "curves.png").stat().st_size > 1000
    assert "done:" in (out / "proof.log").read_text()
