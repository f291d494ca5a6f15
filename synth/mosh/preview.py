"""Side-by-side preview: the mocap skeleton and the fitted SMPL body (mesh + joints) for a
few frames, as one PNG strip (matplotlib, orthographic, viewed from the subject's front)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.io import atomic_path
from synth.mocap.clip import MocapClip
from synth.mocap.kinematics import axis_rotation, rotvec_to_matrix
from synth.mosh.sequence import MoshedSequence


def _view_rotation(root_rotvec: np.ndarray) -> np.ndarray:
    """Yaw that turns the subject's forward (+Z of its pelvis) towards the viewer (+Z)."""
    fwd = rotvec_to_matrix(root_rotvec) @ np.array([0.0, 0.0, 1.0])
    return axis_rotation("y", np.array(-np.arctan2(fwd[0], fwd[2])))


def _draw_mesh(ax, verts: np.ndarray, faces: np.ndarray) -> None:
    from matplotlib.collections import PolyCollection

    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    front = n[:, 2] > 0
    shade = np.clip(n[front] @ np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8]), 0, 1)
    order = np.argsort(tri[front][:, :, 2].mean(1))
    colors = np.stack([0.35 + 0.55 * shade] * 3, 1) * np.array([0.85, 0.9, 1.0])
    ax.add_collection(PolyCollection(tri[front][order][:, :, :2], facecolors=colors[order], edgecolors="none"))


def write_preview(path: str | Path, clip: MocapClip, seq: MoshedSequence, body=None, frames: int = 4) -> Path:
    """Top row: mocap skeleton (resampled to the fit's fps); bottom: SMPL mesh + joints."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    mocap = clip.resampled(seq.fps)
    T = min(len(mocap), seq.num_frames)
    picks = np.linspace(0, T - 1, frames).round().astype(int)
    V = faces = None
    with torch.no_grad():
        if body is not None:
            out = body(torch.as_tensor(seq.betas).expand(len(picks), -1), torch.as_tensor(seq.poses[picks]),
                       torch.as_tensor(seq.trans[picks]))  # fmt: skip
            V, J = out.vertices.cpu().numpy(), out.joints[:, :24].cpu().numpy()
            faces = np.asarray(body.faces)
    fig, axes = plt.subplots(2, frames, figsize=(2.6 * frames, 6.0), squeeze=False)
    parents = np.asarray(clip.parents)
    for c, t in enumerate(picks):
        Rv = _view_rotation(seq.poses[t, :3].astype(float))
        centre = mocap[t].mean(0)
        P = (mocap[t] - centre) @ Rv.T
        ax = axes[0, c]
        for j, p in enumerate(parents):
            if p >= 0:
                ax.plot(P[[p, j], 0], P[[p, j], 1], "-", color="tab:blue" if P[j, 0] >= 0 else "tab:red", lw=2)
        ax.plot(P[:, 0], P[:, 1], "k.", ms=3)
        ax.set_title(f"mocap t={t / seq.fps:.2f}s", fontsize=8)
        ax = axes[1, c]
        if V is not None:
            _draw_mesh(ax, (V[c] - centre) @ Rv.T, faces)
            Jc = (J[c] - centre) @ Rv.T
            ax.plot(Jc[:, 0], Jc[:, 1], "o", color="tab:orange", ms=3)
        ax.set_title(f"SMPL fit, err {seq.fit_error_mm[t]:.1f} mm", fontsize=8)
        for a in axes[:, c]:
            a.set_xlim(-1.0, 1.0)
            a.set_ylim(-1.1, 1.0)
            a.set_aspect("equal")
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(f"{clip.name}: mocap skeleton (top) vs fitted SMPL (bottom), front view", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path
