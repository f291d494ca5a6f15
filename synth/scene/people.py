"""Geometry of what makes the body a person in the render, computed from the body's vertices
(numpy only; all positions in one world frame, the caller's):

- the head's rigid motion per frame (hair and eyeballs ride on it, not simulated),
- the scalp, eyebrow and facial-hair patches the hair grows from (vertex sets of the body's rest
  shape), and the skin under hair, tinted with the hair's colour where strands leave gaps,
- the eyeballs placed in the sockets of this body's shape,
- shoes: shells of the foot skin, moved with the feet's vertices every frame (so skinned with them),
- the floor height where the feet stand.

Region rules are written in the rest frame of the body model (SMPL: Y up, facing +Z, metres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.body.look import BodyLook, similarity_fit
from synth.scene.demo import vertex_normals

HEAD, NECK = 15, 12  # SMPL parts
FOOT_PARTS = (7, 8, 10, 11)  # left/right ankle, left/right foot (toes)
SHIN_PARTS = (4, 5)
# shoe type -> (top of the shoe above the sole, metres; upper thickness; sole thickness)
SHOE_SHAPES = {"sneaker": (0.10, 0.006, 0.022), "boot": (0.22, 0.007, 0.03), "flat": (0.045, 0.004, 0.012)}
SOLE_BAND = 0.02  # rest-frame height above the lowest foot vertex that counts as sole


@dataclass
class BodyRig:
    """What the people geometry needs from a body model (see people_rig)."""

    rest: np.ndarray  # (V,3) rest vertices (v_template), model frame
    faces: np.ndarray  # (F,3)
    part_labels: np.ndarray  # (V,) SMPL part per vertex
    look: BodyLook


def people_rig(body, look: BodyLook | None = None) -> BodyRig:
    """BodyRig of a BodyModel (its look sidecar / UV map loaded unless given)."""
    from synth.body.look import load_body_look

    return BodyRig(
        np.asarray(body.v_template, np.float64),
        np.asarray(body.faces, np.int64),
        np.asarray(body.part_labels, np.int64),
        look or load_body_look(body),
    )


def head_vertices(rig: BodyRig) -> np.ndarray:
    """Indices of the head part's vertices (rigid under SMPL skinning except at the neck seam)."""
    return np.flatnonzero(rig.part_labels == HEAD)


def head_transforms(verts: np.ndarray, head: np.ndarray) -> np.ndarray:
    """(T,4,4) rigid motion of the head from frame 0 to each frame: the least-squares rotation and
    translation of its vertices (roma's Kabsch, all frames at once)."""
    import roma
    import torch

    pts = torch.as_tensor(np.asarray(verts, np.float64)[:, head])
    R, t = roma.rigid_points_registration(pts[:1].expand_as(pts), pts)
    M = np.tile(np.eye(4), (len(pts), 1, 1))
    M[:, :3, :3], M[:, :3, 3] = R.numpy(), t.numpy()
    return M


def eye_level(rig: BodyRig) -> tuple[float, float]:
    """(height, depth) of the eyes' centre in the rest frame: from the eyeballs when the look has
    them, else 11.5 cm below the top of the head and 1 cm behind its front."""
    if rig.look.has_eyes:
        c = rig.look.eye_verts.mean(0)
        return float(c[1]), float(c[2])
    head = rig.rest[head_vertices(rig)]
    return float(head[:, 1].max() - 0.115), float(head[:, 2].max() - 0.01)


