"""One training stage (hmr, or mviper initialised from hmr) and the run-directory rules around it.

RUN/{stage}/last.pt every ckpt_every steps (model, optimiser, step, epoch, batch-in-epoch, torch RNG:
--resume continues exactly where it stopped), final.pt when done, log.csv and TensorBoard events in
RUN/{stage}/tb. On CUDA: bf16 autocast; under torchrun (WORLD_SIZE > 1): DistributedDataParallel,
shards split by rank. The learning rate follows `lr_at` (warm-up, cosine decay), gradients are clipped
to `grad_clip`, and a non-finite loss or gradient stops the run naming the step and the batch's samples
before any checkpoint holds the damage.
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from pathlib import Path

import torch

from synth.errors import SynthError
from synth.io import save_json_atomic
from train.checkpoint import check_architecture, load_checkpoint, save_checkpoint
from train.config import TRAINING_STAGES, TrainConfig, lr_at
from train.data import ShardWindows, make_loader
from train.losses import Skeleton, total_loss
from train.models import build_model
from train.runtime import Runtime

TARGETS = ("theta", "beta", "j2d", "vis", "j3d", "has_3d")
PART_TARGETS = ("part_labels",)  # with model.part_head
LOG_FIELDS = [
    "stage",
    "step",
    "epoch",
    "loss",
    "proj",
    "joints3d",
    "smpl",
    "shape",
    "parts",
    "joints3d_body",
    "joints2d_heat",
    "lr",
    "grad_norm",
    "frames_per_s",
    "seconds",
]
STAGE_OUTPUTS = ("final.pt", "last.pt", "log.csv", "tb")


class FiniteGuard:
    """Stops training at the first step whose loss or gradient norm is not finite.

    Checked every step on CPU (free there), every `every` steps on CUDA so that no step waits for the
    GPU; `check()` is also called before every checkpoint, so a saved checkpoint never holds the damage.
    """

    def __init__(self, stage: str, every: int):
        self.stage, self.every = stage, max(1, every)
        self.pending: list[tuple[int, list[str], dict[str, torch.Tensor]]] = []

    def push(self, step: int, keys: list[str], values: dict[str, torch.Tensor]) -> None:
        self.pending.append((step, keys, values))
        if len(self.pending) >= self.every:
            self.check()

    def check(self) -> None:
        if not self.pending:
            return
        names = list(self.pending[0][2])
        ok = torch.stack([torch.stack([v[n].float() for n in names]) for _, _, v in self.pending]).isfinite().cpu()
        for (step, keys, _), row in zip(self.pending, ok):
            if not row.all():
                bad = [n for n, good in zip(names, row) if not good]
                self.pending.clear()
                raise SynthError(
                    f"{self.stage} step {step}: non-finite {', '.join(bad)}; batch samples: {', '.join(keys)}",
                    fix="check those samples (`synth validate DATA`), lower lr or grad_clip, then --resume from last.pt",
                )
        self.pending.clear()


def batch_keys(batch: dict) -> list[str]:
    return [f"{k}@{s}" for k, s in zip(batch["key"], batch["start"])]


def prepare_run(
    run: Path, cfg: TrainConfig, stages: tuple[str, ...], resume: bool, force: bool, main: bool = True
) -> None:
    """Refuse anything that would overwrite a finished stage or load weights of another architecture,
    before anything is written; then (and only then) write RUN/config.json."""
    for stage in stages:
        out = run / stage
        present = [n for n in STAGE_OUTPUTS if (out / n).exists()]
        if resume:
            for name in ("last.pt", "final.pt"):
                if (out / name).exists():
                    check_architecture(load_checkpoint(out / name), cfg, out / name, "--resume")
                    break
        elif present and not force:
            raise SynthError(
                f"the {stage} stage already has {', '.join(present)}",
                path=out,
                fix="pass --resume to continue it, --force to start it again (deletes those files), or choose a new --out",
            )
        if stage == "mviper" and not (resume and (out / "last.pt").exists()) and "hmr" not in stages:
            hmr = run / "hmr" / "final.pt"
            if not hmr.exists():
                raise SynthError(
                    "the mviper stage starts from the hmr stage's final.pt, which is missing",
                    path=hmr,
                    fix=f"train it first: python -m train.mviper train --data DATA --out {run} --stage hmr",
                )
            check_architecture(load_checkpoint(hmr), cfg, hmr, "mviper initialisation")
    if not main:
        return
    if force and not resume:
        for stage in stages:
            for name in STAGE_OUTPUTS:
                path = run / stage / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
    run.mkdir(parents=True, exist_ok=True)
    save_json_atomic(run / "config.json", cfg.to_dict())


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def init_from_hmr(model: torch.nn.Module, path: Path, cfg: TrainConfig) -> None:
    """MVIPER starts from HMR's encoder and regressor; everything else keeps its (zero-link) init."""
    hmr = load_checkpoint(path)
    check_architecture(hmr, cfg, path, "mviper initialisation")
    missing, unexpected = model.load_state_dict(hmr["model"], strict=False)
    shared = [k for k in missing if k.startswith(("encoder.", "regressor."))]
    if unexpected or shared:
        raise SynthError(
            f"not an HMR checkpoint of this architecture (unexpected {unexpected[:3]}, missing {shared[:3]})",
            path=path,
            fix="train the hmr stage of this run again (--stage hmr --force)",
        )


