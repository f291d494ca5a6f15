"""MoshedSequence: SMPL parameters fitted to (or authored as) a motion; the contract every stage
after mocap reads (MoSh and the built-in motions write it, motion/cloth/pipeline read it). World frame: SMPL (Y up), metres, radians."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.io import save_npz_atomic

MAX_ABS_BETA = 5.0  # shape coefficients (standard deviations of the body model) beyond this are not a person


@dataclass
class MoshedSequence:
    poses: np.ndarray  # (T, 72) float32 axis-angle, SMPL joint order; [:3] global orientation
    betas: np.ndarray  # (10,) float32, one shape per subject
    trans: np.ndarray  # (T, 3) float32 root translation, metres, SMPL world frame
    fps: float
    gender: str = "neutral"
    source: str = ""  # clip id, e.g. "cmu/02_01" or "builtin/walk"
    fit_error_mm: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (T,)
    body_model: str = ""  # "<name>:<sha256 of the model file>"
    lead_in: np.ndarray | None = None  # (T,) bool: True for T-pose lead-in frames (motion stage)
    implausible: np.ndarray | None = None  # (T,) bool: flagged by the motion stage's plausibility guard
    repaired: np.ndarray | None = None  # (T,) bool: mocap glitches re-interpolated (synth/mosh/glitches.py)

    def __post_init__(self) -> None:
        self.poses = np.asarray(self.poses, np.float32).reshape(-1, 72)
        self.betas = np.asarray(self.betas, np.float32).reshape(10)
        self.trans = np.asarray(self.trans, np.float32).reshape(-1, 3)
        n = len(self.poses)
        if len(self.trans) != n:
            raise ValueError(f"poses has {n} frames but trans has {len(self.trans)}")
        if self.fit_error_mm.size == 0:
            self.fit_error_mm = np.zeros(n, np.float32)
        self.fit_error_mm = np.asarray(self.fit_error_mm, np.float32).reshape(n)
        if self.lead_in is None:
            self.lead_in = np.zeros(n, bool)
        self.lead_in = np.asarray(self.lead_in, bool).reshape(n)
        if self.implausible is None:
            self.implausible = np.zeros(n, bool)
        self.implausible = np.asarray(self.implausible, bool).reshape(n)
        if self.repaired is None:
            self.repaired = np.zeros(n, bool)
        self.repaired = np.asarray(self.repaired, bool).reshape(n)

    @property
    def num_frames(self) -> int:
        return len(self.poses)

    def save(self, path: str | Path) -> None:
        save_npz_atomic(
            path,
            poses=self.poses,
            betas=self.betas,
            trans=self.trans,
            fps=np.float32(self.fps),
            gender=np.str_(self.gender),
            source=np.str_(self.source),
            fit_error_mm=self.fit_error_mm,
            body_model=np.str_(self.body_model),
            lead_in=self.lead_in,
            implausible=self.implausible,
            repaired=self.repaired,
        )

    @classmethod
    def load(cls, path: str | Path) -> MoshedSequence:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    poses=data["poses"],
                    betas=data["betas"],
                    trans=data["trans"],
                    fps=float(data["fps"]),
                    gender=str(data["gender"]),
                    source=str(data["source"]),
                    fit_error_mm=data["fit_error_mm"],
                    body_model=str(data["body_model"]),
                    lead_in=data["lead_in"] if "lead_in" in data else None,
                    implausible=data["implausible"] if "implausible" in data else None,
                    repaired=data["repaired"] if "repaired" in data else None,
                )
        except (OSError, KeyError, ValueError) as exc:
            raise SynthError(
                f"not a readable MoshedSequence .npz ({exc})",
                path=path,
                fix="regenerate it with `synth mosh`",
            ) from exc
