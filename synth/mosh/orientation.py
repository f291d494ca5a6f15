"""Orientation correspondence between a clip's segments and SMPL's: rest offsets, the clip's
physically valid frames, hinge axes and the residual the benchmark reports.

A clip segment's global rotation R_c(t) (relative to the clip's rest pose, SMPL world frame) and
the SMPL segment's global rotation G(t) (relative to SMPL's rest pose) differ by a constant rest
offset O (the SMPL segment's rotation when the clip is at its rest pose): G(t) = R_c(t) O. O is
estimated in closed form, as the chordal L2 mean of R_c(t)^T G(t) over valid frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from synth.mocap.kinematics import forward_kinematics
from synth.mosh.correspondence import smpl_segments
from synth.mosh.limits import JOINT_LIMIT_DEG, L_ELBOW, L_KNEE, R_ELBOW, R_KNEE

# Along which child a segment's bone axis runs, where a segment has several (pelvis, spine3).
_AXIS_CHILD = {0: 3, 9: 12}
# Hinges (parent segment, hinge segment, flexion axis in the parent's SMPL rest frame: the
# direction d with local rotation exp(theta d), theta >= 0 in flexion; synth/mosh/limits.py).
HINGES = (
    (1, L_KNEE, (1.0, 0.0, 0.0)),
    (2, R_KNEE, (1.0, 0.0, 0.0)),
    (16, L_ELBOW, (0.0, -1.0, 0.0)),
    (17, R_ELBOW, (0.0, 1.0, 0.0)),
)


def global_rotations(parents: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Local rotations (T,J,3,3) -> global (T,J,3,3) along the tree."""
    return forward_kinematics(parents, np.zeros((len(parents), 3)), local, np.zeros((len(local), 3)))[1]


def nearest_rotation(M: np.ndarray) -> np.ndarray:
    """(...,3,3) -> the rotations nearest to M (Frobenius): the chordal L2 mean of rotations
    whose (weighted) sum is M; identity where M is zero."""
    import roma
    import torch

    R = roma.special_procrustes(torch.as_tensor(M, dtype=torch.float64)).numpy()
    return np.where(np.abs(M).sum((-1, -2), keepdims=True) > 0, R, np.eye(3))


