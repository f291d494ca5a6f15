"""Hair strands grown from the scalp, as polylines (numpy; the render job's frame-0 world).

Why here and not in geometry nodes: combing a style (where strands rise, which way they fall,
where they lie on the head) needs the head's own axes and a collision with its surface, which is a
few vectorised lines here; Blender's bundled hair node groups then add the strand-level detail
(frizz, tip taper) in blender_scripts/people.py. Strands never move relative to the head: the
renderer carries them with the head's rigid transform each frame.

A strand starts at a random point of the scalp (area-weighted, seeded), rises along the skin
normal for `lift` metres, then bends towards the style's fall direction (down and back along the
head's axes); every point is kept `gap` metres outside the head's surface (nearest head vertex
and its normal). Curls wind a helix of `curl` (radius, turns) around the strand's path.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from synth.scene.spec import FACIAL_HAIR, HAIR_STYLES

# Strands are far fewer and wider than real hair (~100k of 0.07 mm): at the default 250 px a pixel
# spans ~8 mm, and render time grows with the strand count (benchmarks/render.py --hair-rows).
# count, length m, lift m (rise along the normal before falling; combed styles stay within it over
# the scalp), back (fall direction: share of
# the head's backward axis vs down), curl (radius m, turns over the strand) or None, points, radius m,
# clump (strands per lock, pull towards the lock's mean path at the tip): long strands spread apart
# towards their tips read as separate strings over the shirt; gathered into locks they read as hair
STYLES: dict[str, dict] = {
    "buzz": dict(count=2000, length=0.008, lift=0.008, back=0.8, curl=None, points=3, radius=0.0008),
    "short": dict(count=2000, length=0.06, lift=0.008, back=0.9, curl=None, points=6, radius=0.0008),
    "medium": dict(count=2000, length=0.16, lift=0.01, back=0.35, curl=None, points=8, radius=0.0008),
    "long_straight": dict(
        count=2000, length=0.36, lift=0.008, back=0.25, curl=None, points=14, radius=0.0008, clump=(12, 0.7)
    ),
    "long_wavy": dict(
        count=2000, length=0.33, lift=0.012, back=0.25, curl=(0.012, 3.5), points=16, radius=0.0008, clump=(12, 0.7)
    ),
    "curly": dict(count=1800, length=0.12, lift=0.02, back=0.3, curl=(0.01, 4.0), points=14, radius=0.0009),
    "coily": dict(
        count=1800, length=0.06, lift=0.06, back=0.0, curl=(0.005, 6.0), points=12, radius=0.001, combed=False
    ),
    "bun": dict(count=2000, length=0.09, lift=0.004, back=0.0, curl=None, points=6, radius=0.0008, mode="bun"),
}
# Facial hair: short strands lying down the face (stubble is only the skin tint: synth.scene.people)
FACIAL = {
    "moustache": dict(count=350, length=0.012, lift=0.002, back=0.0, curl=None, points=4, radius=0.0006, mode="beard"),
    "beard": dict(count=1200, length=0.015, lift=0.003, back=0.0, curl=None, points=4, radius=0.0006, mode="beard"),
}
BROWS = dict(count=250, length=0.008, lift=0.001, back=0.0, curl=None, points=3, radius=0.0004, mode="brow")
GAP = 0.004  # metres outside the head surface
assert set(STYLES) | {"bald"} == set(HAIR_STYLES) and set(FACIAL) | {"none", "stubble"} == set(FACIAL_HAIR)


def sample_surface(verts: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator):
    """n area-weighted random points on a triangle mesh and their (face) unit normals."""
    tri = verts[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    f = rng.choice(len(faces), size=n, p=area / area.sum())
    r1, r2 = rng.uniform(size=(2, n))
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)
    points = np.einsum("nk,nkc->nc", bary, tri[f])
    normals = cross[f] / np.maximum(np.linalg.norm(cross[f], axis=1, keepdims=True), 1e-12)
    return points, normals


def _outward(head_verts: np.ndarray, head_faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals of the head pointing away from its centre."""
    tri = head_verts[head_faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n = np.zeros_like(head_verts)
    for k in range(3):
        np.add.at(n, head_faces[:, k], fn)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    if np.mean(np.sum(n * (head_verts - head_verts.mean(0)), axis=1)) < 0:
        n = -n
    return n


def _push_out(
    p: np.ndarray,
    tree: cKDTree,
    hv: np.ndarray,
    hn: np.ndarray,
    gap: float,
    cap: float | None = None,
    capped: np.ndarray | None = None,
) -> np.ndarray:
    """Points moved along the nearest head vertex's normal to at least `gap` outside the head and,
    where that vertex is `capped`, at most `cap`."""
    _, i = tree.query(p)
    depth = np.sum((p - hv[i]) * hn[i], axis=1)
    target = np.maximum(depth, gap)
    if cap is not None:
        target = np.where(capped[i], np.minimum(target, cap), target)
    return p + (target - depth)[:, None] * hn[i]


def grow_strands(
    scalp_verts: np.ndarray,
    scalp_faces: np.ndarray,
    head_verts: np.ndarray,
    head_faces: np.ndarray,
    axes: np.ndarray,
    style: dict,
    seed: int,
    length_scale: float = 1.0,
    density_scale: float = 1.0,
    parting: float = 0.0,
) -> np.ndarray:
    """(N, P, 3) strand points, roots first. axes: rows right, up, forward of the head (frame 0);
    parting: where the front hair parts, metres right of the head's midline."""
    rng = np.random.default_rng(seed)
    n = max(1, int(round(style["count"] * density_scale)))
    P = style["points"]
    length = style["length"] * length_scale * rng.uniform(0.85, 1.15, n)
    roots, normals = sample_surface(scalp_verts, scalp_faces, n, rng)
    hn = _outward(head_verts, head_faces)
    if np.mean(np.sum(normals * hn[cKDTree(head_verts).query(roots)[1]], axis=1)) < 0:
        normals = -normals
    right, up, forward = axes
    # fall direction per strand: down, away from the parting and back by the style's share. Roots
    # in front of the head's centre part at `parting` (sideways from the line, over the crown rather
    # than over the face); behind it the sideways share grows with the distance from the midline,
    # so the back of the head has no parting.
    centre = head_verts.mean(0)
    rel = roots - centre
    x = rel @ right
    front = _front_share(rel, up, forward)
    side = np.where(x >= parting, 1.0, -1.0)[:, None] * right
    near_part = np.clip(np.abs(x - parting) / 0.02, 0.25, 1.0)[:, None]  # next to the line: back more than sideways
    side_w = (0.6 + front) * np.maximum(
        np.clip(3.0 * front, 0.0, 1.0) * near_part, np.clip(np.abs(x) / 0.05, 0.0, 1.0)[:, None]
    )
    mode = style.get("mode", "fall")
    tree = cKDTree(head_verts)
    # combed: over the scalp a strand stays within `lift` of the surface (it lies on the strands
    # under it instead of leaving the head along its tangent); past the scalp it falls freely
    on_scalp = cKDTree(scalp_verts).query(head_verts)[0] < 1e-6
    cap = GAP + style["lift"] if style.get("combed", True) else None
    seg = length / (P - 1)
    pts = np.empty((n, P, 3))
    pts[:, 0] = roots + 0.5 * GAP * normals
    travelled = np.zeros(n)
    for k in range(1, P):
        if mode == "brow":  # lie on the brow ridge, outwards and a little up
            fall = side + 0.35 * up
        elif mode == "beard":  # down the face and a little out
            fall = -up + 0.3 * normals
        elif mode == "bun":  # pulled back towards the bun at the back of the crown
            fall = bun_centre(scalp_verts, axes) - pts[:, k - 1]
        else:  # up and back while in front of the head's centre, to the side first, then down
            spread = np.clip(1.0 - travelled / 0.12, 0.0, 1.0)[:, None]
            now = _front_share(pts[:, k - 1] - centre, up, forward)
            fall = -up * (1.0 - 1.3 * now) + spread * side_w * side - (style["back"] + 1.5 * now) * forward
        fall = fall / np.maximum(np.linalg.norm(fall, axis=1, keepdims=True), 1e-9)
        w = np.clip((travelled - style["lift"]) / max(style["lift"], 1e-3) + 0.5, 0.0, 1.0)[:, None]
        d = (1 - w) * normals + w * fall
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        pts[:, k] = _push_out(pts[:, k - 1] + seg[:, None] * d, tree, head_verts, hn, GAP, cap, on_scalp)
        travelled += seg
    lock = None
    if style.get("clump"):
        pts, lock = _clump(pts, *style["clump"], rng)
        pts[:, 1:] = _push_out(pts[:, 1:].reshape(-1, 3), tree, head_verts, hn, GAP).reshape(n, P - 1, 3)
    if style["curl"]:
        pts = _curl(pts, style["curl"], rng, lock)
    return pts


def _clump(pts: np.ndarray, per_lock: int, pull: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gather strands into locks: each strand joins the lock whose seed root is nearest its own and
    moves towards the lock's mean path, hardly near the root, `pull` of the way at the tip.
    Returns the strands and each one's lock."""
    n, P, _ = pts.shape
    seeds = rng.choice(n, size=max(1, n // per_lock), replace=False)
    _, lock = cKDTree(pts[seeds, 0]).query(pts[:, 0])
    sums = np.zeros((len(seeds), P, 3))
    np.add.at(sums, lock, pts)
    mean = sums / np.bincount(lock, minlength=len(seeds))[:, None, None]
    w = pull * np.linspace(0.0, 1.0, P)[None, :, None] ** 2  # the roots keep their cover of the scalp
    return pts + w * (mean[lock] - pts), lock


def _front_share(rel: np.ndarray, up: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(N,1) 0..1 how far to the front of the head (from its centre) points lie, horizontally."""
    flat = rel - (rel @ up)[:, None] * up
    return np.clip(flat @ forward / np.maximum(np.linalg.norm(flat, axis=1), 1e-6), 0.0, 1.0)[:, None]


def _curl(
    pts: np.ndarray, curl: tuple[float, float], rng: np.random.Generator, lock: np.ndarray | None = None
) -> np.ndarray:
    """Wind each strand around its path: a helix of the given radius and number of turns, growing
    from zero at the root; strands of one `lock` wind in step (one phase, turns and radius)."""
    radius, turns = curl
    n, P, _ = pts.shape
    lock = np.arange(n) if lock is None else lock
    m = int(lock.max()) + 1
    tangent = np.gradient(pts, axis=1)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=2, keepdims=True), 1e-12)
    ref = np.where(np.abs(tangent[..., 2:3]) < 0.9, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    e1 = np.cross(tangent, ref)
    e1 /= np.maximum(np.linalg.norm(e1, axis=2, keepdims=True), 1e-12)
    e2 = np.cross(tangent, e1)
    s = np.linspace(0.0, 1.0, P)[None, :]
    phase = 2 * np.pi * (turns * rng.uniform(0.8, 1.2, (m, 1))[lock] * s) + rng.uniform(0, 2 * np.pi, (m, 1))[lock]
    r = radius * rng.uniform(0.7, 1.3, (m, 1))[lock] * np.minimum(1.0, 4 * s)
    return pts + r[..., None] * (np.cos(phase)[..., None] * e1 + np.sin(phase)[..., None] * e2)


def bun_centre(scalp_verts: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Centre of the bun: 3 cm out from the scalp at the back of the crown."""
    _, up, forward = axes
    centre = scalp_verts.mean(0)
    top = scalp_verts[np.argmax((scalp_verts - centre) @ (up - 0.9 * forward))]
    return top + 0.03 * (up - forward) / np.linalg.norm(up - forward)


def bun_strands(scalp_verts: np.ndarray, axes: np.ndarray, seed: int, count: int = 1200) -> np.ndarray:
    """A bun: short coily strands wound on a 3 cm ball at the back of the crown."""
    rng = np.random.default_rng(seed)
    _, up, _ = axes
    ball = bun_centre(scalp_verts, axes)
    d = rng.normal(size=(count, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    P = 8
    s = np.linspace(0, 1, P)[None, :, None]
    pts = ball + d[:, None] * (0.03 + 0.012 * s)
    tangent_ref = np.cross(d, up)
    tangent_ref /= np.maximum(np.linalg.norm(tangent_ref, axis=1, keepdims=True), 1e-12)
    pts = pts + tangent_ref[:, None] * 0.035 * s  # strands wrap around the ball
    return _curl(pts, (0.004, 3.0), rng)


def bare_scalp(strands: np.ndarray, points: np.ndarray, normals: np.ndarray, reach: float = 0.025) -> np.ndarray:
    """(N,) True where a ray out of the scalp from `points` along `normals` (unit, outwards) meets no
    strand within `reach` metres; a strand counts within 1.2 mm of the ray (its radius and a half).
    For tests and benchmarks/hair_coverage.py: how much scalp a style leaves visible, and where."""
    s = np.linspace(0, 1, 6)[None, :, None]
    q = (strands[:, :-1, None] * (1 - s) + strands[:, 1:, None] * s).reshape(-1, 3)
    tree = cKDTree(q)
    bare = np.ones(len(points), bool)
    for i, idx in enumerate(tree.query_ball_point(points + 0.5 * reach * normals, 0.5 * reach + 0.0002)):
        d = q[idx] - points[i]
        t = d @ normals[i]
        bare[i] = not np.any((t > 0) & (np.linalg.norm(d - t[:, None] * normals[i], axis=1) < 0.0012))
    return bare
