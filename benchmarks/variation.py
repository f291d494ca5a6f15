"""Motion variation: corpus pair selection speed and memory, and the plausibility guard's rate.

1. `select_pairs` on synthetic corpora (synth.motion.synthetic: smooth random poses) of N
   sequences x T frames: pairs/s in "random" mode (each pair scored exactly: argmax over T x T
   frame pairs; packing the corpus into one tensor is timed apart), and "topk" on the smaller corpora (exact, coreset-pruned: how many of the
   N(N-1)/2 pairs had to be scored), with the process's peak resident memory.
2. Guard: transitions between random pairs of the synthetic corpus and all ordered pairs of the
   built-in motions and of the shared CMU clips (MoSh-fitted), flagged by the plausibility guard (joint limits, limb-through-torso capsules)
   on the real body model's joints (ground contact on its mesh), for the paper's linear rule and
   for slerp: the rate of flagged frames that `interpolate_pair` saves as `implausible`.
Usage: python benchmarks/variation.py [--threads 1] [--device cpu] [--sizes 100,500,2500] [--frames 1000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from synth.mocap.builtin import BUILTIN_MOTIONS, builtin_motion
from synth.motion.interpolate import InterpolationConfig, interpolate_pair
from synth.motion.pairs import most_contrasting_pair, select_pairs
from synth.motion.plausibility import plausibility
from synth.motion.synthetic import random_poses, random_sequences


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def selection(sizes: list[int], frames: int, n_random: int, topk_max: int, device: str) -> None:
    print(f"\n## corpus selection ({frames} frames per sequence, device {device})")
    print(f"{'N seqs':>7}{'mode':>8}{'pairs':>9}{'scored':>9}{'seconds':>9}{'pairs/s':>10}{'peak MiB':>10}  note")
    rng = np.random.default_rng(0)
    corpus: list[np.ndarray] = []
    for N in sizes:
        while len(corpus) < N:
            corpus.append(random_poses(frames, rng))
        seqs = corpus[:N]
        select_pairs(seqs[:4], 2, seed=0, device=device)  # warm-up
        stats: dict = {}
        t0 = time.perf_counter()
        picks = select_pairs(seqs, n_random, seed=1, device=device, stats=stats)
        dt = time.perf_counter() - t0 - stats["build_s"]  # scoring only
        exhaustive_h = N * (N - 1) / 2 / (len(picks) / dt) / 3600
        print(
            f"{N:>7}{'random':>8}{len(picks):>9}{len(picks):>9}{dt:>9.2f}{len(picks) / dt:>10.0f}{peak_mib():>10.0f}"
            f"  packing {stats['build_s']:.1f} s; all N(N-1)/2 pairs: {exhaustive_h:.2f} h"
        )
        if N <= topk_max:
            stats = {}
            t0 = time.perf_counter()
            select_pairs(seqs, 10, seed=0, mode="topk", device=device, stats=stats)
            dt = time.perf_counter() - t0
            total = stats["pairs_total"]
            print(
                f"{N:>7}{'top-10':>8}{total:>9}{stats['scored_exactly']:>9}{dt:>9.2f}{total / dt:>10.0f}"
                f"{peak_mib():>10.0f}  exact; coreset bounds pruned {1 - stats['scored_exactly'] / total:.0%}"
            )


def guard(n_pairs: int, frames: int, skeleton) -> None:
    print("\n## plausibility guard on interpolated transitions")
    corpora = {
        "synthetic": random_sequences(60, frames, seed=3),
        "synth x1.7": random_sequences(60, frames, seed=5, scale=1.7),  # extreme motions
        "built-in": [builtin_motion(n) for n in BUILTIN_MOTIONS],
        "CMU mosh": _cmu_sequences(skeleton.body),
    }
    sets = {
        name: [(c[p.a], c[p.b], p) for p in select_pairs(c, n_pairs, seed=4)]
        for name, c in corpora.items()
        if name.startswith("synth")
    }
    for name in ("built-in", "CMU mosh"):  # every ordered pair
        c = corpora[name]
        sets[name] = [(X, Y, most_contrasting_pair(X, Y)) for X in c for Y in c if X is not Y]
    print(
        f"{'pairs':<11}{'method':>8}{'n':>5}{'frames':>8}{'flagged seq':>13}{'flagged frames':>16}"
        f"{'joint-limit':>13}{'penetration':>13}{'source frames':>15}"
    )
    for name, pairs in sets.items():
        sources = np.mean([plausibility(s.poses, skeleton, s.betas).rate for s in corpora[name]])
        for method in ("linear", "slerp"):
            cfg = InterpolationConfig(method=method)
            n_frames = n_seq = n_jl = n_pen = n_flag = 0
            for X, Y, p in pairs:
                seq = interpolate_pair(X, Y, p, cfg, skeleton)
                f = plausibility(seq.poses, skeleton, seq.betas)
                assert (f.implausible == seq.implausible).all()
                n_frames += seq.num_frames
                n_flag += int(f.implausible.sum())
                n_jl += int(f.joint_limit.sum())
                n_pen += int(f.penetration.sum())
                n_seq += bool(f.implausible.any())
            print(
                f"{name:<11}{method:>8}{len(pairs):>5}{n_frames:>8}{n_seq / len(pairs):>13.1%}{n_flag / n_frames:>16.1%}"
                f"{n_jl / n_frames:>13.1%}{n_pen / n_frames:>13.1%}{sources:>15.1%}"
            )


def _cmu_sequences(body) -> list:
    """Every shared CMU BVH clip MoSh-fitted to the body (cached after the first run)."""
    from synth.mocap import load_clip
    from synth.mosh.fit import mosh_clip
    from synth.paths import shared_assets_dir

    root = shared_assets_dir()
    clips = sorted((root / "motion" / "cmu_bvh").glob("*.bvh")) if root else []
    return [mosh_clip(load_clip(p), body) for p in clips]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="100,500,2500")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--random-pairs", type=int, default=500)
    ap.add_argument("--topk-max", type=int, default=100, help="run top-k only up to this corpus size")
    ap.add_argument("--guard-pairs", type=int, default=60, help="random pairs per synthetic corpus in the guard table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, torch {torch.__version__}, peak memory after imports {peak_mib():.0f} MiB")
    if args.sizes:
        selection([int(s) for s in args.sizes.split(",")], args.frames, args.random_pairs, args.topk_max, args.device)
    from synth.body import load_body_model
    from synth.motion.skeleton import Skeleton

    guard(args.guard_pairs, 300, Skeleton.resolve(load_body_model()))
    print(f"\npeak resident memory {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
