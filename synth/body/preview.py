"""`synth body preview`: pictures that show the model is a recognisable human that poses and
changes shape sensibly (rest, raised arm, bent knee, shape samples), front and side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from synth.body.joints import JOINT_NAMES
from synth.viz import render_mesh_image, save_png, tile_images


def preview_poses() -> dict[str, np.ndarray]:
    """Named (72,) axis-angle poses: rest, raised left arm, bent right knee."""
    rest = np.zeros(72)
    arm = rest.copy()
    arm[3 * JOINT_NAMES.index("left_shoulder") + 2] = np.deg2rad(70)  # about +Z: arm up
    arm[3 * JOINT_NAMES.index("left_elbow") + 1] = np.deg2rad(30)
    knee = rest.copy()
    knee[3 * JOINT_NAMES.index("right_hip")] = np.deg2rad(-60)  # about X: thigh forward
    knee[3 * JOINT_NAMES.index("right_knee")] = np.deg2rad(90)  # shin back
    return {"rest": rest, "raised arm": arm, "bent knee": knee}


def write_previews(body, out_dir: str | Path, size: int = 256) -> list[Path]:
    """poses_front/side.png (one picture per pose) and shapes_front/side.png (betas +-2 on
    components 0..3, all at one scale so height differences show)."""
    out_dir = Path(out_dir)
    poses = preview_poses()
    with torch.no_grad():
        posed = body(np.zeros((len(poses), 10)), np.stack(list(poses.values())), np.zeros((len(poses), 3)))
        betas, titles = [np.zeros(10)], ["mean"]
        for k in range(4):
            for s in (-2.0, 2.0):
                b = np.zeros(10)
                b[k] = s
                betas.append(b)
                titles.append(f"beta{k} {s:+.0f}")
        shaped = body(np.stack(betas), np.zeros((len(betas), 72)), np.zeros((len(betas), 3)))
    written = []
    for name, verts, labels in (("poses", posed.vertices, list(poses)), ("shapes", shaped.vertices, titles)):
        verts = verts.cpu().numpy()
        lo, hi = verts.reshape(-1, 3).min(0), verts.reshape(-1, 3).max(0)
        centre, extent = (lo + hi) / 2, 0.53 * (hi - lo)[1]
        for view in ("front", "side"):
            images = [render_mesh_image(v, body.faces, size, view=view, centre=centre, extent=extent) for v in verts]
            written.append(save_png(out_dir / f"{name}_{view}.png", tile_images(images, titles=labels)))
    return written
