"""Planning at dataset scale: `make_plan` for 5,000 sequences over 2,500 synthetic sources
(synth.motion.synthetic; 500 subjects of 5 clips, 4-20 s at 30 fps, as MoSh fits cached per clip
would be loaded), with the mix of original windows and transitions of the `dataset` config.
Prints wall time and peak resident memory per step; the targets are under a minute and 2 GB.

    python benchmarks/plan_scale.py [--n-seq 5000] [--sources 2500] [--pair-mode random]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def synthetic_corpus(n_sources: int, seed: int, clips_per_subject: int = 5):
    """Sources and their MoshedSequences: lengths 4-20 s at 30 fps."""
    from synth.motion.synthetic import random_poses
    from synth.pipeline.plan import Source
    from synth.sequence import MoshedSequence

    rng = np.random.default_rng(seed)
    sources, seqs = [], {}
    for k in range(n_sources):
        n = int(rng.integers(120, 601))
        trans = np.zeros((n, 3), np.float32)
        trans[:, 1] = 0.95
        sid = f"cmu/{k // clips_per_subject:03d}_{k % clips_per_subject + 1:02d}"
        sources.append(Source(sid, "clip", f"cmu/{k // clips_per_subject:03d}", f"/synthetic/{sid}.bvh"))
        seqs[sid] = MoshedSequence(random_poses(n, rng), np.zeros(10), trans, 30.0, source=sid)
    return sources, seqs


def main() -> None:
    from synth.io import save_json_atomic
    from synth.pipeline.config import load_config
    from synth.pipeline.plan import make_plan

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seq", type=int, default=5000)
    ap.add_argument("--sources", type=int, default=2500)
    ap.add_argument("--pair-mode", default="random", choices=("random", "topk"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    cfg = load_config("dataset")
    cfg.n_seq, cfg.seed, cfg.motion.pair_mode = args.n_seq, args.seed, args.pair_mode
    rows = []
    t0 = time.perf_counter()
    import synth.motion.pairs  # noqa: F401 - torch: imported by every pipeline run before planning (MoSh)

    rows.append(("import torch (paid once per run anyway)", time.perf_counter() - t0, peak_rss_mb()))
    t0 = time.perf_counter()
    sources, seqs = synthetic_corpus(args.sources, args.seed)
    frames = sum(s.num_frames for s in seqs.values())
    rows.append(("synthetic sources in memory", time.perf_counter() - t0, peak_rss_mb()))
    t0 = time.perf_counter()
    plan = make_plan(cfg, sources, seqs)
    rows.append(("make_plan", time.perf_counter() - t0, peak_rss_mb()))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        save_json_atomic(path, plan.to_dict())
        size = path.stat().st_size
        json.loads(path.read_text())
    rows.append(("write + read plan.json", time.perf_counter() - t0, peak_rss_mb()))

    kinds = {k: sum(s.kind == k for s in plan.sequences) for k in ("original", "transition")}
    splits = {k: sum(s.split == k for s in plan.sequences) for k in ("train", "val", "test")}
    print(
        f"{len(plan.sequences)} sequences ({kinds['original']} original, {kinds['transition']} transition; "
        f"{splits}) over {len(sources)} sources ({frames:,} frames), pair_mode {args.pair_mode}, "
        f"plan.json {size / 2**20:.1f} MiB"
    )
    print()
    print("| step | seconds | peak RSS MB |")
    print("| --- | ---: | ---: |")
    for name, sec, rss in rows:
        print(f"| {name} | {sec:.1f} | {rss:.0f} |")
    plan_s = rows[2][1]
    print()
    print(
        f"make_plan: {plan_s:.1f} s of the 60 s target ({plan_s / 60:.2f}x), peak RSS {peak_rss_mb():.0f} MB "
        f"of the 2048 MB target ({peak_rss_mb() / 2048:.2f}x)"
    )


if __name__ == "__main__":
    main()
