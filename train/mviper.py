"""`python -m train.mviper train|eval|predict`: two-stage MVIPER training, evaluation against HMR, inference.

train:   stage "hmr" (frame model) then stage "mviper" initialised from HMR's weights. Each stage keeps
         RUN/{stage}/last.pt (model, optimiser, step, epoch, batch-in-epoch, RNG states: --resume continues
         exactly where it stopped), final.pt when done, log.csv and TensorBoard events in RUN/{stage}/tb.
         On CUDA: bf16 autocast; under torchrun (WORLD_SIZE > 1): DistributedDataParallel, shards split by rank.
eval:    per-sequence metrics of both models on the held-out split's whole clips, a table, RUN/eval_{split}.json.
predict: a folder of frames or an MP4 -> OUT/smpl.npz (per-frame poses, betas, camera) and OUT/meshes/*.obj.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from synth.errors import SynthError, run_command
from synth.io import atomic_path, save_json_atomic
from train.data import DataConfig, ShardWindows, crop_frame, make_loader, normalise_image
from train.losses import LossWeights, total_loss
from train.metrics import METRICS, average, sequence_metrics
from train.models import ModelConfig, build_model

CONFIG_DIR = Path(__file__).parent / "configs"
STAGES = ("hmr", "mviper")


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    batch_size: int = 16
    lr: float = 1e-5
    hmr_steps: int = 50000
    mviper_steps: int = 50000
    log_every: int = 50
    ckpt_every: int = 1000
    workers: int = 8
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        sub = {"model": ModelConfig, "data": DataConfig, "loss": LossWeights}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SynthError(f"unknown config keys {sorted(unknown)}", fix=f"use only {sorted(known)}")
        kw = {k: sub[k](**v) if k in sub else v for k, v in d.items()}
        return cls(**kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_config(name_or_path: str) -> TrainConfig:
    """A config by name (train/configs/NAME.yaml) or path."""
    import yaml

    path = Path(name_or_path)
    if not path.exists():
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise SynthError("no such config", path=name_or_path, fix=f"use a YAML path or one of {sorted(p.stem for p in CONFIG_DIR.glob('*.yaml'))}")
    try:
        return TrainConfig.from_dict(yaml.safe_load(path.read_text()) or {})
    except TypeError as exc:
        raise SynthError(f"bad config ({exc})", path=path, fix="compare with train/configs/default.yaml") from exc


# ---------------------------------------------------------------- runtime: device, DDP


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        """bf16 autocast on CUDA only (CPU runs stay float32)."""
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")


def setup_runtime(device: str = "auto") -> Runtime:
    """Device auto-selection; under torchrun (WORLD_SIZE > 1) joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
        return Runtime(torch.device(f"cuda:{local}" if cuda else "cpu"), torch.distributed.get_rank(), world)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return Runtime(torch.device(device))


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, **state) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as exc:
        raise SynthError(f"unreadable checkpoint ({exc})", path=path, fix="delete it and re-run without --resume") from exc


def load_trained(run: Path, kind: str, device: torch.device) -> tuple[torch.nn.Module, TrainConfig]:
    """The finished (else latest) model of a stage, in eval mode."""
    for name in ("final.pt", "last.pt"):
        path = run / kind / name
        if path.exists():
            ck = load_checkpoint(path)
            cfg = TrainConfig.from_dict(ck["config"])
            model = build_model(kind, cfg.model)
            model.load_state_dict(ck["model"])
            return model.to(device).eval(), cfg
    raise SynthError(f"no {kind} checkpoint", path=run / kind, fix=f"run `python -m train.mviper train --out {run}` first")


