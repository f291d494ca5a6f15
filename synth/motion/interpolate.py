"""New motion between two contrasting poses, and the T-pose (or A-pose) lead-in.

`interpolate_pair(X, Y, choice, cfg)` goes from X's frame i to Y's frame j:

- Body joints (1..23): the paper's rule, a linear blend of the axis-angle vectors, after
  replacing each of Y_j's joint vectors by its equivalent nearest to X_i's (the flip near pi, see
  rotations.py). `method="slerp"` gives the quaternion geodesic instead (for comparison).
- Root orientation: X and Y were captured facing arbitrary directions, so by default
  (`root="align_heading"`) Y_j's root keeps its tilt but takes X_i's heading (yaw about Y up);
  then it is blended like the body joints. `root="raw"` blends the recorded roots as they are.
- Translation: starts at X_i's root position; horizontally it moves with a velocity blended
  linearly from X's velocity at i to Y's at j (rotated by the same heading alignment), so a walk
  continues and a stand stays in place (`translation="hold"`: no horizontal motion). Vertically
  the feet stay on the ground: each sequence's floor is its lowest body point over all frames
  (mesh vertex with a body model, else lowest joint), the clearance above the floor is blended
  from X_i's to Y_j's (a jump landing still lands), and the root height is solved per frame.
- Shape: one beta per sequence (the contract), so `betas="x"` (default) keeps X's subject;
  "y" takes Y's, "mean" averages them. Morphing a body mid-sequence would break the cloth.
- Frame count: clip(ceil(frames_per_unit * max D), min_frames, max_frames), at X's fps.
- The result's `source` records both clips, frames and the distance; fit_error_mm is 0
  (authored, not fitted), `lead_in` all False, and `implausible` holds the plausibility guard's
  per-frame flags (joint limits, limbs through the torso; plausibility.py), so downstream stages
  can drop or down-weight those frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synth.frames import heading, yaw_matrix
from synth.motion.pairs import PairChoice
from synth.motion.plausibility import plausibility
from synth.motion.rotations import canonical, lerp, set_heading, slerp
from synth.motion.skeleton import Skeleton
from synth.sequence import MoshedSequence


@dataclass
class InterpolationConfig:
    frames_per_unit: float = 12.0  # frames per radian of max D (D is a 72-d norm)
    min_frames: int = 10
    max_frames: int = 150
    method: str = "linear"  # "linear" (paper) | "slerp"
    fix_flip: bool = True  # linear only: nearest equivalent axis-angle before blending
    root: str = "align_heading"  # | "raw"
    translation: str = "velocity"  # | "hold"
    betas: str = "x"  # | "y" | "mean"
    ground: bool = True  # keep the feet on the ground (else: hold X_i's root height)

    def __post_init__(self) -> None:
        for name, allowed in (
            ("method", ("linear", "slerp")),
            ("root", ("align_heading", "raw")),
            ("translation", ("velocity", "hold")),
            ("betas", ("x", "y", "mean")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if not 2 <= self.min_frames <= self.max_frames:
            raise ValueError("need 2 <= min_frames <= max_frames")


def frame_count(distance: float, cfg: InterpolationConfig) -> int:
    """Transition length for a pose distance: monotone non-decreasing in the distance."""
    return int(min(cfg.max_frames, max(cfg.min_frames, math.ceil(cfg.frames_per_unit * float(distance)))))


def blend_poses(
    p0: np.ndarray, p1: np.ndarray, alphas: np.ndarray, method: str = "linear", fix_flip: bool = True
) -> np.ndarray:
    """(24,3) -> (24,3) at alphas (T,) -> (T,72); endpoints (alpha 0 / 1) are p0 and p1 exactly."""
    p0 = np.asarray(p0, float).reshape(24, 3)
    p1 = np.asarray(p1, float).reshape(24, 3)
    alphas = np.asarray(alphas, float)
    out = slerp(p0, p1, alphas) if method == "slerp" else canonical(lerp(p0, p1, alphas, fix_flip))
    out[alphas == 0] = p0
    out[alphas == 1] = p1
    return out.reshape(len(alphas), 72)


def _velocity(trans: np.ndarray, k: int, fps: float) -> np.ndarray:
    """Horizontal (x, z) root velocity at frame k, m/s (central difference)."""
    if len(trans) < 2:
        return np.zeros(3)
    a, b = max(0, k - 1), min(len(trans) - 1, k + 1)
    v = (np.asarray(trans[b], float) - trans[a]) * fps / (b - a)
    v[1] = 0.0
    return v


def floor_height(seq: MoshedSequence, skeleton: Skeleton) -> float:
    """The sequence's ground: its lowest body point over all frames."""
    return float(skeleton.lowest(seq.poses, seq.betas, seq.trans).min())


def _grounded_heights(
    poses: np.ndarray, betas: np.ndarray, floor: float, clearance: np.ndarray, skeleton: Skeleton
) -> np.ndarray:
    """Root heights that put each frame's lowest point `clearance` above `floor`."""
    rel = skeleton.lowest(poses, betas, np.zeros((len(poses), 3)))
    return floor + clearance - rel


