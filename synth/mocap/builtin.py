"""Built-in motions: synthetic, procedural actions authored as SMPL keyframes (no download).

These are NOT motion capture. Each action is a short cycle of hand-authored keyframes
(builtin_motions.yaml beside this file: Euler angles in degrees, SMPL local joint frames:
T-pose, Y up, facing +Z, the subject's left is +X), interpolated with a periodic Catmull-Rom
spline, so they look smooth and roughly natural. The root moves: forward speed and turning rate
integrate into the translation, and the height is set per frame so the lower ankle stays at its
standing height (an approximate SMPL neutral skeleton is used for that), plus an authored lift
for jumps.

Sign conventions (local frames at rest): hip flexion = -x, knee flexion = +x, ankle
dorsiflexion = -x, spine/neck forward bend = +x; arms hang with the left shoulder at z = -70,
the right at z = +70; shoulder forward swing = -x; left elbow flexion = -y, right = +y.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from synth.body.joints import JOINT_NAMES as SMPL_JOINT_NAMES
from synth.body.joints import PARENTS as _PARENTS
from synth.errors import SynthError
from synth.frames import yaw_matrix
from synth.mocap.kinematics import forward_kinematics
from synth.sequence import MoshedSequence
from synth.yamlconfig import read_yaml

_J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
KEYFRAMES = Path(__file__).with_name("builtin_motions.yaml")


def _load(path: Path = KEYFRAMES) -> tuple[np.ndarray, float, dict, dict[str, tuple[float, float, float, list]]]:
    """(rest joints (24, 3) m, ankle height m, base pose {joint: degrees}, {name: (cycle s, forward
    speed m/s, turn deg/s, [(phase, lift m, {joint: degrees})])}) from the keyframe file."""
    data = read_yaml(path)
    rest = data["rest_joints"]
    names = {j for m in data["motions"].values() for k in m["keys"] for j in k} - {"phase", "lift"}
    unknown = sorted((names | set(data["base"]) | set(rest)) - set(SMPL_JOINT_NAMES))
    missing = sorted(set(SMPL_JOINT_NAMES) - set(rest))
    if unknown or missing:
        raise SynthError(
            f"unknown joints {unknown}, rest joints missing {missing}", path=path, fix="use synth.body.joints names"
        )
    motions = {
        name: (m["period"], m["speed"], m["turn"], [(k.pop("phase"), k.pop("lift", 0.0), k) for k in m["keys"]])
        for name, m in data["motions"].items()
    }
    return np.array([rest[n] for n in SMPL_JOINT_NAMES], float), data["ankle_height"], data["base"], motions


_REST, _ANKLE_HEIGHT, _BASE, _MOTIONS = _load()
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
    local = Rotation.from_euler("XYZ", euler, degrees=True).as_matrix()  # intrinsic: R = Rx @ Ry @ Rz
    yaw = np.deg2rad(turn) * t
    local[:, 0] = yaw_matrix(yaw) @ local[:, 0]
    heading = np.stack([np.sin(yaw), np.zeros(T), np.cos(yaw)], -1)
    trans = np.concatenate([np.zeros((1, 3)), np.cumsum(heading[1:] * speed / fps, 0)])
    offsets = _REST - _REST[np.maximum(_PARENTS, 0)]
    offsets[0] = _REST[0]
    joints, _ = forward_kinematics(_PARENTS, offsets, local, np.zeros((T, 3)))
    ankle = joints[:, [_J["left_ankle"], _J["right_ankle"]], 1].min(1)
    trans[:, 1] = _ANKLE_HEIGHT - ankle + lift
    return MoshedSequence(
        poses=Rotation.from_matrix(local).as_rotvec().reshape(T, 72),
        betas=np.zeros(10),
        trans=trans,
        fps=fps,
        source=f"builtin/{name}",
    )
