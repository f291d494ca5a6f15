"""AMASS-style .npz (poses, trans, betas, mocap_framerate, gender): already SMPL, read directly.

AMASS stores its world Z up; it is turned Y up (the SMPL world) here. The root rotates about
the pelvis joint, so turning the world needs the pelvis rest position: exact with `body`,
else an approximate neutral pelvis (which only shifts the whole sequence by a constant of
a few millimetres to centimetres).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.frames import BLENDER_TO_SMPL
from synth.mocap.kinematics import matrix_to_rotvec, rotvec_to_matrix
from synth.mosh.sequence import MoshedSequence

_FIX = "pass an AMASS-style .npz with poses (T,72+), trans (T,3), betas and mocap_framerate"
_NEUTRAL_PELVIS = np.array([0.0, -0.22, 0.03])  # SMPL neutral pelvis at rest (approximate)


def load_amass(path: str | Path, body=None, z_up: bool = True) -> MoshedSequence:
    """Read an AMASS .npz as a MoshedSequence in the SMPL world (Y up).

    poses: the first 66 values are the 22 body joints; SMPL's two hand joints are taken from
    values 66:72 of a 72-wide SMPL array and set to zero for wider SMPL-H/X arrays (156+),
    whose 66: are finger joints.
    """
    path = Path(path)
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise SynthError(f"not a readable .npz ({exc})", path=path, fix=_FIX) from exc
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
    body_pose = np.zeros((len(poses), 72))
    body_pose[:, :66] = poses[:, :66]
    if poses.shape[1] == 72:
        body_pose[:, 66:] = poses[:, 66:72]
    betas = np.zeros(10)
    if "betas" in data:
        b = np.asarray(data["betas"], np.float64).reshape(-1)[:10]
        betas[: len(b)] = b
    fps = float(data.get("mocap_framerate", data.get("mocap_frame_rate", 0.0)))
    if not fps > 0:
        raise SynthError("mocap_framerate is missing or not positive", path=path, fix=_FIX)
    if z_up:
        if body is not None:
            from synth.mosh.joints import JointModel

            pelvis = JointModel.from_body(body).rest_joints(betas)[0]
        else:
            pelvis = _NEUTRAL_PELVIS
        root = rotvec_to_matrix(body_pose[:, :3])
        body_pose[:, :3] = matrix_to_rotvec(BLENDER_TO_SMPL @ root)
        trans = (trans + pelvis) @ BLENDER_TO_SMPL.T - pelvis
    gender = str(data["gender"]) if "gender" in data else "neutral"
    return MoshedSequence(
        poses=body_pose, betas=betas, trans=trans, fps=fps, gender=gender,
        source=f"amass/{path.stem}", body_model=getattr(body, "identifier", ""),
    )  # fmt: skip
