"""Pipeline throughput: runs `synth generate` on the default demo config (or --config) and prints
time per stage, sequences per hour and the share of rendering (which should dominate).

    python benchmarks/pipeline.py [--n-seq 4] [--config default] [--workers 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from synth.pipeline.config import load_config
from synth.pipeline.runner import generate, summary_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--n-seq", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="keep the output here (default: a temp dir, removed)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    if args.n_seq:
        cfg.n_seq = args.n_seq
    if args.workers:
        cfg.run.workers = args.workers
    out = args.out or Path(tempfile.mkdtemp(prefix="synth-bench-")) / "out"
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    s = generate(out, cfg, progress=False)
    wall = time.perf_counter() - t0
    print(summary_table(s), end="")
    frames = s.frames * cfg.render.num_cameras
    work = sum(s.times.values())
    print(
        f"\nconfig {args.config}: {cfg.n_seq} sequences, {cfg.render.num_cameras} cameras, "
        f"{cfg.render.resolution}px, {cfg.render.samples} samples, workers {cfg.run.workers}"
    )
    print("| wall s | sequences/hour | rendered images | images/s | render share | cloth share |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {wall:.1f} | {3600 * s.done / wall:.1f} | {frames} | {frames / wall:.2f} | "
        f"{100 * s.times.get('render', 0) / work:.0f}% | {100 * s.times.get('cloth', 0) / work:.0f}% |"
    )
    if args.out is None:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
