"""Why a trained HMR does not articulate: per-clip errors split into root, articulation and shape.

    python benchmarks/train_diagnose.py RUN DATA [--split test] [--every 1] [--oracles]

For every `--every`-th whole clip of the split (the model in eval mode, as `eval` runs it), in mm or degrees:
MPJPE and PA-MPJPE; the root's geodesic error (mean, and the share of frames more than 90 degrees off: a
front/back or left/right confusion); the mean geodesic error of the 23 non-root joint rotations (parent
frame); PA-MPJPE with the true shape (the predicted rotations) and with the true rotations (the predicted
shape), which say whether rotations or shape carry the error; how far the prediction moves within the clip
(PA-MPJPE of each frame to the clip's first prediction) against how far the truth moves. `--oracles` adds the
constant predictors that need the truth: each clip's own mean pose, and its first true frame held, beside the
training split's mean pose (the `eval` baseline).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import roma
import torch

from synth.body import load_body_model
from train import metrics as M
from train.checkpoint import load_trained
from train.data import ShardWindows
from train.evaluate import training_mean
from train.losses import Skeleton


def chordal_mean(R: torch.Tensor) -> torch.Tensor:
    """(T, 24, 3, 3) -> (24, 3, 3): each joint's chordal L2 mean rotation (as evaluate.training_mean)."""
    return roma.special_procrustes(R.double().sum(0)).float()


def clip_row(sk: Skeleton, pred: dict, item: dict) -> dict[str, float]:
    gR = roma.rotvec_to_rotmat(item["theta"].reshape(-1, 24, 3))
    pR, pb, gb = pred["rotmat"][0], pred["beta"][0], item["beta"]
    T = len(gR)

    def joints(R: torch.Tensor, beta: torch.Tensor) -> np.ndarray:
        return sk(R, beta).double().numpy()

    gj, pj = joints(gR, gb), joints(pR, pb)
    root = torch.rad2deg(roma.rotmat_geodesic_distance(pR[:, 0], gR[:, 0])).numpy()
    return {
        "frames": T,
        "MPJPE": M.mpjpe(pj, gj),
        "PA-MPJPE": M.pa_mpjpe(pj, gj),
        "root deg": float(root.mean()),
        "root >90": float((root > 90).mean()),
        "joint deg": float(torch.rad2deg(roma.rotmat_geodesic_distance(pR[:, 1:], gR[:, 1:])).mean()),
        "PA true shape": M.pa_mpjpe(joints(pR, gb), gj),
        "PA true rots": M.pa_mpjpe(joints(gR, pb), gj),
        "|beta| pred": float(pb.norm(dim=-1).mean()),
        "|beta| true": float(gb.norm(dim=-1).mean()),
        "pred moves": M.pa_mpjpe(pj, np.repeat(pj[:1], T, 0)),
        "truth moves": M.pa_mpjpe(gj, np.repeat(gj[:1], T, 0)),
    }


def oracle_rows(sk: Skeleton, item: dict, mean: tuple[np.ndarray, np.ndarray]) -> dict[str, tuple[float, float]]:
    """(MPJPE, PA-MPJPE) of the constant predictors of one clip."""
    gR = roma.rotvec_to_rotmat(item["theta"].reshape(-1, 24, 3))
    gb = item["beta"]
    T = len(gR)
    gj = sk(gR, gb).double().numpy()
    mR = roma.rotvec_to_rotmat(torch.from_numpy(mean[0]).reshape(24, 3)).expand(T, 24, 3, 3)
    cands = {
        "training mean pose": (mR, torch.from_numpy(mean[1]).expand(T, 10)),
        "clip's own mean pose (oracle)": (chordal_mean(gR).expand(T, 24, 3, 3), gb),
        "first true frame held (oracle)": (gR[:1].expand(T, 24, 3, 3), gb),
    }
    out = {}
    for name, (R, b) in cands.items():
        j = sk(R, b).double().numpy()
        out[name] = (M.mpjpe(j, gj), M.pa_mpjpe(j, gj))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("data", type=Path)
    p.add_argument("--split", default="test")
    p.add_argument("--every", type=int, default=1, help="every n-th clip of the split")
    p.add_argument("--model", default="hmr")
    p.add_argument("--oracles", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    body = load_body_model()
    sk = Skeleton(body)
    model, cfg = load_trained(a.run, a.model, torch.device("cpu"))
    mean = training_mean(a.data) if a.oracles else None
    rows, oracles = [], {}
    with torch.no_grad():
        for k, item in enumerate(ShardWindows(a.data, a.split, cfg.data, train=False, window=0)):
            if k % a.every:
                continue
            row = clip_row(sk, model(item["images"][None]), item)
            rows.append(row)
            print(f"{item['key']:16s}" + " ".join(f"{n} {v:.1f}" for n, v in row.items() if n != "frames"), flush=True)
            if mean is not None:
                for name, v in oracle_rows(sk, item, mean).items():
                    oracles.setdefault(name, []).append((*v, row["frames"]))
    w = np.array([r["frames"] for r in rows], float)
    print(f"\n{a.model} on {a.split}, {len(rows)} clips, {int(w.sum())} frames (frame-weighted means):")
    for n in rows[0]:
        if n != "frames":
            print(f"  {n:14s} {np.average([r[n] for r in rows], weights=w):8.2f}")
    if oracles:
        base = np.average([o[1] for o in oracles["training mean pose"]], weights=w)
        base_mp = np.average([o[0] for o in oracles["training mean pose"]], weights=w)
        print("constant predictors: MPJPE (x training mean pose), PA-MPJPE (x)")
        for name, vals in oracles.items():
            mp, pa = (np.average([v[i] for v in vals], weights=w) for i in (0, 1))
            print(f"  {name:32s} {mp:7.1f} ({mp / base_mp:.3f})  {pa:7.1f} ({pa / base:.3f})")


if __name__ == "__main__":
    main()