def rest_offsets(R_clip: np.ndarray, G: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(T,S,3,3) clip and SMPL global rotations, (T,S) valid -> O (S,3,3) with G ~ R_clip O:
    the chordal L2 mean of R_clip^T G over the valid frames."""
    return nearest_rotation(np.einsum("ts,tsba,tsbc->sac", valid.astype(float), R_clip, G))


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(axis) * angle).as_matrix()


# A clip hinge must bend at least this much (p90 over the valid frames) for its axis to be trusted.
MIN_HINGE_BEND_DEG = 10.0


def clip_hinge_axis(L: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Unit axis of a hinge from its local rotations L (T,3,3) in the parent's frame: the
    principal direction of the rotation vectors, signed so that the mean rotation is positive;
    zero where the hinge hardly bends (MIN_HINGE_BEND_DEG), as noise would then set the axis."""
    v = Rotation.from_matrix(L[valid]).as_rotvec() if valid.any() else np.zeros((0, 3))
    if len(v) < 3 or np.percentile(np.linalg.norm(v, axis=1), 90) < np.radians(MIN_HINGE_BEND_DEG):
        return np.zeros(3)
    a = np.linalg.eigh(v.T @ v)[1][:, -1]
    return a if (v @ a).sum() >= 0 else -a


def hinge_offsets(O: np.ndarray, segs: np.ndarray, R_clip: np.ndarray, G: np.ndarray, valid: np.ndarray) -> None:
    """In place: for each hinge whose parent and hinge segment are both corresponded, offsets that
    make SMPL's hinge bend about its own flexion axis d exactly where the clip's bends about a:
    O_p d = a and O_h = O_p exp(psi d) (a constant extra flexion absorbs the rest poses' differing
    elbow/knee bends); the free angles phi (about a) and psi maximise the agreement with the
    data, tr(O^T sum_t R_clip^T G), in closed form. Hinges that hardly bend keep their offsets."""
    col = {int(s): i for i, s in enumerate(segs)}
    for p, h, d in HINGES:
        if p not in col or h not in col:
            continue
        ip, ih = col[p], col[h]
        ok = valid[:, ip] & valid[:, ih]
        a = clip_hinge_axis(np.swapaxes(R_clip[:, ip], -1, -2) @ R_clip[:, ih], ok)
        if not a.any():
            continue
        d = np.asarray(d)
        Mp = (np.swapaxes(R_clip[ok, ip], -1, -2) @ G[ok, ip]).sum(0)
        Mh = (np.swapaxes(R_clip[ok, ih], -1, -2) @ G[ok, ih]).sum(0)
        # O_p = exp(phi a) O0 with O0 d = a; tr(O_p^T M) = tr(exp(phi a)^T N), N = M O0^T
        O0 = Rotation.align_vectors(a[None], d[None])[0].as_matrix()  # the smallest rotation d -> a
        N = (Mp + Mh) @ O0.T
        K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        phi = np.arctan2(np.trace(K.T @ N), np.trace(N) - a @ N @ a)
        Op = _rotation_about(a, phi) @ O0
        # O_h = O_p exp(psi d): tr(exp(psi d)^T O_p^T Mh)
        N = Op.T @ Mh
        Kd = np.array([[0, -d[2], d[1]], [d[2], 0, -d[0]], [-d[1], d[0], 0]])
        psi = np.arctan2(np.trace(Kd.T @ N), np.trace(N) - d @ N @ d)
        O[ip], O[ih] = Op, Op @ _rotation_about(d, psi)


def twist_angle(Q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Signed twist (radians) of rotations Q (...,3,3) about unit axes (...,3) (swing-twist split,
    twist applied first)."""
    q = Rotation.from_matrix(Q.reshape(-1, 3, 3)).as_quat().reshape(Q.shape[:-2] + (4,))  # x,y,z,w
    tw = 2 * np.arctan2((q[..., :3] * axis).sum(-1), q[..., 3])
    return (tw + np.pi) % (2 * np.pi) - np.pi


def transfer_twist(O: np.ndarray, segs: np.ndarray, joints: list[int], parents: np.ndarray, axes: np.ndarray) -> None:
    """In place: for segments whose roll the points cannot see (`joints`: gauge-free ones, e.g.
    hands, feet), the offset's twist about the bone axis is set so that at the clip's rest pose
    the segment has no twist against its nearest corresponded ancestor: the clip's own roll of
    the hand against the forearm carries over, as both skeletons rest in a T-pose."""
    col = {int(s): i for i, s in enumerate(segs)}
    for j in joints:
        if j not in col:
            continue
        a = int(parents[j])
        while a >= 0 and a not in col:
            a = int(parents[a])
        if a < 0:
            continue
        i = col[j]
        tau = twist_angle(O[col[a]].T @ O[i], axes[i])
        O[i] = O[i] @ Rotation.from_rotvec(-tau * axes[i]).as_matrix()


# How far beyond the SMPL joint's total-angle limit a clip joint may turn before its rotation is
# taken for a capture or solve error rather than a pose (CMU's sole-up feet: 80-100 degrees beyond).
# Within the margin the fit follows the clip as far as the soft joint limits let it.
INVALID_BEYOND_LIMIT_DEG = 30.0


def valid_frames(
    segs: np.ndarray, cols: np.ndarray, rotations: np.ndarray, clip_parents: np.ndarray, smpl_parents: np.ndarray
) -> np.ndarray:
    """(T,S) bool: frames where the clip's rotation of each corresponded segment is physically
    plausible: the clip joint's own local rotation (against its clip parent) stays within the
    total-angle limit of the SMPL joint it drives (synth/mosh/limits.py) plus
    INVALID_BEYOND_LIMIT_DEG, and so does every corresponded SMPL ancestor's (a segment below a
    flipped one inherits the flip). This catches CMU feet rolled sole-up: about 160-180 degrees
    against the shin, ankle limit 80.

    segs (S,) SMPL segments, cols (S,) clip joints, rotations (T,J,3,3) global.
    """
    col = {int(s): i for i, s in enumerate(segs)}
    T, S = len(rotations), len(segs)
    valid = np.ones((T, S), bool)
    for i, (s, c) in enumerate(zip(segs, cols)):  # SMPL order: ancestors first
        p = int(clip_parents[c])
        if p >= 0:
            rel = np.swapaxes(rotations[:, p], -1, -2) @ rotations[:, c]
            angle = np.degrees(Rotation.from_matrix(rel).magnitude())
            valid[:, i] = angle <= JOINT_LIMIT_DEG[s] + INVALID_BEYOND_LIMIT_DEG
        a = int(smpl_parents[s])
        while a >= 0 and a not in col:
            a = int(smpl_parents[a])
        if a >= 0:
            valid[:, i] &= valid[:, col[a]]
    return valid


def bone_axes(rest: np.ndarray, parents: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """(S,3) unit bone axis of each SMPL segment in its rest frame (= world at rest): towards its
    (main) child; leaves continue their parent's bone, from the parent joint to the leaf joint."""
    out = []
    for s in segs:
        s = int(s)
        kids = [c for c in range(len(parents)) if parents[c] == s]
        v = rest[_AXIS_CHILD.get(s, kids[0])] - rest[s] if kids else rest[s] - rest[parents[s]]
        out.append(v / np.linalg.norm(v))
    return np.stack(out)


def residual_deg(G: np.ndarray, R_clip: np.ndarray, O: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angle between the fitted and the clip's segment rotation, (T,S) total and (T,S) twist
    about the SMPL bone axis (swing-twist split of E = (R_clip O)^T G, in the segment's frame)."""
    E = np.swapaxes(R_clip @ O, -1, -2) @ G
    total = Rotation.from_matrix(E.reshape(-1, 3, 3)).magnitude().reshape(E.shape[:-2])
    return np.degrees(total), np.degrees(np.abs(twist_angle(E, np.broadcast_to(axes, E.shape[:-1]))))


@dataclass
class ClipRotations:
    """A clip's segment rotations for the fit: SMPL segments (S,), weights (S,), the clip's global
    rotations of those segments (T,S,3,3, SMPL world frame, relative to the clip's rest pose)
    and which frames are physically valid (T,S)."""

    segs: np.ndarray
    weights: np.ndarray
    rotations: np.ndarray
    valid: np.ndarray

    def __len__(self) -> int:
        return len(self.segs)


def clip_rotations(
    canonical: list[str | None], rotations: np.ndarray | None, clip_parents: np.ndarray, smpl_parents: np.ndarray
) -> ClipRotations | None:
    """The corresponded segments' rotations of a clip (None where the clip has no rotations or
    no CMU names: the fit then uses positions only)."""
    if rotations is None:
        return None
    segs, weights, cols = smpl_segments(canonical)
    if not len(segs):
        return None
    valid = valid_frames(segs, cols, rotations, clip_parents, smpl_parents)
    return ClipRotations(segs, weights, rotations[:, cols], valid)


def fit_residuals(
    parents: np.ndarray, rest_joints: np.ndarray, poses: np.ndarray, rot: ClipRotations
) -> tuple[np.ndarray, np.ndarray]:
    """How far a fit's segments are from the clip's rotations, after the best constant rest
    offset per segment (chordal mean over the valid frames): (T,S) total and twist degrees about
    the SMPL bone axis; invalid frames are NaN. poses (T,72) axis-angle, rest_joints (24,3)."""
    local = Rotation.from_rotvec(np.asarray(poses, float).reshape(-1, 3)).as_matrix().reshape(len(poses), 24, 3, 3)
    G = global_rotations(parents, local)[:, rot.segs]
    O = rest_offsets(rot.rotations, G, rot.valid)
    total, twist = residual_deg(G, rot.rotations, O, bone_axes(rest_joints, parents, rot.segs))
    return np.where(rot.valid, total, np.nan), np.where(rot.valid, twist, np.nan)
