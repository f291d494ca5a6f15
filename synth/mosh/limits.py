"""Joint limits of the SMPL body: the one definition used by the MoSh fit (soft penalty) and the
motion stage's plausibility guard (hard flags).

All limits act on a joint's local rotation as its canonical axis-angle vector (angle in [0, pi],
SMPL local frames at rest: Y up, facing +Z, the subject's left is +X):

- a cap on the total rotation angle per joint (`JOINT_LIMIT_DEG`, 180 = unconstrained; the
  root, which is the global orientation, is never limited);
- hinge half-spaces d . theta <= bound: knees flex about +x (no hyperextension beyond
  `hyperextension_deg`, little sideways swing or twist), the left elbow flexes about -y and the
  right about +y (no hyperextension beyond `hyperextension_deg`).
"""

from __future__ import annotations

import numpy as np

# max total rotation angle per SMPL joint (degrees), SMPL joint order
JOINT_LIMIT_DEG = np.array(
    [
        180,
        150,
        150,
        70,
        160,
        160,
        70,
        80,
        80,
        70,
        60,
        60,
        80,
        50,
        50,
        80,
        180,
        180,
        160,
        160,
        110,
        110,
        80,
        80,
    ],
    float,
)
HYPEREXTENSION_DEG = 20.0
KNEE_OFF_AXIS_DEG = 45.0
L_KNEE, R_KNEE, L_ELBOW, R_ELBOW = 4, 5, 18, 19


def hinge_halfspaces(
    hyperextension_deg: float = HYPEREXTENSION_DEG, knee_off_axis_deg: float = KNEE_OFF_AXIS_DEG
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hinge rules as half-spaces: joint (H,), direction d (H,3), bound (H,) degrees; a joint's
    local axis-angle theta obeys the rule when d . theta <= bound."""
    ex, ey, ez = np.eye(3)
    rows = []
    for knee in (L_KNEE, R_KNEE):
        rows += [(knee, -ex, hyperextension_deg)]
        rows += [(knee, s * e, knee_off_axis_deg) for e in (ey, ez) for s in (1, -1)]
    rows += [(L_ELBOW, ey, hyperextension_deg), (R_ELBOW, -ey, hyperextension_deg)]
    return (np.array([r[0] for r in rows]), np.stack([r[1] for r in rows]), np.array([r[2] for r in rows], float))


def limit_excess_deg(
    theta: np.ndarray,
    limits_deg: np.ndarray = JOINT_LIMIT_DEG,
    hyperextension_deg: float = HYPEREXTENSION_DEG,
    knee_off_axis_deg: float = KNEE_OFF_AXIS_DEG,
) -> np.ndarray:
    """Canonical local axis-angles (T,24,3) -> (T,24) degrees beyond the limits, summed over a
    joint's rules (0 inside every limit; the root is free)."""
    deg = np.degrees(np.asarray(theta, float))
    excess = np.maximum(np.linalg.norm(deg, axis=-1) - limits_deg, 0.0)
    joint, d, bound = hinge_halfspaces(hyperextension_deg, knee_off_axis_deg)
    hinge = np.maximum(np.einsum("thc,hc->th", deg[:, joint], d) - bound, 0.0)
    np.add.at(excess.T, joint, hinge.T)
    excess[:, 0] = 0.0
    return excess
