"""Built-in motions: synthetic, procedural actions authored as SMPL keyframes (no download).

These are NOT motion capture. Each action is a short cycle of hand-authored keyframes
(Euler angles in degrees, SMPL local joint frames: T-pose, Y up, facing +Z, the subject's
left is +X), interpolated with a periodic Catmull-Rom spline, so they look smooth and roughly
natural. The root moves: forward speed and turning rate integrate into the translation, and
the height is set per frame so the lower ankle stays at its standing height (an approximate
SMPL neutral skeleton is used for that), plus an authored lift for jumps.

Sign conventions (local frames at rest): hip flexion = -x, knee flexion = +x, ankle
dorsiflexion = -x, spine/neck forward bend = +x; arms hang with the left shoulder at z = -70,
the right at z = +70; shoulder forward swing = -x; left elbow flexion = -y, right = +y.
"""

from __future__ import annotations

import numpy as np

from synth.body.joints import JOINT_NAMES as SMPL_JOINT_NAMES
from synth.body.joints import PARENTS as _PARENTS
from synth.errors import SynthError
from synth.mocap.kinematics import euler_to_matrix, forward_kinematics, matrix_to_rotvec
from synth.sequence import MoshedSequence

_J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
# Approximate SMPL neutral rest joints (metres), only for ground contact of the built-ins.
_REST = np.array(
    [
        (0.00, -0.22, 0.03),
        (0.07, -0.31, 0.02),
        (-0.07, -0.31, 0.02),
        (0.00, -0.11, 0.00),
        (0.10, -0.70, 0.02),
        (-0.10, -0.70, 0.01),
        (0.01, 0.02, 0.03),
        (0.09, -1.10, -0.02),
        (-0.09, -1.10, -0.02),
        (0.00, 0.08, 0.03),
        (0.12, -1.15, 0.10),
        (-0.11, -1.15, 0.10),
        (-0.01, 0.29, -0.01),
        (0.08, 0.20, -0.02),
        (-0.08, 0.20, -0.02),
        (0.01, 0.36, 0.04),
        (0.17, 0.23, -0.02),
        (-0.18, 0.23, -0.02),
        (0.43, 0.21, -0.04),
        (-0.43, 0.21, -0.04),
        (0.70, 0.22, -0.04),
        (-0.70, 0.22, -0.04),
        (0.78, 0.21, -0.05),
        (-0.79, 0.22, -0.05),
    ]
)
_ANKLE_HEIGHT = 0.08  # ankle joint above the floor when standing

_BASE = {
    "left_shoulder": (0, 0, -70),
    "right_shoulder": (0, 0, 70),
    "left_elbow": (0, -10, 0),
    "right_elbow": (0, 10, 0),
}


def _k(phase: float, lift: float = 0.0, **joints: tuple[float, float, float]) -> tuple:
    return phase, lift, joints


