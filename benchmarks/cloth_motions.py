"""Cloth robustness over motions: every default outfit on every built-in motion (and the shared CMU clips).

Sequences are made as the pipeline makes them (synth/pipeline/stages.py make_motion): `pair` rows are the
most contrasting pair of a built-in motion and the next one, interpolated (16-24 frames) after the pipeline's default
A-pose lead-in; `clip` rows are the first `--clip-seconds` of the motion itself after the same lead-in (a
real walk, run, kick...); `cmu` rows are the shared CMU BVH clips, MoSh-fitted (cached), likewise; `seq` rows
are dataset sequences that once failed (REGRESSIONS: a window of a CMU clip, its outfit, materials and seed).
Materials rotate through the presets. Per row: ok or the frame it diverged at, frames, seconds per frame,
max and p95 penetration (mm, inside the full closed body: the closest point's depth where its Phong normal
and the winding number both say inside, as benchmarks/cloth.py measures; the normal's sign alone read a
skirt hem 12 cm outside the thighs as 117 mm inside), mean and max edge stretch of the stretch springs, the
stays-on check: the smallest (over frames) fraction of the lower garment's (trousers/shorts/skirt, or the
dress) vertices within 5 cm of their distance from the body surface when dressed (frame 0), and the
frames re-run with more substeps (adaptive substeps; e.g. 2@16: two frames, at most 16 substeps), CG
iterations per implicit step and the largest relative residual a solve stopped at.
Usage: python benchmarks/cloth_motions.py [--kinds pair,clip,cmu,seq] [--motions walk,run] [--clips 02_01_walk]
                                          [--outfits tshirt+trousers,longsleeve+shorts] [--workers 2]
                                          [--substeps 4] [--clip-seconds 1.0]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from synth.pipeline.config import PipelineConfig
from synth.pipeline.stages import get_body

OUTFITS = PipelineConfig().cloth.outfits  # the pipeline's default outfits
LOWER = ("trousers", "shorts", "skirt", "dress")
LEAD_IN = PipelineConfig().motion.lead_in_frames  # the pipeline's default lead-in
LEAD_IN_POSE = PipelineConfig().motion.lead_in_pose  # ... from its rest pose (the garments are cut on it)
# (CMU clip, window start, stop, outfit, materials, seed) of dataset sequences that diverged: seq000175 of the
# 200-sequence run (docs/BENCHMARKS.md#cloth), the T-shirt hem caught between belly and raised thigh
REGRESSIONS = [("05_06_dance", 26, 54, ("tshirt", "skirt"), ("silk", "denim"), 72685672)]


@dataclass
class Row:
    motion: str
    kind: str
    outfit: str
    materials: str
    status: str
    frames: int
    s_per_frame: float = float("nan")
    pen_max: float = float("nan")
    pen_p95: float = float("nan")
    stretch_mean: float = float("nan")
    stretch_max: float = float("nan")
    stays_on: float = float("nan")
    refined: int = 0  # frames re-run with more substeps (simulate.advance_frame)
    max_substeps: int = 0
    cg_iterations: float = float("nan")  # CG iterations per implicit step
    cg_residual: float = float("nan")  # the largest relative residual a solve ended at


def make_sequence(kind: str, motion: str, clip_seconds: float, window: tuple[int, int] | None = None):
    """The MoshedSequence of a row, lead-in included (window: frames [start, stop) of a `seq` row's clip)."""
    from synth.mocap.builtin import BUILTIN_MOTIONS, builtin_motion
    from synth.motion.interpolate import InterpolationConfig, add_lead_in, interpolate_pair
    from synth.motion.pairs import most_contrasting_pair

    body = get_body()
    if kind == "pair":
        names = list(BUILTIN_MOTIONS)
        X = builtin_motion(motion, 30.0, 2.0)
        Y = builtin_motion(names[(names.index(motion) + 1) % len(names)], 30.0, 2.0)
        cfg = InterpolationConfig(frames_per_unit=12.0, min_frames=16, max_frames=24)
        seq = interpolate_pair(X, Y, most_contrasting_pair(X, Y), cfg, skeleton=body)
    elif kind == "clip":
        seq = builtin_motion(motion, 30.0, clip_seconds)
    else:
        from synth.mocap import load_clip
        from synth.mosh.fit import mosh_clip
        from synth.paths import shared_assets_dir

        path = shared_assets_dir() / "motion" / "cmu_bvh" / f"{motion}.bvh"
        seq = mosh_clip(load_clip(path, body=body), body, fps=30.0)
        if window is None:
            seq = _head(seq, int(round(clip_seconds * 30)))
        else:
            from synth.motion.compose import clip_window

            seq = clip_window(seq, *window)[0]
    return add_lead_in(seq, LEAD_IN, LEAD_IN_POSE, skeleton=body)


def _head(seq, n: int):
    from dataclasses import fields, replace

    per_frame = {
        f.name: getattr(seq, f.name)[:n]
        for f in fields(seq)
        if isinstance(getattr(seq, f.name), np.ndarray)
        and getattr(seq, f.name).ndim
        and len(getattr(seq, f.name)) == seq.num_frames
        and f.name != "betas"
    }
    return replace(seq, **per_frame)


def run_row(task: tuple) -> Row:
    kind, motion, outfit, materials, substeps, clip_seconds, seed, window = task
    from cloth import penetration  # benchmarks/cloth.py

    from synth.cloth import simulate_sequence
    from synth.cloth.collision import MeshCollider
    from synth.cloth.simulate import body_vertices
    from synth.errors import SynthError

    body = get_body()
    seq = make_sequence(kind, motion, clip_seconds, window)
    name = motion if window is None else f"{motion}[{window[0]}:{window[1]}]"
    row = Row(name, kind, "+".join(outfit), "+".join(materials), "ok", seq.num_frames)
    t0 = time.perf_counter()
    try:
        caches = simulate_sequence(seq, body, outfit, materials, seed=seed, substeps=substeps)
    except SynthError as exc:
        m = re.search(r" at frame (\d+) of", str(exc))
        row.status = f"diverged@{m.group(1)}" if m else "error"
        print(f"{kind} {motion} {'+'.join(outfit)}: {exc}", file=sys.stderr)
        row.s_per_frame = (time.perf_counter() - t0) / seq.num_frames
        return row
    st = [c.stats for c in caches]
    row.s_per_frame = st[0]["seconds_per_frame"]
    row.refined, row.max_substeps = st[0]["refined_frames"], st[0]["max_substeps"]
    row.cg_iterations, row.cg_residual = st[0]["cg_iterations_per_step"], st[0]["cg_residual_max"]
    B = body_vertices(body, seq)
    col = MeshCollider(np.asarray(body.faces), B.shape[1])
    faces = np.asarray(body.faces, np.int64)
    pen = [
        1000 * np.stack([penetration(c.verts[t].astype(np.float64), B[t], faces, col) for t in range(len(B))])
        for c in caches
    ]
    row.pen_max = max(float(p.max()) for p in pen)
    row.pen_p95 = max(float(np.percentile(p, 95)) for p in pen)
    row.stretch_mean = float(np.mean([s["mean_edge_stretch"] for s in st]))
    row.stretch_max = max(s["max_edge_stretch"] for s in st)
    lower = [c for c in caches if c.garment_type in LOWER]
    if lower:
        verts = np.concatenate([c.verts for c in lower], axis=1)
        dist = [np.abs(col.query(verts[t].astype(np.float64), B[t]).signed) for t in range(len(B))]
        row.stays_on = min(float(np.mean(d < dist[0] + 0.05)) for d in dist)
    return row


def main() -> None:
    from synth.cloth import MATERIALS
    from synth.mocap.builtin import BUILTIN_MOTIONS
    from synth.paths import shared_assets_dir

    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="pair,clip")
    ap.add_argument("--motions", default=",".join(BUILTIN_MOTIONS), help="built-in motions")
    ap.add_argument("--clips", default="", help="shared CMU clips of the cmu rows (default: all)")
    ap.add_argument("--outfits", default="", help="outfits as tshirt+trousers,dress (default: the pipeline's)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--substeps", type=int, default=4)
    ap.add_argument("--clip-seconds", type=float, default=1.0)
    args = ap.parse_args()
    if {"cmu", "seq"} & set(args.kinds.split(",")) and shared_assets_dir() is None:
        ap.error(
            "--kinds cmu and seq mosh the shared CMU clips, which were not found: set SYNTH_ASSETS to the "
            "shared assets folder (it holds motion/cmu_bvh), or run from a checkout beside ../shared/assets"
        )
    presets = list(MATERIALS)
    tasks, k = [], 0
    for kind in args.kinds.split(","):
        if kind == "seq":
            for motion, start, stop, outfit, mats, seed in REGRESSIONS:
                tasks.append(
                    (kind, motion, list(outfit), list(mats), args.substeps, args.clip_seconds, seed, (start, stop))
                )
            continue
        if kind == "cmu":
            root = shared_assets_dir()
            motions = sorted(p.stem for p in (root / "motion" / "cmu_bvh").glob("*.bvh")) if root else []
            motions = [m for m in motions if not args.clips or m in args.clips.split(",")]
        else:
            motions = args.motions.split(",")
        outfits = [o.split("+") for o in args.outfits.split(",")] if args.outfits else OUTFITS
        for motion in motions:
            for outfit in outfits:
                mats = [presets[(k + g) % len(presets)] for g in range(len(outfit))]
                k += 1
                tasks.append((kind, motion, outfit, mats, args.substeps, args.clip_seconds, 0, None))
    print(f"{len(tasks)} simulations, substeps {args.substeps}, {args.workers} workers, 1 thread each")
    head = (
        f"| {'motion':<8} | {'kind':<4} | {'outfit':<17} | {'materials':<13} | {'result':<11} | {'frames':>6} "
        f"| {'s/frame':>7} | {'pen max mm':>10} | {'pen p95 mm':>10} | {'stretch mean':>12} | {'stretch max':>11} "
        f"| {'stays on':>8} | {'refined':>7} | {'CG it':>5} | {'CG res':>6} |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) + ("" if i else "") for i, c in enumerate(head.split("|")[1:-1])) + "|")
    rows = []
    with ProcessPoolExecutor(args.workers, initializer=_single_thread) as pool:
        for r in pool.map(run_row, tasks):
            rows.append(r)
            print(
                f"| {r.motion:<8} | {r.kind:<4} | {r.outfit:<17} | {r.materials:<13} | {r.status:<11} | {r.frames:>6} "
                f"| {r.s_per_frame:>7.3f} | {r.pen_max:>10.1f} | {r.pen_p95:>10.1f} | {100 * r.stretch_mean:>11.1f}% "
                f"| {1 + r.stretch_max:>10.2f}x | {r.stays_on:>8.3f} | {_refined(r):>7} | {r.cg_iterations:>5.1f} "
                f"| {r.cg_residual:>6.2g} |",
                flush=True,
            )
    ok = [r for r in rows if r.status == "ok"]
    frames = sum(r.frames for r in ok)
    print(
        f"summary: {len(ok)}/{len(rows)} ok, {frames} frames, "
        f"{np.mean([r.s_per_frame for r in ok]):.3f} s/frame mean, "
        f"max penetration {max((r.pen_max for r in ok), default=0):.1f} mm, "
        f"worst p95 penetration {max((r.pen_p95 for r in ok), default=0):.1f} mm, "
        f"max stretch {1 + max((r.stretch_max for r in ok), default=0):.2f}x, "
        f"worst stays-on {min((r.stays_on for r in ok if np.isfinite(r.stays_on)), default=float('nan')):.3f}"
    )


def _refined(r: Row) -> str:
    """'-' or how many frames were re-run and the most substeps used (e.g. '2@16')."""
    return f"{r.refined}@{r.max_substeps}" if r.refined else "-"


def _single_thread() -> None:
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


if __name__ == "__main__":
    main()
