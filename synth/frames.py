"""Coordinate frames, converted in exactly one place.

- "smpl" world: SMPL's own frame, Y up, metres. MoSh, motion, cloth and every annotation in the
  shards use it (and say so with `"world_frame": "smpl_y_up"`).
- "blender" world: Z up, metres. Only render jobs (body/garment caches handed to Blender) and
  the raw `cameras.json` written by blender_scripts/render.py use it.
- camera frame: OpenCV convention, x right, y down, z forward (into the scene), metres.
  Pixel coordinates: (0, 0) is the top-left corner of the image, pixel centres at i + 0.5.

Blender (x, y, z) = SMPL (x, -z, y): a +90 degree rotation about the x axis.

A body's heading is the yaw about SMPL's up axis (+Y) of its pelvis' forward axis (+Z at rest).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
BLENDER_TO_SMPL = SMPL_TO_BLENDER.T


def smpl_to_blender(points: np.ndarray) -> np.ndarray:
    """Map (..., 3) points from the SMPL world (Y up) to the Blender world (Z up)."""
    return points @ SMPL_TO_BLENDER.T.astype(points.dtype)


def blender_to_smpl(points: np.ndarray) -> np.ndarray:
    """Map (..., 3) points from the Blender world (Z up) to the SMPL world (Y up)."""
    return points @ BLENDER_TO_SMPL.T.astype(points.dtype)


def extrinsics_blender_to_smpl(R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-express world->camera extrinsics (x_cam = R x_world + t) for SMPL-world points."""
    return R @ SMPL_TO_BLENDER, t


def heading(root_rotvec: np.ndarray) -> np.ndarray:
    """Yaw (radians about +Y) of the pelvis' forward axis (+Z at rest), for (..., 3) root rotations."""
    fwd = Rotation.from_rotvec(np.asarray(root_rotvec, float)).as_matrix()[..., :, 2]
    return np.arctan2(fwd[..., 0], fwd[..., 2])


def yaw_matrix(angle: np.ndarray | float) -> np.ndarray:
    """(..., 3, 3) rotations by `angle` (...) radians about SMPL's up axis (+Y)."""
    angle = np.asarray(angle, float)
    return Rotation.from_euler("y", angle.reshape(-1, 1)).as_matrix().reshape(angle.shape + (3, 3))
