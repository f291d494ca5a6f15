"""Cameras exactly as the renderer used them: `cameras.json` from blender_scripts/render.py.

The render writes OpenCV extrinsics for Blender-world points; every annotation is in the SMPL
world, so the extrinsics are re-expressed once here through synth.frames (never by hand).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.frames import extrinsics_blender_to_smpl


@dataclass
class CameraTrack:
    """One camera over a sequence: x_cam = R[t] @ x_world + t[t] (OpenCV axes)."""

    name: str
    K: np.ndarray  # (3, 3) pixels; (0, 0) is the top-left image corner, pixel centres at i + 0.5
    R: np.ndarray  # (T, 3, 3)
    t: np.ndarray  # (T, 3)
    resolution: tuple[int, int]  # (W, H)
    world_frame: str = "smpl_y_up"

    @property
    def num_frames(self) -> int:
        return len(self.R)

    def to_json(self) -> dict:
        """The shard's `camera.json` (contract in docs/ARCHITECTURE.md)."""
        return {
            "K": self.K.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "resolution": list(self.resolution),
            "world_frame": self.world_frame,
            "camera_frame": "opencv",
            "name": self.name,
        }

    @classmethod
    def from_json(cls, d: dict, name: str = "") -> CameraTrack:
        return cls(
            name=d.get("name", name),
            K=np.asarray(d["K"], np.float64),
            R=np.asarray(d["R"], np.float64).reshape(-1, 3, 3),
            t=np.asarray(d["t"], np.float64).reshape(-1, 3),
            resolution=tuple(int(v) for v in d["resolution"]),
            world_frame=d.get("world_frame", "smpl_y_up"),
        )


def load_render_cameras(path: str | Path) -> list[CameraTrack]:
    """Read a render's cameras.json and return the cameras with SMPL-world extrinsics."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        res = tuple(int(v) for v in data["resolution"])
        if data.get("convention", "opencv") != "opencv":
            raise ValueError(f"convention {data.get('convention')!r}, expected 'opencv'")
        frame = data.get("world_frame", "blender_z_up")
        tracks = []
        for k, cam in enumerate(data["cameras"]):
            R = np.asarray([f["R"] for f in cam["frames"]], np.float64).reshape(-1, 3, 3)
            t = np.asarray([f["t"] for f in cam["frames"]], np.float64).reshape(-1, 3)
            if frame == "blender_z_up":
                R, t = extrinsics_blender_to_smpl(R, t)
            elif frame != "smpl_y_up":
                raise ValueError(f"unknown world_frame {frame!r}")
            tracks.append(CameraTrack(cam.get("name", f"cam{k}"), np.asarray(cam["K"], np.float64), R, t, res))
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise SynthError(f"not a valid render cameras.json ({exc})", path=path, fix="re-run the render stage") from exc
    return tracks
