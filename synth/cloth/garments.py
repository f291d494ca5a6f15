"""Garment templates built from the body at rest (T-pose) for its shape.

Fitted garments (T-shirt, long-sleeve, shorts, trousers, and the dress's bodice) are the body
surface of the parts they cover (selected by skinning labels, cut along bones and heights), pushed
out along the vertex normals by the ease, cleaned, and subdivided up to at least 2k vertices.
Skirts (and the dress's skirt) hang from a waist ring: rings of vertices whose radius at each
angle is the body's outer envelope over the hips and legs plus ease, never narrowing downwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from synth.cloth.collision import vertex_normals
from synth.errors import SynthError

GARMENT_TYPES = ("tshirt", "longsleeve", "shorts", "trousers", "skirt", "dress")
LOWER = ("shorts", "trousers", "skirt")  # worn underneath (inner layer) when combined with a top
DEFAULT_EASE = {"tshirt": 0.02, "longsleeve": 0.02, "shorts": 0.012, "trousers": 0.012, "skirt": 0.015, "dress": 0.02}
MIN_VERTS, MAX_VERTS = 1500, 8000
NECK_PIN_RADIUS = 0.09  # m from the neck axis: tops are pinned on this collar; wider reached the trapezius,
# whose skin a lowered arm stretches by half, and pinned cloth cannot slide to follow it
MAX_EDGE = 0.025  # m: longer template edges are split
MIN_EDGE_FRACTION = 0.4  # edges shorter than this x the garment's median edge are collapsed

# SMPL joints: bone of joint j runs to CHILD[j]; limb parts are cut at a fraction along it.
CHILD = {1: 4, 2: 5, 4: 7, 5: 8, 16: 18, 17: 19, 18: 20, 19: 21}
TORSO = (3, 6, 9, 13, 14)
# part label -> largest bone fraction kept
PARTS = {
    "tshirt": {**dict.fromkeys(TORSO + (0, 1, 2), 9.9), 16: 0.45, 17: 0.45},
    "longsleeve": {**dict.fromkeys(TORSO + (0, 1, 2), 9.9), 16: 9.9, 17: 9.9, 18: 0.85, 19: 0.85},
    "shorts": {0: 9.9, 3: 9.9, 1: 0.5, 2: 0.5},
    "trousers": {0: 9.9, 3: 9.9, 1: 9.9, 2: 9.9, 4: 0.88, 5: 0.88},
    "dress": {**dict.fromkeys(TORSO + (0,), 9.9), 16: 0.12, 17: 0.12},
}


@dataclass
class Garment:
    garment_type: str
    verts: np.ndarray  # (V, 3) on the body at rest, SMPL frame
    faces: np.ndarray  # (F, 3) int64, outward normals
    uv: np.ndarray  # (V, 2) in [0, 1]
    pinned: np.ndarray  # (V,) bool attachment vertices (waistband or shoulders) that follow the body
    ease: float

    @property
    def layer(self) -> int:
        return 0 if self.garment_type in LOWER else 1


def _cut_heights(joints: np.ndarray) -> dict[str, tuple[float, float]]:
    """(lowest, highest) kept rest height y of each garment's torso part."""
    pelvis, spine1 = joints[0, 1], joints[3, 1]
    waist = spine1 + 0.25 * (spine1 - pelvis)
    return {
        "tshirt": (pelvis - 0.06, np.inf),
        "longsleeve": (pelvis - 0.06, np.inf),
        "shorts": (-np.inf, waist),
        "trousers": (-np.inf, waist),
        "dress": (waist - 0.04, np.inf),
    }


def _select(kind: str, rest: np.ndarray, labels: np.ndarray, joints: np.ndarray) -> np.ndarray:
    keep = np.zeros(len(rest), bool)
    for part, cut in PARTS[kind].items():
        m = labels == part
        if part in CHILD:
            a, b = joints[part], joints[CHILD[part]]
            t = (rest[m] - a) @ (b - a) / float((b - a) @ (b - a))
            m[m] = t <= cut
        keep |= m
    lo, hi = _cut_heights(joints)[kind]
    keep &= (rest[:, 1] >= lo) & (rest[:, 1] <= hi)
    return keep


