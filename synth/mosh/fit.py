"""MoSh-style fit of SMPL to a clip's joint positions: one beta per clip, theta and translation
per frame, per-subject joint offsets (see correspondence.py).

Why it is fast: (1) only the 24 joints are evaluated (joints.py), never the 6890 vertices;
(2) an analytic initialisation that already lands within about a centimetre: beta from limb
lengths (Gauss-Newton on the linear joint regressor); then per joint, top-down, the rotation
that aligns SMPL's rest bone directions with the clip's bone directions (weighted Kabsch where
a joint has several observed children, the minimal swing where it has one), alternated with
closed-form per-subject offsets; (3) a few batched Gauss-Newton steps over the whole clip
(`refine`): joint positions + temporal smoothness + an L2 pose prior, all frames solved in
one batched torch call (CPU or GPU).

Where the clip records joint rotations (BVH, ASF/AMC), positions cannot see a bone's roll about
its own axis, a head's nod or which way a hinge bends, so the fit also follows the rotations
(synth/mosh/orientation.py): each corresponded SMPL segment's target is the clip segment's
global rotation times a constant per-clip rest offset (closed form from the analytic pose; for
knees and elbows chosen so that SMPL's hinge bends about its own flexion axis exactly where the
clip's hinge bends); the analytic pose takes those targets as its start, the LM steps add an
orientation term, and the leaves (head, feet, hands), which carry no point, take their clip
segment's rotation directly, within their joint limits.

The fitted motion's mocap glitches (a joint jumping for a frame or two and back) are repaired
before the fit is cached (synth/mosh/glitches.py; `repaired` marks the frames).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from synth.errors import SynthError
from synth.mocap.clip import MocapClip, canonical_names, detect_naming
from synth.mosh.correspondence import LENGTH_PAIRS, SMPL_JOINT_NAMES, smpl_targets
from synth.mosh.glitches import GlitchSettings, repair_glitches
from synth.mosh.joints import JointModel
from synth.mosh.limits import JOINT_LIMIT_DEG, hinge_halfspaces
from synth.mosh.orientation import (
    ClipRotations,
    bone_axes,
    clip_rotations,
    global_rotations,
    hinge_offsets,
    nearest_rotation,
    rest_offsets,
    transfer_twist,
)
from synth.motion.rotations import special_procrustes
from synth.sequence import MoshedSequence

FIT_VERSION = 4  # bump when the fit changes results: invalidates the cache

_NAME = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}

# A fitted clip is usable only when SMPL follows it: the shared CMU clips fit at 4-11 mm mean (the
# dance is the worst); a huge root offset or absurd shape gives metres, and such a clip would fail
# much later in the cloth stage with misleading advice.
MAX_MEAN_FIT_ERROR_MM = 50.0


def require_good_fit(seq: MoshedSequence, clip_path: str | Path | None) -> MoshedSequence:
    """`seq` when its mean fit error is within MAX_MEAN_FIT_ERROR_MM, else a SynthError naming the clip."""
    err = float(np.mean(seq.fit_error_mm)) if seq.fit_error_mm.size else 0.0
    if not err <= MAX_MEAN_FIT_ERROR_MM:
        raise SynthError(
            f"MoSh fit of {seq.source or 'the clip'} is off by {err:.3g} mm on average "
            f"(usable: <= {MAX_MEAN_FIT_ERROR_MM:g} mm)",
            path=clip_path,
            fix="check the clip (units, root offset, skeleton) or leave it out of motion.sources",
        )
    return seq


@dataclass(frozen=True)
class FitSettings:
    iterations: int = 3  # Levenberg-Marquardt steps over the whole clip
    init_rounds: int = 3  # alternations of analytic pose / closed-form offsets
    damping: float = 1e-4  # Levenberg-Marquardt
    w_smooth: float = 0.1  # temporal smoothness, relative to a joint of weight 1
    w_pose: float = 1e-4  # L2 pose prior on local axis-angles (body joints)
    w_limit: float = 0.01  # soft joint limits (synth/mosh/limits.py): per squared radian beyond a limit
    w_orient: float = 0.03  # segment orientation (clips with rotations): m^2 per squared radian of residual
    offset_ridge: float = 0.05  # shrinks per-subject offsets towards zero
    beta_ridge: float = 1e-4  # limb-length fit of beta: m^2 of squared length error per unit beta^2


@dataclass
class FitResult:
    poses: np.ndarray  # (T,72)
    betas: np.ndarray  # (10,)
    trans: np.ndarray  # (T,3)
    offsets: np.ndarray  # (K,3) per corresponded point, in its segment's frame
    smpl_idx: np.ndarray  # (K,)
    error_mm: np.ndarray  # (T,) mean over corresponded joints (with offsets)
    raw_error_mm: np.ndarray  # (T,) same without offsets: how far SMPL's own joints are
    rest_offsets: np.ndarray | None = None  # (S,3,3) per rotation-corresponded segment, or None


def _handles(parents: np.ndarray, rest: np.ndarray, segments: np.ndarray, vecs: np.ndarray) -> dict:
    """For every joint, the observed points that fix its rotation, as (point index, rest vector
    from the joint): points riding on its segment, else the first ones down each child branch
    (assuming identity rotations in between)."""
    children = {j: [c for c in range(len(parents)) if parents[c] == j] for j in range(len(parents))}
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for j in reversed(range(len(parents))):
        riding = [(k, vecs[k]) for k in np.flatnonzero(segments == j)]
        out[j] = riding or [(k, rest[c] - rest[j] + v) for c in children[j] for k, v in out[c]]
    return out


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,3),(T,3) -> (T,3,3) smallest rotation taking direction a to direction b."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9)
    v = np.cross(a, b)
    c = np.clip((a * b).sum(-1), -0.999999, None)[:, None, None]
    zero = np.zeros(len(a))
    K = np.stack([zero, -v[:, 2], v[:, 1], v[:, 2], zero, -v[:, 0], -v[:, 1], v[:, 0], zero], -1).reshape(-1, 3, 3)
    return np.eye(3) + K + K @ K / (1 + c)


def _kabsch(rest_vecs: np.ndarray, target_vecs: np.ndarray) -> np.ndarray:
    """Rotation G (T,3,3), never a reflection, with G r_h ~ d_h in least squares: rest_vecs (H,3),
    target_vecs (T,H,3). roma's SVD path, not its default Horn method: where the rest vectors are
    parallel (a point at the joint itself while its offset is still zero) the twist about them is
    free, and the fit ends more accurate from the SVD's choice (benchmarks/mosh_kabsch.py)."""
    return special_procrustes(np.einsum("thb,ha->tba", target_vecs, rest_vecs))  # sum_h d_h r_h^T