# name -> (cycle seconds, forward speed m/s, turn deg/s, keyframes)
_MOTIONS: dict[str, tuple[float, float, float, list]] = {
    "walk": (
        1.1,
        1.25,
        0.0,
        [
            _k(
                0.0,
                left_hip=(-25, 0, 0),
                right_hip=(15, 0, 0),
                left_knee=(5, 0, 0),
                right_knee=(20, 0, 0),
                left_shoulder=(18, 0, -72),
                right_shoulder=(-18, 0, 72),
                spine1=(4, 5, 0),
                left_ankle=(-5, 0, 0),
            ),
            _k(
                0.25,
                left_hip=(-5, 0, 0),
                right_hip=(-20, 0, 0),
                left_knee=(15, 0, 0),
                right_knee=(60, 0, 0),
                left_shoulder=(0, 0, -72),
                right_shoulder=(0, 0, 72),
                spine1=(4, 0, 0),
            ),
            _k(
                0.5,
                left_hip=(15, 0, 0),
                right_hip=(-25, 0, 0),
                left_knee=(20, 0, 0),
                right_knee=(5, 0, 0),
                left_shoulder=(-18, 0, -72),
                right_shoulder=(18, 0, 72),
                spine1=(4, -5, 0),
                right_ankle=(-5, 0, 0),
            ),
            _k(
                0.75,
                left_hip=(-20, 0, 0),
                right_hip=(-5, 0, 0),
                left_knee=(60, 0, 0),
                right_knee=(15, 0, 0),
                left_shoulder=(0, 0, -72),
                right_shoulder=(0, 0, 72),
                spine1=(4, 0, 0),
            ),
        ],
    ),
    "run": (
        0.7,
        3.2,
        0.0,
        [
            _k(
                0.0,
                0.03,
                left_hip=(-45, 0, 0),
                right_hip=(20, 0, 0),
                left_knee=(30, 0, 0),
                right_knee=(70, 0, 0),
                left_shoulder=(35, 0, -70),
                right_shoulder=(-45, 0, 70),
                left_elbow=(0, -80, 0),
                right_elbow=(0, 85, 0),
                spine1=(12, 8, 0),
            ),
            _k(
                0.25,
                0.07,
                left_hip=(-10, 0, 0),
                right_hip=(-50, 0, 0),
                left_knee=(25, 0, 0),
                right_knee=(110, 0, 0),
                left_elbow=(0, -85, 0),
                right_elbow=(0, 85, 0),
                spine1=(12, 0, 0),
            ),
            _k(
                0.5,
                0.03,
                left_hip=(20, 0, 0),
                right_hip=(-45, 0, 0),
                left_knee=(70, 0, 0),
                right_knee=(30, 0, 0),
                left_shoulder=(-45, 0, -70),
                right_shoulder=(35, 0, 70),
                left_elbow=(0, -85, 0),
                right_elbow=(0, 80, 0),
                spine1=(12, -8, 0),
            ),
            _k(
                0.75,
                0.07,
                left_hip=(-50, 0, 0),
                right_hip=(-10, 0, 0),
                left_knee=(110, 0, 0),
                right_knee=(25, 0, 0),
                left_elbow=(0, -85, 0),
                right_elbow=(0, 85, 0),
                spine1=(12, 0, 0),
            ),
        ],
    ),
    "jump": (
        1.6,
        0.0,
        0.0,
        [
            _k(0.0),
            _k(
                0.2,
                left_hip=(-70, 0, 0),
                right_hip=(-70, 0, 0),
                left_knee=(90, 0, 0),
                right_knee=(90, 0, 0),
                left_ankle=(-25, 0, 0),
                right_ankle=(-25, 0, 0),
                spine1=(35, 0, 0),
                left_shoulder=(50, 0, -75),
                right_shoulder=(50, 0, 75),
            ),
            _k(
                0.38,
                0.1,
                left_ankle=(30, 0, 0),
                right_ankle=(30, 0, 0),
                left_shoulder=(-150, 0, -40),
                right_shoulder=(-150, 0, 40),
            ),
            _k(
                0.5,
                0.4,
                left_hip=(-30, 0, 0),
                right_hip=(-30, 0, 0),
                left_knee=(50, 0, 0),
                right_knee=(50, 0, 0),
                left_shoulder=(-120, 0, -50),
                right_shoulder=(-120, 0, 50),
            ),
            _k(
                0.62,
                0.1,
                left_ankle=(20, 0, 0),
                right_ankle=(20, 0, 0),
                left_shoulder=(-60, 0, -60),
                right_shoulder=(-60, 0, 60),
            ),
            _k(
                0.75,
                left_hip=(-60, 0, 0),
                right_hip=(-60, 0, 0),
                left_knee=(80, 0, 0),
                right_knee=(80, 0, 0),
                left_ankle=(-20, 0, 0),
                right_ankle=(-20, 0, 0),
                spine1=(30, 0, 0),
                left_shoulder=(-20, 0, -70),
                right_shoulder=(-20, 0, 70),
            ),
        ],
    ),
    "wave": (
        1.2,
        0.0,
        0.0,
        [
            _k(0.0, right_shoulder=(0, 0, -20), right_elbow=(0, 0, -70), right_collar=(0, 0, -10), head=(0, -10, 0)),
            _k(0.5, right_shoulder=(0, 0, -20), right_elbow=(0, 0, -110), right_collar=(0, 0, -10), head=(0, -10, 0)),
        ],
    ),
    "squat": (
        2.4,
        0.0,
        0.0,
        [
            _k(0.0, left_shoulder=(-10, 0, -70), right_shoulder=(-10, 0, 70)),
            _k(
                0.5,
                left_hip=(-105, 0, -8),
                right_hip=(-105, 0, 8),
                left_knee=(120, 0, 0),
                right_knee=(120, 0, 0),
                left_ankle=(-30, 0, 0),
                right_ankle=(-30, 0, 0),
                spine1=(25, 0, 0),
                spine2=(10, 0, 0),
                left_shoulder=(-80, 0, -20),
                right_shoulder=(-80, 0, 20),
                neck=(-20, 0, 0),
            ),
        ],
    ),
    "kick": (
        1.5,
        0.0,
        0.0,
        [
            _k(0.0),
            _k(
                0.3,
                right_hip=(20, 0, 0),
                right_knee=(90, 0, 0),
                left_knee=(15, 0, 0),
                spine1=(-5, 0, 0),
                left_shoulder=(-20, 0, -60),
                right_shoulder=(20, 0, 60),
            ),
            _k(
                0.5,
                right_hip=(-85, 0, 0),
                right_knee=(5, 0, 0),
                right_ankle=(30, 0, 0),
                left_knee=(10, 0, 0),
                spine1=(15, 0, 0),
                left_shoulder=(30, 0, -50),
                right_shoulder=(-40, 0, 50),
            ),
            _k(0.7, right_hip=(-40, 0, 0), right_knee=(80, 0, 0), left_knee=(10, 0, 0)),
        ],
    ),
    "turn": (
        1.2,
        0.6,
        60.0,
        [
            _k(
                0.0,
                left_hip=(-20, -10, 0),
                right_hip=(10, 0, 0),
                left_knee=(10, 0, 0),
                right_knee=(25, 0, 0),
                left_shoulder=(12, 0, -72),
                right_shoulder=(-12, 0, 72),
                spine1=(3, 10, 0),
            ),
            _k(0.25, left_hip=(-5, 0, 0), right_hip=(-15, 0, 0), left_knee=(15, 0, 0), right_knee=(50, 0, 0)),
            _k(
                0.5,
                left_hip=(10, 0, 0),
                right_hip=(-20, -10, 0),
                left_knee=(25, 0, 0),
                right_knee=(10, 0, 0),
                left_shoulder=(-12, 0, -72),
                right_shoulder=(12, 0, 72),
                spine1=(3, 10, 0),
            ),
            _k(0.75, left_hip=(-15, 0, 0), right_hip=(-5, 0, 0), left_knee=(50, 0, 0), right_knee=(15, 0, 0)),
        ],
    ),
    "dance": (
        1.6,
        0.0,
        20.0,
        [
            _k(
                0.0,
                pelvis=(0, 0, 6),
                spine1=(0, 0, -8),
                spine2=(0, 0, -6),
                left_knee=(25, 0, 0),
                right_knee=(5, 0, 0),
                left_hip=(-15, 0, 5),
                left_shoulder=(0, 0, 40),
                left_elbow=(0, -60, 0),
                right_shoulder=(-30, 0, 40),
                right_elbow=(0, 90, 0),
                head=(0, 0, 10),
            ),
            _k(
                0.25,
                0.02,
                left_knee=(10, 0, 0),
                right_knee=(10, 0, 0),
                left_shoulder=(-40, 0, -30),
                right_shoulder=(-40, 0, 30),
                left_elbow=(0, -90, 0),
                right_elbow=(0, 90, 0),
            ),
            _k(
                0.5,
                pelvis=(0, 0, -6),
                spine1=(0, 0, 8),
                spine2=(0, 0, 6),
                right_knee=(25, 0, 0),
                left_knee=(5, 0, 0),
                right_hip=(-15, 0, -5),
                right_shoulder=(0, 0, -40),
                right_elbow=(0, 60, 0),
                left_shoulder=(-30, 0, -40),
                left_elbow=(0, -90, 0),
                head=(0, 0, -10),
            ),
            _k(
                0.75,
                0.02,
                left_knee=(10, 0, 0),
                right_knee=(10, 0, 0),
                left_shoulder=(-40, 0, -30),
                right_shoulder=(-40, 0, 30),
                left_elbow=(0, -90, 0),
                right_elbow=(0, 90, 0),
            ),
        ],
    ),
}