# ---------------------------------------------------------------- training


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def train_stage(stage: str, cfg: TrainConfig, data: Path, run: Path, body, rt: Runtime, resume: bool) -> Path:
    """Train one stage to cfg.{stage}_steps; returns RUN/{stage}/final.pt."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    out = run / stage
    out.mkdir(parents=True, exist_ok=True)
    total = cfg.hmr_steps if stage == "hmr" else cfg.mviper_steps
    torch.manual_seed(cfg.seed + rt.rank)
    model = build_model(stage, cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step = epoch = skip = 0
    last = out / "last.pt"
    if resume and last.exists():
        ck = load_checkpoint(last)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        step, epoch, skip = ck["step"], ck["epoch"], ck["batch_in_epoch"]
        torch.set_rng_state(ck["torch_rng"])
    elif stage == "mviper":
        hmr = load_checkpoint(run / "hmr" / "final.pt")
        missing, unexpected = model.load_state_dict(hmr["model"], strict=False)
        assert not unexpected and all(not k.startswith(("encoder.", "regressor.")) for k in missing)
    if step >= total:
        return _finish(out, model, cfg, stage, step, rt)
    model.to(rt.device)
    _move_optimizer(opt, rt.device)
    if rt.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)
    dataset = ShardWindows(data, "train", cfg.data, train=True, seed=cfg.seed)
    loader = make_loader(dataset, cfg.batch_size, cfg.workers)
    writer = SummaryWriter(str(out / "tb")) if rt.main else None
    log_path = out / "log.csv"
    fields = ["stage", "step", "epoch", "loss", "proj", "joints3d", "smpl", "shape", "frames_per_s", "seconds"]
    if rt.main and not log_path.exists():
        log_path.write_text(",".join(fields) + "\n")
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
            target = {k: batch[k].to(rt.device) for k in ("theta", "beta", "j2d", "vis", "j3d", "has_3d")}
            with rt.autocast():
                pred = model(images)
            pred = {k: v.float() for k, v in pred.items()}
            loss, parts = total_loss(pred, target, body, cfg.loss, use_shape=stage == "mviper")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            frames += images.shape[0] * images.shape[1]
            bar.update(1)
            if rt.main and (step % cfg.log_every == 0 or step == total):
                dt = time.perf_counter() - t0
                row = {"stage": stage, "step": step, "epoch": epoch, **parts, "frames_per_s": frames / max(dt, 1e-9), "seconds": dt}
                with open(log_path, "a", newline="") as fh:
                    csv.DictWriter(fh, fields).writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
                for k, v in parts.items():
                    writer.add_scalar(f"{stage}/{k}", v, step)
                bar.set_postfix(loss=f"{parts['loss']:.4f}")
            if rt.main and (step % cfg.ckpt_every == 0 or step == total):
                save_checkpoint(last, model=_unwrap(model).state_dict(), optim=opt.state_dict(), step=step, epoch=epoch,
                                batch_in_epoch=batches, torch_rng=torch.get_rng_state(), config=cfg.to_dict())
            if step >= total:
                break
        else:
            if batches == 0:
                raise SynthError("the training split gave no windows", path=data, fix=f"write longer clips (>= {cfg.data.window} frames) or check the shards")
            epoch, skip = epoch + 1, 0
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
        save_checkpoint(final, model={k: v.cpu() for k, v in model.state_dict().items()}, step=step, stage=stage, config=cfg.to_dict())
    if rt.world > 1:
        torch.distributed.barrier()
    return final


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(run: Path, data: Path, split: str, body, device: torch.device, kinds=STAGES, firsts: dict | None = None) -> dict[str, dict[str, float]]:
    """Metrics of each trained model over every whole clip of `split` (frame-weighted means).
    `firsts`, when given, receives {kind: (first clip item, predicted theta, predicted beta)} for previews."""
    results = {}
    for kind in kinds:
        model, cfg = load_trained(run, kind, device)
        rows, weights = [], []
        for item in ShardWindows(data, split, cfg.data, train=False, window=0):
            pred = model(item["images"][None].to(device))
            rows.append(sequence_metrics(body, pred["theta"][0].cpu().numpy(), pred["beta"][0].cpu().numpy(),
                                         item["theta"].numpy(), item["beta"].numpy()))
            if firsts is not None and kind not in firsts:
                firsts[kind] = (item, pred["theta"][0].cpu(), pred["beta"][0].cpu())
            weights.append(len(item["theta"]))
        if not rows:
            raise SynthError(f"no {split} samples to evaluate", path=data, fix="write held-out shards ({split}-NNNNNN.tar)")
        results[kind] = {**average(rows, weights), "sequences": len(rows), "frames": int(sum(weights))}
    return results


@torch.no_grad()
def save_preview(path: Path, firsts: dict, body, frames: int = 4, size: int = 160) -> Path:
    """Rows = frames of the first clip: the input crop, the ground-truth mesh and each model's mesh, seen from
    the camera (camera-frame meshes, pelvis at the centre, one scale for all)."""
    from PIL import Image

    from synth.viz.render import render_mesh_image, save_png, tile_images
    from train.data import IMAGENET_MEAN, IMAGENET_STD

    item = next(iter(firsts.values()))[0]
    T = min(frames, len(item["theta"]))
    to_view = torch.tensor([1.0, -1.0, -1.0])  # OpenCV camera (y down, z forward) -> viewer's Y up, looking at -Z

    def meshes(theta, beta):
        out = body(beta[:T].to(body_device(body)), theta[:T].to(body_device(body)), torch.zeros(T, 3, device=body_device(body)))
        return ((out.vertices - out.joints[:, :1]).cpu() * to_view).numpy()

    rows = [("ground truth", meshes(item["theta"], item["beta"]))] + [(k, meshes(th, be)) for k, (_, th, be) in firsts.items()]
    tiles, titles = [], []
    for t in range(T):
        crop = item["images"][t].numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
        tiles.append(np.asarray(Image.fromarray((np.clip(crop, 0, 1) * 255).astype(np.uint8)).resize((size, size))))
        titles.append(f"{item['key']} t={t}")
        for name, verts in rows:
            tiles.append(render_mesh_image(verts[t], body.faces, size, "front", centre=(0, 0, 0), extent=1.1))
            titles.append(name)
    return save_png(path, tile_images(tiles, cols=1 + len(rows), titles=titles))


def format_table(results: dict[str, dict[str, float]]) -> str:
    head = f"{'model':<8}" + "".join(f"{m:>10}" for m in METRICS) + f"{'clips':>7}"
    lines = [head, "-" * len(head)]
    for kind, r in results.items():
        lines.append(f"{kind:<8}" + "".join(f"{r[m]:>10.2f}" for m in METRICS) + f"{r['sequences']:>7d}")
    lines.append("(mm; MRVPV/MRSV/Accel per frame^k; lower is better)")
    return "\n".join(lines)


# ---------------------------------------------------------------- prediction


def read_frames(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """RGB frames of an MP4 (or any video imageio reads) or of a folder of .png/.jpg images, in name order."""
    import imageio.v3 as iio

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not files:
            raise SynthError("no .png/.jpg frames in the folder", path=path, fix="pass a folder of frames or an MP4")
        return [np.asarray(iio.imread(p))[..., :3] for p in files], [p.name for p in files]
    try:
        frames = [np.asarray(f)[..., :3] for f in iio.imiter(path)]
    except Exception as exc:
        raise SynthError(f"cannot read video ({exc})", path=path, fix="pass an MP4 or a folder of frames") from exc
    return frames, [f"{i:06d}" for i in range(len(frames))]


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    lines = [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in verts] + [f"f {a} {b} {c}" for a, b, c in faces + 1]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


@torch.no_grad()
def predict(run: Path, source: Path, out: Path, body, device: torch.device, kind: str = "mviper", bbox: list[float] | None = None, chunk: int = 64) -> Path:
    """Per-frame SMPL parameters (camera frame) and meshes for a clip; the person box is `bbox` (xyxy,
    one for all frames) or the centred square of the frame."""
    model, cfg = load_trained(run, kind, device)
    frames, names = read_frames(source)
    H, W = frames[0].shape[:2]
    x0, y0, x1, y1 = bbox or (0.0, 0.0, float(W), float(H))
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (cfg.data.bbox_scale if bbox else 1.0)
    crops = np.stack([crop_frame(f, cx, cy, side, cfg.data.crop_size) for f in frames])
    images = torch.from_numpy(normalise_image(crops))
    theta, beta, cam = [], [], []
    for s in range(0, len(images), chunk):  # a new chunk restarts the video model's state
        pred = model(images[None, s : s + chunk].to(device))
        theta.append(pred["theta"][0].cpu())
        beta.append(pred["beta"][0].cpu())
        cam.append(pred["cam"][0].cpu())
    theta, beta, cam = torch.cat(theta), torch.cat(beta), torch.cat(cam)
    mesh = body(beta.to(body_device(body)), theta.to(body_device(body)), torch.zeros(len(theta), 3, device=body_device(body)))
    verts = mesh.vertices.cpu().numpy()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "smpl.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, poses_cam=theta.numpy(), betas=beta.numpy(), cam=cam.numpy(),
                            crop=np.array([[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]] * len(theta), np.float32),
                            joints=mesh.joints[:, :24].cpu().numpy(), frames=np.array(names), model=kind,
                            body_model=getattr(body, "identifier", ""), camera_frame="opencv")
    faces = np.asarray(body.faces)
    for t, name in enumerate(names):
        write_obj(out / "meshes" / f"{Path(name).stem}.obj", verts[t], faces)
    return out / "smpl.npz"


def body_device(body) -> torch.device:
    return getattr(body, "device", torch.device("cpu"))


# ---------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.mviper", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda, cuda:N")
    common.add_argument("--body-model", default=None, help="SMPL .pkl/.npz; default $SYNTH_SMPL_MODEL or the embedded model")
    t = sub.add_parser("train", parents=[common], help="two-stage training: hmr, then mviper from hmr")
    t.add_argument("--data", required=True, type=Path, help="directory of {split}-NNNNNN.tar shards")
    t.add_argument("--out", required=True, type=Path, help="run directory")
    t.add_argument("--config", default="default", help="name in train/configs or a YAML path")
    t.add_argument("--stage", choices=("hmr", "mviper", "both"), default="both")
    t.add_argument("--resume", action="store_true", help="continue from RUN/{stage}/last.pt")
    t.add_argument("--hmr-steps", type=int)
    t.add_argument("--mviper-steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--workers", type=int)
    t.add_argument("--weights", help="encoder init: a torchvision ResNet .pth, or 'imagenet' (hub cache only)")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("eval", parents=[common], help="metric table of MVIPER vs HMR on held-out shards")
    e.add_argument("--data", required=True, type=Path)
    e.add_argument("--run", required=True, type=Path)
    e.add_argument("--split", default="test")
    e.add_argument("--models", default="hmr,mviper")
    e.add_argument("--preview", type=Path, help="PNG: input crops, ground truth and predicted meshes of the first clip")
    e.set_defaults(func=cmd_eval)
    pr = sub.add_parser("predict", parents=[common], help="frames folder or MP4 -> per-frame SMPL .npz and .obj meshes")
    pr.add_argument("--run", required=True, type=Path)
    pr.add_argument("--input", required=True, type=Path)
    pr.add_argument("--out", required=True, type=Path)
    pr.add_argument("--model", choices=STAGES, default="mviper")
    pr.add_argument("--bbox", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="person box in pixels (default: whole frame)")
    pr.set_defaults(func=cmd_predict)
    return p


def _body(args, device: torch.device, data: Path | None = None):
    """The body model; warns when the shards were annotated with a different one (targets would not match)."""
    from synth.body import load_body_model
    from synth.shards.reader import iter_samples

    body = load_body_model(args.body_model, device=device)
    if data is not None:
        _, files = next(iter_samples(data, decode=False))
        used = json.loads(files.get("meta.json", b"{}")).get("body_model", "")
        if used and used != body.identifier:
            print(f"warning: shards in {data} were annotated with {used}, training uses {body.identifier}", file=sys.stderr)
    return body


def cmd_train(args) -> int:
    cfg = load_config(args.config)
    for name in ("hmr_steps", "mviper_steps", "batch_size", "lr", "workers"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.weights is not None:
        cfg.model.weights = args.weights
    rt = setup_runtime(args.device)
    body = _body(args, rt.device, args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    if rt.main:
        save_json_atomic(args.out / "config.json", cfg.to_dict())
    for stage in STAGES if args.stage == "both" else (args.stage,):
        final = train_stage(stage, cfg, args.data, args.out, body, rt, args.resume)
        if rt.main:
            print(f"{stage}: {final}")
    return 0


def cmd_eval(args) -> int:
    rt = setup_runtime(args.device)
    body = _body(args, rt.device, args.data)
    firsts: dict = {}
    results = evaluate(args.run, args.data, args.split, body, rt.device, tuple(args.models.split(",")), firsts)
    print(format_table(results))
    if args.preview:
        print(save_preview(args.preview, firsts, body))
    save_json_atomic(args.run / f"eval_{args.split}.json", results)
    return 0


def cmd_predict(args) -> int:
    rt = setup_runtime(args.device)
    path = predict(args.run, args.input, args.out, _body(args, rt.device), rt.device, args.model, args.bbox)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, f"train.mviper {args.command}")


if __name__ == "__main__":
    sys.exit(main())
