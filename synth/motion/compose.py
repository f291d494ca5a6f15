"""Sequences assembled from pieces of real motion: a window of a clip ("original"), and a
transition embedded in real motion ("transition": X up to frame i, the interpolated frames, then
Y from frame j).

Both return the MoshedSequence and its `segments`: where each frame range of the result comes
from, as [{"kind": "source" | "interpolated", "source": clip id, "source_frames": [start, stop)
of that clip (interpolated: [i, j], X's and Y's frame), "frames": [start, stop)}] with frame ranges
in the result's own frames (no lead-in yet; `shift_segments` moves them past a rendered lead-in).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from synth.frames import heading, yaw_matrix
from synth.motion.interpolate import InterpolationConfig, interpolate_pair
from synth.motion.pairs import PairChoice
from synth.sequence import MoshedSequence


def clip_window(seq: MoshedSequence, start: int, stop: int) -> tuple[MoshedSequence, list[dict]]:
    """Frames [start, stop) of a clip, unchanged (the original motion)."""
    start, stop = int(start), int(stop)
    if not 0 <= start < stop <= seq.num_frames:
        raise ValueError(f"window [{start}, {stop}) is outside the {seq.num_frames} frames of {seq.source}")
    sl = slice(start, stop)
    out = MoshedSequence(
        poses=seq.poses[sl],
        betas=seq.betas,
        trans=seq.trans[sl],
        fps=seq.fps,
        gender=seq.gender,
        source=f"{seq.source}[{start}:{stop}]",
        fit_error_mm=seq.fit_error_mm[sl],
        body_model=seq.body_model,
        lead_in=seq.lead_in[sl],
        implausible=seq.implausible[sl],
        repaired=seq.repaired[sl],
    )
    return out, [{"kind": "source", "source": seq.source, "source_frames": [start, stop], "frames": [0, stop - start]}]


def continue_motion(
    Y: MoshedSequence,
    j: int,
    stop: int,
    end_pose: np.ndarray,
    end_trans: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Y's frames (j, stop) moved rigidly (a turn about the up axis and a shift) so that Y_j lands
    on (end_pose's root, end_trans): poses (n,72), trans (n,3), continuing the transition's last
    frame without a jump. The turn is the heading difference (the interpolation aligns Y_j's
    heading to X_i's); SMPL rotates about the pelvis, so trans' = Rz (trans - trans_j) + end_trans."""
    turn = float(heading(np.asarray(end_pose, float)[:3]) - heading(Y.poses[j, :3].astype(float)))
    Rz = yaw_matrix(turn)
    poses = Y.poses[j + 1 : stop].astype(float).copy()
    trans = Y.trans[j + 1 : stop].astype(float)
    poses[:, :3] = Rotation.from_matrix(Rz @ Rotation.from_rotvec(poses[:, :3]).as_matrix()).as_rotvec()
    trans = (trans - Y.trans[j].astype(float)) @ Rz.T + np.asarray(end_trans, float)
    return poses, trans


def embedded_transition(
    X: MoshedSequence,
    Y: MoshedSequence,
    choice: PairChoice,
    window_a: list,
    window_b: list,
    cfg: InterpolationConfig | None = None,
    skeleton=None,
) -> tuple[MoshedSequence, list[dict]]:
    """X's frames [window_a[0], i), the transition X_i -> Y_j (interpolate_pair: its first frame is
    X_i, its last Y_j turned to X's heading), then Y's frames (j, window_b[1]) continuing from there.
    One shape (the transition's betas) for the whole sequence."""
    i, j = int(choice.i), int(choice.j)
    a0, b1 = int(window_a[0]), int(window_b[1])
    if not (0 <= a0 <= i < X.num_frames and 0 <= j < b1 <= Y.num_frames):
        raise ValueError(f"context windows {window_a}, {window_b} do not hold frames i={i}, j={j}")
    mid = interpolate_pair(X, Y, choice, cfg, skeleton=skeleton)
    y_poses, y_trans = continue_motion(Y, j, b1, mid.poses[-1], mid.trans[-1])
    n_x, n_mid, n_y = i - a0, mid.num_frames, len(y_poses)
    seq = MoshedSequence(
        poses=np.concatenate([X.poses[a0:i], mid.poses, y_poses]),
        betas=mid.betas,
        trans=np.concatenate([X.trans[a0:i], mid.trans, y_trans]),
        fps=mid.fps,
        gender=mid.gender,
        source=mid.source,
        fit_error_mm=np.concatenate([X.fit_error_mm[a0:i], mid.fit_error_mm, Y.fit_error_mm[j + 1 : b1]]),
        body_model=mid.body_model,
        implausible=np.concatenate([X.implausible[a0:i], mid.implausible, Y.implausible[j + 1 : b1]]),
        repaired=np.concatenate([X.repaired[a0:i], mid.repaired, Y.repaired[j + 1 : b1]]),
    )
    segments = [
        {"kind": "source", "source": X.source, "source_frames": [a0, i], "frames": [0, n_x]},
        {"kind": "interpolated", "source": mid.source, "source_frames": [i, j], "frames": [n_x, n_x + n_mid]},
        {
            "kind": "source",
            "source": Y.source,
            "source_frames": [j + 1, b1],
            "frames": [n_x + n_mid, n_x + n_mid + n_y],
        },
    ]
    return seq, [s for s in segments if s["frames"][1] > s["frames"][0]]


def shift_segments(segments: list[dict], offset: int) -> list[dict]:
    """Segments with their result frame ranges moved by `offset` (e.g. + the lead-in length)."""
    return [dict(s, frames=[s["frames"][0] + offset, s["frames"][1] + offset]) for s in segments]