def interpolate_pair(
    X: MoshedSequence,
    Y: MoshedSequence,
    choice: PairChoice,
    cfg: InterpolationConfig | None = None,
    skeleton=None,
) -> MoshedSequence:
    """The transition from X.poses[choice.i] to Y.poses[choice.j] (see the module docstring).

    `skeleton`: a body model, a JointModel or None (the default body model), for the ground
    contact and the plausibility flags.
    """
    cfg = cfg or InterpolationConfig()
    sk = Skeleton.resolve(skeleton)
    i, j = int(choice.i), int(choice.j)
    n = frame_count(choice.distance, cfg)
    alphas = np.linspace(0.0, 1.0, n)
    pX = X.poses[i].astype(float).reshape(24, 3)
    pY = Y.poses[j].astype(float).reshape(24, 3).copy()
    turn = 0.0
    if cfg.root == "align_heading":
        turn = float(heading(pX[0]) - heading(pY[0]))
        pY[0] = set_heading(pY[0], float(heading(pX[0])))
    poses = blend_poses(pX, pY, alphas, cfg.method, cfg.fix_flip)

    betas = {"x": X.betas, "y": Y.betas, "mean": 0.5 * (X.betas + Y.betas)}[cfg.betas].astype(float)
    trans = np.repeat(X.trans[i].astype(float)[None], n, 0)
    if cfg.translation == "velocity":
        vX = _velocity(X.trans, i, X.fps)
        vY = yaw_matrix(turn) @ _velocity(Y.trans, j, Y.fps)
        vel = (1 - alphas)[:, None] * vX + alphas[:, None] * vY
        step = 0.5 * (vel[1:] + vel[:-1]) / X.fps  # trapezoid rule between frames
        trans[1:] += np.cumsum(step, 0)
    if cfg.ground:
        fX, fY = floor_height(X, sk), floor_height(Y, sk)
        cX = float(sk.lowest(X.poses[i : i + 1], X.betas, X.trans[i : i + 1])[0]) - fX
        cY = float(sk.lowest(Y.poses[j : j + 1], Y.betas, Y.trans[j : j + 1])[0]) - fY
        trans[:, 1] = _grounded_heights(poses, betas, fX, (1 - alphas) * cX + alphas * cY, sk)
    trans[0] = X.trans[i]
    gender = Y.gender if cfg.betas == "y" else X.gender
    return MoshedSequence(
        implausible=plausibility(poses, sk, betas).implausible,
        poses=poses,
        betas=betas,
        trans=trans,
        fps=X.fps,
        gender=gender,
        source=f"interp:{X.source}@{i}->{Y.source}@{j}:d={choice.distance:.4f}",
        body_model=X.body_model or sk.identifier,
    )


def rest_pose(kind: str = "t") -> np.ndarray:
    """(24,3) rest pose for the lead-in: "t" = SMPL's zero pose (T-pose), "a" = arms 45 deg down."""
    pose = np.zeros((24, 3))
    if kind == "a":
        pose[16, 2], pose[17, 2] = -np.pi / 4, np.pi / 4  # left / right shoulder about z
    elif kind != "t":
        raise ValueError(f"start pose must be 't' or 'a', not {kind!r}")
    return pose


def add_lead_in(
    seq: MoshedSequence, n_frames: int, start_pose: str = "t", skeleton=None, ground: bool = True
) -> MoshedSequence:
    """Prepend `n_frames` frames from an upright T-pose (or A-pose) to the first frame.

    The lead-in's first frame is exactly the rest pose: body joints from `rest_pose(start_pose)`, the root
    upright with the first frame's heading, standing on the sequence's floor at the first frame's
    horizontal position. Frame k of n is the blend at alpha = k / n, so the original first frame
    follows at alpha = 1. These frames get `lead_in = True` (training drops them) and their own
    plausibility flags in `implausible`.
    """
    if n_frames <= 0:
        return seq
    sk = Skeleton.resolve(skeleton)
    first = seq.poses[0].astype(float).reshape(24, 3)
    rest = rest_pose(start_pose)
    rest[0] = [0.0, float(heading(first[0])), 0.0]
    alphas = np.arange(n_frames) / n_frames
    poses = blend_poses(rest, first, alphas)
    trans = np.repeat(seq.trans[:1].astype(float), n_frames, 0)
    if ground:
        floor = floor_height(seq, sk)
        clear = float(sk.lowest(seq.poses[:1], seq.betas, seq.trans[:1])[0]) - floor
        trans[:, 1] = _grounded_heights(poses, seq.betas, floor, alphas * clear, sk)
    return MoshedSequence(
        poses=np.concatenate([poses, seq.poses]),
        betas=seq.betas,
        trans=np.concatenate([trans, seq.trans]),
        fps=seq.fps,
        gender=seq.gender,
        source=seq.source,
        fit_error_mm=np.concatenate([np.zeros(n_frames, np.float32), seq.fit_error_mm]),
        body_model=seq.body_model,
        lead_in=np.concatenate([np.ones(n_frames, bool), seq.lead_in]),
        implausible=np.concatenate([plausibility(poses, sk, seq.betas).implausible, seq.implausible]),
        repaired=np.concatenate([np.zeros(n_frames, bool), seq.repaired]),
    )
