"""AMASS-style .npz (poses, trans, betas, mocap_framerate, gender): already SMPL, read directly.

AMASS stores its world Z up; it is turned Y up (the SMPL world) here. The root rotates about
the pelvis joint, so turning the world needs the pelvis rest position: exact with `body`,
else an approximate neutral pelvis (which only shifts the whole sequence by a constant of
a few millimetres to centimetres).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from synth.errors import SynthError
from synth.frames import BLENDER_TO_SMPL
from synth.sequence import MAX_ABS_BETA, MoshedSequence

_FIX = "pass an AMASS-style .npz with poses (T,72+), trans (T,3), betas and mocap_framerate"
_NEUTRAL_PELVIS = np.array([0.0, -0.22, 0.03])  # SMPL neutral pelvis at rest (approximate)
MAX_ABS_POSE_RAD = 4 * np.pi  # axis-angle components: any rotation fits in +-pi; 1e30 is a broken file
MAX_ABS_TRANS_M = 1e4


def _framerate(data: dict, path: Path) -> float:
    """mocap_framerate as one positive number (AMASS stores a 0-d float array)."""
    raw = data.get("mocap_framerate", data.get("mocap_frame_rate"))
    if raw is None:
        raise SynthError("mocap_framerate is missing", path=path, fix=_FIX)
    arr = np.asarray(raw)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise SynthError(
            f"mocap_framerate must be one number, found {arr.dtype} of shape {arr.shape}", path=path, fix=_FIX
        )
    fps = float(arr.reshape(()))
    if not (np.isfinite(fps) and 0 < fps <= 10000):
        raise SynthError(f"mocap_framerate {fps:g} is not a frame rate (0 < fps <= 10000)", path=path, fix=_FIX)
    return fps


def load_amass(path: str | Path, body=None, z_up: bool = True) -> MoshedSequence:
    """Read an AMASS .npz as a MoshedSequence in the SMPL world (Y up).

    poses: the first 66 values are the 22 body joints; SMPL's two hand joints are taken from
    values 66:72 of a 72-wide SMPL array and set to zero for wider SMPL-H/X arrays (156+),
    whose 66: are finger joints.
    """
    path = Path(path)
    try:
        data = dict(np.load(path, allow_pickle=False))
    except Exception as exc:  # noqa: BLE001 - not a zip, truncated, pickled, empty: all one finding
        raise SynthError(f"not a readable .npz ({type(exc).__name__}: {exc})", path=path, fix=_FIX) from exc
    missing = [k for k in ("poses", "trans") if k not in data]
    if missing:
        raise SynthError(f"missing arrays {missing}", path=path, fix=_FIX)
    poses = np.asarray(data["poses"], np.float64)
    trans = np.asarray(data["trans"], np.float64)
    if poses.ndim != 2 or poses.shape[1] < 66 or len(poses) == 0:
        raise SynthError(f"poses has shape {poses.shape}; need (T>0, 72 or more)", path=path, fix=_FIX)
    if trans.shape != (len(poses), 3):
        raise SynthError(f"trans has shape {trans.shape}; need ({len(poses)}, 3)", path=path, fix=_FIX)
    for key, arr in (("poses", poses), ("trans", trans)):
        if not np.isfinite(arr).all():
            frame = int(np.argwhere(~np.isfinite(arr))[0, 0])
            raise SynthError(f"non-finite value in {key} at frame {frame}", path=path, fix=_FIX)
    for key, arr, limit in (("poses", np.abs(poses), MAX_ABS_POSE_RAD), ("trans", np.abs(trans), MAX_ABS_TRANS_M)):
        if arr.max() > limit:
            frame = int(np.argwhere(arr > limit)[0, 0])
            raise SynthError(
                f"{key} value {arr.max():.3g} at frame {frame} is not plausible (<= {limit:g})", path=path, fix=_FIX
            )
    body_pose = np.zeros((len(poses), 72))
    body_pose[:, :66] = poses[:, :66]
    if poses.shape[1] == 72:
        body_pose[:, 66:] = poses[:, 66:72]
    betas = np.zeros(10)
    if "betas" in data:
        try:
            b = np.asarray(data["betas"], np.float64).reshape(-1)[:10]
        except ValueError as exc:
            raise SynthError(f"betas are not numbers ({exc})", path=path, fix=_FIX) from exc
        if not (np.isfinite(b).all() and np.abs(b).max(initial=0.0) <= MAX_ABS_BETA):
            raise SynthError(
                f"betas {np.round(b, 3).tolist()} are not finite within +-{MAX_ABS_BETA:g} (a person's shape)",
                path=path,
                fix=_FIX,
            )
        betas[: len(b)] = b
    fps = _framerate(data, path)
    if z_up:
        if body is not None:
            from synth.mosh.joints import JointModel

            pelvis = JointModel.from_body(body).rest_joints(betas)[0]
        else:
            pelvis = _NEUTRAL_PELVIS
        root = Rotation.from_rotvec(body_pose[:, :3]).as_matrix()
        body_pose[:, :3] = Rotation.from_matrix(BLENDER_TO_SMPL @ root).as_rotvec()
        trans = (trans + pelvis) @ BLENDER_TO_SMPL.T - pelvis
    gender = str(data["gender"]) if "gender" in data else "neutral"
    return MoshedSequence(
        poses=body_pose,
        betas=betas,
        trans=trans,
        fps=fps,
        gender=gender,
        source=f"amass/{path.stem}",
        body_model=getattr(body, "identifier", ""),
    )
