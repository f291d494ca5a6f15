"""How far can the 2D joints alone take the regressor? A ceiling for keypoint-fed heads (model.joint_head).

    python benchmarks/train_lift.py DATA [--steps 3000] [--config cpu_proof] [--noise 0.0] [--test-split test]

Trains the IEF regressor of the config on the TRUE crop-normalised 2D joints of every training frame (no
image, no backbone; invisible joints zeroed, the visibility as 24 more inputs) with the trainer's pose,
shape and 3D joint losses, and prints MPJPE / PA-MPJPE of the training frames and of `--test-split` with
their ratio to the training split's mean pose. `--noise S` adds N(0, S) crop units to the 2D input
(0.03 = 1 px at 64 px). It is seconds of CPU: the answer to "would a good 2D joint head let the model
articulate on this training split" before paying for the backbone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import roma
import torch

from synth.body import load_body_model
from train import metrics as M
from train.config import load_train_config
from train.data import ShardWindows, make_window
from train.evaluate import training_mean
from train.losses import Skeleton, joints3d_loss, smpl_loss
from train.models import IEFRegressor, decode_phi


def frames_of(data: str, split: str, cfg) -> dict[str, torch.Tensor]:
    """Every frame of the split: 2D joints in crop units, visibility, theta, beta; and the clip index."""
    acc: dict[str, list] = {"j2d": [], "vis": [], "theta": [], "beta": [], "clip": []}
    for i, s in enumerate(ShardWindows(data, split, cfg.data, train=False, window=0).samples()):
        w = make_window(s, 0, len(s["frames"]), cfg.data, None)
        for k in ("j2d", "vis", "theta", "beta"):
            acc[k].append(w[k])
        acc["clip"].append(torch.full((len(w["theta"]),), i))
    return {k: torch.cat(v) for k, v in acc.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--config", default="cpu_proof")
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--test-split", default="test")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    cfg = load_train_config(a.config)
    sk = Skeleton(load_body_model())
    tr, te = frames_of(a.data, "train", cfg), frames_of(a.data, a.test_split, cfg)
    mean_theta, mean_beta = (torch.from_numpy(x) for x in training_mean(Path(a.data)))  # eval's baseline
    mean_R = roma.rotvec_to_rotmat(mean_theta.reshape(24, 3))

    def inputs(d: dict, noise: float) -> torch.Tensor:
        j2d = d["j2d"] + noise * torch.randn_like(d["j2d"])
        return torch.cat([(j2d * d["vis"][..., None]).flatten(1), d["vis"]], 1)

    def joints(theta: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return sk(roma.rotvec_to_rotmat(theta.reshape(-1, 24, 3)), beta)

    reg = IEFRegressor(72, cfg.model.regressor_width, cfg.model.ief_iters, 0.0)
    opt = torch.optim.Adam(reg.parameters(), lr=a.lr)
    gj_tr = joints(tr["theta"], tr["beta"])
    rng = np.random.default_rng(a.seed)

    @torch.no_grad()
    def report(d: dict, name: str) -> str:
        pred = decode_phi(reg(inputs(d, 0.0)))
        pj = sk(pred["rotmat"], pred["beta"]).double().numpy()
        gj = joints(d["theta"], d["beta"]).double().numpy()
        n = len(gj)
        mj = sk(mean_R.expand(n, 24, 3, 3), mean_beta.expand(n, 10)).double().numpy()
        mp, pa, mmp, mpa = M.mpjpe(pj, gj), M.pa_mpjpe(pj, gj), M.mpjpe(mj, gj), M.pa_mpjpe(mj, gj)
        return f"{name} MPJPE {mp:.1f} ({mp / mmp:.3f}) PA-MPJPE {pa:.1f} ({pa / mpa:.3f})"

    print(f"{len(tr['theta'])} training frames, {len(te['theta'])} {a.test_split} frames")
    for step in range(a.steps):
        idx = torch.from_numpy(rng.integers(len(tr["theta"]), size=a.batch))
        d = {k: v[idx] for k, v in tr.items()}
        pred = decode_phi(reg(inputs(d, a.noise)))
        pj = sk(pred["rotmat"], pred["beta"])
        loss = (smpl_loss(pred["rotmat"], d["theta"], pred["beta"], d["beta"], cfg.loss)).mean() + cfg.loss.joints3d * (
            joints3d_loss(pj, gj_tr[idx] - gj_tr[idx][:, :1])
        ).mean()
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1 + np.cos(np.pi * step / a.steps))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % (a.steps // 5) == 0:
            print(
                f"step {step + 1} loss {loss.item():.3f} | {report(tr, 'train')} | {report(te, a.test_split)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
