"""One shard sample (sequence x camera) <-> tar members, as in docs/ARCHITECTURE.md."""

from __future__ import annotations

from typing import Any

import numpy as np

from synth.shards.encode import decode_image, image_bytes, json_bytes, load_npz_bytes, npz_bytes
from synth.shards.passes import PASSES, decode_passes, pass_members, pass_names_in
from synth.shards.tario import Member

REQUIRED = ("smpl.npz", "joints.npz", "camera.json", "meta.json")
SMPL_KEYS = ("poses", "poses_cam", "betas", "trans", "trans_cam")
JOINT_KEYS = ("j3d_world", "j3d_cam", "j2d", "visibility", "bbox")


def sample_key(sequence_id: str, camera: int) -> str:
    return f"{sequence_id}_c{camera}"


def encode_sample(
    key: str,
    frames: list[np.ndarray],
    smpl: dict[str, np.ndarray],
    joints: dict[str, np.ndarray],
    camera: dict,
    meta: dict,
    verts: dict[str, np.ndarray] | None = None,
    image_format: str = "jpg",
    jpeg_quality: int = 92,
    passes: dict[str, np.ndarray] | None = None,
) -> list[Member]:
    """Tar members of a sample in a fixed order: frames, then the annotation files, then the
    passes (synth.shards.passes)."""
    members = [
        (f"{key}.{t:04d}.{image_format}", image_bytes(f, image_format, jpeg_quality)) for t, f in enumerate(frames)
    ]
    members += [
        (f"{key}.camera.json", json_bytes(camera)),
        (f"{key}.joints.npz", npz_bytes(**joints)),
        (f"{key}.meta.json", json_bytes(meta)),
        (f"{key}.smpl.npz", npz_bytes(**smpl)),
    ]
    if verts:
        members.append((f"{key}.verts.npz", npz_bytes(**verts)))
    if passes:
        members += pass_members(key, passes)
    return members


def decode_sample(files: dict[str, bytes], passes: list[str] | str | None = None) -> dict[str, Any]:
    """{ext: bytes} of one sample -> frames (T,H,W,3) uint8 and the decoded annotation files;
    `passes` ("all" or names) also decodes those render passes into out["passes"] (a missing
    pass raises KeyError naming its member)."""
    import json

    frame_exts = sorted(e for e in files if e.split(".")[0].isdigit())
    out: dict[str, Any] = {"frames": np.stack([decode_image(files[e]) for e in frame_exts]) if frame_exts else None}
    for ext, data in files.items():
        if ext in frame_exts or ext.split(".")[0] in PASSES:
            continue
        name, _, kind = ext.rpartition(".")
        if kind == "npz":
            out[name] = load_npz_bytes(data)
        elif kind == "json":
            out[name] = json.loads(data)
    if passes:
        names = pass_names_in(files) if passes == "all" else list(passes)
        out["passes"] = decode_passes(files, len(frame_exts) or None, names)
    return out