def _faces_within(faces: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return faces[mask[faces].all(axis=1)]


def scalp_faces(rig: BodyRig) -> np.ndarray:
    """Faces where scalp hair grows: the head above the brows (3.5 cm over the eyes) at the front,
    down to 6 cm below eye level behind the ears (the nape's hairline)."""
    y, z = rig.rest[:, 1], rig.rest[:, 2]
    eye_y, eye_z = eye_level(rig)
    head = rig.part_labels == HEAD
    front = y > eye_y + 0.035
    back = (y > eye_y - 0.06) & (z < eye_z - 0.085)
    return _faces_within(rig.faces, head & (front | back))


def brow_faces(rig: BodyRig) -> np.ndarray:
    """Faces of the two eyebrow arcs: 1.2-2.6 cm above each eye, within 2.6 cm of its centre sideways."""
    eye_y, eye_z = eye_level(rig)
    x, y, z = rig.rest.T
    eye_x = 0.03 if not rig.look.has_eyes else float(np.abs(rig.look.eye_verts[:, 0]).mean())
    band = (y > eye_y + 0.012) & (y < eye_y + 0.026) & (z > eye_z - 0.01)
    side = np.abs(np.abs(x) - eye_x - 0.004) < 0.026
    return _faces_within(rig.faces, (rig.part_labels == HEAD) & band & side)


# Face landmarks below the eyes' centre in the rest frame (metres, measured on the embedded body's
# midline profile: nose tip -4 cm, nose base -5 cm, mouth -7 cm, chin -8.5 .. -11 cm, under the chin
# from -11.5 cm).
MOUSTACHE_BAND = (-0.066, -0.051)
LIPS_BAND = (-0.082, -0.051)
MOUTH_HALF_WIDTH = 0.027
FACIAL_HAIR_TINT = {"none": 0.0, "stubble": 0.45, "moustache": 0.7, "beard": 0.7}  # skin tint strength
SCALP_TINT = {"bald": 0.0, "buzz": 0.7}  # others 0.85


def facial_hair_vertices(rig: BodyRig, kind: str) -> np.ndarray:
    """(V,) bool: where `kind` (moustache: the upper lip; beard and stubble: upper lip, chin, jaw and
    the cheeks below the cheekbones, not the lips) grows, in front of the ears."""
    if kind == "none":
        return np.zeros(len(rig.rest), bool)
    eye_y, eye_z = eye_level(rig)
    x, y, z = rig.rest.T
    dy = y - eye_y
    face = (rig.part_labels == HEAD) & (z > eye_z - 0.075)
    mid = np.abs(x) < MOUTH_HALF_WIDTH
    lip = mid & (dy > MOUSTACHE_BAND[0]) & (dy < MOUSTACHE_BAND[1]) & (z > eye_z - 0.01)
    if kind == "moustache":
        return face & lip
    lips = mid & (dy > LIPS_BAND[0]) & (dy < LIPS_BAND[1])
    jaw = (dy < -0.045) & (dy > -0.15) & ~lips
    return face & (lip | jaw)


def facial_hair_faces(rig: BodyRig, kind: str) -> np.ndarray:
    """Faces of the facial-hair patch (see facial_hair_vertices)."""
    return _faces_within(rig.faces, facial_hair_vertices(rig, kind))


def hair_tint(rig: BodyRig, style: str, facial: str) -> np.ndarray:
    """(V,) 0..1 how much of the hair's colour the skin takes: strands are far fewer than real hair,
    and a hair-coloured scalp is what keeps the gaps between them from reading as bare skin (and what
    a buzz cut or stubble looks like at a few mm per pixel)."""
    w = np.zeros(len(rig.rest), np.float32)
    w[np.unique(scalp_faces(rig))] = SCALP_TINT.get(style, 0.85)
    face = facial_hair_vertices(rig, facial)
    w[face] = np.maximum(w[face], FACIAL_HAIR_TINT[facial])
    return w


def head_faces(rig: BodyRig) -> np.ndarray:
    """Faces of the head and neck: the surface hair is kept outside of."""
    return _faces_within(rig.faces, np.isin(rig.part_labels, (HEAD, NECK)))


def submesh(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(used vertex indices, faces re-indexed into them)."""
    used = np.unique(faces)
    remap = np.full(int(faces.max()) + 1, -1)
    remap[used] = np.arange(len(used))
    return used, remap[faces]


def place_eyes(rig: BodyRig, verts0: np.ndarray) -> np.ndarray:
    """(E,3) eyeball vertices in the sockets of frame 0's body (any shape): rotation and scale from
    the head's fit to the rest shape, each eye centred on its own socket ring."""
    look = rig.look
    head = head_vertices(rig)
    s, R, _ = similarity_fit(rig.rest[head], verts0[head])
    out = np.empty((len(look.eye_verts), 3))
    for side in (0, 1):
        m = look.eye_side == side
        ring = look.eye_ring[side]
        out[m] = s * (look.eye_verts[m] - rig.rest[ring].mean(0)) @ R.T + verts0[ring].mean(0)
    return out


def shoe_region(rig: BodyRig, shoe: str) -> tuple[np.ndarray, np.ndarray]:
    """(faces of the foot skin a shoe covers, per-vertex sole weight 0..1 over the body's vertices)."""
    top, _, _ = SHOE_SHAPES[shoe]
    y = rig.rest[:, 1]
    feet = np.isin(rig.part_labels, FOOT_PARTS) | np.isin(rig.part_labels, SHIN_PARTS)
    sole_y = y[np.isin(rig.part_labels, FOOT_PARTS)].min()
    covered = feet & (y < sole_y + top)
    sole = np.clip(1.0 - (y - sole_y) / SOLE_BAND, 0.0, 1.0)
    return _faces_within(rig.faces, covered), sole


def shoe_shell(rig: BodyRig, verts: np.ndarray, shoe: str) -> dict[str, np.ndarray]:
    """Shoe mesh over the feet for every frame: each vertex is a foot vertex pushed out along its
    normal by the upper's thickness, more at the sole. verts (T,V,3) -> verts (T,S,3), faces,
    sole (F,) bool (faces in the sole band), used (S,) body vertex of each shoe vertex."""
    faces, sole_w = shoe_region(rig, shoe)
    _, upper, sole = SHOE_SHAPES[shoe]
    used, local = submesh(faces)
    normals = vertex_normals(verts, rig.faces)
    if np.mean(np.sum(normals[0] * (verts[0] - verts[0].mean(0)), axis=1)) < 0:
        normals = -normals  # faces wound inwards (decided over the whole body, as demo.shell_garment)
    normals = normals[:, used]
    offset = upper + (sole - upper) * sole_w[used]
    return {
        "verts": verts[:, used] + offset[None, :, None] * normals,
        "faces": local,
        "sole": sole_w[used][local].mean(axis=1) > 0.5,
        "used": used,
    }


def hem_weights(rest: np.ndarray, faces: np.ndarray, width: float = 0.012) -> np.ndarray:
    """(V,) 1 within `width` metres of the garment's open borders (hems, collar, cuffs), else 0:
    the renderer draws a hem band there."""
    from scipy.spatial import cKDTree

    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    border = np.unique(uniq[count == 1])
    if len(border) == 0:
        return np.zeros(len(rest), np.float32)
    d, _ = cKDTree(rest[border]).query(rest)
    return (d < width).astype(np.float32)


def ground_patch(meshes: list[np.ndarray], radius: float) -> dict:
    """The shadow-catching floor (Blender world, Z up): its height, the lowest point of the body and
    shoes over the whole sequence, and `radius`: how far from the feet it reaches and the renderer
    keeps the shadow (it fades out there, inside the render border). The renderer places it under
    each frame's footprint; every floor pixel is path-traced, so it ends there."""
    return {"z": float(min(m[..., 2].min() for m in meshes)), "radius": float(radius)}
