"""Plausibility guard for authored (interpolated) poses: joint limits and limbs through the torso.

Linear blends between far-apart poses can pass through poses no body makes: a knee bent
backwards, a forearm sweeping through the chest. Two cheap per-frame tests flag them:

- joint limits: total rotation angle per joint (SMPL local frames, degrees in `JOINT_LIMIT_DEG`),
  plus hinge rules: knees flex about +x (hyperextension beyond `hyperextension_deg` or a
  sideways/twist component beyond `knee_off_axis_deg` is flagged), elbows flex about -y (left)
  / +y (right) and may not hyperextend beyond `hyperextension_deg`;
- capsules: the torso is a capsule around pelvis -> spine3 -> neck; forearms, hands, shins and
  feet are capsules around their bones. A limb whose axis comes closer to the torso axis than
  torso_radius + limb_radius - margin passes through the torso; the two shins likewise may not
  pass through each other. Radii are for an average adult (metres) and deliberately small,
  so touching (hands on hips, arms folded) is not flagged, only interpenetration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from synth.motion.rotations import canonical
from synth.motion.skeleton import Skeleton

# max total rotation angle per SMPL joint (degrees); 180 = unconstrained; the root is never limited
JOINT_LIMIT_DEG = np.array([
    180, 150, 150, 70, 160, 160, 70, 80, 80, 70, 60, 60,
    80, 50, 50, 80, 180, 180, 160, 160, 110, 110, 80, 80,
], float)  # fmt: skip
_L_KNEE, _R_KNEE, _L_ELBOW, _R_ELBOW = 4, 5, 18, 19
_TORSO = ((0, 9), (9, 12))  # pelvis -> spine3 -> neck
# (parent joint, child joint, radius m)
_LIMBS = ((18, 20, 0.035), (19, 21, 0.035), (20, 22, 0.03), (21, 23, 0.03),  # forearms, hands
          (4, 7, 0.045), (5, 8, 0.045), (7, 10, 0.035), (8, 11, 0.035))  # shins, feet  # fmt: skip
_SHINS = ((4, 7), (5, 8))


@dataclass
class PlausibilityConfig:
    limits_deg: np.ndarray = field(default_factory=lambda: JOINT_LIMIT_DEG.copy())
    hyperextension_deg: float = 20.0
    knee_off_axis_deg: float = 45.0
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
    """(T,72) -> (T,24) bool: joints whose local rotation breaks a limit."""
    cfg = cfg or PlausibilityConfig()
    p = canonical(np.asarray(poses, float).reshape(-1, 24, 3))  # angles in [0, 180] deg
    angle = np.degrees(np.linalg.norm(p, axis=-1))
    over = angle > cfg.limits_deg
    over[:, 0] = False  # the root (global orientation) is free
    deg = np.degrees(p)
    hyper, off = cfg.hyperextension_deg, cfg.knee_off_axis_deg
    for k in (_L_KNEE, _R_KNEE):
        over[:, k] |= (deg[:, k, 0] < -hyper) | (np.abs(deg[:, k, 1:]) > off).any(-1)
    over[:, _L_ELBOW] |= deg[:, _L_ELBOW, 1] > hyper
    over[:, _R_ELBOW] |= deg[:, _R_ELBOW, 1] < -hyper
    return over


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


def plausibility(poses: np.ndarray, body_or_joints=None, betas: np.ndarray | None = None,
                 cfg: PlausibilityConfig | None = None) -> PlausibilityFlags:  # fmt: skip
    """Per-frame flags for poses (T,72).

    `body_or_joints`: joints (T,24,3) already computed, or a body model / JointModel / None
    (stand-in skeleton) to compute them with `betas` (default zeros). Translation does not matter.
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
