"""`eval`: per-sequence metrics of trained models on a held-out split's whole clips, beside the constant
predictors a reader needs to judge them, and a preview picture.

Baselines (rows of every table):
- "mean pose": the training split's mean camera-frame pose (per-joint chordal mean of the rotations) and
  mean shape, the same for every frame. A model that has learnt nothing lands here.
- "KIND no motion": the model's own first-frame prediction held for the whole clip ("no motion"); its temporal
  errors are what a model that does not follow the motion scores.
Each metric table is followed by the ratio of every row to the mean-pose row.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import roma
import torch

from synth.errors import SynthError
from synth.shards.reader import iter_samples
from synth.shards.writer import shard_paths
from train.checkpoint import load_trained
from train.config import TRAINING_STAGES
from train.data import ShardWindows, available_splits
from train.metrics import METRICS, average, sequence_metrics
from train.runtime import body_device

MEAN_POSE = "mean pose"


def training_mean(data: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray] | None:
    """(theta (72,), beta (10,)): the split's mean camera-frame pose and shape over all frames, from
    smpl.npz only (images are not decoded); None when the split has no readable sample."""
    rot_sum, beta_sum, frames = torch.zeros(24, 3, 3, dtype=torch.float64), np.zeros(10), 0
    for path in shard_paths(data, split):
        try:
            for _, files in iter_samples(path, decode=False):
                try:
                    with np.load(io.BytesIO(files["smpl.npz"])) as z:
                        theta, beta = np.asarray(z["poses_cam"], np.float64), np.asarray(z["betas"], np.float64)
                except Exception:  # noqa: BLE001 - the loader names corrupt samples; the mean leaves them out
                    continue
                if theta.ndim != 2 or theta.shape[1] != 72 or beta.shape != (len(theta), 10):
                    continue
                if not (np.isfinite(theta).all() and np.isfinite(beta).all()):
                    continue
                rot_sum += roma.rotvec_to_rotmat(torch.from_numpy(theta.reshape(-1, 24, 3))).sum(0)
                beta_sum += beta.sum(0)
                frames += len(theta)
        except SynthError as exc:  # an unreadable shard: the rest still give a mean
            print(f"warning: the mean pose leaves out {exc}", file=sys.stderr)
    if not frames:
        return None
    R = roma.special_procrustes(rot_sum)  # chordal L2 mean of each joint's rotations
    return roma.rotmat_to_rotvec(R).reshape(72).numpy().astype(np.float32), (beta_sum / frames).astype(np.float32)


def _warn_skipped(dataset: ShardWindows, what: str) -> None:
    if dataset.skipped:
        print(
            f"warning: {what}: skipped {len(dataset.skipped)} corrupt samples or shard regions: {dataset.skipped[:5]}",
            file=sys.stderr,
        )


def resolve_split(data: Path, split: str | None) -> str:
    """`split`, or "test" when not given; an error naming the splits the directory has otherwise."""
    have = available_splits(data)
    chosen = split or "test"
    if chosen not in have:
        given = f"--split {split}" if split else "no --split given and"
        raise SynthError(
            f"{given} no {chosen}-NNNNNN.tar shards; the splits here: {', '.join(have) or 'none'}",
            path=data,
            fix=f"pass --split {' or --split '.join(have)}"
            if have
            else "point --data at a `synth generate` output directory",
        )
    return chosen


@torch.no_grad()
def evaluate(
    run: Path,
    data: Path,
    split: str,
    body,
    device: torch.device,
    kinds=TRAINING_STAGES,
    firsts: dict | None = None,
    baselines: bool = True,
) -> dict[str, dict[str, float]]:
    """Metrics of each trained model (and the baselines) over every whole clip of `split`, frame-weighted
    means. `firsts`, when given, receives {kind: (first clip item, predicted theta, predicted beta)}."""
    mean = training_mean(data) if baselines else None
    if baselines and mean is None:
        print(f"warning: no readable train split in {data}: no mean-pose baseline", file=sys.stderr)
    rows: dict[str, list[dict[str, float]]] = {}
    weights: dict[str, list[int]] = {}

    def add(name: str, pred_theta: np.ndarray, pred_beta: np.ndarray, item: dict) -> None:
        rows.setdefault(name, []).append(
            sequence_metrics(body, pred_theta, pred_beta, item["theta"].numpy(), item["beta"].numpy())
        )
        weights.setdefault(name, []).append(len(item["theta"]))

    for n, kind in enumerate(kinds):
        model, cfg = load_trained(run, kind, device, flag="--models")
        dataset = ShardWindows(data, split, cfg.data, train=False, window=0)
        for item in dataset:
            pred = model(item["images"][None].to(device))
            theta, beta = pred["theta"][0].cpu().numpy(), pred["beta"][0].cpu().numpy()
            if not (np.isfinite(theta).all() and np.isfinite(beta).all()):
                raise SynthError(
                    f"{kind} predicted non-finite values on clip {item['key']}",
                    path=run / kind,
                    fix="retrain this stage; the checkpoint's weights are finite but its outputs overflow",
                )
            add(kind, theta, beta, item)
            if baselines:
                add(f"{kind} no motion", np.repeat(theta[:1], len(theta), 0), np.repeat(beta[:1], len(beta), 0), item)
                if n == 0 and mean is not None:
                    T = len(theta)
                    add(MEAN_POSE, np.tile(mean[0], (T, 1)), np.tile(mean[1], (T, 1)), item)
            if firsts is not None and kind not in firsts:
                firsts[kind] = (item, pred["theta"][0].cpu(), pred["beta"][0].cpu())
        _warn_skipped(dataset, f"eval {split}")
        if kind not in rows:
            raise SynthError(
                f"no readable {split} clips to evaluate",
                path=data,
                fix=f"write held-out shards ({split}-NNNNNN.tar) or check them (`synth validate`)",
            )
    order = (
        [k for k in kinds]
        + ([MEAN_POSE] if MEAN_POSE in rows else [])
        + [f"{k} no motion" for k in kinds if f"{k} no motion" in rows]
    )
    return {
        name: {**average(rows[name], weights[name]), "sequences": len(rows[name]), "frames": int(sum(weights[name]))}
        for name in order
    }


def format_table(results: dict[str, dict[str, float]]) -> str:
    """The metric table and, when a mean-pose row is present, every row's ratio to it."""
    width = max(8, *(len(k) + 1 for k in results))
    head = f"{'model':<{width}}" + "".join(f"{m:>10}" for m in METRICS) + f"{'clips':>7}"
    lines = [head, "-" * len(head)]
    for kind, r in results.items():
        lines.append(f"{kind:<{width}}" + "".join(f"{r[m]:>10.2f}" for m in METRICS) + f"{r['sequences']:>7d}")
    lines.append("(mm; MRVPV/MRSV/Accel per frame^k; lower is better)")
    base = results.get(MEAN_POSE)
    if base:
        lines += [
            "",
            f"{'/ mean pose':<{width}}" + "".join(f"{m:>10}" for m in METRICS),
            "-" * (width + 10 * len(METRICS)),
        ]
        for kind, r in results.items():
            if kind != MEAN_POSE:
                lines.append(f"{kind:<{width}}" + "".join(f"{_ratio(r[m], base[m]):>10}" for m in METRICS))
        lines.append("(ratio to the training split's mean pose and shape held for every frame; < 1 beats it)")
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if np.isfinite(a) and np.isfinite(b) and b > 0 else "-"


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
    dev = body_device(body)

    def meshes(theta, beta):
        out = body(beta[:T].to(dev), theta[:T].to(dev), torch.zeros(T, 3, device=dev))
        return ((out.vertices - out.joints[:, :1]).cpu() * to_view).numpy()

    rows = [("ground truth", meshes(item["theta"], item["beta"]))] + [
        (k, meshes(th, be)) for k, (_, th, be) in firsts.items()
    ]
    tiles, titles = [], []
    for t in range(T):
        crop = item["images"][t].numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
        tiles.append(np.asarray(Image.fromarray((np.clip(crop, 0, 1) * 255).astype(np.uint8)).resize((size, size))))
        titles.append(f"{item['key']} t={t}")
        for name, verts in rows:
            tiles.append(render_mesh_image(verts[t], body.faces, size, "front", centre=(0, 0, 0), extent=1.1))
            titles.append(name)
    return save_png(path, tile_images(tiles, cols=1 + len(rows), titles=titles))
