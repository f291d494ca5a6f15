"""Streaming training data: clip windows of T frames from `{split}-*.tar` shards, cropped to the person.

Samples follow the shard contract in docs/ARCHITECTURE.md (one sample = one sequence seen by one
camera). Every window is a dict of tensors; targets are in the camera frame (poses_cam), 2D joints are
normalised to the crop ([-1, 1], x right, y down), 3D joints are pelvis-relative metres. Augmentation
(scale/translate jitter, colour gains, horizontal flip with left/right swap) is drawn once per window,
so a clip stays temporally consistent. A sample that fails to decode, breaks the contract's shapes or
carries a non-finite number is logged with its shard and skipped, and so is a shard cut short (no
end-of-archive marker); training never stops on one bad member.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from synth.body.joints import MIRROR_PERM, PARENTS, mirror_joints, mirror_pose
from synth.errors import SynthError
from synth.scene.labels import BACKGROUND
from synth.shards.sample import REQUIRED, decode_sample
from synth.shards.writer import shard_paths

log = logging.getLogger("train.data")

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
PART_CLASSES = 24  # bone-part labels: 0 background, j = the bone from PARENTS[j] to SMPL joint j (1..23)
PART_STRIDE = 4  # the label map is crop_size / PART_STRIDE on a side (the ResNet stem's output grid)
MIRRORED_PART = np.concatenate([[0], 1 + MIRROR_PERM])  # the parts pass's label 1 + j under a flip (0: no skin)


@dataclass
class DataConfig:
    window: int = 4  # T frames per training clip
    stride: int = 0  # between window starts; 0 -> window (non-overlapping)
    crop_size: int = 224
    bbox_scale: float = 1.2  # square crop side = bbox_scale * max(bbox w, h)
    scale_jitter: float = 0.2  # side *= U(1 - j, 1 + j)
    trans_jitter: float = 0.1  # centre += U(-j, j) * side
    color_jitter: float = 0.4  # per-channel gain U(1 - j, 1 + j)
    flip_prob: float = 0.5
    shuffle_buffer: int = 32  # clips (decoded samples) whose windows are interleaved while training
    passes: tuple = ()  # render passes to return, cropped like the images (synth/shards/passes.py): seg, depth, ...


def square_boxes(bbox: np.ndarray, scale: float) -> np.ndarray:
    """(T,4) xyxy boxes -> (T,3) centre x, centre y, side; empty boxes take the nearest valid one."""
    bbox = np.asarray(bbox, np.float64)
    valid = (bbox[:, 2] > bbox[:, 0]) & (bbox[:, 3] > bbox[:, 1])
    if not valid.any():
        raise ValueError("no frame has a person bounding box")
    idx = np.arange(len(bbox))
    good = idx[valid]
    nearest = good[np.abs(idx[:, None] - good[None, :]).argmin(1)]
    b = bbox[nearest]
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * scale
    return np.stack([cx, cy, side], 1)


def crop_frame(img: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """Square crop (pixel-edge coordinates, black outside the image) resized to size x size."""
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    out = Image.fromarray(img).transform((size, size), Image.Transform.EXTENT, box, resample=Image.Resampling.BILINEAR)
    return np.asarray(out)


def normalise_image(crops: np.ndarray) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,3,H,W) float32 ImageNet-normalised."""
    x = crops.astype(np.float32) / 255.0
    return ((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2).copy()


# Per-frame shapes of the arrays the loader reads (docs/ARCHITECTURE.md, shard sample contract).
FRAME_SHAPES = {
    "smpl": {"poses": (72,), "poses_cam": (72,), "betas": (10,), "trans": (3,), "trans_cam": (3,)},
    "joints": {"j3d_world": (24, 3), "j3d_cam": (24, 3), "j2d": (24, 2), "visibility": (24,), "bbox": (4,)},
}


def check_decoded_sample(s: dict[str, Any]) -> int:
    """Raise ValueError unless the decoded sample follows the contract (members, shapes, finite
    numbers); return its frame count."""
    missing = [f for f in REQUIRED if f.rsplit(".", 1)[0] not in s]
    if missing or s.get("frames") is None:
        raise ValueError(f"missing members: {missing or ['frames']}")
    T = len(s["frames"])
    for name, shapes in FRAME_SHAPES.items():
        for k, shape in shapes.items():
            if k not in s[name]:
                raise ValueError(f"{name}.npz lacks {k!r}")
            a = np.asarray(s[name][k])
            if a.shape != (T, *shape):
                raise ValueError(
                    f"{name}.npz {k} has shape {a.shape}, the contract wants {(T, *shape)} for its {T} frames"
                )
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                rows = np.flatnonzero(~np.isfinite(a.reshape(T, -1)).all(1))
                raise ValueError(f"{name}.npz {k} has non-finite values in frames {rows[:5].tolist()}")
    return T


def crop_pass(name: str, frames: np.ndarray, boxes: np.ndarray, size: int, flip: bool) -> np.ndarray:
    """A pass over the window's frames cropped like the images (nearest neighbour, so labels and
    depths stay exact; outside the image: 0, depth inf) and flipped with them. Flow vectors are
    scaled to crop pixels (the clip's last frame has no flow: zeros); normals/flow x negate under the flip,
    and the parts labels (1 + SMPL joint) swap sides, as the joints do."""
    arr = np.asarray(frames, np.float32)
    arr = arr[..., None] if arr.ndim == 3 else arr
    out = np.zeros((len(boxes), size, size, arr.shape[-1]), np.float32)
    for k, (cx, cy, side) in enumerate(boxes[: len(arr)]):
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)

        def warp(a: np.ndarray) -> np.ndarray:
            img = Image.fromarray(np.ascontiguousarray(a, np.float32))
            return np.asarray(
                img.transform((size, size), Image.Transform.EXTENT, box, resample=Image.Resampling.NEAREST)  # noqa: B023 (called within this iteration)
            )

        inside = warp(np.ones(arr.shape[1:3])) > 0
        for ch in range(arr.shape[-1]):
            out[k, ..., ch] = warp(np.nan_to_num(arr[k, ..., ch], posinf=0.0))
        if name == "depth":
            fg = warp(np.isfinite(arr[k, ..., 0]).astype(np.float32)) > 0
            out[k, ~(fg & inside), 0] = np.inf
        if name == "flow":
            out[k] *= size / side
    if flip:
        out = out[:, :, ::-1]
        if name in ("normals", "flow"):
            out[..., 0] *= -1
        if name == "parts":
            out = MIRRORED_PART[out.astype(np.int64)].astype(np.float32)
    out = out[..., 0] if name in ("seg", "parts", "depth") else out
    return out.astype(np.int64) if name in ("seg", "parts") else out