def init_betas(model: JointModel, smpl_idx: np.ndarray, targets: np.ndarray, ridge: float = 1e-4) -> np.ndarray:
    """Beta matching the clip's median limb lengths (Gauss-Newton, ridge towards 0)."""
    col = {int(j): k for k, j in enumerate(smpl_idx)}
    pairs = [(_NAME[a], _NAME[b]) for a, b in LENGTH_PAIRS if _NAME[a] in col and _NAME[b] in col]
    if not pairs:
        return np.zeros(10)
    lengths = np.array([np.median(np.linalg.norm(targets[:, col[b]] - targets[:, col[a]], axis=-1)) for a, b in pairs])
    beta = np.zeros(10)
    for _ in range(4):
        rest = model.rest_joints(beta)
        A, r = [], []
        for (a, b), L in zip(pairs, lengths):
            vec = rest[b] - rest[a]
            u = vec / np.linalg.norm(vec)
            A.append(u @ (model.Jdirs[b] - model.Jdirs[a]))
            r.append(L - np.linalg.norm(vec))
        A, r = np.array(A), np.array(r)
        step = np.linalg.solve(A.T @ A + ridge * np.eye(10), A.T @ r - ridge * beta)
        beta = beta + step
    return np.clip(beta, -4, 4)


def init_pose(
    model: JointModel,
    betas: np.ndarray,
    smpl_idx: np.ndarray,
    segments: np.ndarray,
    targets: np.ndarray,
    offsets: np.ndarray,
):
    """Analytic per-frame local rotations (T,24,3,3), global rotations, joints and translation.

    Top-down: each joint's global rotation aligns the rest vectors of the points that fix it
    (offsets included) with the observed ones; the root by centred Kabsch, which also gives
    the translation.
    """
    parents = model.parents
    T = len(targets)
    rest = model.rest_joints(betas)
    vecs = rest[smpl_idx] - rest[segments] + offsets  # point k = X_seg + G_seg vecs[k]
    handles = _handles(parents, rest, segments, vecs)
    G = np.empty((T, 24, 3, 3))
    X = np.empty((T, 24, 3))
    local = np.broadcast_to(np.eye(3), (T, 24, 3, 3)).copy()
    trans = np.zeros((T, 3))
    for j in range(24):  # SMPL parents precede children
        p = parents[j]
        ks = [k for k, _ in handles[j]]
        r = np.stack([v for _, v in handles[j]]) if ks else np.zeros((0, 3))
        if p < 0:
            if len(ks) < 2:
                raise ValueError("the pelvis segment needs at least two observed points")
            c_r, c_y = r.mean(0), targets[:, ks].mean(1)
            G[:, j] = _kabsch(r - c_r, targets[:, ks] - c_y[:, None])
            X[:, j] = c_y - G[:, j] @ c_r
            trans = X[:, j] - rest[j]
            local[:, j] = G[:, j]
            continue
        Gp = G[:, p]
        X[:, j] = X[:, p] + Gp @ (rest[j] - rest[p])
        d = targets[:, ks] - X[:, j, None]
        if len(ks) >= 2:
            G[:, j] = _kabsch(r, d)
        elif len(ks) == 1:
            G[:, j] = _min_rotation(Gp @ r[0], d[:, 0]) @ Gp
        else:
            G[:, j] = Gp
        local[:, j] = Gp.transpose(0, 2, 1) @ G[:, j]
    return local, G, X, trans


