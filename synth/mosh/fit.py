"""MoSh-style fit of SMPL to a clip's joint positions: one beta per clip, theta and translation
per frame, per-subject joint offsets (see correspondence.py).

Why it is fast: (1) only the 24 joints are evaluated (joints.py), never the 6890 vertices;
(2) an analytic initialisation already lands within a few centimetres: beta from limb lengths
(Gauss-Newton on the linear joint regressor), then per joint, top-down, the rotation that
aligns SMPL's rest bones with the clip's bones (weighted Kabsch where a joint has several
observed children, the minimal swing where it has one); (3) a short Adam refinement over the
whole clip as one batch: joint positions + bone directions + temporal smoothness + an L2 pose
prior with knee/elbow hinge limits + priors on beta and offsets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from synth.mocap.clip import MocapClip, canonical_names, detect_naming
from synth.mocap.kinematics import matrix_to_rotvec
from synth.mosh.correspondence import LENGTH_PAIRS, SMPL_JOINT_NAMES, smpl_targets
from synth.mosh.joints import JointModel, rotvec_to_matrix_torch
from synth.mosh.sequence import MoshedSequence

FIT_VERSION = 1  # bump when the fit changes results: invalidates the cache

_NAME = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
# Hinge limits in SMPL's local frames (rest T-pose, Y up, facing +Z): knees flex about +x,
# the left elbow about -y and the right about +y.
_HINGES = ((_NAME["left_knee"], 0, 1.0), (_NAME["right_knee"], 0, 1.0),
           (_NAME["left_elbow"], 1, -1.0), (_NAME["right_elbow"], 1, 1.0))  # fmt: skip


@dataclass(frozen=True)
class FitSettings:
    iterations: int = 60
    init_rounds: int = 3  # alternations of analytic pose / closed-form offsets
    lr: float = 0.02
    w_dir: float = 0.02  # bone direction term (1 - cos)
    w_smooth: float = 0.5  # joint acceleration (metres per frame^2, squared)
    w_pose: float = 2e-4  # L2 on body joint axis-angles
    w_limit: float = 1e-2  # hinge joints bending the wrong way
    w_beta: float = 1e-4
    w_offset: float = 1e-2


@dataclass
class FitResult:
    poses: np.ndarray  # (T,72)
    betas: np.ndarray  # (10,)
    trans: np.ndarray  # (T,3)
    offsets: np.ndarray  # (K,3) per corresponded joint, parent-segment frame
    smpl_idx: np.ndarray  # (K,)
    error_mm: np.ndarray  # (T,) mean over corresponded joints (with offsets)
    raw_error_mm: np.ndarray  # (T,) same without offsets: how far SMPL's own joints are


def _handles(parents: np.ndarray, observed: set[int]) -> dict[int, list[int]]:
    """For every joint, the first observed joints below it along each child branch."""
    children = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)

    def first(c: int) -> list[int]:
        return [c] if c in observed else [h for cc in children[c] for h in first(cc)]

    return {j: [h for c in children[j] for h in first(c)] for j in range(len(parents))}


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
    """Rotation G (T,3,3) with G r_h ~ d_h: rest_vecs (H,3), target_vecs (T,H,3)."""
    H = np.einsum("ha,thb->tab", rest_vecs, target_vecs)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.transpose(0, 2, 1) @ U.transpose(0, 2, 1)))
    D = np.ones((len(H), 3))
    D[:, 2] = d
    return (Vt.transpose(0, 2, 1) * D[:, None, :]) @ U.transpose(0, 2, 1)


def init_betas(model: JointModel, smpl_idx: np.ndarray, targets: np.ndarray, ridge: float = 0.05) -> np.ndarray:
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


def init_pose(model: JointModel, betas: np.ndarray, smpl_idx: np.ndarray, targets: np.ndarray,
              offsets: np.ndarray | None = None):
    """Analytic per-frame local rotations (T,24,3,3), global rotations and translation (T,3).

    Top-down: each joint's global rotation aligns its rest vectors to the observed handle
    points (rest vectors include the handles' offsets, which ride on the joint's segment).
    """
    parents = model.parents
    T = len(targets)
    rest = model.rest_joints(betas)
    off = np.zeros((len(smpl_idx), 3)) if offsets is None else offsets
    Y = {int(j): targets[:, k] for k, j in enumerate(smpl_idx)}
    O = {int(j): off[k] for k, j in enumerate(smpl_idx)}
    handles = _handles(parents, set(Y))
    G = np.empty((T, 24, 3, 3))
    X = np.empty((T, 24, 3))
    local = np.broadcast_to(np.eye(3), (T, 24, 3, 3)).copy()
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    for j in range(24):  # SMPL parents precede children
        p = parents[j]
        hs = handles[j]
        if p < 0:  # root: align handle points seen from the observed pelvis point
            o0 = O.get(j, np.zeros(3))
            r = np.stack([rest[h] + O[h] - rest[j] - o0 for h in hs])
            G[:, j] = _kabsch(r, np.stack([Y[h] - Y[j] for h in hs], 1)) if j in Y else eye
            trans = Y[j] - rest[j] - G[:, j] @ o0 if j in Y else np.zeros((T, 3))
            X[:, j] = rest[j] + trans
            local[:, j] = G[:, j]
            continue
        Gp = G[:, p]
        X[:, j] = X[:, p] + Gp @ (rest[j] - rest[p])
        if not hs:
            G[:, j] = Gp
            continue
        r = np.stack([rest[h] + O[h] - rest[j] for h in hs])
        d = np.stack([Y[h] - X[:, j] for h in hs], 1)
        if len(hs) >= 2:
            G[:, j] = _kabsch(r, d)
        else:
            G[:, j] = _min_rotation(Gp @ r[0], d[:, 0]) @ Gp
        local[:, j] = Gp.transpose(0, 2, 1) @ G[:, j]
    return local, G, X, trans


def estimate_offsets(model: JointModel, smpl_idx: np.ndarray, targets: np.ndarray, G: np.ndarray,
                     X: np.ndarray, ridge: float = 0.1) -> np.ndarray:
    """Closed form per-joint offsets in the parent-segment frame: mean of G_p^T (Y - X), shrunk."""
    frame = np.where(model.parents[smpl_idx] < 0, smpl_idx, model.parents[smpl_idx])
    local = np.einsum("tkba,tkb->tka", G[:, frame], targets - X[:, smpl_idx])
    return local.mean(0) / (1 + ridge)


def fit_joints(
    model: JointModel,
    smpl_idx: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    settings: FitSettings = FitSettings(),
    device: str = "cpu",
    fit_offsets: bool = True,
) -> FitResult:
    """Fit beta, theta, trans (and offsets) to targets (T,K,3) of SMPL joints smpl_idx."""
    targets = np.asarray(targets, np.float64)
    T = len(targets)
    betas0 = init_betas(model, smpl_idx, targets)
    offsets0 = np.zeros((len(smpl_idx), 3))
    for _ in range(settings.init_rounds if fit_offsets else 0):
        _, G, X, _ = init_pose(model, betas0, smpl_idx, targets, offsets0)
        offsets0 = estimate_offsets(model, smpl_idx, targets, G, X)
    local, _, _, trans0 = init_pose(model, betas0, smpl_idx, targets, offsets0)
    theta0 = matrix_to_rotvec(local)

    dt = torch.float32
    fk = model.torch_fk(device, dt)
    leaf = np.array([not (model.parents == j).any() for j in range(24)])
    mask = torch.as_tensor(~leaf, dtype=dt, device=device)[None, :, None]
    theta = torch.tensor(theta0, dtype=dt, device=device, requires_grad=True)
    trans = torch.tensor(trans0, dtype=dt, device=device, requires_grad=True)
    betas = torch.tensor(betas0, dtype=dt, device=device, requires_grad=True)
    offsets = torch.tensor(offsets0, dtype=dt, device=device, requires_grad=fit_offsets)
    Y = torch.as_tensor(targets, dtype=dt, device=device)
    w = torch.as_tensor(weights / weights.sum(), dtype=dt, device=device)
    idx = torch.as_tensor(smpl_idx, device=device)
    frame_of = torch.as_tensor(np.maximum(model.parents[smpl_idx], 0), device=device)
    col = {int(j): k for k, j in enumerate(smpl_idx)}
    dir_pairs = [(col[j], col[int(model.parents[j])]) for j in smpl_idx if model.parents[j] in col]
    da = torch.as_tensor([a for a, _ in dir_pairs], device=device)
    db = torch.as_tensor([b for _, b in dir_pairs], device=device)
    Ydir = torch.nn.functional.normalize(Y[:, da] - Y[:, db], dim=-1)
    body_mask = torch.ones(24, 1, dtype=dt, device=device)
    body_mask[0] = 0

    def points(theta_, trans_, betas_, offsets_):
        R = rotvec_to_matrix_torch(theta_ * mask)
        P, Gl = fk(betas_, R, trans_)
        return P[:, idx] + (Gl[:, frame_of] @ offsets_[None, :, :, None])[..., 0], P[:, idx]

    params = [theta, trans, betas] + ([offsets] if fit_offsets else [])
    opt = torch.optim.Adam(
        [{"params": [theta], "lr": settings.lr}, {"params": [trans], "lr": settings.lr * 0.5},
         {"params": [betas], "lr": settings.lr * 2}]
        + ([{"params": [offsets], "lr": settings.lr * 0.25}] if fit_offsets else [])
    )  # fmt: skip
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.iterations, eta_min=settings.lr * 0.05)
    for _ in range(settings.iterations):
        opt.zero_grad(set_to_none=True)
        pts, _ = points(theta, trans, betas, offsets)
        loss = (((pts - Y) ** 2).sum(-1) * w).sum(-1).mean()
        if len(dir_pairs):
            pd = torch.nn.functional.normalize(pts[:, da] - pts[:, db], dim=-1)
            loss = loss + settings.w_dir * (1 - (pd * Ydir).sum(-1)).mean()
        if T > 2:
            acc = pts[2:] - 2 * pts[1:-1] + pts[:-2]
            loss = loss + settings.w_smooth * (acc**2).sum(-1).mean()
        th = theta * mask
        loss = loss + settings.w_pose * ((th * body_mask) ** 2).sum((-1, -2)).mean()
        hinge = sum(torch.relu(-s * th[:, j, a]) ** 2 for j, a, s in _HINGES)
        loss = loss + settings.w_limit * hinge.mean()
        loss = loss + settings.w_beta * (betas**2).sum() + settings.w_offset * (offsets**2).sum()
        loss.backward()
        opt.step()
        sched.step()

    with torch.no_grad():
        pts, raw = points(theta, trans, betas, offsets)
        err = (pts - Y).norm(dim=-1).mean(-1) * 1000
        raw_err = (raw - Y).norm(dim=-1).mean(-1) * 1000
    poses = (theta * mask).detach().cpu().numpy().reshape(T, 72)
    del params
    return FitResult(
        poses=poses.astype(np.float32),
        betas=betas.detach().cpu().numpy().astype(np.float32),
        trans=trans.detach().cpu().numpy().astype(np.float32),
        offsets=offsets.detach().cpu().numpy(),
        smpl_idx=np.asarray(smpl_idx),
        error_mm=err.cpu().numpy().astype(np.float32),
        raw_error_mm=raw_err.cpu().numpy().astype(np.float32),
    )


def clip_targets(clip: MocapClip, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SMPL joint indices, weights and target points (T',K,3) of a clip resampled to `fps`."""
    names = list(clip.joint_names)
    canon = canonical_names(names) if detect_naming(names) else [n.lower() for n in names]
    return smpl_targets(canon, clip.resampled(fps))


