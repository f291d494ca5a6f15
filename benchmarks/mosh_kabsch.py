"""Why MoSh's per-frame Kabsch (synth/mosh/fit._kabsch) is the SVD path of roma.special_procrustes (computed by
synth.motion.rotations.special_procrustes): whole
fits (`fit_joints`, the five shared CMU clips, both paths) with each variant, interleaved per fit (ABBA), N
times; per clip and path the fastest of N (other jobs load the machine), summed. Rows: `svd` (the fit's),
`svd again` (the same function: the noise floor of the speed ratio) and `horn` (roma's default method,
which picks another twist where a joint's rest vectors are parallel). Columns: fitted frames per second,
the ratio to `svd`, the mean joint error (mm) and its change against `svd`.
Usage: OMP_NUM_THREADS=1 python benchmarks/mosh_kabsch.py [--repeats 3] [--fps 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import roma
import torch

from synth.body import load_body_model
from synth.mocap import load_clip
from synth.mosh import fit
from synth.mosh.joints import JointModel
from synth.paths import shared_assets_dir


def _roma(method: str):
    def kabsch(rest_vecs: np.ndarray, target_vecs: np.ndarray) -> np.ndarray:
        M = torch.as_tensor(np.einsum("thb,ha->tba", target_vecs, rest_vecs))  # sum_h d_h r_h^T
        return roma.special_procrustes(M, method=method).numpy()

    return kabsch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    fits_kabsch = fit._kabsch
    variants = {"svd": fits_kabsch, "svd again": lambda r, d: fits_kabsch(r, d), "horn": _roma("horn")}
    model = JointModel.from_body(load_body_model())
    clips = []
    for path in sorted((shared_assets_dir() / "motion" / "cmu_bvh").glob("*.bvh")):
        clip = load_clip(path)
        idx, w, seg, Y = fit.clip_targets(clip, args.fps, model.parents)
        clips.append(((idx, seg, w, Y), fit.clip_rotation_targets(clip, args.fps, model.parents)))
    frames = sum(len(c[0][3]) for c in clips)
    best = {(v, p): 0.0 for v in variants for p in ("pos", "rot")}
    error = {(v, p): [] for v in variants for p in ("pos", "rot")}
    names = list(variants)
    try:
        for fit_args, rot in clips:
            for p in ("pos", "rot"):
                fastest = dict.fromkeys(names, np.inf)
                for k in range(args.repeats):
                    for v in names if k % 2 == 0 else names[::-1]:
                        fit._kabsch = variants[v]
                        t0 = time.perf_counter()
                        res = fit.fit_joints(model, *fit_args, rotations=rot if p == "rot" else None)
                        fastest[v] = min(fastest[v], time.perf_counter() - t0)
                        if k == 0:
                            error[(v, p)].append(res.error_mm)
                for v in names:
                    best[(v, p)] += fastest[v]
    finally:
        fit._kabsch = fits_kabsch
    print(f"{frames} frames, {args.repeats} repeats, fastest of each summed over the clips")
    print(f"{'path':<5}{'variant':<13}{'frames/s':>9}{'x svd':>8}{'mean mm':>9}{'d mm':>8}")
    for p in ("pos", "rot"):
        ref_t, ref_e = best[("svd", p)], np.concatenate(error[("svd", p)]).mean()
        for v in names:
            e = np.concatenate(error[(v, p)]).mean()
            print(f"{p:<5}{v:<13}{frames / best[(v, p)]:>9.0f}{ref_t / best[(v, p)]:>8.2f}{e:>9.3f}{e - ref_e:>+8.3f}")


if __name__ == "__main__":
    main()
