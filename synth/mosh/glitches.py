"""Mocap glitches in a fitted motion: joints that jump for a frame or two and jump back.

Optical mocap sometimes swaps or mislabels a marker for a few samples; the CMU BVH conversion then
swings a limb about its own axis for those samples (CMU 05_06's right knee moves 0.2-0.37 m within
1/120 s and back 6-10 samples later, with the hip and ankle still). The MoSh fit follows it, so the
fitted knee moves at 7-11 m/s for one frame at 30 fps between frames where it moves at 0.5-2 m/s,
and the cloth solver, which sees the body's surface move that fast, diverges.

Detection (per joint, on the fitted joint positions): a frame step is a *jump* when the joint's
speed over it is above `min_speed` and `ratio` times the median speed of that joint over the
`window_s` around it (a real kick's foot is fast over many frames, a glitch only over one). A jump
answered within `max_frames` by a step back (faster than min_speed / 2, after which the joint is
within half the larger of the two steps of where its motion before the jump would have taken it)
makes the frames in between glitched; a jump that is never answered (the joint stays on the new
track) is spread over as many frames as bring its speed under `min_speed`. Each range is widened by `pad` frames on both sides: the fit's
temporal smoothness term pulls the frames beside a glitch part of the way with it.

Repair: over each glitched range, the local rotations that leave the slerp between the good frames
either side by more than `min_angle` are replaced by that slerp (roma), and the root translation
by the straight line where it leaves it by more than `min_offset` (or the pelvis jumps); real
motion stays within a few degrees of a slerp over a few frames, so the other limbs keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from synth.motion.rotations import slerp

if TYPE_CHECKING:
    from synth.mosh.joints import JointModel
    from synth.sequence import MoshedSequence


@dataclass(frozen=True)
class GlitchSettings:
    min_speed: float = 4.0  # m/s: slower jumps are left alone
    ratio: float = 4.0  # jump speed over the joint's median speed around it
    window_s: float = 0.2  # s each side of a step for that median
    max_frames: int = 3  # longest glitch (frames at the fit's rate) answered by a jump back
    rounds: int = 3  # detect -> repair passes (a repair can uncover a neighbouring glitch)
    pad: int = 1  # frames re-interpolated on each side too: the fit's temporal smoothness spreads a glitch
    min_angle: float = 0.09  # rad (5 deg): a joint leaving the slerp by more is re-interpolated
    min_offset: float = 0.02  # m: the root translation leaving the straight line by more is too


@dataclass
class Glitch:
    start: int  # first glitched frame
    stop: int  # one past the last
    joints: list[int]  # SMPL joints whose positions jumped
    speed: float  # largest jump speed, m/s
    replaced: np.ndarray | None = None  # (24,) bool: joints whose rotations were re-interpolated


def _local_median(speed: np.ndarray, half: int) -> np.ndarray:
    """(S,) -> (S,) median of speed over [s - half, s + half] (clipped at the ends)."""
    S = len(speed)
    pad = np.pad(speed, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1)
    return np.median(windows, axis=-1)[:S]


def joint_glitches(positions: np.ndarray, fps: float, settings: GlitchSettings = GlitchSettings()) -> list[tuple]:
    """(start, stop, speed) glitched frame ranges of one joint's positions (T,3)."""
    T = len(positions)
    if T < 3:
        return []
    steps = np.diff(positions, axis=0)  # step s: frame s -> s + 1
    speed = np.linalg.norm(steps, axis=-1) * fps
    half = max(1, int(round(settings.window_s * fps)))
    base = _local_median(speed, half)
    jumps = np.flatnonzero((speed > settings.min_speed) & (speed > settings.ratio * base))
    out, used = [], set()
    for a in jumps:
        if a in used:
            continue
        answer = None
        before = steps[a - 1] if a > 0 else np.zeros(3)  # the joint's own motion, carried on
        for b in range(a + 1, min(a + settings.max_frames, T - 2) + 1):
            miss = np.linalg.norm(positions[b + 1] - positions[a] - (b + 1 - a) * before)
            if speed[b] > 0.5 * settings.min_speed and miss <= 0.5 * max(np.linalg.norm(steps[[a, b]], axis=-1)):
                answer = b
                break
        if answer is not None:  # out at step a, back at step b: frames a+1 .. b
            used.add(answer)
            out.append((int(a) + 1, answer + 1, float(max(speed[a], speed[answer]))))
            continue
        n = int(np.ceil(speed[a] / settings.min_speed))  # steps the jump is spread over
        lo = max(1, int(a) + 1 - n // 2)
        out.append((lo, min(T - 1, lo + n - 1), float(speed[a])))
    return out


def find_glitches(joints: np.ndarray, fps: float, settings: GlitchSettings = GlitchSettings()) -> list[Glitch]:
    """Glitched frame ranges of a motion's joints (T,24,3), overlapping ranges merged."""
    found, T, pad = [], len(joints), settings.pad
    for k in range(joints.shape[1]):
        found += [(max(0, a - pad), min(T, b + pad), k, v) for a, b, v in joint_glitches(joints[:, k], fps, settings)]
    found.sort()
    merged: list[Glitch] = []
    for a, b, k, v in found:
        if merged and a <= merged[-1].stop:
            g = merged[-1]
            g.stop, g.speed = max(g.stop, b), max(g.speed, v)
            g.joints = sorted(set(g.joints) | {k})
        else:
            merged.append(Glitch(a, b, [k], v))
    return merged


def candidates(parents: np.ndarray, joints: list[int]) -> np.ndarray:
    """(24,) bool: joints whose local rotations can move the given joints' positions (strict
    ancestors, the pelvis only for its children) and the joints below them."""
    parents = np.asarray(parents)
    out = np.zeros(len(parents), bool)
    for k in joints:
        j = int(parents[k])
        while j >= 0:
            out[j] |= j > 0 or parents[k] == 0
            j = int(parents[j])
        below = [k]
        while below:
            j = below.pop()
            out[j] = True
            below += list(np.flatnonzero(parents == j))
    return out


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) between rotation vectors (...,3)."""
    import roma
    import torch

    R = lambda v: roma.rotvec_to_rotmat(torch.as_tensor(v, dtype=torch.float64))  # noqa: E731
    return roma.rotmat_geodesic_distance(R(a), R(b)).numpy()


def repair_range(
    poses: np.ndarray,
    trans: np.ndarray,
    glitch: Glitch,
    parents: np.ndarray,
    min_angle: float,
    min_offset: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """poses (T,72), trans (T,3) with the glitch's frames re-interpolated between the good frames
    either side (held at a clip end), and the (24,) joints replaced: those whose local rotation
    leaves the slerp by more than `min_angle` on some glitched frame (the fit spreads a jumping
    knee over the hip, pelvis and spine), the root translation where it leaves the straight line by
    more than `min_offset` or the pelvis itself jumps; if neither, every joint that could move the
    jumping ones (`candidates`)."""
    T = len(poses)
    a, b = glitch.start - 1, glitch.stop  # the good frames around it
    if a < 0 and b >= T:
        return poses, trans, np.zeros(24, bool)  # nothing good to interpolate from
    frames = np.arange(glitch.start, glitch.stop)
    if a < 0 or b >= T:  # at a clip end: hold the good frame
        src = dst = b if a < 0 else a
        alpha = np.zeros(len(frames))
    else:
        src, dst, alpha = a, b, (frames - a) / (b - a)
    rot = poses.reshape(T, 24, 3).astype(np.float64)
    blend = slerp(rot[src], rot[dst], alpha)
    line = (1 - alpha[:, None]) * trans[src] + alpha[:, None] * trans[dst]
    mask = (_angle(rot[frames], blend) > min_angle).any(0)
    move_root = 0 in glitch.joints or bool((np.linalg.norm(trans[frames] - line, axis=-1) > min_offset).any())
    if not mask.any() and not move_root:  # a glitch below the thresholds: everything that could cause it
        mask = candidates(parents, glitch.joints)
    poses, trans = rot.copy(), trans.copy()
    poses[frames[:, None], np.flatnonzero(mask)[None, :]] = blend[:, mask]
    if move_root:
        trans[frames] = line
    return poses.reshape(T, 72), trans, mask


def repair_glitches(
    seq: MoshedSequence, joint_model: JointModel, settings: GlitchSettings = GlitchSettings()
) -> tuple[MoshedSequence, list[Glitch]]:
    """The MoshedSequence with its glitches repaired (`repaired` marks the frames) and the glitches
    found, in the order repaired."""
    import dataclasses

    from synth.motion.skeleton import Skeleton

    sk = Skeleton(joint_model=joint_model)
    poses, trans = seq.poses.astype(np.float64), seq.trans.astype(np.float64)
    repaired = np.array(seq.repaired, bool)
    found: list[Glitch] = []
    for _ in range(settings.rounds):
        glitches = find_glitches(sk.joints(poses, seq.betas, trans), seq.fps, settings)
        if not glitches:
            break
        for g in glitches:
            poses, trans, g.replaced = repair_range(
                poses, trans, g, joint_model.parents, settings.min_angle, settings.min_offset
            )
            repaired[g.start : g.stop] = True
        found += glitches
    return dataclasses.replace(seq, poses=poses, trans=trans, repaired=repaired), found


def frame_ranges(mask: np.ndarray) -> list[list[int]]:
    """[start, stop) runs of True in a (T,) bool mask."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])]