def estimate_offsets(
    smpl_idx: np.ndarray, segments: np.ndarray, targets: np.ndarray, G: np.ndarray, X: np.ndarray, ridge: float
) -> np.ndarray:
    """Closed-form per-point offsets in their segment's frame: mean of G_s^T (Y - X_k), shrunk."""
    local = np.einsum("tkba,tkb->tka", G[:, segments], targets - X[:, smpl_idx])
    return local.mean(0) / (1 + ridge)


def gauge_free_joints(parents: np.ndarray, segments: np.ndarray) -> list[int]:
    """Joints carrying observed points while no point rides anywhere below them (ankles with the
    toe point, wrists with the finger point, the neck with CMU's neck and head points). There
    every point has a free per-subject offset, so any constant rotation of the segment is
    absorbed by the offsets: the data cannot tell the segment's orientation."""
    carried = set(int(s) for s in segments)
    out = []
    for j in sorted(carried):
        below, stack = [], [c for c in range(len(parents)) if parents[c] == j]
        while stack:
            c = stack.pop()
            below.append(c)
            stack += [d for d in range(len(parents)) if parents[d] == c]
        if parents[j] >= 0 and not carried.intersection(below):
            out.append(j)
    return out


def fix_gauge(
    local: np.ndarray,
    offsets: np.ndarray,
    rest: np.ndarray,
    smpl_idx: np.ndarray,
    segments: np.ndarray,
    joints: list[int],
) -> None:
    """In place: for each gauge-free joint, the constant rotation Q (absorbed by its points'
    offsets) that makes its local rotations closest to identity on average (chordal mean), so the
    data's blind spot is filled by "a segment rests near its rest pose" rather than by the drift
    of the initialisation. Points keep their positions exactly."""
    for j in joints:
        Q = nearest_rotation(local[:, j].sum(0))
        local[:, j] = local[:, j] @ Q.T
        for k in np.flatnonzero(segments == j):
            v = rest[smpl_idx[k]] - rest[j]
            offsets[k] = Q @ (v + offsets[k]) - v


def _skew(v: torch.Tensor) -> torch.Tensor:
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(v.shape + (3,))


