"""Synthetic pose sequences for tests and benchmarks (not motion capture).

Each sequence is a base pose (arms hanging, as in the built-in motions) plus a few smooth
sinusoids per joint, with per-joint amplitudes of a plausible size, so pose distances and
frame-to-frame smoothness resemble MoShed clips.
"""

from __future__ import annotations

import numpy as np

from synth.sequence import MoshedSequence

# per-joint amplitude (radians) of the random motion, SMPL joint order
_AMPLITUDE = np.array(
    [
        0.15,
        0.6,
        0.6,
        0.2,
        0.7,
        0.7,
        0.15,
        0.3,
        0.3,
        0.15,
        0.15,
        0.15,
        0.3,
        0.15,
        0.15,
        0.3,
        0.7,
        0.7,
        0.8,
        0.8,
        0.3,
        0.3,
        0.15,
        0.15,
    ]
)


def random_poses(frames: int, rng: np.random.Generator, fps: float = 30.0, scale: float = 1.0) -> np.ndarray:
    """(frames, 72) float32: smooth random motion around an arms-down standing pose; `scale`
    multiplies the per-joint amplitudes (above ~2 the motions get extreme)."""
    t = np.arange(frames) / fps
    base = np.zeros((24, 3))
    base[16, 2], base[17, 2] = -1.2, 1.2  # shoulders: arms hanging
    base[4, 0] = base[5, 0] = 0.1  # knees slightly bent
    base[0, 1] = rng.uniform(-np.pi, np.pi)  # heading
    base[1:] += rng.normal(0, 0.25, (23, 3)) * _AMPLITUDE[1:, None] * scale
    freqs = rng.uniform(0.1, 1.5, (3, 24, 3))
    phases = rng.uniform(0, 2 * np.pi, (3, 24, 3))
    amps = rng.uniform(0.2, 1.0, (3, 24, 3)) * _AMPLITUDE[None, :, None] / 2 * scale
    wave = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :, None, None] + phases[:, None])).sum(0)
    wave[..., 0, 1] *= 4  # the heading wanders more than the other root angles
    pose = base + wave
    for knee in (4, 5):  # hinges: flex one way only, little twist
        pose[:, knee, 0] = np.abs(pose[:, knee, 0]) * 1.5
        pose[:, knee, 1:] *= 0.1
    for elbow, sign in ((18, -1), (19, 1)):
        pose[:, elbow, 1] = sign * np.abs(pose[:, elbow, 1]) * 1.5
        pose[:, elbow, [0, 2]] *= 0.3
    for hip, sign in ((1, 1), (2, -1)):  # legs abduct outwards, not through each other
        pose[:, hip, 2] = sign * np.abs(pose[:, hip, 2]) * 0.5
    for shoulder, sign in ((16, -1), (17, 1)):  # arms stay out of the torso: hanging to raised
        pose[:, shoulder, 2] = sign * np.clip(np.abs(pose[:, shoulder, 2]), 0.3, 1.4)
    return pose.reshape(frames, 72).astype(np.float32)


def random_sequences(n: int, frames: int, seed: int, fps: float = 30.0, scale: float = 1.0) -> list[MoshedSequence]:
    """`n` synthetic MoshedSequences of `frames` frames each (standing in place, betas 0)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        poses = random_poses(frames, rng, fps, scale)
        trans = np.zeros((frames, 3), np.float32)
        trans[:, 1] = 0.95
        out.append(MoshedSequence(poses, np.zeros(10), trans, fps, source=f"synthetic/{seed}/{k}"))
    return out
