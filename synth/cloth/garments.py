"""Garment templates built on the body in its dressing pose (`dressing_pose`: the pose the simulation starts from,
the A-pose by default) for its shape.

Fitted garments (T-shirt, long-sleeve, shorts, trousers, and the dress's bodice) are the body
surface of the parts they cover (selected by skinning labels, cut along bones and heights), pushed
out along the vertex normals by the ease plus a slack that grows away from the attachments (`slack_weights`:
a T-shirt's torso towards its hem and its sleeves towards their openings, trouser and shorts legs below the
seat): cut that way, the cloth has length to hang and fold, and its openings stand off the skin, where a
garment with one small ease everywhere was the body's own shape, painted on. Cleaned, and subdivided up to
at least 1.5k vertices. Skirts (and the dress's skirt) hang from a waist ring: rings of vertices whose radius at
each angle is the body's outer envelope over the hips and legs plus ease, never narrowing downwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from synth.cloth.collision import vertex_normals
from synth.cloth.springs import mesh_edges
from synth.errors import SynthError

GARMENT_TYPES = ("tshirt", "longsleeve", "shorts", "trousers", "skirt", "dress")
LOWER = ("shorts", "trousers", "skirt")  # worn underneath (inner layer) when combined with a top
DEFAULT_EASE = {"tshirt": 0.02, "longsleeve": 0.02, "shorts": 0.012, "trousers": 0.012, "skirt": 0.015, "dress": 0.02}
# m added to the ease where slack_weights is 1 (the opening, the hem), for the regular cut; skirts hang already,
# and the dress (whose skirt already reads as cloth) keeps its fitted bodice
DEFAULT_SLACK = {"tshirt": 0.03, "longsleeve": 0.025, "shorts": 0.025, "trousers": 0.035, "skirt": 0.0, "dress": 0.0}
SLEEVE_SHARE = 0.5  # of the slack at a sleeve's opening: a cone cut wider stood out from the lowered arm like a
# wing (bend springs keep the cone's shape at rest, and the arm pinches its underside)
SLACK_SCALE = (0.5, 1.5)  # per-sequence cut, slim to loose: the default slack scaled by a uniform draw from this
EASE_JITTER = (0.85, 1.15)  # per-sequence ease factor
MEDIAL_TIGHTNESS = 0.7  # the slack a leg loses on its inner side (the legs pass each other; cloth does not
# collide with cloth, so two loose trouser legs would cut through each other at the inner thigh)
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
    verts: np.ndarray  # (V, 3) on the body in its dressing pose, SMPL frame
    faces: np.ndarray  # (F, 3) int64, outward normals
    uv: np.ndarray  # (V, 2) in [0, 1]
    pinned: np.ndarray  # (V,) bool attachment vertices (waistband or shoulders) that follow the body
    ease: float  # m off the body at the attachments and over an inner layer (the waist and hips)
    slack: float = 0.0  # m more at the garment's loosest (its openings and hem), see slack_weights

    @property
    def layer(self) -> int:
        return 0 if self.garment_type in LOWER else 1


def dressing_pose(seq) -> np.ndarray:
    """(72,) axis-angle pose the garments are cut on: the sequence's first frame when it is a lead-in frame (its
    rest pose, `motion.interpolate.add_lead_in`), else the A-pose, with the root's orientation removed (the cut
    assumes the body upright, facing +Z). Cut on the T-pose and simulated into a lowered arm, a sleeve kept its
    horizontal cone in its rest lengths and bend angles and stood off the shoulder like a stiff cap; cut in the
    pose the drape starts from, frame 0 is the garment as cut, and the arms come down from 45 degrees, not 90."""
    from synth.motion.interpolate import rest_pose

    lead = getattr(seq, "lead_in", None)
    pose = (
        np.asarray(seq.poses[0], np.float64).reshape(24, 3).copy() if lead is not None and lead[0] else rest_pose("a")
    )
    pose[0] = 0.0
    return pose.reshape(72)


def dressed_body(body, seq) -> tuple[np.ndarray, np.ndarray]:
    """((Vb, 3) vertices, (24, 3) joints) of the sequence's body shape in `dressing_pose`, in the model's rest frame
    (the pelvis where `body.rest_joints` has it, as for the T-pose)."""
    verts, joints = body.evaluate(seq.betas, dressing_pose(seq)[None], np.zeros((1, 3)))
    shift = body.rest_joints(seq.betas)[0] - joints[0, 0]
    return verts[0] + shift, joints[0] + shift


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


def slack_weights(
    kind: str, rest: np.ndarray, normals: np.ndarray, labels: np.ndarray, joints: np.ndarray
) -> np.ndarray:
    """(Vb,) in [0, 1] per body vertex at rest: where a garment of `kind` gets its slack. 0 at the attachments
    (collar, waistband), the armpits and the crotch, where cloth pushed out along the normals would cross
    itself; tops grow from the armpits' height to the hem (the cloth falls from the chest instead of following
    the waist in) and along the upper arm to the sleeve opening (a long sleeve narrows again at the cuff);
    trouser and shorts legs from below the seat (where a top's hem lies over them at the plain ease) to the
    opening, less on the legs' inner sides (MEDIAL_TIGHTNESS). Sleeves get SLEEVE_SHARE of it."""
    w = np.zeros(len(rest))
    y = rest[:, 1]
    if kind in ("tshirt", "longsleeve"):
        chest, hem = joints[16:18, 1].mean() - 0.08, _cut_heights(joints)[kind][0]
        arms = np.isin(labels, (16, 17, 18, 19, 20, 21, 22, 23))
        w[~arms] = np.clip((chest - y[~arms]) / (chest - hem), 0.0, 1.0)
        for shoulder, elbow, wrist in ((16, 18, 20), (17, 19, 21)):
            m = np.isin(labels, (shoulder, elbow))
            a, b = joints[shoulder], joints[elbow]
            t = (rest[m] - a) @ (b - a) / float((b - a) @ (b - a))
            w[m] = SLEEVE_SHARE * _smooth(t / (PARTS["tshirt"][16] if kind == "tshirt" else 1.0))
            if kind == "longsleeve":  # the cuff: back to half the slack over the forearm's last part
                c = joints[wrist]
                s = (rest[m] - b) @ (c - b) / float((c - b) @ (c - b))
                w[m] *= 1.0 - 0.5 * _smooth((s - 0.5) / (PARTS["longsleeve"][18] - 0.5))
    elif kind in ("shorts", "trousers"):
        hip = joints[1:3, 1].mean()
        if kind == "trousers":
            top, bottom, power = hip - 0.10, joints[7:9, 1].mean(), 0.5  # 0.6 of the slack at the knee
        else:
            top, bottom, power = hip - 0.06, hip + PARTS["shorts"][1] * (joints[4:6, 1].mean() - hip), 1.0
        w = np.clip((top - y) / (top - bottom), 0.0, 1.0) ** power
        inner = np.clip(-np.sign(rest[:, 0] - joints[0, 0]) * normals[:, 0], 0.0, 1.0)
        w *= 1.0 - MEDIAL_TIGHTNESS * inner
    return w


def _smooth(x: np.ndarray) -> np.ndarray:
    """Smoothstep of x clipped to [0, 1]: no kink where the slack starts or saturates."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


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
    kind: str,
    rest: np.ndarray,
    faces: np.ndarray,
    labels: np.ndarray,
    joints: np.ndarray,
    ease: float | None = None,
    slack: float | None = None,
) -> Garment:
    """One garment for a body in its dressing pose (`dressed_body`; the zero pose gives the T-pose cut): rest (Vb,3)
    vertices, faces, part labels (Vb,), joints (24,3); ease and slack in metres (defaults DEFAULT_EASE,
    DEFAULT_SLACK)."""
    if kind not in GARMENT_TYPES:
        raise SynthError(f"unknown garment type {kind!r}", fix=f"choose from {', '.join(GARMENT_TYPES)}")
    ease = DEFAULT_EASE[kind] if ease is None else float(ease)
    slack = DEFAULT_SLACK[kind] if slack is None else float(slack)
    if ease <= 0 or slack < 0:
        raise SynthError(f"{kind}: ease {ease} m, slack {slack} m", fix="use an ease > 0 and a slack >= 0")
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
        offset = ease + slack * slack_weights(kind, rest, normals, labels, joints)
        verts, gfaces = _clean(rest + offset[:, None] * normals, sub)
        if kind == "dress":
            verts, gfaces = _add_skirt(verts, gfaces, rest[labels < 12], centre, waist, knee - 0.06, ease)
    # near-uniform triangles: the body mesh's 50 mm torso edges fold into spikes, its 1 mm ones are stiff
    verts, gfaces = trimesh.remesh.subdivide_to_size(verts, gfaces, max_edge=MAX_EDGE)
    while len(verts) < MIN_VERTS:
        verts, gfaces = trimesh.remesh.subdivide(verts, gfaces)
    verts, gfaces = _collapse_short_edges(verts, gfaces, MIN_EDGE_FRACTION)
    verts, gfaces = _bandwidth_order(verts, gfaces)
    if len(verts) > MAX_VERTS:
        raise SynthError(f"{kind} has {len(verts)} vertices (> {MAX_VERTS})", fix="use a coarser body mesh")
    pinned = _attachments(kind, verts, rest, labels, joints, waist)
    return Garment(kind, verts, gfaces.astype(np.int64), _uv(verts, centre), pinned, ease, slack)


def _bandwidth_order(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh with its vertices renumbered by reverse Cuthill-McKee (neighbours get near indices)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    V = len(verts)
    e = mesh_edges(faces)
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(V, V)).tocsr()
    perm = np.asarray(reverse_cuthill_mckee((adj + adj.T).tocsr(), symmetric_mode=True))
    inv = np.empty(V, np.int64)
    inv[perm] = np.arange(V)
    return verts[perm], inv[faces]


def draw_fit(kind: str, rng: np.random.Generator, ease: float | None = None, slack: float | None = None):
    """(ease, slack) in m of one garment for one sequence: the given or default ease x EASE_JITTER and the
    given or default slack x SLACK_SCALE, drawn from rng (a slim to a loose cut of the same garment)."""
    jitter, scale = float(rng.uniform(*EASE_JITTER)), float(rng.uniform(*SLACK_SCALE))
    e = DEFAULT_EASE[kind] if ease is None else float(ease)
    s = DEFAULT_SLACK[kind] if slack is None else float(slack)
    return e * jitter, s * scale


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