def _cache_key(clip: MocapClip, fps: float, settings: FitSettings, model_id: str) -> str:
    blob = json.dumps(
        {"clip": clip.checksum or hashlib.sha256(clip.positions.tobytes()).hexdigest(), "fps": fps,
         "settings": asdict(settings), "body": model_id, "version": FIT_VERSION},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def mosh_clip(
    clip: MocapClip,
    body,
    fps: float = 30.0,
    cache_dir: str | Path | None = None,
    settings: FitSettings = FitSettings(),
    device: str = "cpu",
) -> MoshedSequence:
    """Fit SMPL to a clip (resampled to `fps`); cached under cache_dir (default
    synth.paths.cache_dir()/mosh) by clip checksum + fps + settings + body model."""
    from synth.errors import SynthError
    from synth.paths import cache_dir as default_cache

    model = body if isinstance(body, JointModel) else JointModel.from_body(body)
    root = Path(cache_dir) if cache_dir is not None else default_cache() / "mosh"
    safe = clip.name.replace("/", "_")
    path = root / f"{safe}_{_cache_key(clip, fps, settings, model.identifier)}.npz"
    if path.is_file():
        return MoshedSequence.load(path)
    smpl_idx, weights, targets = clip_targets(clip, fps)
    if len(smpl_idx) < 8:
        raise SynthError(
            f"only {len(smpl_idx)} joints of {clip.name} correspond to SMPL joints",
            clip.source or None,
            "use a CMU skeleton (cgspeed BVH in either naming, or CMU ASF/AMC) or SMPL joint names",
        )
    res = fit_joints(model, smpl_idx, weights, targets, settings, device)
    seq = MoshedSequence(
        poses=res.poses, betas=res.betas, trans=res.trans, fps=fps, source=clip.name,
        fit_error_mm=res.error_mm, body_model=model.identifier,
    )  # fmt: skip
    seq.save(path)
    return seq