def _inv_left_jacobian(theta: torch.Tensor) -> torch.Tensor:
    """(...,3) -> (...,3,3): d log(exp(u) exp(theta)) / d u at u = 0 (SO(3))."""
    a = theta.norm(dim=-1)[..., None, None]
    K = _skew(theta)
    small = a < 1e-4
    a_ = torch.where(small, torch.ones_like(a), a)
    c = torch.where(small, torch.full_like(a, 1 / 12), 1 / a_**2 - (1 + torch.cos(a_)) / (2 * a_ * torch.sin(a_)))
    return torch.eye(3, dtype=theta.dtype, device=theta.device) - 0.5 * K + c * K @ K


class LimitPenalty:
    """Soft joint limits as least-squares residuals sqrt(w) * max(0, f(theta)) on the local
    axis-angles of the fitted joints: f = |theta| - limit (total angle) and d . theta - bound
    (hinge half-spaces), both from synth/mosh/limits.py. Gauss-Newton rows are exact in the
    update u (theta' = log(exp(u) exp(theta))): d|theta|/du = theta^T / |theta|, d(d.theta)/du =
    d^T J_l^-1(theta)."""

    def __init__(self, active: np.ndarray, weight: float, dtype, device):
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
        limits = np.radians(JOINT_LIMIT_DEG[active])
        limits[np.asarray(active) == 0] = np.inf  # the root is free
        self.limit = t(limits)
        joint, d, bound = hinge_halfspaces()
        pos = {int(j): a for a, j in enumerate(active)}
        keep = [h for h, j in enumerate(joint) if int(j) in pos]
        self.h_joint = torch.as_tensor([pos[int(joint[h])] for h in keep], dtype=torch.long, device=device)
        self.h_dir, self.h_bound = t(d[keep]).reshape(-1, 3), t(np.radians(bound[keep]))
        self.sw = float(np.sqrt(weight))
        A = len(active)
        base = 3 * torch.arange(A, device=device)[:, None, None]
        self.rows = (base + torch.arange(3, device=device)[None, :, None]).expand(A, 3, 3)
        self.cols = (base + torch.arange(3, device=device)[None, None, :]).expand(A, 3, 3)

    def residuals(self, theta: torch.Tensor):
        """theta (T,A,3) -> residuals (T,A) norm and (T,H) hinge (zero inside the limits)."""
        norm = torch.relu(theta.norm(dim=-1) - self.limit) * self.sw
        hinge = torch.relu((theta[:, self.h_joint] * self.h_dir).sum(-1) - self.h_bound) * self.sw
        return norm, hinge

    def cost(self, theta: torch.Tensor) -> torch.Tensor:
        norm, hinge = self.residuals(theta)
        return (norm**2).sum(1) + (hinge**2).sum(1)

    def add_normal_equations(self, H: torch.Tensor, g: torch.Tensor, theta: torch.Tensor, Gp: torch.Tensor):
        """Add the penalty's Gauss-Newton blocks to H (T,N,N) and g (T,N) (w = Gp u per joint)."""
        norm, hinge = self.residuals(theta)
        A = theta.shape[1]
        row_n = theta / theta.norm(dim=-1, keepdim=True).clamp_min(1e-9) * (norm > 0)[..., None] * self.sw
        row_h = (self.h_dir[None, :, None, :] @ _inv_left_jacobian(theta[:, self.h_joint]))[..., 0, :]
        row_h = row_h * (hinge > 0)[..., None] * self.sw
        c_n = (Gp @ row_n[..., None])[..., 0]  # rows in w: row_u Gp^T, as columns Gp row_u
        c_h = (Gp[:, self.h_joint] @ row_h[..., None])[..., 0]
        Hb = c_n[..., :, None] * c_n[..., None, :]
        Hb = Hb.index_add(1, self.h_joint, c_h[..., :, None] * c_h[..., None, :])
        gb = (c_n * norm[..., None]).index_add(1, self.h_joint, c_h * hinge[..., None])
        H[:, self.rows, self.cols] += Hb
        g[:, : 3 * A] += gb.reshape(len(theta), 3 * A)


