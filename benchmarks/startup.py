"""Start-up of the light commands: `synth --help`, loading a config and `synth validate`, each in a fresh
interpreter, with the heavy modules each one loaded. `--other ROOT` times another checkout (e.g.
`git archive main | tar -x -C /tmp/main`) in alternating runs, so the two columns share the machine's load.

    python benchmarks/startup.py [--repeats 3] [--other /tmp/main] [--shards DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "bpy", "numba", "trimesh", "scipy")
PROBE = "import sys; {code}; print('HEAVY', *[m for m in {heavy!r} if m in sys.modules] or ['none'], file=sys.stderr)"
CASES = {
    "synth --help": "from synth.cli import build_parser; build_parser().format_help()",
    "load_config('ci')": "from synth.pipeline.config import load_config; load_config('ci')",
    "synth validate DIR": "from synth.cli import main; main(['validate', {shards!r}])",
}


def run_case(root: Path, code: str) -> tuple[float, str]:
    """(wall seconds, heavy modules loaded) of `code` in a fresh interpreter importing `root`'s synth."""
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    probe = PROBE.format(code=code, heavy=HEAVY)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    heavy = [line.split(" ", 1)[1] for line in p.stderr.splitlines() if line.startswith("HEAVY ")]
    return wall, heavy[-1] if heavy else f"failed: {p.stderr.strip()[-200:]}"


def toy_shards(folder: Path) -> Path:
    """One shard of four small samples (what validate reads; their meta is incomplete on purpose)."""
    import numpy as np

    from synth.shards.sample import encode_sample, sample_key
    from synth.shards.tario import write_tar

    rng = np.random.default_rng(0)
    members = []
    for k in range(4):
        frames = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(6)]
        smpl = {"poses": rng.normal(size=(6, 72)).astype(np.float32)}
        members += encode_sample(sample_key(f"seq{k:06d}", 0), frames, smpl, {}, {}, {"sequence": f"seq{k:06d}"})
    write_tar(folder / "train-000000.tar", members)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--other", type=Path, help="another checkout to time beside this one")
    ap.add_argument("--shards", type=Path, help="a shard folder for validate (default: a toy one)")
    args = ap.parse_args()
    roots = {"this checkout": ROOT} | ({"other": args.other.resolve()} if args.other else {})
    with tempfile.TemporaryDirectory() as tmp:
        shards = str(args.shards or toy_shards(Path(tmp)))
        times: dict = {}
        for _ in range(args.repeats):
            for case, code in CASES.items():
                for name, root in roots.items():
                    wall, heavy = run_case(root, code.format(shards=shards))
                    times.setdefault((case, name), []).append((wall, heavy))
    print("| command | " + " | ".join(f"{n} s (min / median)" for n in roots) + " | heavy modules |")
    print("| --- | " + " | ".join("---:" for _ in roots) + " | --- |")
    for case in CASES:
        cells, heavy = [], []
        for name in roots:
            walls = sorted(w for w, _ in times[(case, name)])
            cells.append(f"{walls[0]:.2f} / {walls[len(walls) // 2]:.2f}")
            heavy.append(f"{name}: {times[(case, name)][-1][1]}")
        print(f"| {case} | " + " | ".join(cells) + " | " + "; ".join(heavy) + " |")


if __name__ == "__main__":
    main()
