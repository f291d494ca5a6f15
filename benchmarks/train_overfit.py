"""Can HMR fit a few clips? A capacity / bug probe of the training chain on real shards, and a quick A/B bench.

    python benchmarks/train_overfit.py DATA [--clips 2 --every 4 --steps 300] [--config cpu_proof] [--aug 1]
        [--lr X --warmup N --crop PX --batch B] [--w2d X --w3d X --wpose X --wbeta X --local3d X] [--test-clips 12]
        [--part-head 0|1] [--joint-head 0|1]

Holds `--clips` whole training clips in memory (every `--every`-th of the split; 0 = all), trains the HMR
model of the config on random windows of them with the trainer's own losses and learning-rate schedule
(augmentation only with --aug 1), and every `--eval-every` steps prints the logged loss parts and, in eval
mode, MPJPE / PA-MPJPE of `--train-eval` of the training clips (and of `--test-clips` test clips) with their
ratio to the training clips' mean pose (as `eval`'s baseline row), and the predicted shape's |beta|. A chain
with a wrong target, frame or normalisation cannot take a couple of clips far below the mean pose.
`--local3d W` adds W x a 3D joint loss with the true root rotation (articulation only), an experiment.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import roma
import torch

from synth.body import load_body_model
from train import metrics as M
from train.config import load_train_config, lr_at
from train.data import ShardWindows, collate, make_window, window_starts
from train.losses import Skeleton, total_loss
from train.models import build_model


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--clips", type=int, default=2, help="training clips held (0: all)")
    p.add_argument("--every", type=int, default=1, help="take every n-th clip of the split")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--config", default="cpu_proof")
    p.add_argument("--aug", type=int, default=0, help="1: the config's jitter; 0: none")
    p.add_argument("--lr", type=float)
    p.add_argument("--warmup", type=int)
    p.add_argument("--crop", type=int)
    p.add_argument("--batch", type=int)
    for w in ("w2d", "w3d", "wpose", "wbeta"):
        p.add_argument(f"--{w}", type=float, help="loss weight override")
    p.add_argument("--local3d", type=float, default=0.0)
    p.add_argument("--part-head", type=int, help="override model.part_head (needs the seg pass)")
    p.add_argument("--joint-head", type=int, help="override model.joint_head")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--train-eval", type=int, default=12, help="training clips evaluated (spread over the held ones)")
    p.add_argument("--test-clips", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main() -> None:
    a = parse()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    cfg = load_train_config(a.config)
    for attr, value in (("lr", a.lr), ("batch_size", a.batch), ("warmup_steps", a.warmup)):
        if value is not None:
            setattr(cfg, attr, value)
    if a.crop:
        cfg.data.crop_size = a.crop
    for attr, value in (("proj", a.w2d), ("joints3d", a.w3d), ("pose", a.wpose), ("beta", a.wbeta)):
        if value is not None:
            setattr(cfg.loss, attr, value)
    if a.part_head is not None:
        cfg.model.part_head = bool(a.part_head)
    if a.joint_head is not None:
        cfg.model.joint_head = bool(a.joint_head)
    if not a.aug:
        cfg.data.scale_jitter = cfg.data.trans_jitter = cfg.data.color_jitter = 0.0
    sk = Skeleton(load_body_model())

    def load(split: str, n: int, every: int) -> list[dict]:
        out = []
        for i, s in enumerate(
            ShardWindows(a.data, split, cfg.data, train=False, window=0, part_labels=cfg.model.part_head).samples()
        ):
            if i % every == 0:
                out.append(s)
            if len(out) >= n:
                break
        return out

    clips = load("train", a.clips or 10**9, a.every)
    evals = clips[:: max(1, len(clips) // a.train_eval)][: a.train_eval]
    tests = load("test", a.test_clips, 1) if a.test_clips else []
    print(
        f"{len(clips)} training clips, {sum(len(c['frames']) for c in clips)} frames; evaluated: "
        f"{', '.join(c['key'] for c in evals)}"
    )
    T = cfg.data.window
    wins = [(ci, st) for ci, c in enumerate(clips) for st in window_starts(len(c["frames"]), T, cfg.data.stride)]
    rng = np.random.default_rng(a.seed)
    theta = np.concatenate([c["smpl"]["poses_cam"] for c in clips]).reshape(-1, 24, 3)
    mean_R = roma.special_procrustes(roma.rotvec_to_rotmat(torch.from_numpy(theta).double()).sum(0)).float()
    mean_beta = torch.from_numpy(np.concatenate([c["smpl"]["betas"] for c in clips]).mean(0)).float()

    @torch.no_grad()
    def metrics_of(model: torch.nn.Module, cs: list[dict]) -> str:
        model.eval()
        acc = np.zeros(8)
        for c in cs:
            w = make_window(c, 0, len(c["frames"]), cfg.data, None)
            pred = model(w["images"][None])
            n = len(w["theta"])
            gj = sk(roma.rotvec_to_rotmat(w["theta"].reshape(n, 24, 3)), w["beta"]).double().numpy()
            pj = sk(pred["rotmat"][0], pred["beta"][0]).double().numpy()
            mj = sk(mean_R.expand(n, 24, 3, 3), mean_beta.expand(n, 10)).double().numpy()
            # the articulation alone: the predicted rotations on the true shape
            aj = sk(pred["rotmat"][0], w["beta"]).double().numpy()
            acc += (
                n
                * np.array(
                    [
                        M.mpjpe(pj, gj),
                        M.pa_mpjpe(pj, gj),
                        M.mpjpe(mj, gj),
                        M.pa_mpjpe(mj, gj),
                        float(pred["beta"][0].norm(dim=-1).mean()),
                        M.pa_mpjpe(aj, gj),
                        M.pa_mpjpe(pj, np.repeat(pj[:1], len(pj), 0)),  # how far the prediction moves in the clip
                        M.pa_mpjpe(gj, np.repeat(gj[:1], len(gj), 0)),  # and the truth
                    ]
                )
            )
        model.train()
        mp, pa, mmp, mpa, bn, pa_shape, move_p, move_g = acc / sum(len(c["frames"]) for c in cs)
        return (
            f"MPJPE {mp:.1f} ({mp / mmp:.3f}) PA-MPJPE {pa:.1f} ({pa / mpa:.3f}) |beta| {bn:.2f} "
            f"PA true shape {pa_shape:.1f} ({pa_shape / mpa:.3f}) moves {move_p:.1f}/{move_g:.1f}"
        )

    model = build_model("hmr", cfg.model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    t0, logged = time.time(), []
    for step in range(a.steps):
        picks = rng.integers(len(wins), size=cfg.batch_size)
        batch = collate(
            [
                make_window(clips[wins[i][0]], wins[i][1], T, cfg.data, rng if a.aug else None, cfg.model.part_head)
                for i in picks
            ]
        )
        pred = {k: v.float() for k, v in model(batch["images"]).items()}
        loss, parts = total_loss(pred, batch, sk, cfg.loss, use_shape=False)
        if a.local3d:  # articulation only: the predicted joint rotations under the true root rotation
            gt_R = roma.rotvec_to_rotmat(batch["theta"].reshape(*batch["theta"].shape[:2], 24, 3))
            J = sk(torch.cat([gt_R[:, :, :1], pred["rotmat"][:, :, 1:]], 2), pred["beta"])
            loss = loss + a.local3d * ((J - J[..., :1, :] - batch["j3d"]) ** 2).sum(-1).mean(-1).sum(1).mean()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, cfg)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        logged.append([float(parts[k]) for k in ("loss", "proj", "joints3d", "smpl", "joints2d_heat")])
        if (step + 1) % a.eval_every == 0 or step == 0:
            m = np.mean(logged, 0)
            logged = []
            line = (
                f"step {step + 1} {time.time() - t0:.0f}s loss {m[0]:.3f} proj {m[1]:.3f} j3d {m[2]:.4f} "
                f"smpl {m[3]:.3f} heat {m[4]:.3f} | train {metrics_of(model, evals)}"
            )
            print(line + (f" | test {metrics_of(model, tests)}" if tests else ""), flush=True)


if __name__ == "__main__":
    main()