def bone_part_labels(person: np.ndarray, j2d: np.ndarray) -> np.ndarray:
    """Dense part labels of a crop: every person pixel gets the bone (parent -> joint j, label j) nearest to
    it in the image, background 0. person (T,h,w) bool, j2d (T,24,2) in crop coordinates [-1, 1] -> (T,h,w)
    int64. From the seg pass and the 2D joints, so every render has it; the `parts` pass labels skin only."""
    T, h, w = person.shape
    ys, xs = np.meshgrid((np.arange(h) + 0.5) / h * 2 - 1, (np.arange(w) + 0.5) / w * 2 - 1, indexing="ij")
    p = np.stack([xs, ys], -1).reshape(1, 1, h * w, 2)  # pixel centres (1,1,P,2)
    a, b = j2d[:, PARENTS[1:], None], j2d[:, 1:, None]  # bone ends (T,23,1,2)
    ab = b - a
    u = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab**2).sum(-1), 1e-12), 0.0, 1.0)
    dist = (((a + u[..., None] * ab) - p) ** 2).sum(-1)  # (T,23,P) squared distance to each segment
    # bones sharing a parent tie at that joint: the nearer bone middle decides, the same for left and right
    dist = dist + 1e-3 * (((a + b) / 2 - p) ** 2).sum(-1)
    labels = dist.argmin(1).reshape(T, h, w) + 1
    return np.where(person, labels, 0).astype(np.int64)


def tar_complete(path: str | Path) -> bool:
    """Whether a tar file ends with its end-of-archive marker (two zero 512-byte blocks, POSIX): a shard
    cut short ends elsewhere, and tarfile reads such a file up to the cut without an error."""
    path = Path(path)
    size = path.stat().st_size
    if size < 1024 or size % 512:
        return False
    with open(path, "rb") as fh:
        fh.seek(size - 1024)
        return not any(fh.read(1024))


def available_splits(data_dir: str | Path) -> list[str]:
    """Split names that have `{split}-NNNNNN.tar` shards in data_dir."""
    return sorted({p.name.rsplit("-", 1)[0] for p in shard_paths(data_dir)})