def refine(
    model: JointModel,
    smpl_idx: np.ndarray,
    segments: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    betas: np.ndarray,
    offsets: np.ndarray,
    local: np.ndarray,
    trans: np.ndarray,
    settings: FitSettings,
    device: str = "cpu",
    orient: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
):
    """Batched Levenberg-Marquardt over all frames at once, in torch (CPU or GPU).

    Unknowns per frame: a world-frame rotation increment w_j at every joint that has children
    (it turns the joint's whole subtree about the joint, so d q_k / d w_j = -[q_k - x_j]_x for
    every observed point q_k riding below j) and a translation increment: 60x60 normal
    equations per frame, solved for all frames in one batched call. Terms: weighted point
    positions (with offsets); temporal smoothness (each point is also pulled towards the mean
    of its neighbours in time); an L2 pose prior on the local axis-angles (it also keeps the
    unobservable limb twists at zero); soft joint limits (LimitPenalty); where `orient` =
    (segments (S,), weights (T,S), target global rotations (T,S,3,3)) is given, segment
    orientations: residual r = log(G_s G*_s^T) in the world frame, moved by the increment w_j of
    every joint j at or above s. Damping adapts per frame (steps that raise a frame's
    cost are undone). Offsets are re-estimated in closed form after every step.
    """
    import roma

    dt = torch.float64
    T, K = targets.shape[:2]
    parents = model.parents
    active = np.array([j for j in range(24) if (parents == j).any()])
    A = len(active)
    incidence = np.zeros((K, A))
    for k, f in enumerate(segments):  # a point on segment f is moved by f and its ancestors
        j = int(f)
        while j >= 0:
            incidence[k, np.flatnonzero(active == j)] = 1
            j = int(parents[j])
    fk = model.torch_fk(device, dt)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
    Y, w, inc = t(targets), t(weights)[None, :, None], t(incidence)[None, :, :, None, None]
    R, tr, b, off = t(local).clone(), t(trans).clone(), t(betas), t(offsets).clone()
    idx, seg, act = (torch.as_tensor(a, device=device) for a in (smpl_idx, segments, active))
    par_act = torch.as_tensor(np.maximum(parents[active], 0), device=device)
    is_root = parents[active] < 0
    eye3 = torch.eye(3, dtype=dt, device=device)
    prior = torch.full((A, 3), settings.w_pose, dtype=dt, device=device)
    prior[torch.as_tensor(is_root)] = 0  # the global orientation has no prior
    prior_diag = torch.cat([prior.reshape(-1), torch.zeros(3, dtype=dt, device=device)])
    mu = torch.full((T, 1, 1), settings.damping, dtype=dt, device=device)
    s = settings.w_smooth if T > 2 else 0.0
    sw = torch.sqrt(w + s)

    def points(R_, tr_):
        P, G = fk(b, R_, tr_)
        return P, G, P[:, idx] + (G[:, seg] @ off[None, :, :, None])[..., 0]

    limits = LimitPenalty(active, settings.w_limit, dt, device)
    if orient is not None and len(orient[0]):
        o_seg = torch.as_tensor(orient[0], device=device)
        o_sw = torch.sqrt(t(orient[1]) * settings.w_orient)[..., None]  # (T,S,1)
        o_tgt_T = t(orient[2]).transpose(-1, -2)
        o_inc = np.zeros((len(orient[0]), A))
        for i, f in enumerate(orient[0]):
            j = int(f)
            while j >= 0:
                o_inc[i, np.flatnonzero(active == j)] = 1
                j = int(parents[j])
        o_pair = t(o_inc[:, :, None] * o_inc[:, None, :])  # (S,A,A): both joints move segment s
        o_inc = t(o_inc)
    else:
        o_seg = None

    def orient_residual(G_):
        """log(G_s G*_s^T), world frame, as rotation vectors (T,S,3)."""
        return roma.rotmat_to_rotvec(G_[:, o_seg] @ o_tgt_T) if o_seg is not None else None

    def add_orientation(H, g, ro):
        """Orientation blocks of the normal equations, with d r / d w_j = J_l^-1(r) ~ I (the
        start puts segments at their targets, so residuals are a few degrees; the accept test
        undoes any step that would raise the cost): H_jk += sum_s w_s I, g_j += sum_s w_s r_s
        over the segments s that both j and k move. This keeps the term nearly free."""
        wr = o_sw[..., 0] ** 2  # (T,S)
        Hs = (wr @ o_pair.reshape(len(o_pair), -1)).reshape(T, A, A)
        for c in range(3):  # the same block on each axis's rows and columns
            H[:, c : 3 * A : 3, c : 3 * A : 3] += Hs
        g[:, : 3 * A] += (o_inc.T @ (wr[..., None] * ro)).reshape(T, 3 * A)

    def cost(q, tgt, theta, ro):
        c = (((q - tgt) * sw) ** 2).sum((1, 2)) + (prior * theta**2).sum((1, 2)) + limits.cost(theta)
        return c if ro is None else c + ((ro * o_sw) ** 2).sum((1, 2))

    P, G, q = points(R, tr)
    for _ in range(settings.iterations):
        tgt = Y
        if s > 0:  # pull towards the neighbours' mean: blend it into the target
            nb = q.clone()
            nb[1:-1] = 0.5 * (q[:-2] + q[2:])
            tgt = (w * Y + s * nb) / (w + s)
        theta = roma.rotmat_to_rotvec(R[:, act])
        ro = orient_residual(G)
        before = cost(q, tgt, theta, ro)
        r = (q - tgt) * sw
        v = q[:, :, None, :] - P[:, None, act, :]  # (T,K,A,3)
        Jw = -_skew(v) * inc * sw[..., None, None]  # (T,K,A,3,3): d q / d w = -[v]x
        J = torch.cat(
            [
                Jw.permute(0, 1, 3, 2, 4).reshape(T, 3 * K, 3 * A),
                (sw[..., None] * eye3).reshape(1, 3 * K, 3).expand(T, -1, -1),
            ],
            2,
        )
        H = J.transpose(1, 2) @ J
        g = (J.transpose(1, 2) @ r.reshape(T, 3 * K, 1))[..., 0]
        if ro is not None:
            add_orientation(H, g, ro)
        # pose prior |theta_j + u_j|^2 with u_j = G_parent^T w_j  ->  |G_parent theta_j + w_j|^2
        Gp = torch.where(torch.as_tensor(is_root, device=device)[None, :, None, None], eye3, G[:, par_act])
        pull = (Gp @ theta[..., None])[..., 0] * prior
        g = g + torch.cat([pull.reshape(T, 3 * A), torch.zeros(T, 3, dtype=dt, device=device)], 1)
        limits.add_normal_equations(H, g, theta, Gp)
        H = H + torch.diag_embed(prior_diag) + mu * torch.diag_embed(torch.diagonal(H, dim1=1, dim2=2) + 1e-6)
        delta = -torch.linalg.solve(H, g[..., None])[..., 0]
        u = (Gp.transpose(-1, -2) @ delta[:, : 3 * A].reshape(T, A, 3, 1))[..., 0]  # parent frame
        R_new = R.clone()
        R_new[:, act] = roma.rotvec_to_rotmat(u) @ R[:, act]
        tr_new = tr + delta[:, 3 * A :]
        P_new, G_new, q_new = points(R_new, tr_new)
        ok = cost(q_new, tgt, roma.rotmat_to_rotvec(R_new[:, act]), orient_residual(G_new)) <= before
        R = torch.where(ok[:, None, None, None], R_new, R)
        tr = torch.where(ok[:, None], tr_new, tr)
        mu = torch.where(ok[:, None, None], mu / 3, mu * 10)
        P, G = torch.where(ok[:, None, None], P_new, P), torch.where(ok[:, None, None, None], G_new, G)
        off = torch.einsum("tkba,tkb->ka", G[:, seg], Y - P[:, idx]) / (T * (1 + settings.offset_ridge))
        q = P[:, idx] + (G[:, seg] @ off[None, :, :, None])[..., 0]
    err = (q - Y).norm(dim=-1).mean(-1) * 1000
    raw = (P[:, idx] - Y).norm(dim=-1).mean(-1) * 1000
    return (
        roma.rotmat_to_rotvec(R).cpu().numpy(),
        tr.cpu().numpy(),
        off.cpu().numpy(),
        err.cpu().numpy(),
        raw.cpu().numpy(),
    )


