"""A dressed, moving body for tests, benchmarks and the contact sheet, without the cloth solver:
garments are offset shells of the body's torso/arms and hips/legs that follow it frame by frame."""

from __future__ import annotations

import numpy as np

from synth.cloth.cache import GarmentCache

# SMPL skinning parts (dominant joint) covered by each shell.
TOP_PARTS = (3, 6, 9, 13, 14, 16, 17)  # spine, chest, collars, upper arms
BOTTOM_PARTS = (0, 1, 2, 4, 5)  # pelvis, thighs, shins


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals for (T, V, 3) vertices."""
    tri = verts[:, faces]  # (T, F, 3, 3)
    fn = np.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])
    n = np.zeros_like(verts)
    for k in range(3):
        for t in range(len(verts)):
            np.add.at(n[t], faces[:, k], fn[t])
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def shell_garment(
    garment_type: str, verts: np.ndarray, faces: np.ndarray, labels: np.ndarray, parts: tuple[int, ...], offset: float
) -> GarmentCache:
    """The faces whose three vertices belong to `parts`, pushed out by `offset` metres every frame."""
    keep = np.isin(labels, parts)[faces].all(axis=1)
    sub = faces[keep]
    used = np.unique(sub)
    remap = np.full(verts.shape[1], -1, np.int64)
    remap[used] = np.arange(len(used))
    normals = vertex_normals(verts, faces)
    if np.mean(np.sum(normals[0] * (verts[0] - verts[0].mean(0)), axis=1)) < 0:
        normals = -normals  # faces wound inwards
    shell = (verts + offset * normals)[:, used]
    rest = shell[0]
    centre = rest.mean(axis=0)
    u = np.arctan2(rest[:, 0] - centre[0], rest[:, 2] - centre[2]) / (2 * np.pi) + 0.5
    v = (rest[:, 1] - rest[:, 1].min()) / max(np.ptp(rest[:, 1]), 1e-6)
    return GarmentCache(garment_type, remap[sub], np.stack([u, v], 1), rest, shell.astype(np.float32))


def demo_subject(body, motion: str = "walk", frames: list[int] | None = None, betas: np.ndarray | None = None):
    """(verts (T,V,3), joints (T,24,3), faces, [top, trousers]) in the SMPL world for a built-in motion."""
    import torch

    from synth.mocap.builtin import builtin_motion

    seq = builtin_motion(motion)
    idx = np.arange(seq.num_frames) if frames is None else np.asarray(frames)
    b = np.zeros((len(idx), 10), np.float32) if betas is None else np.tile(np.asarray(betas, np.float32), (len(idx), 1))
    with torch.no_grad():
        out = body(torch.as_tensor(b), torch.as_tensor(seq.poses[idx]), torch.as_tensor(seq.trans[idx]))
    verts = out.vertices.numpy().astype(np.float64)
    joints = out.joints[:, :24].numpy().astype(np.float64)
    faces = np.asarray(body.faces, np.int64)
    labels = np.asarray(body.part_labels)
    garments = [
        shell_garment("trousers", verts, faces, labels, BOTTOM_PARTS, 0.012),
        shell_garment("tshirt", verts, faces, labels, TOP_PARTS, 0.02),
    ]
    return verts, joints, faces, garments
