"""Loader throughput vs model consumption: can the shard loader feed MVIPER training on this machine?

    python benchmarks/train_loader.py [--size 250 --crop 224 --batch 2 --configs tiny,default --device auto]

Writes a toy dataset in the shard contract (train/toydata.py) at the pipeline's 250 px frame size, then
prints frames/s of (a) the streaming loader (decode JPEG + crop + augment) with 0..N workers and
(b) one training step (forward, losses with the body model, backward, Adam) of HMR and MVIPER.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from synth.body import load_body_model
from train.data import DataConfig, ShardWindows, make_loader
from train.losses import total_loss
from train.models import build_model
from train.mviper import load_config, setup_runtime
from train.toydata import write_toy_shards


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


def model_fps(kind: str, config: str, data: Path, crop: int, batch: int, steps: int, body, rt) -> float:
    cfg = load_config(config)
    cfg.data.crop_size = crop
    model = build_model(kind, cfg.model).to(rt.device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    b = next(iter(make_loader(ShardWindows(data, "train", cfg.data, train=True), batch)))
    images = b["images"].to(rt.device)
    target = {k: b[k].to(rt.device) for k in ("theta", "beta", "j2d", "vis", "j3d", "has_3d")}
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        with rt.autocast():
            pred = model(images)
        loss, _ = total_loss({k: v.float() for k, v in pred.items()}, target, body, cfg.loss, kind == "mviper")
        opt.zero_grad()
        loss.backward()
        opt.step()
        if rt.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return images.shape[0] * images.shape[1] / (sum(times[1:]) / steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=250, help="frame size of the toy shards (pipeline default 250)")
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--batch", type=int, default=2, help="clips per batch (x T = 4 frames)")
    ap.add_argument("--workers", default="0,1", help="loader worker counts to try")
    ap.add_argument("--configs", default="tiny,default")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rt = setup_runtime(args.device)
    body = load_body_model(device=rt.device)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_toy_shards(data, load_body_model(), sequences=8, cameras=4, frames=16, size=args.size, seed=0, test_sequences=0, samples_per_shard=8)
        cfg = DataConfig(window=4, stride=2, crop_size=args.crop)
        print(f"device: {rt.device}  torch threads: {torch.get_num_threads()}  frames {args.size}px -> crops {args.crop}px, T = 4")
        print(f"{'what':<34}{'frames/s':>10}")
        for w in (int(x) for x in args.workers.split(",")):
            print(f"{f'loader, {w} workers':<34}{loader_fps(data, cfg, args.batch, w, 12):>10.1f}")
        for config in args.configs.split(","):
            for kind in ("hmr", "mviper"):
                fps = model_fps(kind, config, data, args.crop, args.batch, args.steps, body, rt)
                print(f"{f'train step {kind} ({config}, B={args.batch})':<34}{fps:>10.1f}")


if __name__ == "__main__":
    main()