def training_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    images: torch.Tensor,
    target: dict[str, torch.Tensor],
    skeleton: Skeleton,
    cfg: TrainConfig,
    use_shape: bool,
    rt: Runtime,
    lr: float,
) -> dict[str, torch.Tensor]:
    """Forward, losses, backward and gradient clipping, up to (not including) opt.step(), so that the
    caller can refuse a non-finite step first. Returns the loss parts and grad_norm as device tensors."""
    with rt.autocast():
        pred = model(images)
    pred = {k: v.float() for k, v in pred.items()}
    loss, parts = total_loss(pred, target, skeleton, cfg.loss, use_shape=use_shape)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
    parts["grad_norm"] = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
    return parts


def train_stage(stage: str, cfg: TrainConfig, data: Path, run: Path, body, rt: Runtime, resume: bool) -> Path:
    """Train one stage to cfg.{stage}_steps; returns RUN/{stage}/final.pt."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    out = run / stage
    out.mkdir(parents=True, exist_ok=True)
    total = cfg.hmr_steps if stage == "hmr" else cfg.mviper_steps
    torch.manual_seed(cfg.seed + rt.rank)
    model = build_model(stage, cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=lr_at(0, total, cfg))
    step = epoch = skip = 0
    last = out / "last.pt"
    if resume and last.exists():
        ck = load_checkpoint(last)
        check_architecture(ck, cfg, last, "--resume")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        step, epoch, skip = ck["step"], ck["epoch"], ck["batch_in_epoch"]
        torch.set_rng_state(ck["torch_rng"])
    elif stage == "mviper":
        init_from_hmr(model, run / "hmr" / "final.pt", cfg)
    if step >= total:
        return _finish(out, model, cfg, stage, step, rt)
    model.to(rt.device)
    _move_optimizer(opt, rt.device)
    skeleton = Skeleton(body).to(rt.device)
    if rt.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None
        )
    dataset = ShardWindows(data, "train", cfg.data, train=True, seed=cfg.seed, part_labels=cfg.model.part_head)
    loader = make_loader(dataset, cfg.batch_size, cfg.workers)
    writer = SummaryWriter(str(out / "tb")) if rt.main else None
    log_path = out / "log.csv"
    if rt.main and not log_path.exists():
        log_path.write_text(",".join(LOG_FIELDS) + "\n")
    guard = FiniteGuard(stage, 1 if rt.device.type == "cpu" else cfg.log_every)
    bar = tqdm(total=total, initial=step, desc=stage, disable=not rt.main, leave=False)
    model.train()
    t0, frames = time.perf_counter(), 0
    while step < total:
        dataset.set_epoch(epoch)
        batches = 0
        for batch in loader:
            batches += 1
            if batches <= skip:  # resume: replay the epoch's data order up to where it stopped
                continue
            images = batch["images"].to(rt.device, non_blocking=True)
            target = {k: batch[k].to(rt.device, non_blocking=True) for k in TARGETS + PART_TARGETS if k in batch}
            lr = lr_at(step, total, cfg)
            parts = training_step(model, opt, images, target, skeleton, cfg, stage == "mviper", rt, lr)
            step += 1
            guard.push(step, batch_keys(batch), {"loss": parts["loss"], "grad_norm": parts["grad_norm"]})
            opt.step()
            frames += images.shape[0] * images.shape[1]
            bar.update(1)
            if rt.main and (step % cfg.log_every == 0 or step == total):
                guard.check()
                values = {k: float(v) for k, v in parts.items()}  # the one host sync, every log_every steps
                dt = time.perf_counter() - t0
                row = {
                    "stage": stage,
                    "step": step,
                    "epoch": epoch,
                    **values,
                    "lr": lr,
                    "frames_per_s": frames / max(dt, 1e-9),
                    "seconds": dt,
                }
                with open(log_path, "a", newline="") as fh:
                    csv.DictWriter(fh, LOG_FIELDS).writerow(
                        {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
                    )
                for k, v in values.items():
                    writer.add_scalar(f"{stage}/{k}", v, step)
                writer.add_scalar(f"{stage}/lr", lr, step)
                bar.set_postfix(loss=f"{values['loss']:.4f}")
            if rt.main and (step % cfg.ckpt_every == 0 or step == total):
                guard.check()
                save_checkpoint(
                    last,
                    model=_unwrap(model).state_dict(),
                    optim=opt.state_dict(),
                    step=step,
                    epoch=epoch,
                    batch_in_epoch=batches,
                    torch_rng=torch.get_rng_state(),
                    config=cfg.to_dict(),
                )
            if step >= total:
                break
        else:
            if batches == 0:
                why = f"; {len(dataset.skipped)} refused: {', '.join(dataset.skipped[:3])}" if dataset.skipped else ""
                raise SynthError(
                    f"the training split gave no windows{why}",
                    path=data,
                    fix=f"write longer clips (>= {cfg.data.window} frames) or check the shards (`synth validate`)",
                )
            epoch, skip = epoch + 1, 0
    guard.check()
    bar.close()
    if writer:
        writer.close()
    if dataset.skipped:
        print(f"{stage}: skipped {len(dataset.skipped)} corrupt samples: {dataset.skipped[:5]}", file=sys.stderr)
    return _finish(out, _unwrap(model), cfg, stage, step, rt)


def _move_optimizer(opt: torch.optim.Optimizer, device: torch.device) -> None:
    for state in opt.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                state[k] = v.to(device)


def _finish(out: Path, model: torch.nn.Module, cfg: TrainConfig, stage: str, step: int, rt: Runtime) -> Path:
    final = out / "final.pt"
    if rt.main:
        save_checkpoint(
            final,
            model={k: v.cpu() for k, v in model.state_dict().items()},
            step=step,
            stage=stage,
            config=cfg.to_dict(),
        )
    if rt.world > 1:
        torch.distributed.barrier()
    return final


def train(
    cfg: TrainConfig,
    data: Path,
    run: Path,
    body,
    rt: Runtime,
    stages: tuple[str, ...] = TRAINING_STAGES,
    resume: bool = False,
    force: bool = False,
) -> list[Path]:
    """Check the run directory, then train the stages in order; returns their final.pt paths."""
    prepare_run(run, cfg, stages, resume, force, rt.main)
    if rt.world > 1:
        torch.distributed.barrier()
    return [train_stage(stage, cfg, data, run, body, rt, resume) for stage in stages]
