"""A small synthetic dataset in the exact shard contract, for tests, benchmarks and CPU smoke runs.

Bodies come from the real body model (synth.body API) and are annotated by synth.annotate (the same
code the pipeline uses), so only the pictures are simplified: a vertex silhouette with coloured limbs
drawn on a noisy background instead of a Blender render. Motions are smooth blends between two random
poses, one shape per sequence, cameras at East/West/South/North looking at the pelvis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synth.annotate.cameras import CameraTrack
from synth.annotate.project import SMPL_PARENTS, project
from synth.annotate.sample import annotate_camera
from synth.body.joints import LEFT_JOINTS, RIGHT_JOINTS
from synth.shards.sample import encode_sample, sample_key
from synth.shards.tario import write_tar

CAMERA_NAMES = ("east", "west", "south", "north")


def look_at(centre: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV extrinsics (x right, y down, z forward) of a camera at `centre` looking at `target`, SMPL world Y up."""
    z = target - centre
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ centre


def toy_motion(rng: np.random.Generator, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(poses (T,72), betas (10,), trans (T,3)): upright body, blend between two random poses, slow walk."""
    keys = rng.normal(0.0, 0.35, (2, 72))
    keys[:, :3] = 0.0
    heading = rng.uniform(-np.pi, np.pi)
    keys[:, 1] = heading + np.array([0.0, rng.uniform(-0.6, 0.6)])  # root turns about Y
    w = np.linspace(0.0, 1.0, T)[:, None]
    poses = (1 - w) * keys[0] + w * keys[1]
    betas = rng.normal(0.0, 1.0, 10)
    velocity = rng.normal(0.0, 0.02, 3) * np.array([1.0, 0.0, 1.0])
    trans = np.arange(T)[:, None] * velocity
    return poses.astype(np.float32), betas.astype(np.float32), trans.astype(np.float32)


def draw_frame(
    verts2d: np.ndarray, j2d: np.ndarray, size: int, body_rgb: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A noisy background, the body's vertices as a silhouette, limbs as lines (left red, right blue)."""
    img = np.clip(rng.normal(90, 15, (size, size, 3)), 0, 255).astype(np.uint8)
    ij = np.floor(verts2d).astype(int)
    ok = (ij >= 0).all(1) & (ij < size).all(1)
    img[ij[ok, 1], ij[ok, 0]] = body_rgb
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    width = max(1, size // 40)
    for j, p in enumerate(SMPL_PARENTS):
        if p < 0:
            continue
        colour = (230, 40, 40) if j in LEFT_JOINTS else (40, 80, 230) if j in RIGHT_JOINTS else (240, 220, 60)
        draw.line([tuple(j2d[p]), tuple(j2d[j])], fill=colour, width=width)
    return np.asarray(pil)


def write_toy_shards(
    out_dir: str | Path,
    body,
    sequences: int = 4,
    cameras: int = 2,
    frames: int = 6,
    size: int = 64,
    seed: int = 0,
    test_sequences: int = 1,
    samples_per_shard: int = 4,
    image_format: str = "jpg",
) -> list[Path]:
    """Write `{split}-{index:06d}.tar` shards (the last `test_sequences` sequences go to "test")."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    f_px = 180.0 / 32.0 * size  # the pipeline's 180 mm lens on a 32 mm sensor
    K = np.array([[f_px, 0, size / 2], [0, f_px, size / 2], [0, 0, 1]])
    distance = f_px * 2.0 / (0.8 * size)  # a 2 m tall box fills ~80 % of the image
    by_split: dict[str, list] = {}
    for k in range(sequences):
        split = "test" if k >= sequences - test_sequences else "train"
        poses, betas, trans = toy_motion(rng, frames)
        verts, joints = body.evaluate(betas, poses, trans)
        pelvis = joints[:, 0].mean(0)
        body_rgb = rng.integers(120, 230, 3).astype(np.uint8)
        seq = f"seq{k:06d}"
        for c in range(cameras):
            angle = np.pi / 2 * c
            centre = pelvis + distance * np.array([np.cos(angle), 0.05, np.sin(angle)])
            R, t = look_at(centre, pelvis)
            track = CameraTrack(
                CAMERA_NAMES[c % 4], K, np.tile(R, (frames, 1, 1)), np.tile(t, (frames, 1)), (size, size)
            )
            ann = annotate_camera(track, poses, betas, trans, joints, {"body": verts})
            v2d = project(ann.verts["body"].astype(np.float64), K)
            imgs = [draw_frame(v2d[i], ann.joints["j2d"][i], size, body_rgb, rng) for i in range(frames)]
            meta = {
                "sequence": seq,
                "camera": c,
                "camera_name": track.name,
                "fps": 30.0,
                "num_frames": frames,
                "lead_in": [False] * frames,
                "split": split,
                "sources": [f"toy:{seed}:{k}"],
                "garments": [],
                "scene": {"kind": "toy"},
                "seed": seed,
                "body_model": getattr(body, "identifier", ""),
                "world_frame": "smpl_y_up",
            }
            members = encode_sample(
                sample_key(seq, c), imgs, ann.smpl, ann.joints, ann.camera, meta, image_format=image_format
            )
            by_split.setdefault(split, []).append(members)
    paths = []
    for split, samples in by_split.items():
        for i in range(0, len(samples), samples_per_shard):
            path = out / f"{split}-{i // samples_per_shard:06d}.tar"
            write_tar(path, [m for s in samples[i : i + samples_per_shard] for m in s])
            paths.append(path)
    return paths
