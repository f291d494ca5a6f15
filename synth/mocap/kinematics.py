"""Rotation helpers and forward kinematics in numpy, vectorised over frames.

Skeletons are processed level by level (all joints at the same depth at once), so a 31-joint
CMU skeleton costs about 10 batched matrix products per clip, whatever its length.
"""

from __future__ import annotations

import numpy as np

_AXIS = {"x": 0, "y": 1, "z": 2}


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices about a principal axis by `angle` radians."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    if axis == "x":
        rows = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        rows = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        rows = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (..., 3) in radians, listed in `order` (e.g. "zyx") -> (..., 3, 3).

    BVH and AMC list rotation channels outermost first: "Zrotation Yrotation Xrotation" means
    R = Rz @ Ry @ Rx applied to the child's offset.
    """
    out = None
    for i, axis in enumerate(order.lower()):
        r = axis_rotation(axis, angles[..., i])
        out = r if out is None else out @ r
    return out


def depth_levels(parents: np.ndarray) -> list[np.ndarray]:
    """Joint indices grouped by depth in the tree (root level first); parents[root] = -1."""
    parents = np.asarray(parents)
    depth = np.zeros(len(parents), int)
    for j, p in enumerate(parents):
        if p >= j and p != -1:
            raise ValueError("parents must be topologically ordered (parent index < child index)")
        depth[j] = 0 if p < 0 else depth[p] + 1
    return [np.flatnonzero(depth == d) for d in range(depth.max() + 1)]


def forward_kinematics(
    parents: np.ndarray, offsets: np.ndarray, local_rot: np.ndarray, root_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions and rotations.

    parents (J,), offsets (J,3) or (T,J,3) child-from-parent in the parent's frame, local_rot
    (T,J,3,3), root_pos (T,3). Returns positions (T,J,3) and global rotations (T,J,3,3).
    """
    T, J = local_rot.shape[:2]
    offsets = np.broadcast_to(offsets, (T, J, 3))
    glob = np.empty_like(local_rot)
    pos = np.empty((T, J, 3), local_rot.dtype)
    for level in depth_levels(parents):
        par = np.asarray(parents)[level]
        if par[0] < 0:
            glob[:, level] = local_rot[:, level]
            pos[:, level] = root_pos[:, None] + offsets[:, level]
            continue
        glob[:, level] = glob[:, par] @ local_rot[:, level]
        pos[:, level] = pos[:, par] + np.einsum("tjab,tjb->tja", glob[:, par], offsets[:, level])
    return pos, glob


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> (..., 3, 3) (Rodrigues)."""
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rotvec.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> axis-angle (..., 3), stable near 0 and pi."""
    from scipy.spatial.transform import Rotation

    shape = R.shape[:-2]
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(shape + (3,))