def fit_joints(
    model: JointModel,
    smpl_idx: np.ndarray,
    segments: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    settings: FitSettings = None,
    device: str = "cpu",
    rotations: ClipRotations | None = None,
) -> FitResult:
    """Fit beta, theta, trans and per-point offsets to targets (T,K,3) of SMPL joints smpl_idx
    (segments: the SMPL joint whose frame carries each point and its offset), and, where given,
    to the clip's segment rotations (frames as targets')."""
    settings = settings or FitSettings()
    targets = np.asarray(targets, np.float64)
    T = len(targets)
    if rotations is not None and rotations.rotations.shape[:2] != (T, len(rotations)):
        raise ValueError(f"rotations cover {rotations.rotations.shape[:2]} (frames, segments), targets {T} frames")
    betas = init_betas(model, smpl_idx, targets, settings.beta_ridge)
    offsets = np.zeros((len(smpl_idx), 3))
    for _ in range(settings.init_rounds):
        _, G, X, _ = init_pose(model, betas, smpl_idx, segments, targets, offsets)
        offsets = estimate_offsets(smpl_idx, segments, targets, G, X, settings.offset_ridge)
    local, _, _, trans = init_pose(model, betas, smpl_idx, segments, targets, offsets)
    gauge = gauge_free_joints(model.parents, segments)
    fix_gauge(local, offsets, model.rest_joints(betas), smpl_idx, segments, gauge)
    leaf = np.array([not (model.parents == j).any() for j in range(24)])
    orient = leaf_targets = O = None
    if rotations is not None and len(rotations):
        local, O, orient, leaf_targets = _orientation_start(
            model.parents, local, rotations, leaf, gauge, model.rest_joints(betas)
        )
    theta, trans, offsets, err, raw = refine(
        model, smpl_idx, segments, weights, targets, betas, offsets, local, trans, settings, device, orient
    )
    theta[:, leaf] = 0  # no point observes a leaf's rotation ...
    if leaf_targets is not None:  # ... but the clip's own segment rotation does
        _set_leaves(model.parents, theta, *leaf_targets)
    return FitResult(
        poses=theta.reshape(T, 72).astype(np.float32),
        betas=betas.astype(np.float32),
        trans=trans.astype(np.float32),
        offsets=offsets,
        smpl_idx=np.asarray(smpl_idx),
        error_mm=err.astype(np.float32),
        raw_error_mm=raw.astype(np.float32),
        rest_offsets=O,
    )


