"""Side-by-side preview: the mocap skeleton and the fitted SMPL body (mesh rendered by
synth.viz.render_mesh_image, with its joints and the mocap joints on top) for a few frames, as
one PNG (matplotlib layout, orthographic, viewed from the subject's front)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.viz.render import save_figure
from synth.mocap.clip import MocapClip
from synth.mocap.kinematics import axis_rotation, rotvec_to_matrix
from synth.mosh.sequence import MoshedSequence


_XLIM, _YLIM = (-1.0, 1.0), (-1.1, 1.0)  # panel window, metres around the mocap centroid


def _view_rotation(root_rotvec: np.ndarray) -> np.ndarray:
    """Yaw that turns the subject's forward (+Z of its pelvis) towards the viewer (+Z)."""
    fwd = rotvec_to_matrix(root_rotvec) @ np.array([0.0, 0.0, 1.0])
    return axis_rotation("y", np.array(-np.arctan2(fwd[0], fwd[2])))


def draw_mesh(ax, verts: np.ndarray, faces: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float],
              pixels_per_metre: float = 110.0) -> None:  # fmt: skip
    """Render a mesh, already in panel coordinates (x right, y up, viewer at +Z), with
    synth.viz.render_mesh_image and place it on a matplotlib axis spanning xlim x ylim."""
    from synth.viz import render_mesh_image

    (x0, x1), (y0, y1) = xlim, ylim
    w, h = max(8, round((x1 - x0) * pixels_per_metre)), max(8, round((y1 - y0) * pixels_per_metre))
    img = render_mesh_image(verts, faces, size=(h, w), view="front", centre=((x0 + x1) / 2, (y0 + y1) / 2, 0.0),
                            extent=(y1 - y0) / 2)  # fmt: skip
    ax.imshow(img, extent=(x0, x1, y0, y1), interpolation="bilinear", zorder=0)


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
            draw_mesh(ax, (V[c] - centre) @ Rv.T, faces, _XLIM, _YLIM)
            Jc = (J[c] - centre) @ Rv.T
            ax.plot(P[:, 0], P[:, 1], ".", color="k", ms=3, label="mocap joints")
            ax.plot(Jc[:, 0], Jc[:, 1], "o", color="tab:orange", ms=3, label="SMPL joints")
        ax.set_title(f"SMPL fit, err {seq.fit_error_mm[t]:.1f} mm", fontsize=8)
        for a in axes[:, c]:
            a.set_xlim(*_XLIM)
            a.set_ylim(*_YLIM)
            a.set_aspect("equal")
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(f"{clip.name}: mocap skeleton (top) vs fitted SMPL mesh (bottom; orange SMPL joints, "
                 f"black mocap joints), front view", fontsize=8)  # fmt: skip
    return save_figure(fig, path)
