"""Forward kinematics in numpy, vectorised over frames, and the Euler order of BVH files.

Skeletons are processed level by level (all joints at the same depth at once), so a 31-joint
CMU skeleton costs about 10 batched matrix products per clip, whatever its length.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """BVH Euler angles (..., len(order)) in radians -> (..., 3, 3), axes listed outermost first.

    BVH lists rotation channels outermost first: "Zrotation Yrotation Xrotation" means
    R = Rz @ Ry @ Rx applied to the child's offset, which is scipy's intrinsic (upper-case) sequence.
    """
    angles = np.asarray(angles, float)
    R = Rotation.from_euler(order.upper(), angles.reshape(-1, len(order))).as_matrix()
    return R.reshape(angles.shape[:-1] + (3, 3))


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
