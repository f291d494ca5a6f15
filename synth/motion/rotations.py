"""Axis-angle helpers for interpolation: the flip near pi, slerp, heading (yaw about SMPL's Y up).

An axis-angle vector r = theta * u names the same rotation as (theta + 2 pi k) * u for every
integer k. Two joint rotations 20 degrees apart across pi (170 deg about +z and 170 deg about -z)
are 340 degrees apart as vectors, so the paper's linear rule would swing the long way round.
`closest_equivalent` picks the representative of the target nearest the start before the
linear blend; `canonical` folds results back to angles in [0, pi].
"""

from __future__ import annotations

import numpy as np

from synth.mocap.kinematics import axis_rotation, matrix_to_rotvec, rotvec_to_matrix

_EPS = 1e-9


def canonical(rotvec: np.ndarray) -> np.ndarray:
    """The representative with angle in [0, pi] of each (..., 3) axis-angle vector."""
    rotvec = np.asarray(rotvec, float)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    wrapped = np.mod(angle + np.pi, 2 * np.pi) - np.pi  # in [-pi, pi)
    scale = np.where(angle > _EPS, wrapped / np.maximum(angle, _EPS), 1.0)
    return rotvec * scale


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


def rotvec_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) -> unit quaternions (..., 4) as (w, x, y, z)."""
    rotvec = np.asarray(rotvec, float)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    half = 0.5 * angle
    sinc = np.where(angle > _EPS, np.sin(half) / np.maximum(angle, _EPS), 0.5 - angle**2 / 48)
    return np.concatenate([np.cos(half), rotvec * sinc], -1)


def quat_to_rotvec(quat: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> canonical axis-angle (..., 3)."""
    quat = np.where(quat[..., :1] < 0, -quat, quat)
    vnorm = np.linalg.norm(quat[..., 1:], axis=-1, keepdims=True)
    angle = 2 * np.arctan2(vnorm, quat[..., :1])
    scale = np.where(vnorm > _EPS, angle / np.maximum(vnorm, _EPS), 2.0)
    return quat[..., 1:] * scale


def slerp(r0: np.ndarray, r1: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Spherical interpolation of rotations r0, r1 (J,3) at alphas (T,) -> (T,J,3), shortest arc."""
    q0, q1 = rotvec_to_quat(r0), rotvec_to_quat(r1)
    dot = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    omega = np.arccos(np.clip(dot, -1.0, 1.0))
    a = np.asarray(alphas, float)[:, None, None]
    small = omega < 1e-6
    s = np.where(small, 1.0, np.sin(omega))
    w0 = np.where(small, 1 - a, np.sin((1 - a) * omega) / s)
    w1 = np.where(small, a, np.sin(a * omega) / s)
    q = w0 * q0 + w1 * q1
    return quat_to_rotvec(q / np.linalg.norm(q, axis=-1, keepdims=True))


def lerp(r0: np.ndarray, r1: np.ndarray, alphas: np.ndarray, fix_flip: bool = True) -> np.ndarray:
    """The paper's rule: linear blend of axis-angle vectors (J,3) at alphas (T,) -> (T,J,3).

    With `fix_flip`, r1 is first replaced by its equivalent nearest r0 (see module docstring).
    """
    r0 = np.asarray(r0, float)
    r1 = closest_equivalent(r1, r0) if fix_flip else np.asarray(r1, float)
    a = np.asarray(alphas, float)[:, None, None]
    return (1 - a) * r0 + a * r1


def rotation_angle_between(r0: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) between rotations given as axis-angle (..., 3)."""
    R = np.swapaxes(rotvec_to_matrix(np.asarray(r0, float)), -1, -2) @ rotvec_to_matrix(np.asarray(r1, float))
    return np.linalg.norm(matrix_to_rotvec(R), axis=-1)


def heading(root_rotvec: np.ndarray) -> np.ndarray:
    """Yaw (radians about +Y) of the pelvis' forward axis (+Z at rest), for (..., 3) root rotations."""
    fwd = rotvec_to_matrix(np.asarray(root_rotvec, float))[..., :, 2]
    return np.arctan2(fwd[..., 0], fwd[..., 2])


def yaw_matrix(angle: np.ndarray | float) -> np.ndarray:
    """Rotation(s) about SMPL's up axis (+Y)."""
    return axis_rotation("y", np.asarray(angle, float))


def set_heading(root_rotvec: np.ndarray, new_heading: float) -> np.ndarray:
    """The root rotation with its tilt kept and its yaw replaced by `new_heading`."""
    R = rotvec_to_matrix(np.asarray(root_rotvec, float))
    R = yaw_matrix(new_heading - heading(root_rotvec)) @ R
    return matrix_to_rotvec(R)