def _orientation_start(
    parents: np.ndarray, local: np.ndarray, rot: ClipRotations, leaf: np.ndarray, gauge: list[int], rest: np.ndarray
):
    """Rest offsets from the analytic pose (the roll of gauge-free segments, which the points
    cannot see, from the rest poses: transfer_twist), the segments' targets G* = R_clip O, and
    the start pose with every corresponded inner segment at its target where the clip is valid.

    Returns the new local rotations (T,24,3,3), the offsets (S,3,3), refine's `orient` (inner
    segments) and the leaves' (segments, offsets, clip rotations, valid): a leaf carries no point, so its offset
    is unobservable; it takes its parent's (the rest poses of both skeletons agree)."""
    G = global_rotations(parents, local)
    O = rest_offsets(rot.rotations, G[:, rot.segs], rot.valid)
    hinge_offsets(O, rot.segs, rot.rotations, G[:, rot.segs], rot.valid)
    transfer_twist(O, rot.segs, gauge, parents, bone_axes(rest, parents, rot.segs))
    target = rot.rotations @ O
    inner = ~leaf[rot.segs]
    s_in = rot.segs[inner]
    G[:, s_in] = np.where(rot.valid[:, inner, None, None], target[:, inner], G[:, s_in])
    new_local = local.copy()
    new_local[:, 1:] = np.swapaxes(G[:, parents[1:]], -1, -2) @ G[:, 1:]
    new_local[:, 0] = G[:, 0]
    orient = (s_in, rot.weights[inner] * rot.valid[:, inner], target[:, inner])
    col = {int(s): i for i, s in enumerate(rot.segs)}
    keep = [i for i, s in enumerate(rot.segs) if leaf[s] and int(parents[s]) in col]
    O_par = np.stack([O[col[int(parents[rot.segs[i]])]] for i in keep]) if keep else np.zeros((0, 3, 3))
    O[keep] = O_par
    return new_local, O, orient, (rot.segs[keep], O_par, rot.rotations[:, keep], rot.valid[:, keep])


