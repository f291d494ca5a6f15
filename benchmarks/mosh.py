"""MoSh accuracy and speed on every clip in the shared CMU BVH folder.

Prints frames (at the target fps), mean / p95 joint error in mm (SMPL joint + per-subject
offset vs mocap joint; `raw` = without offsets), fitted frames per second (output frames /
fit time, after one warm-up fit), the source frames per second, and how well the fitted poses keep
the joint limits (synth/mosh/limits.py): share of frames with any joint beyond a limit, and the
mean excess in degrees per frame (summed over joints and rules).
Usage: python benchmarks/mosh.py [--fps 30] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from synth.mocap import load_clip
from synth.mosh.fit import clip_targets, fit_joints
from synth.mosh.joints import JointModel
from synth.mosh.limits import limit_excess_deg
from synth.paths import shared_assets_dir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from synth.body import load_body_model

    model = JointModel.from_body(load_body_model())
    clips = sorted((shared_assets_dir() / "motion" / "cmu_bvh").glob("*.bvh"))
    print(f"body model {model.identifier}, {args.threads} threads, device {args.device}, {args.fps:g} fps")
    warm = load_clip(clips[0])
    fit_joints(model, *_args(warm, args.fps, model), device=args.device)
    print(f"{'clip':<16}{'frames':>7}{'mean mm':>9}{'p95 mm':>8}{'raw mm':>8}{'fit s':>7}{'frames/s':>10}{'src f/s':>9}{'over lim':>9}{'excess':>8}")
    tot_f = tot_t = 0.0
    errs, over = [], []
    for path in clips:
        clip = load_clip(path)
        t0 = time.perf_counter()
        res = fit_joints(model, *_args(clip, args.fps, model), device=args.device)
        dt = time.perf_counter() - t0
        n = len(res.error_mm)
        tot_f, tot_t = tot_f + n, tot_t + dt
        errs.append(res.error_mm)
        excess = limit_excess_deg(res.poses.reshape(-1, 24, 3)).sum(1)
        over.append(excess)
        print(f"{path.stem:<16}{n:>7}{res.error_mm.mean():>9.1f}{np.percentile(res.error_mm, 95):>8.1f}"
              f"{res.raw_error_mm.mean():>8.1f}{dt:>7.3f}{n / dt:>10.0f}{clip.num_frames / dt:>9.0f}"
              f"{(excess > 0).mean():>9.1%}{excess.mean():>8.2f}")  # fmt: skip
    e, x = np.concatenate(errs), np.concatenate(over)
    print(f"{'all':<16}{int(tot_f):>7}{e.mean():>9.1f}{np.percentile(e, 95):>8.1f}{'':>8}{tot_t:>7.3f}{tot_f / tot_t:>10.0f}"
          f"{'':>9}{(x > 0).mean():>9.1%}{x.mean():>8.2f}")  # fmt: skip


def _args(clip, fps, model):
    idx, w, seg, Y = clip_targets(clip, fps, model.parents)
    return idx, seg, w, Y


if __name__ == "__main__":
    main()
