"""Loader throughput vs model consumption: can the shard loader feed MVIPER training on this machine?

    python benchmarks/train_loader.py [--size 250 --crop 224 --batch 2 --configs tiny,default --device auto]

Writes a toy dataset in the shard contract (train/toydata.py) at the pipeline's 250 px frame size, then
prints frames/s of (a) the streaming loader (decode JPEG + crop + augment) with 0..N workers and
(b) one training step of HMR and MVIPER (the trainer's own step: forward, losses, backward, clipping,
Adam) beside the backbone-only step (the encoder's forward + backward + Adam on the same batch, crop
and threads), the floor a training step cannot beat. On a GPU, (a) against (b) says how many loader
workers one GPU needs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from synth.body import load_body_model
from train.config import load_train_config
from train.data import DataConfig, ShardWindows, make_loader
from train.losses import Skeleton
from train.models import Encoder, build_model
from train.runtime import setup_runtime
from train.toydata import write_toy_shards
from train.trainer import TARGETS, training_step


def loader_fps(data: Path, cfg: DataConfig, batch: int, workers: int, max_batches: int) -> float:
    loader = make_loader(ShardWindows(data, "train", cfg, train=True), batch, workers)
    frames, t0 = 0, None
    for i, b in enumerate(loader):
        if i == 0:
            t0 = time.perf_counter()  # exclude worker start-up
            continue
        frames += b["images"].shape[0] * b["images"].shape[1]
        if i >= max_batches:
            break
    return frames / (time.perf_counter() - t0)


class StepTimer:
    """One row of the step table: `step()` runs one optimiser step on a fixed batch. Rows are timed in
    interleaved rounds, by the wall clock and by this process's CPU time: on a machine shared with
    other work the CPU time of a 1-thread run is what a step costs, whatever the load (with more threads
    it also counts OpenMP's spin-waiting); on a GPU only the wall clock means anything."""

    def __init__(self, name: str, frames: int, step):
        self.name, self.frames, self.step, self.wall, self.cpu = name, frames, step, [], []

    def run(self, steps: int, rt) -> None:
        for _ in range(steps):
            t0, c0 = time.perf_counter(), time.process_time()
            self.step()
            if rt.device.type == "cuda":
                torch.cuda.synchronize()
            self.wall.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)

    def fps(self, clock: str = "wall") -> float:
        return self.frames / statistics.median(self.wall if clock == "wall" else self.cpu)


def backbone_step(config: str, images: torch.Tensor, rt):
    """The floor of a training step: the encoder alone, forward + backward + Adam on the same images."""
    cfg = load_train_config(config)
    enc = Encoder(cfg.model.backbone).to(rt.device).train()
    opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr)
    flat = images.flatten(0, 1)

    def step():
        with rt.autocast():
            feat, _, _ = enc(flat)
        loss = feat.float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def model_step(kind: str, config: str, images: torch.Tensor, target: dict, skeleton, rt):
    """The trainer's own step (train/trainer.py: forward, losses, backward, clipping) and Adam."""
    cfg = load_train_config(config)
    model = build_model(kind, cfg.model).to(rt.device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step():
        training_step(model, opt, images, target, skeleton, cfg, kind == "mviper", rt, cfg.lr)
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=250, help="frame size of the toy shards (pipeline default 250)")
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--batch", type=int, default=2, help="clips per batch (x T = 4 frames)")
    ap.add_argument("--workers", default="0,1", help="loader worker counts to try")
    ap.add_argument("--configs", default="tiny,default")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per row and round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the rows")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rt = setup_runtime(args.device)
    body = load_body_model(device=rt.device)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_toy_shards(
            data,
            load_body_model(),
            sequences=8,
            cameras=4,
            frames=16,
            size=args.size,
            seed=0,
            test_sequences=0,
            samples_per_shard=8,
        )
        cfg = DataConfig(window=4, stride=2, crop_size=args.crop)
        print(
            f"device: {rt.device}  torch threads: {torch.get_num_threads()}  frames {args.size}px -> crops {args.crop}px, T = 4"
        )
        print(f"{'what':<34}{'frames/s':>10}")
        loader = {}
        for w in (int(x) for x in args.workers.split(",")):
            loader[w] = loader_fps(data, cfg, args.batch, w, 12)
            print(f"{f'loader, {w} workers':<34}{loader[w]:>10.1f}")
        batch = next(iter(make_loader(ShardWindows(data, "train", cfg, train=True), args.batch)))
        images = batch["images"].to(rt.device)
        target = {k: batch[k].to(rt.device) for k in TARGETS}
        skeleton = Skeleton(body).to(rt.device)
        frames = images.shape[0] * images.shape[1]
        groups = []
        for config in args.configs.split(","):
            rows = [StepTimer(f"backbone only ({config}, B={args.batch})", frames, backbone_step(config, images, rt))]
            rows += [
                StepTimer(
                    f"train step {kind} ({config}, B={args.batch})",
                    frames,
                    model_step(kind, config, images, target, skeleton, rt),
                )
                for kind in ("hmr", "mviper")
            ]
            for row in rows:
                row.step()  # warm-up: allocator, oneDNN/cuDNN kernel choice
            for _ in range(args.rounds):
                for row in rows:
                    row.run(args.steps, rt)
            groups.append(rows)
        print(
            f"\n{f'training step (median of {args.rounds * args.steps})':<34}{'frames/s':>10}{'x backbone':>12}{'CPU-time f/s':>14}{'x backbone':>12}"
        )
        for rows in groups:
            for row in rows:
                print(
                    f"{row.name:<34}{row.fps():>10.1f}{row.fps() / rows[0].fps():>12.2f}"
                    f"{row.fps('cpu'):>14.1f}{row.fps('cpu') / rows[0].fps('cpu'):>12.2f}"
                )
        per_worker = max(loader.values())  # one decoding process (0 workers: the main process itself)
        fastest = max(row.fps() for rows in groups for row in rows[1:])
        print(
            f"\nloader workers the fastest step needs: {math.ceil(fastest / per_worker)} "
            f"({fastest:.0f} frames/s / {per_worker:.0f} frames/s per loader process)"
        )


if __name__ == "__main__":
    main()
