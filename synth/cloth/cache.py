"""GarmentCache: a simulated garment over a sequence; the contract between the cloth stage
and the renderer. World frame: SMPL (Y up), metres."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from synth.errors import SynthError
from synth.io import save_npz_atomic


@dataclass
class GarmentCache:
    garment_type: str  # "tshirt", "longsleeve", "shorts", "trousers", "skirt", "dress"
    faces: np.ndarray  # (F, 3) int32
    uv: np.ndarray  # (V, 2) float32 in [0, 1]
    rest: np.ndarray  # (V, 3) float32 rest shape: the garment as cut on the body in its dressing pose (garments.py)
    verts: np.ndarray  # (T, V, 3) float32 simulated positions per output frame
    material: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)  # steps, max/p95 penetration mm, energy...

    def __post_init__(self) -> None:
        self.faces = np.asarray(self.faces, np.int32).reshape(-1, 3)
        self.uv = np.asarray(self.uv, np.float32).reshape(-1, 2)
        self.rest = np.asarray(self.rest, np.float32).reshape(-1, 3)
        self.verts = np.asarray(self.verts, np.float32)
        n = len(self.rest)
        if self.verts.ndim != 3 or self.verts.shape[1:] != (n, 3) or len(self.uv) != n:
            raise ValueError(
                f"inconsistent garment cache: rest {self.rest.shape}, uv {self.uv.shape}, verts {self.verts.shape}"
            )

    def select_frames(self, frames: Any) -> GarmentCache:
        """The same garment over some of its frames (`frames` indexes the frame axis: a slice, indices
        or a bool mask), e.g. the rendered frames without the lead-in."""
        return replace(self, verts=self.verts[frames])

    def save(self, path: str | Path) -> None:
        save_npz_atomic(
            path,
            garment_type=np.str_(self.garment_type),
            faces=self.faces,
            uv=self.uv,
            rest=self.rest,
            verts=self.verts,
            material=np.str_(json.dumps(self.material, sort_keys=True)),
            stats=np.str_(json.dumps(self.stats, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | Path) -> GarmentCache:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    garment_type=str(data["garment_type"]),
                    faces=data["faces"],
                    uv=data["uv"],
                    rest=data["rest"],
                    verts=data["verts"],
                    material=json.loads(str(data["material"])),
                    stats=json.loads(str(data["stats"])),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise SynthError(
                f"not a readable garment cache .npz ({exc})", path=path, fix="re-run `synth simulate`"
            ) from exc