def _clean(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop spikes (faces with two open edges), keep the largest connected piece, reindex."""
    for _ in range(3):
        e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
        _, inv, cnt = np.unique(e, axis=0, return_inverse=True, return_counts=True)
        open_edges = (cnt[inv.ravel()] == 1).reshape(3, -1).sum(0)
        faces = faces[open_edges < 2]
    mesh = trimesh.Trimesh(verts, faces, process=False)
    parts = trimesh.graph.connected_components(mesh.face_adjacency, nodes=np.arange(len(faces)))
    faces = faces[max(parts, key=len)]
    used = np.unique(faces)
    remap = np.full(len(verts), -1)
    remap[used] = np.arange(len(used))
    return verts[used], remap[faces]


def _envelope(body: np.ndarray, centre: np.ndarray, y_lo: float, y_hi: float, angles: np.ndarray) -> np.ndarray:
    """Outer radius of the body points with y in [y_lo, y_hi] at each angle (smoothed max per bin)."""
    band = body[(body[:, 1] >= y_lo) & (body[:, 1] <= y_hi)]
    d = band[:, [0, 2]] - centre[[0, 2]]
    ang = np.arctan2(d[:, 0], d[:, 1])
    r = np.linalg.norm(d, axis=1)
    nb = 72
    b = ((ang + np.pi) / (2 * np.pi) * nb).astype(int) % nb
    rmax = np.zeros(nb)
    np.maximum.at(rmax, b, r)
    rmax = np.maximum(rmax, 0.5 * rmax.max())  # empty bins (between the legs) take a floor
    rmax = np.max([np.roll(rmax, -1), rmax, np.roll(rmax, 1)], axis=0)  # a bin's points reach its neighbours
    for _ in range(2):  # smooth while keeping the envelope outside
        rmax = np.maximum(rmax, 0.5 * rmax + 0.25 * (np.roll(rmax, 1) + np.roll(rmax, -1)))
    q = ((angles + np.pi) / (2 * np.pi) * nb).astype(int) % nb
    return rmax[q]


def _skirt_rings(
    top: np.ndarray, body: np.ndarray, centre: np.ndarray, y_bottom: float, ease: float, flare: float, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rings below the ordered loop `top` (N, 3) down to y_bottom: (new verts (R*N, 3), faces)."""
    N = len(top)
    ang = np.arctan2(top[:, 0] - centre[0], top[:, 2] - centre[2])
    r_prev = np.linalg.norm(top[:, [0, 2]] - centre[[0, 2]], axis=1)
    y0 = float(top[:, 1].min())
    rows = max(2, int(np.ceil((y0 - y_bottom) / spacing)))
    verts = []
    for k in range(1, rows + 1):
        y = y0 - (y0 - y_bottom) * k / rows
        r = np.maximum(_envelope(body, centre, y, y0 + 0.02, ang) + ease, r_prev) + flare * (y0 - y) / rows
        verts.append(np.stack([centre[0] + r * np.sin(ang), np.full(N, y), centre[2] + r * np.cos(ang)], 1))
        r_prev = r
    idx = np.arange((rows + 1) * N).reshape(rows + 1, N)  # row 0 = the top loop
    a, b = idx[:-1], np.roll(idx[:-1], -1, axis=1)
    c, d = idx[1:], np.roll(idx[1:], -1, axis=1)
    faces = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return np.concatenate(verts), faces


def _collapse_short_edges(
    verts: np.ndarray, faces: np.ndarray, fraction: float, rounds: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the ends of edges shorter than `fraction` x the median edge (the body mesh is dense at
    the groin, navel and chest: 1 mm edges beside 20 mm ones). A spring's stiffness does not shrink
    with its length, so such edges make the implicit system stiff, and a 1 mm contact push is a 100%
    stretch there. Each round collapses an independent set of edges (no two touching the same 1-ring)
    that pass the link condition (as many common neighbours as faces on the edge: two inside, one on
    the border, so the surface stays manifold). Border edges matter most: a 1.4 mm edge on a T-shirt's
    collar joins two pins whose body triangles turn apart when the arms come down, 4x its length."""
    verts = verts.copy()
    for _ in range(rounds):
        e, count = np.unique(
            np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1),
            axis=0,
            return_counts=True,
        )
        length = np.linalg.norm(verts[e[:, 1]] - verts[e[:, 0]], axis=1)
        is_short = length < fraction * np.median(length)
        short, link = e[is_short], np.minimum(count[is_short], 2)
        if not len(short):
            break
        nbrs = [set() for _ in range(len(verts))]  # only the few vertices of short edges are looked at
        ends = np.unique(short)
        touch = np.isin(e, ends).any(1)
        for a, b in e[touch]:
            nbrs[a].add(b)
            nbrs[b].add(a)
        used = np.zeros(len(verts), bool)
        remap = np.arange(len(verts))
        order = np.argsort(np.linalg.norm(verts[short[:, 1]] - verts[short[:, 0]], axis=1))
        for (a, b), k in zip(short[order], link[order]):
            if used[a] or used[b] or len(nbrs[a] & nbrs[b]) != k:
                continue
            used[list(nbrs[a] | nbrs[b] | {a, b})] = True
            verts[a] = 0.5 * (verts[a] + verts[b])
            remap[b] = a
        faces = remap[faces]
        faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    used_v = np.unique(faces)
    index = np.full(len(verts), -1)
    index[used_v] = np.arange(len(used_v))
    return verts[used_v], index[faces]


def _orient_outward(verts: np.ndarray, faces: np.ndarray, centre: np.ndarray) -> np.ndarray:
    n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    radial = verts[faces].mean(1) - centre
    radial[:, 1] = 0
    return faces[:, ::-1].copy() if np.einsum("ni,ni->", n, radial) < 0 else faces


def _uv(verts: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Mirrored cylindrical map (front u=0, back u=1, no seam jump) x normalised height."""
    u = np.abs(np.arctan2(verts[:, 0] - centre[0], verts[:, 2] - centre[2])) / np.pi
    y = verts[:, 1]
    v = (y - y.min()) / max(float(np.ptp(y)), 1e-9)
    return np.stack([u, v], 1)


def build_garment(
    kind: str, rest: np.ndarray, faces: np.ndarray, labels: np.ndarray, joints: np.ndarray, ease: float | None = None
) -> Garment:
    """One garment for a body at rest: rest (Vb,3) vertices, faces, part labels (Vb,), joints (24,3)."""
    if kind not in GARMENT_TYPES:
        raise SynthError(f"unknown garment type {kind!r}", fix=f"choose from {', '.join(GARMENT_TYPES)}")
    ease = DEFAULT_EASE[kind] if ease is None else float(ease)
    rest = np.asarray(rest, np.float64)
    faces = np.asarray(faces, np.int64)
    centre = joints[0].copy()
    pelvis, spine1 = joints[0, 1], joints[3, 1]
    waist = spine1 + 0.25 * (spine1 - pelvis)
    knee = joints[4, 1]
    if kind == "skirt":
        N = 96
        ang = np.linspace(-np.pi, np.pi, N, endpoint=False)
        r = _envelope(rest[labels < 12], centre, waist - 0.01, waist + 0.01, ang) + ease
        top = np.stack([centre[0] + r * np.sin(ang), np.full(N, waist), centre[2] + r * np.cos(ang)], 1)
        ring_v, ring_f = _skirt_rings(top, rest[labels < 12], centre, 0.5 * (pelvis + knee) - 0.05, ease, 0.06, 0.014)
        verts, gfaces = np.concatenate([top, ring_v]), _orient_outward(np.concatenate([top, ring_v]), ring_f, centre)
    else:
        keep = _select(kind, rest, labels, joints)
        sub = faces[keep[faces].all(1)]
        normals = vertex_normals(rest, faces)
        verts, gfaces = _clean(rest + ease * normals, sub)
        if kind == "dress":
            verts, gfaces = _add_skirt(verts, gfaces, rest[labels < 12], centre, waist, knee - 0.06, ease)
    # near-uniform triangles: the body mesh's 50 mm torso edges fold into spikes, its 1 mm ones are stiff
    verts, gfaces = trimesh.remesh.subdivide_to_size(verts, gfaces, max_edge=MAX_EDGE)
    while len(verts) < MIN_VERTS:
        verts, gfaces = trimesh.remesh.subdivide(verts, gfaces)
    verts, gfaces = _collapse_short_edges(verts, gfaces, MIN_EDGE_FRACTION)
    if len(verts) > MAX_VERTS:
        raise SynthError(f"{kind} has {len(verts)} vertices (> {MAX_VERTS})", fix="use a coarser body mesh")
    pinned = _attachments(kind, verts, rest, labels, joints, waist)
    return Garment(kind, verts, gfaces.astype(np.int64), _uv(verts, centre), pinned, ease)


def _add_skirt(verts, faces, body, centre, waist, y_bottom, ease):
    """Hang a skirt from the bodice's lowest boundary vertices (ordered by angle)."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, cnt = np.unique(e, axis=0, return_counts=True)
    boundary = np.unique(uniq[cnt == 1])
    low = boundary[verts[boundary, 1] < waist]
    ang = np.arctan2(verts[low, 0] - centre[0], verts[low, 2] - centre[2])
    loop = low[np.argsort(ang)]
    ring_v, ring_f = _skirt_rings(verts[loop], body, centre, y_bottom, ease, 0.08, 0.016)
    index = np.concatenate([loop, len(verts) + np.arange(len(ring_v))])  # ring-local -> garment indices
    ring_f = _orient_outward(np.concatenate([verts[loop], ring_v]), ring_f, centre)
    return np.concatenate([verts, ring_v]), np.concatenate([faces, index[ring_f]])


def _attachments(
    kind: str, verts: np.ndarray, rest: np.ndarray, labels: np.ndarray, joints: np.ndarray, waist: float
) -> np.ndarray:
    """Waistband (lower garments: the top 2 cm) or shoulders (tops, dress: around the neck)."""
    if kind in LOWER:
        return verts[:, 1] >= verts[:, 1].max() - 0.02
    near = labels[cKDTree(rest).query(verts)[1]]
    around_neck = np.linalg.norm((verts - joints[12])[:, [0, 2]], axis=1) < NECK_PIN_RADIUS
    return around_neck & (verts[:, 1] >= joints[12, 1] - 0.12) & np.isin(near, (9, 12, 13, 14))
