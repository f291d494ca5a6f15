"""Plausibility guard for authored (interpolated) poses: joint limits and limbs through the torso.

Linear blends between far-apart poses can pass through poses no body makes: a knee bent
backwards, a forearm sweeping through the chest. Two cheap per-frame tests flag them:

- joint limits (defined once in synth/mosh/limits.py, which the MoSh fit also uses as a soft
  penalty): total rotation angle per joint, plus hinge rules for knees and elbows;
- capsules: the torso is a capsule around pelvis -> spine3 -> neck; forearms, hands, shins and
  feet are capsules around their bones. A limb whose axis comes closer to the torso axis than
  torso_radius + limb_radius - margin passes through the torso; the two shins likewise may not
  pass through each other. Radii are for an average adult (metres) and deliberately small,
  so touching (hands on hips, arms folded) is not flagged, only interpenetration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synth.mosh.limits import HYPEREXTENSION_DEG, JOINT_LIMIT_DEG, KNEE_OFF_AXIS_DEG, limit_excess_deg
from synth.motion.rotations import canonical
from synth.motion.skeleton import Skeleton

_TORSO = ((0, 9), (9, 12))  # pelvis -> spine3 -> neck
# (parent joint, child joint, radius m)
_LIMBS = (
    (18, 20, 0.035),
    (19, 21, 0.035),
    (20, 22, 0.03),
    (21, 23, 0.03),  # forearms, hands
    (4, 7, 0.045),
    (5, 8, 0.045),
    (7, 10, 0.035),
    (8, 11, 0.035),
)  # shins, feet
_SHINS = ((4, 7), (5, 8))


@dataclass
class PlausibilityConfig:
    limits_deg: np.ndarray = field(default_factory=lambda: JOINT_LIMIT_DEG.copy())
    hyperextension_deg: float = HYPEREXTENSION_DEG
    knee_off_axis_deg: float = KNEE_OFF_AXIS_DEG
    torso_radius: float = 0.09
    shin_radius: float = 0.045
    margin: float = 0.02  # allowed overlap of the capsules before it counts as interpenetration


@dataclass
class PlausibilityFlags:
    """Per-frame flags (T,) and which joints broke a limit (T,24)."""

    joint_limit: np.ndarray
    penetration: np.ndarray
    joints_over_limit: np.ndarray

    @property
    def implausible(self) -> np.ndarray:
        return self.joint_limit | self.penetration

    @property
    def rate(self) -> float:
        """Fraction of frames flagged."""
        return float(self.implausible.mean()) if len(self.implausible) else 0.0


def joint_limit_flags(poses: np.ndarray, cfg: PlausibilityConfig | None = None) -> np.ndarray:
    """(T,72) -> (T,24) bool: joints whose local rotation breaks a limit (synth/mosh/limits.py)."""
    cfg = cfg or PlausibilityConfig()
    theta = canonical(np.asarray(poses, float).reshape(-1, 24, 3))  # angles in [0, pi]
    return limit_excess_deg(theta, cfg.limits_deg, cfg.hyperextension_deg, cfg.knee_off_axis_deg) > 0


def segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Closest distance between segments p0-p1 and q0-q1, vectorised over leading axes (..., 3)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = (d1 * d1).sum(-1)
    e = (d2 * d2).sum(-1)
    f = (d2 * r).sum(-1)
    c = (d1 * r).sum(-1)
    b = (d1 * d2).sum(-1)
    denom = a * e - b * b
    tiny = 1e-12
    s = np.where(denom > tiny, np.clip((b * f - c * e) / np.maximum(denom, tiny), 0, 1), 0.0)
    t = np.where(e > tiny, (b * s + f) / np.maximum(e, tiny), 0.0)
    # t outside [0, 1]: clamp it and recompute s for that end of q
    t_c = np.clip(t, 0, 1)
    s = np.where(t != t_c, np.clip(np.where(a > tiny, (b * t_c - c) / np.maximum(a, tiny), 0.0), 0, 1), s)
    cp = p0 + d1 * s[..., None]
    cq = q0 + d2 * t_c[..., None]
    return np.linalg.norm(cp - cq, axis=-1)


def penetration_flags(joints: np.ndarray, cfg: PlausibilityConfig | None = None) -> np.ndarray:
    """(T,24,3) joints -> (T,) bool: a limb capsule passes through the torso or the other shin."""
    cfg = cfg or PlausibilityConfig()
    J = np.asarray(joints, float)
    flag = np.zeros(len(J), bool)
    for a, b, radius in _LIMBS:
        limit = cfg.torso_radius + radius - cfg.margin
        for t0, t1 in _TORSO:
            flag |= segment_distance(J[:, a], J[:, b], J[:, t0], J[:, t1]) < limit
    (a0, a1), (b0, b1) = _SHINS
    flag |= segment_distance(J[:, a0], J[:, a1], J[:, b0], J[:, b1]) < 2 * cfg.shin_radius - cfg.margin
    return flag


def plausibility(
    poses: np.ndarray, body_or_joints=None, betas: np.ndarray | None = None, cfg: PlausibilityConfig | None = None
) -> PlausibilityFlags:
    """Per-frame flags for poses (T,72).

    `body_or_joints`: joints (T,24,3) already computed, or a body model / JointModel / None
    (the default body model) to compute them with `betas` (default zeros). Translation does not matter.
    """
    cfg = cfg or PlausibilityConfig()
    poses = np.asarray(poses, float).reshape(-1, 72)
    if isinstance(body_or_joints, np.ndarray):
        joints = body_or_joints.reshape(len(poses), -1, 3)[:, :24]
    else:
        betas = np.zeros(10) if betas is None else betas
        joints = Skeleton.resolve(body_or_joints).joints(poses, betas, np.zeros((len(poses), 3)))
    over = joint_limit_flags(poses, cfg)
    return PlausibilityFlags(over.any(1), penetration_flags(joints, cfg), over)
