"""Rotation helpers: axis-angle for interpolation (the flip near pi, the paper's linear rule, slerp, heading
changes) and the batched Kabsch fit that MoSh and the cloth's collar pins share.

An axis-angle vector r = theta * u names the same rotation as (theta + 2 pi k) * u for every
integer k. Two joint rotations 20 degrees apart across pi (170 deg about +z and 170 deg about -z)
are 340 degrees apart as vectors, so the paper's linear rule would swing the long way round.
`closest_equivalent` picks the representative of the target nearest the start before the
linear blend; `canonical` folds results back to angles in [0, pi]. Conversions are scipy's and roma's.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from synth.frames import heading, yaw_matrix

_EPS = 1e-9  # below this angle (radians) a rotation vector has no axis


def special_procrustes(M: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> the rotation R maximising tr(R^T M), reflections excluded (Kabsch; M = sum_h d_h r_h^T
    gives R r_h ~ d_h). roma.special_procrustes' SVD path to 1e-15, in numpy's batched SVD: the cloth's
    collar pins call it every substep, where torch's per-call overhead was 0.6 of 1.5 ms."""
    U, _, Vt = np.linalg.svd(np.asarray(M, np.float64))
    U[..., :, 2] *= np.sign(np.linalg.det(U @ Vt))[..., None]
    return U @ Vt


def canonical(rotvec: np.ndarray) -> np.ndarray:
    """The representative with angle in [0, pi] of each (..., 3) axis-angle vector."""
    return Rotation.from_rotvec(np.asarray(rotvec, float)).as_rotvec()


def closest_equivalent(target: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The axis-angle vector equivalent to `target` (same rotation) nearest to `reference`.

    Candidates (theta + 2 pi k) u for k in -2..2 cover every reference with angle <= 3 pi.
    """
    target = np.asarray(target, float)
    reference = np.asarray(reference, float)
    angle = np.linalg.norm(target, axis=-1, keepdims=True)
    axis = np.where(angle > _EPS, target / np.maximum(angle, _EPS), 0.0)
    ks = np.arange(-2, 3, dtype=float)
    cands = (angle[..., None, :] + 2 * np.pi * ks[:, None]) * axis[..., None, :]  # (..., 5, 3)
    cost = np.linalg.norm(cands - reference[..., None, :], axis=-1)
    best = np.take_along_axis(cands, cost.argmin(-1)[..., None, None], axis=-2)[..., 0, :]
    return np.where(angle > _EPS, best, target)


def slerp(r0: np.ndarray, r1: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Spherical interpolation of rotations r0, r1 (J,3) at alphas (T,) -> (T,J,3), shortest arc."""
    import roma
    import torch

    t = lambda a: torch.as_tensor(np.asarray(a, float))  # noqa: E731
    return roma.rotvec_slerp(t(r0), t(r1), t(alphas)).numpy()


def lerp(r0: np.ndarray, r1: np.ndarray, alphas: np.ndarray, fix_flip: bool = True) -> np.ndarray:
    """The paper's rule: linear blend of axis-angle vectors (J,3) at alphas (T,) -> (T,J,3).

    With `fix_flip`, r1 is first replaced by its equivalent nearest r0 (see module docstring).
    """
    r0 = np.asarray(r0, float)
    r1 = closest_equivalent(r1, r0) if fix_flip else np.asarray(r1, float)
    a = np.asarray(alphas, float)[:, None, None]
    return (1 - a) * r0 + a * r1


def set_heading(root_rotvec: np.ndarray, new_heading: float) -> np.ndarray:
    """The root rotation with its tilt kept and its yaw replaced by `new_heading`."""
    R = Rotation.from_rotvec(np.asarray(root_rotvec, float)).as_matrix()
    return Rotation.from_matrix(yaw_matrix(new_heading - heading(root_rotvec)) @ R).as_rotvec()
