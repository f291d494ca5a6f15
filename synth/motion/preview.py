"""Picture of a transition: a strip of bodies from pose A to pose B (like the paper's Figure 2).

Bodies rendered with synth.viz.render_mesh_image when the skeleton has a body model (the
default), a stick skeleton for a bare JointModel. Every panel uses the same view:
the subject's heading at the first frame turned towards the viewer, floor at the bottom.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.frames import heading, yaw_matrix
from synth.mosh.preview import draw_mesh
from synth.motion.skeleton import Skeleton
from synth.sequence import MoshedSequence
from synth.viz.render import save_figure

_SIDE = (
    (1, 4, 7, 10),
    (13, 16, 18, 20, 22),  # left leg, left arm (blue)
    (2, 5, 8, 11),
    (14, 17, 19, 21, 23),  # right (red)
    (0, 3, 6, 9, 12, 15),
    (9, 13),
    (9, 14),
    (0, 1),
    (0, 2),  # trunk (black)
)


def _draw_skeleton(ax, J: np.ndarray) -> None:
    for k, chain in enumerate(_SIDE):
        color = "tab:blue" if k < 2 else "tab:red" if k < 4 else "k"
        ax.plot(J[list(chain), 0], J[list(chain), 1], "-", color=color, lw=2.5, solid_capstyle="round")
    ax.plot(J[:, 0], J[:, 1], "o", color="0.3", ms=2.5)


def write_transition_strip(
    path: str | Path,
    seq: MoshedSequence,
    body=None,
    panels: int = 8,
    flags: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """PNG strip of `panels` frames evenly spaced over `seq`; flagged frames get a red title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sk = Skeleton.resolve(body)
    picks = np.linspace(0, seq.num_frames - 1, min(panels, seq.num_frames)).round().astype(int)
    poses, trans = seq.poses[picks], seq.trans[picks]
    joints = sk.joints(poses, seq.betas, trans)
    verts = sk.vertices(poses, seq.betas, trans) if sk.body is not None else None
    Rv = yaw_matrix(-heading(seq.poses[0, :3].astype(float)))  # face the viewer (+Z)
    floor = min(float(joints[..., 1].min()), float(verts[..., 1].min()) if verts is not None else np.inf)
    fig, axes = plt.subplots(1, len(picks), figsize=(1.7 * len(picks), 2.9), squeeze=False)
    for c, t in enumerate(picks):
        ax = axes[0, c]
        centre = np.array([joints[c, 0, 0], floor, joints[c, 0, 2]])
        J = (joints[c] - centre) @ Rv.T
        if verts is not None:
            draw_mesh(ax, (verts[c] - centre) @ Rv.T, np.asarray(sk.body.faces), (-1.0, 1.0), (-0.05, 2.1))
        else:
            _draw_skeleton(ax, J)
        ax.axhline(0.0, color="0.6", lw=1)
        bad = flags is not None and bool(flags[t])
        lead = bool(seq.lead_in[t])
        label = f"t={t}" + (" lead-in" if lead else "") + (" FLAG" if bad else "")
        ax.set_title(label, fontsize=8, color="red" if bad else "k")
        ax.set_xlim(-1.0, 1.0)
        ax.set_ylim(-0.05, 2.1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    kind = "SMPL mesh" if verts is not None else "skeleton"
    fig.suptitle(title or f"{seq.source} ({seq.num_frames} frames, {kind}, front view)", fontsize=8)
    return save_figure(fig, path)