BUILTIN_MOTIONS: tuple[str, ...] = tuple(_MOTIONS)


def _catmull_rom_periodic(phases: np.ndarray, values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Periodic Catmull-Rom through (phases in [0,1), values (N,D)) evaluated at x (M,)."""
    n = len(phases)
    x = np.mod(x, 1.0)
    i1 = np.searchsorted(phases, x, side="right") - 1
    i2 = (i1 + 1) % n
    i0, i3 = (i1 - 1) % n, (i1 + 2) % n
    p1, p2 = phases[i1], np.where(i2 == 0, phases[i2] + 1, phases[i2])
    u = ((x - p1) / (p2 - p1))[:, None]
    v0, v1, v2, v3 = values[i0], values[i1], values[i2], values[i3]
    return 0.5 * (
        (2 * v1) + (-v0 + v2) * u + (2 * v0 - 5 * v1 + 4 * v2 - v3) * u**2 + (-v0 + 3 * v1 - 3 * v2 + v3) * u**3
    )


def builtin_motion(name: str, fps: float = 30.0, seconds: float | None = None) -> MoshedSequence:
    """A synthetic keyframed action as a MoshedSequence (betas zero; source "builtin/<name>")."""
    if name not in _MOTIONS:
        raise SynthError(f"unknown built-in motion {name!r}", fix=f"choose one of {', '.join(BUILTIN_MOTIONS)}")
    period, speed, turn, keys = _MOTIONS[name]
    seconds = 2 * period if seconds is None else float(seconds)
    T = max(2, int(round(seconds * fps)))
    t = np.arange(T) / fps
    phases = np.array([k[0] for k in keys])
    table = np.zeros((len(keys), 24, 3))
    for i, (_, _, joints) in enumerate(keys):
        for jname, ang in (_BASE | joints).items():
            table[i, _J[jname]] = ang
    lifts = np.array([[k[1]] for k in keys])
    x = t / period
    euler = _catmull_rom_periodic(phases, table.reshape(len(keys), -1), x).reshape(T, 24, 3)
    lift = np.maximum(_catmull_rom_periodic(phases, lifts, x)[:, 0], 0.0)
    local = euler_to_matrix(np.deg2rad(euler), "xyz")
    yaw = np.deg2rad(turn) * t
    local[:, 0] = euler_to_matrix(np.stack([np.zeros(T), yaw, np.zeros(T)], -1), "xyz") @ local[:, 0]
    heading = np.stack([np.sin(yaw), np.zeros(T), np.cos(yaw)], -1)
    trans = np.concatenate([np.zeros((1, 3)), np.cumsum(heading[1:] * speed / fps, 0)])
    offsets = _REST - _REST[np.maximum(_PARENTS, 0)]
    offsets[0] = _REST[0]
    joints, _ = forward_kinematics(_PARENTS, offsets, local, np.zeros((T, 3)))
    ankle = joints[:, [_J["left_ankle"], _J["right_ankle"]], 1].min(1)
    trans[:, 1] = _ANKLE_HEIGHT - ankle + lift
    return MoshedSequence(
        poses=matrix_to_rotvec(local).reshape(T, 72),
        betas=np.zeros(10),
        trans=trans,
        fps=fps,
        source=f"builtin/{name}",
    )
