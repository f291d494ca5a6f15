"""Side-by-side preview: the mocap skeleton and the fitted SMPL body (mesh rendered by
synth.viz.render_mesh_image, with its joints and the mocap joints on top) for a few frames, as
one PNG (matplotlib layout, orthographic, viewed from the subject's front).

Hand markers show each hand's roll, which joint positions cannot: the thumb side (+Z of SMPL's
T-pose hand, green) and the palm normal (-Y, magenta) turned by the fitted SMPL hand's global
rotation (bottom) and, where the clip records rotations, by the clip's hand segment rotation
carried into SMPL's hand frame by the best constant offset over the clip (top; chordal mean, as
in benchmarks/mosh.py). A roll the fit gets wrong in some frames shows as markers that point
differently there; a palm facing away from the thigh in a walk shows a constant error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from synth.frames import heading, yaw_matrix
from synth.mocap.clip import MocapClip, canonical_names
from synth.mosh.correspondence import CMU_SEGMENT_FOR_SMPL, SMPL_JOINT_NAMES
from synth.mosh.orientation import global_rotations, rest_offsets
from synth.sequence import MoshedSequence
from synth.viz.render import save_figure

_HANDS = ("left_wrist", "right_wrist")  # SMPL segments carrying the hands
_THUMB, _PALM = np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0])  # T-pose hand, SMPL rest frame
_MARKER_M = 0.12  # long enough to read at the preview's ~110 px per metre


_XLIM, _YLIM = (-1.0, 1.0), (-1.1, 1.0)  # panel window, metres around the mocap centroid


def _view_rotation(root_rotvec: np.ndarray) -> np.ndarray:
    """Yaw that turns the subject's forward (+Z of its pelvis) towards the viewer (+Z)."""
    return yaw_matrix(-heading(root_rotvec))


def draw_mesh(
    ax,
    verts: np.ndarray,
    faces: np.ndarray,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    pixels_per_metre: float = 110.0,
) -> None:
    """Render a mesh, already in panel coordinates (x right, y up, viewer at +Z), with
    synth.viz.render_mesh_image and place it on a matplotlib axis spanning xlim x ylim."""
    from synth.viz import render_mesh_image

    (x0, x1), (y0, y1) = xlim, ylim
    w, h = max(8, round((x1 - x0) * pixels_per_metre)), max(8, round((y1 - y0) * pixels_per_metre))
    img = render_mesh_image(
        verts, faces, size=(h, w), view="front", centre=((x0 + x1) / 2, (y0 + y1) / 2, 0.0), extent=(y1 - y0) / 2
    )
    ax.imshow(img, extent=(x0, x1, y0, y1), interpolation="bilinear", zorder=0)


def _hand_markers(ax, origins: np.ndarray, rotations: np.ndarray, Rv: np.ndarray, centre: np.ndarray) -> None:
    """Thumb (green) and palm-normal (magenta) ticks from each origin (H,3), rotations (H,3,3)."""
    for o, R in zip(origins, rotations):
        o = (o - centre) @ Rv.T
        for d, colour in ((_THUMB, "tab:green"), (_PALM, "m")):
            e = o + Rv @ R @ d * _MARKER_M
            ax.plot([o[0], e[0]], [o[1], e[1]], "-", color=colour, lw=1.8, zorder=5)


def write_preview(path: str | Path, clip: MocapClip, seq: MoshedSequence, body=None, frames: int = 4) -> Path:
    """Top row: mocap skeleton (resampled to the fit's fps); bottom: SMPL mesh + joints."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    mocap = clip.resampled(seq.fps)
    T = min(len(mocap), seq.num_frames)
    picks = np.linspace(0, T - 1, frames).round().astype(int)
    hands = [SMPL_JOINT_NAMES.index(h) for h in _HANDS]
    canon = canonical_names(clip.joint_names)
    clip_hand = [canon.index(CMU_SEGMENT_FOR_SMPL[h][0]) for h in _HANDS if CMU_SEGMENT_FOR_SMPL[h][0] in canon]
    clip_R = clip.resampled_rotations(seq.fps) if len(clip_hand) == len(hands) and body is not None else None
    V = faces = fit_G = None
    with torch.no_grad():
        if body is not None:
            out = body(
                torch.as_tensor(seq.betas).expand(len(picks), -1),
                torch.as_tensor(seq.poses[picks]),
                torch.as_tensor(seq.trans[picks]),
            )
            V, J = out.vertices.cpu().numpy(), out.joints[:, :24].cpu().numpy()
            faces = np.asarray(body.faces)
            local = Rotation.from_rotvec(seq.poses[:T].reshape(-1, 24, 3).astype(float)).as_matrix()
            fit_G = global_rotations(np.asarray(body.parents), local)[:, hands]
            if clip_R is not None:  # clip hands in SMPL's hand frame
                clip_R = clip_R[:T, clip_hand]
                clip_R = clip_R @ rest_offsets(clip_R, fit_G, np.ones(clip_R.shape[:2], bool))
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
        if clip_R is not None:  # from the clip's hand joint (the wrist end of its hand segment)
            _hand_markers(ax, mocap[t, clip_hand], clip_R[t], Rv, centre)
        ax.set_title(f"mocap t={t / seq.fps:.2f}s", fontsize=8)
        ax = axes[1, c]
        if V is not None:
            draw_mesh(ax, (V[c] - centre) @ Rv.T, faces, _XLIM, _YLIM)
            Jc = (J[c] - centre) @ Rv.T
            ax.plot(P[:, 0], P[:, 1], ".", color="k", ms=3, label="mocap joints")
            ax.plot(Jc[:, 0], Jc[:, 1], "o", color="tab:orange", ms=3, label="SMPL joints")
            _hand_markers(ax, J[c, hands], fit_G[t], Rv, centre)
        ax.set_title(f"SMPL fit, err {seq.fit_error_mm[t]:.1f} mm", fontsize=8)
        for a in axes[:, c]:
            a.set_xlim(*_XLIM)
            a.set_ylim(*_YLIM)
            a.set_aspect("equal")
            a.set_xticks([])
            a.set_yticks([])
    fig.suptitle(
        f"{clip.name}: mocap skeleton (top) vs fitted SMPL mesh (bottom; orange SMPL joints, "
        f"black mocap joints), front view\nhands: thumb side green, palm normal magenta",
        fontsize=8,
    )
    return save_figure(fig, path)