def make_window(
    s: dict[str, Any],
    start: int,
    T: int,
    cfg: DataConfig,
    rng: np.random.Generator | None,
    part_labels: bool = False,
) -> dict[str, Any]:
    """Frames [start, start + T) of a decoded sample -> crops and targets. rng=None: no augmentation.
    part_labels: also "part_labels" (T, S/4, S/4), the bone parts of the person's pixels (needs the seg pass)."""
    sl = slice(start, start + T)
    frames = s["frames"][sl]
    smpl, joints = s["smpl"], s["joints"]
    boxes = square_boxes(joints["bbox"], cfg.bbox_scale)[sl]
    flip = False
    gains = np.ones(3, np.float32)
    if rng is not None:
        boxes[:, 2] *= rng.uniform(1 - cfg.scale_jitter, 1 + cfg.scale_jitter)
        boxes[:, :2] += rng.uniform(-cfg.trans_jitter, cfg.trans_jitter, 2) * boxes[:, 2:3]
        gains = rng.uniform(1 - cfg.color_jitter, 1 + cfg.color_jitter, 3).astype(np.float32)
        flip = bool(rng.random() < cfg.flip_prob)
    S = cfg.crop_size
    crops = np.stack([crop_frame(f, *b, S) for f, b in zip(frames, boxes)])
    crops = np.clip(crops.astype(np.float32) * gains, 0, 255).astype(np.uint8)
    j2d = (joints["j2d"][sl] - boxes[:, None, :2]) / boxes[:, None, 2:3] * 2.0  # [-1, 1] over the crop
    vis = joints["visibility"][sl].astype(bool) & (np.abs(j2d) <= 1).all(-1)
    j3d = joints["j3d_cam"][sl].astype(np.float32)
    j3d = j3d - j3d[:, :1]
    theta = smpl["poses_cam"][sl].astype(np.float32)
    if flip:
        crops = crops[:, :, ::-1]
        j2d = j2d[:, MIRROR_PERM] * np.array([-1.0, 1.0])
        vis = vis[:, MIRROR_PERM]
        j3d = mirror_joints(j3d)
        theta = mirror_pose(theta)
    has_3d = np.isfinite(j3d).all((1, 2))
    half = boxes[:, 2] / 2
    passes = {
        name: torch.from_numpy(np.ascontiguousarray(crop_pass(name, s["passes"][name][sl], boxes, S, flip)))
        for name in cfg.passes
    }
    if part_labels:
        seg = crop_pass("seg", s["passes"]["seg"][sl], boxes, S // PART_STRIDE, flip)
        passes["part_labels"] = torch.from_numpy(bone_part_labels(seg != BACKGROUND, j2d))
    return passes | {
        "images": torch.from_numpy(normalise_image(crops)),
        "theta": torch.from_numpy(theta),
        "beta": torch.from_numpy(smpl["betas"][sl].astype(np.float32)),
        "j2d": torch.from_numpy(j2d.astype(np.float32)),
        "vis": torch.from_numpy(vis.astype(np.float32)),
        "j3d": torch.from_numpy(np.nan_to_num(j3d).astype(np.float32)),
        "has_3d": torch.from_numpy(has_3d.astype(np.float32)),
        "crop": torch.from_numpy(
            np.stack([boxes[:, 0] - half, boxes[:, 1] - half, boxes[:, 0] + half, boxes[:, 1] + half], 1).astype(
                np.float32
            )
        ),
        "flip": flip,
        "key": s["key"],
        "start": start,
    }


def window_starts(n: int, T: int, stride: int) -> list[int]:
    """Start indices of the windows of T frames in a clip of n frames (a short clip gives none)."""
    return list(range(0, n - T + 1, stride or T)) if n >= T else []


class ShardWindows(torch.utils.data.IterableDataset):
    """Windows of every sample in `{split}-*.tar` under data_dir, streamed with webdataset.

    train=True: shards shuffled per epoch, random windows with augmentation through a shuffle
    buffer; train=False: every window in shard order, no augmentation. window=0 gives whole clips
    (used by evaluation, so temporal metrics see full sequences). Splits shards across DDP ranks
    and DataLoader workers; every random choice comes from (seed, epoch, rank, worker).
    """

    def __init__(
        self,
        data_dir: str | Path,
        split: str,
        cfg: DataConfig,
        train: bool,
        seed: int = 0,
        window: int | None = None,
        part_labels: bool = False,
    ):
        paths = shard_paths(data_dir, split)
        if not paths:
            have = available_splits(data_dir) if Path(data_dir).is_dir() else []
            raise SynthError(
                f"no {split}-NNNNNN.tar shards (splits here: {', '.join(have) or 'none'})",
                path=data_dir,
                fix="point --data at a `synth generate` output directory"
                + (f" or use one of: {', '.join(have)}" if have else ""),
            )
        self.urls = [str(p) for p in paths]
        self.cfg, self.train, self.seed, self.epoch = cfg, train, seed, 0
        self.window = cfg.window if window is None else window
        self.part_labels = part_labels  # windows carry bone-part labels (make_window), from the seg pass
        self.decode_passes = sorted(set(cfg.passes) | ({"seg"} if part_labels else set()))
        self.skipped: list[str] = []
        for p in paths:
            if not tar_complete(p):
                log.warning("shard %s is truncated (no end-of-archive marker): its last samples are missing", p.name)
                self.skipped.append(f"{p.name}:truncated")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _skip(self, exc: Exception) -> bool:
        """webdataset handler for unreadable tar data: log and go on with the next member."""
        log.warning("skipping unreadable shard data: %s", exc)
        self.skipped.append(str(exc))
        return True

    def samples(self) -> Iterator[dict[str, Any]]:
        """Decoded, contract-checked samples (key, url, frames, smpl, joints, camera, meta)."""
        import webdataset as wds

        ds = wds.WebDataset(
            self.urls,
            handler=self._skip,
            shardshuffle=len(self.urls) if self.train else False,
            seed=self.seed + 1000 * self.epoch,
            nodesplitter=wds.split_by_node,
            workersplitter=wds.split_by_worker,
            empty_check=False,
        )
        for raw in ds:
            key, url = raw.get("__key__", "?"), raw.get("__url__", "?")
            try:
                s = decode_sample({k: v for k, v in raw.items() if not k.startswith("__")}, passes=self.decode_passes)
                check_decoded_sample(s)
            except Exception as exc:  # a corrupt member must never stop training
                log.warning("skipping corrupt sample %s in %s: %s", key, Path(url).name, exc)
                self.skipped.append(f"{Path(url).name}:{key}")
                continue
            s["key"], s["url"] = key, url
            yield s

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info else 0
        rank = (
            torch.distributed.get_rank()
            if torch.distributed.is_available() and torch.distributed.is_initialized()
            else 0
        )
        if not self.train:
            for s in self.samples():
                T, starts = self._starts(s)
                for start in starts:
                    item = self._window(s, start, T, None)
                    if item is not None:
                        yield item
            return
        # Training: every window of the epoch once, each drawn from a random one of `shuffle_buffer` clips
        # held at a time. Shards list a sequence's cameras and windows one after another, so a buffer of
        # windows would fill batches from one clip (correlated gradients and BatchNorm statistics).
        rng = np.random.default_rng([self.seed, self.epoch, rank, worker])
        stream = self.samples()
        pool: list[tuple[dict[str, Any], int, list[int]]] = []  # (clip, T, its windows not yet drawn)
        while True:
            while len(pool) < max(1, self.cfg.shuffle_buffer):
                s = next(stream, None)
                if s is None:
                    break
                T, starts = self._starts(s)
                if starts:
                    pool.append((s, T, starts))
            if not pool:
                return
            i = int(rng.integers(len(pool)))
            s, T, starts = pool[i]
            start = starts.pop(int(rng.integers(len(starts))))
            if not starts:
                pool[i] = pool[-1]
                pool.pop()
            item = self._window(s, start, T, rng)
            if item is not None:
                yield item

    def _starts(self, s: dict[str, Any]) -> tuple[int, list[int]]:
        """The window length for this clip and its window starts (window=0: the whole clip)."""
        n = len(s["frames"])
        return (self.window or n), window_starts(n, self.window or n, self.cfg.stride if self.window else n)

    def _window(self, s: dict[str, Any], start: int, T: int, rng: np.random.Generator | None) -> dict[str, Any] | None:
        """make_window, or None (logged) for a window that cannot be cut."""
        try:
            return make_window(s, start, T, self.cfg, rng, self.part_labels)
        except ValueError as exc:
            log.warning("skipping window %s@%d in %s: %s", s["key"], start, Path(s["url"]).name, exc)
            return None


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors into (B, T, ...); keep keys/starts/flips as lists."""
    out: dict[str, Any] = {}
    for k, v in items[0].items():
        out[k] = torch.stack([it[k] for it in items]) if isinstance(v, torch.Tensor) else [it[k] for it in items]
    return out


def make_loader(dataset: ShardWindows, batch_size: int, workers: int = 0) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
    )