def _set_leaves(
    parents: np.ndarray, theta: np.ndarray, segs: np.ndarray, O: np.ndarray, R_clip: np.ndarray, valid: np.ndarray
) -> None:
    """In place: leaf local rotations G_parent^T R_clip O where the clip is valid, shortened to
    the joint's total-angle limit (synth/mosh/limits.py)."""
    from scipy.spatial.transform import Rotation

    G = global_rotations(parents, Rotation.from_rotvec(theta.reshape(-1, 3)).as_matrix().reshape(theta.shape + (3,)))
    for i, s in enumerate(segs):
        local = np.swapaxes(G[:, parents[s]], -1, -2) @ R_clip[:, i] @ O[i]
        v = Rotation.from_matrix(local).as_rotvec()
        n = np.linalg.norm(v, axis=-1, keepdims=True)
        v *= np.minimum(1.0, np.radians(JOINT_LIMIT_DEG[s] - 1e-3) / np.maximum(n, 1e-12))  # inside, in float32 too
        theta[:, s] = np.where(valid[:, i, None], v, 0.0)


def clip_targets(clip: MocapClip, fps: float, parents: np.ndarray):
    """SMPL joint indices, weights, segments and target points (T',K,3) of a clip at `fps`."""
    names = list(clip.joint_names)
    canon = canonical_names(names) if detect_naming(names) else [n.lower() for n in names]
    return smpl_targets(canon, clip.resampled(fps), parents)


def clip_rotation_targets(clip: MocapClip, fps: float, parents: np.ndarray) -> ClipRotations | None:
    """The clip's corresponded segment rotations at `fps` (None for position-only clips)."""
    names = list(clip.joint_names)
    if not detect_naming(names):
        return None
    return clip_rotations(canonical_names(names), clip.resampled_rotations(fps), clip.parents, parents)


def _cache_key(clip: MocapClip, fps: float, settings: FitSettings, model_id: str, glitches: GlitchSettings) -> str:
    blob = json.dumps(
        {
            "clip": clip.checksum or hashlib.sha256(clip.positions.tobytes()).hexdigest(),
            "fps": fps,
            "settings": asdict(settings),
            "glitches": asdict(glitches),
            "body": model_id,
            "version": FIT_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def mosh_clip(
    clip: MocapClip,
    body,
    fps: float = 30.0,
    cache_dir: str | Path | None = None,
    settings: FitSettings = FitSettings(),
    device: str = "cpu",
    glitches: GlitchSettings = GlitchSettings(),
) -> MoshedSequence:
    """Fit SMPL to a clip (resampled to `fps`), its mocap glitches repaired (`repaired` marks the
    frames); cached under cache_dir (default synth.paths.cache_dir()/mosh) by clip checksum + fps +
    settings + body model."""
    from synth.paths import cache_dir as default_cache

    model = body if isinstance(body, JointModel) else JointModel.from_body(body)
    root = Path(cache_dir) if cache_dir is not None else default_cache() / "mosh"
    safe = clip.name.replace("/", "_")
    path = root / f"{safe}_{_cache_key(clip, fps, settings, model.identifier, glitches)}.npz"
    if path.is_file():
        return MoshedSequence.load(path)
    smpl_idx, weights, segments, targets = clip_targets(clip, fps, model.parents)
    if len(smpl_idx) < 8:
        raise SynthError(
            f"only {len(smpl_idx)} joints of {clip.name} correspond to SMPL joints",
            path=clip.source or None,
            fix="use a CMU skeleton (cgspeed BVH in either naming, or CMU ASF/AMC) or SMPL joint names",
        )
    rotations = clip_rotation_targets(clip, fps, model.parents)
    res = fit_joints(model, smpl_idx, segments, weights, targets, settings, device, rotations)
    seq = MoshedSequence(
        poses=res.poses,
        betas=res.betas,
        trans=res.trans,
        fps=fps,
        source=clip.name,
        fit_error_mm=res.error_mm,
        body_model=model.identifier,
    )
    seq, _ = repair_glitches(seq, model, glitches)
    seq.save(path)
    return seq
