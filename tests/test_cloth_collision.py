"""The compiled closest-point queries (synth/cloth/collision.py) against an independent brute force."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from synth.cloth.collision import (
    MeshCollider,
    PartCollider,
    RigidAttachment,
    Tracked,
    body_motion,
    pinch,
    track,
    vertex_normals,
)


def brute_force(points: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance (P, F), closest point (P, F, 3)) of every point to every triangle, by Voronoi regions
    (Ericson, Real-Time Collision Detection 5.1.5): a different algorithm from the one under test."""
    a, b, c = (verts[faces[:, k]][None] for k in range(3))
    p = points[:, None]
    dot = lambda x, y: np.einsum("...i,...i->...", x, y)  # noqa: E731
    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2, d3, d4, d5, d6 = dot(ab, ap), dot(ac, ap), dot(ab, bp), dot(ac, bp), dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        on_ab = a + (d1 / (d1 - d3))[..., None] * ab
        on_ac = a + (d2 / (d2 - d6))[..., None] * ac
        on_bc = b + ((d4 - d3) / ((d4 - d3) + (d5 - d6)))[..., None] * (c - b)
        inner = a + (vb / (va + vb + vc))[..., None] * ab + (vc / (va + vb + vc))[..., None] * ac
    regions = [
        (d1 <= 0) & (d2 <= 0),
        (d3 >= 0) & (d4 <= d3),
        (vc <= 0) & (d1 >= 0) & (d3 <= 0),
        (d6 >= 0) & (d5 <= d6),
        (vb <= 0) & (d2 >= 0) & (d6 <= 0),
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
    ]
    shape = np.broadcast_shapes(a.shape, p.shape)
    choices = [np.broadcast_to(x, shape) for x in (a, b, on_ab, c, on_ac, on_bc)]
    q = np.select([r[..., None] for r in regions], choices, np.broadcast_to(inner, shape))
    return np.linalg.norm(p - q, axis=-1), q


def fan_has(faces: np.ndarray, near: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(P,) whether triangle face[i] has vertex near[i]: only then can the query see it."""
    return (faces[face] == near[:, None]).any(1)


@pytest.fixture(scope="module")
def blob():
    """A lumpy sphere (radius 0.2 +- 3 %, star-shaped) and directions to put points along."""
    s = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    rng = np.random.default_rng(7)
    unit = np.asarray(s.vertices)
    verts = unit * (0.2 * (1.0 + rng.uniform(-0.03, 0.03, len(unit))))[:, None]
    dirs = rng.normal(size=(400, 3))
    return verts, np.asarray(s.faces, np.int64), dirs / np.linalg.norm(dirs, axis=1, keepdims=True), rng


def test_query_is_the_exact_closest_point_where_the_nearest_vertex_fan_holds_it(blob):
    verts, faces, dirs, rng = blob
    points = dirs * rng.uniform(0.12, 0.3, len(dirs))[:, None]
    prox = MeshCollider(faces, len(verts)).query(points, verts)
    dist, q = brute_force(points, verts, faces)
    true_face = dist.argmin(1)
    held = fan_has(faces, prox.vertex, true_face)
    assert held.mean() > 0.9  # the test really compares: nearly every point's closest face is in the fan
    r = np.arange(len(points))
    np.testing.assert_allclose(np.abs(prox.signed[held]), dist[r, true_face][held], rtol=0, atol=1e-12)
    np.testing.assert_allclose(prox.point[held], q[r, true_face][held], rtol=0, atol=1e-12)
    # everywhere: a point really on the returned triangle, never nearer than the true closest point
    np.testing.assert_allclose(np.abs(prox.signed), np.linalg.norm(points - prox.point, axis=1), atol=1e-15)
    assert (np.abs(prox.signed) >= dist.min(1) - 1e-12).all()
    tri = verts[faces[prox.face]]
    np.testing.assert_allclose(np.einsum("nk,nki->ni", prox.bary, tri), prox.point, atol=1e-15)
    assert (prox.bary >= 0).all() and np.allclose(prox.bary.sum(1), 1.0)


def test_sign_and_normal_inside_and_outside(blob):
    verts, faces, dirs, rng = blob
    col = MeshCollider(faces, len(verts))
    inside = col.query(dirs * rng.uniform(0.08, 0.18, len(dirs))[:, None], verts)
    outside = col.query(dirs * rng.uniform(0.215, 0.35, len(dirs))[:, None], verts)
    assert (inside.signed < 0).all() and (outside.signed > 0).all()
    for prox in (inside, outside):
        np.testing.assert_allclose(np.linalg.norm(prox.normal, axis=1), 1.0, atol=1e-12)
        assert (np.einsum("ni,ni->n", prox.normal, prox.point) > 0).all()  # outward on a star-shaped blob
    # the normal is the Phong interpolation of the vertex normals at the closest point
    n = np.einsum("nk,nki->ni", outside.bary, vertex_normals(verts, faces)[faces[outside.face]])
    np.testing.assert_allclose(outside.normal, n / np.linalg.norm(n, axis=1, keepdims=True), atol=1e-12)


def test_part_collider_keeps_each_point_on_its_allowed_parts(blob):
    """Four parts (quarters around the z axis) in a chain 0-1-2-3: quarter 3 touches quarter 0 on the
    blob but is not its relative. The points are homed at rest, then the blob turns half a turn
    under them, so each now lies over a part it may not touch."""
    verts, faces, dirs, rng = blob
    angle = np.arctan2(verts[:, 1], verts[:, 0]) % (2 * np.pi)
    labels = (angle // (np.pi / 2)).astype(np.int64)
    parents = np.array([-1, 0, 1, 2])
    points = dirs * rng.uniform(0.15, 0.3, len(dirs))[:, None]
    home = labels[np.linalg.norm(points[:, None] - verts[None], axis=2).argmin(1)]
    col = PartCollider(faces, labels, parents, home)
    c, s = np.cos(np.pi), np.sin(np.pi)
    moved = verts @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
    prox = col.query(points, moved)
    allowed = {0: {0, 1}, 1: {0, 1, 2}, 2: {1, 2, 3}, 3: {2, 3}}
    ok = np.array([bool(set(labels[faces[f]]) & allowed[h]) for f, h in zip(prox.face, home)])
    assert ok.all()
    whole = MeshCollider(faces, len(verts)).query(points, moved)
    assert (whole.face != prox.face).mean() > 0.5  # the restriction really acted
    assert (np.abs(prox.signed) >= np.abs(whole.signed) - 1e-12).all()
    # the exact closest point among each point's allowed faces (where its nearest allowed vertex's fan has it)
    dist, _ = brute_force(points, moved, faces)
    fok = np.array([[bool(set(labels[f]) & allowed[h]) for f in faces] for h in (0, 1, 2, 3)])
    dist = np.where(fok[home], dist, np.inf)
    true_face = dist.argmin(1)
    held = fan_has(faces, prox.vertex, true_face)
    assert held.mean() > 0.9
    np.testing.assert_allclose(np.abs(prox.signed[held]), dist[np.arange(len(points)), true_face][held], atol=1e-12)
    # the nearest vertex is the nearest one among the allowed faces' vertices
    for h in range(4):
        mine = home == h
        used = np.unique(faces[fok[h]])
        d = np.linalg.norm(points[mine][:, None] - moved[used][None], axis=2)
        np.testing.assert_array_equal(prox.vertex[mine], used[d.argmin(1)])


def test_part_collider_queries_the_other_parts_apart_and_only_within_reach(blob):
    """query_others: each point's closest point among the faces of the parts *not* around its home part
    (the exact one where its nearest such vertex's fan holds it), and signed +inf where no such vertex
    is within reach; query and query_others together cover every face."""
    verts, faces, dirs, _ = blob
    rng = np.random.default_rng(11)  # its own draws, whichever tests ran before
    labels = ((np.arctan2(verts[:, 1], verts[:, 0]) % (2 * np.pi)) // (np.pi / 2)).astype(np.int64)
    parents = np.array([-1, 0, 1, 2])
    points = dirs * rng.uniform(0.15, 0.3, len(dirs))[:, None]
    home = labels[np.linalg.norm(points[:, None] - verts[None], axis=2).argmin(1)]
    col = PartCollider(faces, labels, parents, home)
    allowed = {0: {0, 1}, 1: {0, 1, 2}, 2: {1, 2, 3}, 3: {2, 3}}
    other = np.array([[not (set(labels[f]) & allowed[h]) for f in faces] for h in range(4)])
    np.testing.assert_array_equal(col.others | col.allow, np.ones_like(col.allow))
    far = col.query_others(points, verts, np.inf)
    assert other[home, far.face].all()  # only faces of no part around the home part
    dist, _ = brute_force(points, verts, faces)
    dist = np.where(other[home], dist, np.inf)
    true_face = dist.argmin(1)
    held = fan_has(faces, far.vertex, true_face)
    assert held.mean() > 0.9
    np.testing.assert_allclose(np.abs(far.signed[held]), dist[np.arange(len(points)), true_face][held], atol=1e-12)
    # within a reach: the same answer where such a vertex is that near, none elsewhere
    reach = 0.2
    used = [np.unique(faces[other[h]]) for h in range(4)]
    nearest = np.array([np.linalg.norm(verts[used[h]] - p, axis=1).min() for p, h in zip(points, home)])
    assert 0.2 < (nearest <= reach).mean() < 0.8
    cut = col.query_others(points, verts, reach)
    inside = nearest <= reach
    np.testing.assert_array_equal(cut.signed[inside], far.signed[inside])
    assert np.isinf(cut.signed[~inside]).all() and (cut.vertex[~inside] == -1).all()
    # searched from any allowed vertex (near or far, within reach or not): the same answers
    pick = np.random.default_rng(7)
    hint = np.array([pick.choice(used[h]) for h in home])
    hinted = col.query_others(points, verts, reach, hint=hint)
    for name in ("signed", "vertex", "face"):
        np.testing.assert_array_equal(getattr(hinted, name), getattr(cut, name))
    # others_within: the same answers for every point that may be within `need`, whatever it queried again
    col2 = PartCollider(faces, labels, parents, home)
    need = np.full(len(points), 0.05)
    first = col2.others_within(points, verts, need, 0.0)
    close = np.abs(far.signed) < 0.05
    np.testing.assert_array_equal(first.signed[close], far.signed[close])
    moved = points + rng.normal(scale=0.01, size=points.shape)
    shifted = verts + [0.01, 0.0, 0.0]
    again = col2.others_within(moved, shifted, need, 0.01)
    truth = col.query_others(moved, shifted, np.inf)
    close = np.abs(truth.signed) < 0.05
    assert close.sum() > 10
    np.testing.assert_array_equal(again.signed[close], truth.signed[close])


def test_others_within_skips_only_points_provably_farther_than_need(blob):
    """The face-cell proof others_within filters its points by (`_may_touch` on `_face_cells`): every point
    with one of its other parts' faces within need (brute force over the triangles) is kept, and most points
    far from them are dropped."""
    from synth.cloth.collision import _face_cells, _may_touch

    _, _, dirs, _ = blob
    s = trimesh.creation.icosphere(subdivisions=4, radius=0.2)  # cells (three edges) small beside the sphere
    verts, faces = np.asarray(s.vertices), np.asarray(s.faces, np.int64)
    rng = np.random.default_rng(5)
    labels = ((np.arctan2(verts[:, 1], verts[:, 0]) % (2 * np.pi)) // (np.pi / 2)).astype(np.int64)
    points = dirs * rng.uniform(0.17, 0.3, len(dirs))[:, None]
    home = labels[np.linalg.norm(points[:, None] - verts[None], axis=2).argmin(1)]
    col = PartCollider(faces, labels, np.array([-1, 0, 1, 2]), home)
    need = rng.uniform(0.01, 0.15, len(points))
    pose = col.pose(verts)
    _, _, _, lo, n, h = pose.grid
    kept = np.zeros(len(points), bool)
    kept[_may_touch(points, np.arange(len(points)), need, col.group, col._face_cells(pose), lo, n, h)] = True
    dist, _ = brute_force(points, verts, faces)
    nearest = np.where(col.others[col.group], dist, np.inf).min(1)
    assert (nearest <= need).sum() > 20 and kept[nearest <= need].all()
    far = nearest > 2 * need + 2 * h
    assert far.sum() > 50 and (~kept[far]).mean() > 0.9
    # the cells are the faces' boxes: a mask of no face leaves every cell empty
    none = np.zeros((1, len(faces)), np.int64)
    assert not _face_cells(pose.verts, col.mesh.faces, none[0], lo, n, h).any()


def test_nearest_vertex_is_exact_far_outside_and_takes_the_lowest_index_of_equals(blob):
    verts, faces, dirs, rng = blob
    col = MeshCollider(faces, len(verts))
    points = dirs * rng.uniform(0.0, 3.0, len(dirs))[:, None] + [0.0, 0.0, 1.0] * (
        rng.uniform(size=(len(dirs), 1)) < 0.2
    )
    d2 = ((points[:, None] - verts[None]) ** 2).sum(2)
    np.testing.assert_array_equal(col.query(points, verts).vertex, d2.argmin(1))
    # on the mirror plane x = 0 of the (symmetric) icosphere, mirrored vertices are exactly as near
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.2)
    plane = np.c_[np.zeros(len(dirs)), dirs[:, 1:] * 0.25]
    d2 = ((plane[:, None] - sphere.vertices[None]) ** 2).sum(2)
    assert ((d2 == d2.min(1, keepdims=True)).sum(1) > 1).mean() > 0.1  # ties really occur
    got = MeshCollider(sphere.faces, len(sphere.vertices)).query(plane, np.asarray(sphere.vertices)).vertex
    np.testing.assert_array_equal(got, d2.argmin(1))
    # a blown-up point gives a non-finite distance (the blow-up check reports it), not a hang
    assert not np.isfinite(col.query(np.array([[np.nan, 0.0, 0.0], [np.inf, 0.0, 0.0]]), verts).signed).any()


def test_a_warm_query_gives_the_cold_answer_after_the_points_and_the_mesh_moved(blob):
    verts, faces, dirs, rng = blob
    col = MeshCollider(faces, len(verts))
    points = dirs * rng.uniform(0.1, 0.5, len(dirs))[:, None]
    col.query(points, verts, warm=True)  # remembers these nearest vertices as the next hints
    moved = points + rng.normal(scale=0.05, size=points.shape)  # several edge lengths for some points
    mesh = verts * 1.1 + [0.02, 0.0, 0.0]
    warm = col.query(moved, mesh, warm=True)
    d2 = ((moved[:, None] - mesh[None]) ** 2).sum(2)
    np.testing.assert_array_equal(warm.vertex, d2.argmin(1))
    assert (warm.vertex != col.query(points, verts).vertex).mean() > 0.2  # the hints were often wrong
    cold = MeshCollider(faces, len(verts)).query(moved, mesh)
    for a, b in zip(warm.__dict__.values(), cold.__dict__.values()):
        np.testing.assert_array_equal(a, b)
    # on the mirror plane of the icosphere, ties: the warm search keeps the lowest index too
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.2)
    sv = np.asarray(sphere.vertices)
    plane = np.c_[np.zeros(len(dirs)), dirs[:, 1:] * 0.25]
    tied = MeshCollider(sphere.faces, len(sv))
    tied.query(plane[::-1].copy(), sv, warm=True)  # other points' answers as hints
    d2 = ((plane[:, None] - sv[None]) ** 2).sum(2)
    np.testing.assert_array_equal(tied.query(plane, sv, warm=True).vertex, d2.argmin(1))


def test_vertex_normals_are_the_normalised_sums_of_the_incident_face_cross_products(blob):
    verts, faces, _, _ = blob
    cross = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    ref = np.zeros_like(verts)
    for k in range(3):
        np.add.at(ref, faces[:, k], cross)
    got = vertex_normals(verts, faces)
    np.testing.assert_allclose(got, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-12)
    assert (np.einsum("ni,ni->n", got, verts / np.linalg.norm(verts, axis=1, keepdims=True)) > 0.95).all()


def test_far_apart_small_triangles_and_non_finite_meshes():
    """Two tiny triangles 1 km apart (the grid coarsens instead of allocating 1e15 cells), and a mesh
    with a NaN vertex is refused."""
    verts = np.array(
        [[0, 0, 0], [1e-3, 0, 0], [0, 1e-3, 0], [1e3, 1e3, 1e3], [1e3 + 1e-3, 1e3, 1e3], [1e3, 1e3 + 1e-3, 1e3]]
    )
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    col = MeshCollider(faces, 6)
    prox = col.query(np.array([[0.0, 0.0, 1.0], [1e3, 1e3, 999.0], [400.0, 400.0, 400.0]]), verts)
    np.testing.assert_array_equal(prox.face, [0, 1, 0])
    np.testing.assert_allclose(np.abs(prox.signed[:2]), [1.0, 1.0])
    with pytest.raises(ValueError, match="non-finite"):
        col.query(np.zeros((1, 3)), np.where(np.arange(6)[:, None] == 4, np.nan, verts))


def test_rigid_attachment_follows_a_rigid_motion_exactly_and_ignores_far_vertices(blob):
    from scipy.spatial.transform import Rotation

    verts, _faces, dirs, _rng = blob
    points = dirs[:20] * 0.22  # 2 cm outside, as a collar is
    pins = RigidAttachment.build(points, verts, k=32)
    R = Rotation.from_rotvec([0.3, -1.1, 0.7]).as_matrix()
    t = np.array([0.5, -0.2, 1.0])
    np.testing.assert_allclose(pins.evaluate(verts @ R.T + t), points @ R.T + t, atol=1e-12)
    # a body vertex none of a point's neighbours is does not move it; a neighbour that does is felt
    far = np.setdiff1d(np.arange(len(verts)), pins.neighbours[0])[0]
    moved = verts.copy()
    moved[far] += 0.05
    assert np.abs(pins.evaluate(moved)[0] - points[0]).max() < 1e-12
    moved = verts.copy()
    moved[pins.neighbours[0, 0]] += 0.05
    assert np.abs(pins.evaluate(moved)[0] - points[0]).max() > 1e-4


def test_a_deep_contact_comes_out_at_a_bounded_speed_whatever_the_substep():
    """track's prescribed normal speed: the full catch-up (thickness - gap) / h where that is slow, but
    at most max_push beyond the body's own normal speed, for a point found deep inside (cloth caught
    between two body parts), whose one-substep catch-up depth / h grows as the substeps shrink
    (seq000175 diverged so at 64 substeps), or for a shallow one at fine substeps."""
    plane = np.array([[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    faces = np.array([[0, 2, 1], [0, 3, 2]])  # normals +y
    x = np.array([[0.1, 0.002, 0.2], [0.3, -0.05, -0.1]])  # 2 mm in front, 5 cm behind the surface
    thickness, max_push = np.full(2, 0.004), 1.0
    for lift in (0.0, 0.01):  # a resting body, and one moving out along its normal
        end = plane + np.array([0.0, lift, 0.0])
        for h in (1 / 120, 1 / 1920):
            prox = MeshCollider(faces, 4).query(x, plane)
            out = track(
                x,
                np.zeros_like(x),
                body_motion(plane, end)[0],
                end,
                vertex_normals(end, faces),
                faces,
                prox.signed,
                prox.face,
                prox.bary,
                prox.point,
                thickness,
                np.ones(2, bool),
                np.zeros(2),
                np.zeros(3),
                h,
                0.01,
                2.0,
                max_push,
            )
            idx, normal, body_vel, need = out[0], out[2], out[3], out[4]
            assert list(idx) == [0, 1] and np.allclose(normal, [0.0, 1.0, 0.0])
            assert np.allclose(body_vel[:, 1], lift / h)
            catch_up = 0.002 / h  # 2 mm: 0.24 m/s at 4 substeps a frame (30 fps), 3.84 m/s at 64
            assert need[0] == pytest.approx(lift / h + min(catch_up, max_push))
            assert need[1] == pytest.approx(lift / h + max_push)  # 54 mm deep: bounded at any substep


def _side(idx, point, normal, body_vel=None, act=True):
    """A Tracked side of fixed contacts (need and coming unused by a pinch)."""
    n = len(idx)
    bv = np.zeros((n, 3)) if body_vel is None else body_vel
    return Tracked(np.asarray(idx), point, normal, bv, np.full(n, 0.3), np.zeros(n), np.full(n, act))


def test_a_vertex_pinched_between_two_planes_is_held_in_the_gap():
    """pinch: a vertex tracked on two facing planes (y = 0 facing up, y = gap facing down) keeps the near
    plane's contact where the gap has room for both thicknesses, and gets one constraint along +y that ends
    the substep in the gap's middle where it has not, at most max_push faster than the planes' mean normal
    speed; a vertex on two planes at right angles (a crease) is not pinched."""
    h, t, max_push = 1 / 120, 0.004, 1.0
    thickness = np.full(4, t)
    x = np.array([[0.0, 0.001, 0.0], [0.1, 0.001, 0.0], [0.2, 0.001, 0.0], [0.3, 0.002, 0.0]])
    v = np.zeros_like(x)
    up, down, side = np.array([[0.0, 1.0, 0.0]]), np.array([[0.0, -1.0, 0.0]]), np.array([[1.0, 0.0, 0.0]])
    floor = x * [1, 0, 1]
    gaps = np.array([0.02, 0.005, -0.2])  # room, no room, no room and the middle far off
    near = _side([0, 1, 2, 3], floor, np.repeat(up, 4, 0))
    ceiling = floor[:3] + gaps[:, None] * [0, 1, 0]
    far = _side([0, 1, 2, 3], np.vstack([ceiling, x[3:] + [0.003, 0, 0]]), np.vstack([np.repeat(down, 3, 0), side]))
    res = pinch(near, far, x, v, h, np.zeros(3), thickness, max_push)
    np.testing.assert_array_equal(np.sort(res.idx), [0, 1, 2, 3])
    by = {int(i): k for k, i in enumerate(res.idx)}
    for a in range(3):
        np.testing.assert_allclose(res.normal[by[a]], [0.0, 1.0, 0.0], atol=1e-12)
    assert res.need[by[0]] == near.need[0]  # room: the floor's own contact
    end = x[:3, 1] + h * res.need[[by[0], by[1], by[2]]]
    assert end[1] == pytest.approx(0.0025)  # no room: midway, inside neither
    assert res.need[by[2]] == pytest.approx(-max_push)  # the middle 10 cm below: at most max_push a substep
    np.testing.assert_allclose(res.normal[by[3]], [0.0, 1.0, 0.0])  # the crease: the near contact alone
    assert len(res.fix.idx) == 0
    # both planes moving up at 0.5 m/s: the bound is about their mean speed
    moving = _side([0, 1, 2, 3], floor, np.repeat(up, 4, 0), np.tile([0.0, 0.5, 0.0], (4, 1)))
    far_m = _side(far.idx, far.point, far.normal, np.tile([0.0, 0.5, 0.0], (4, 1)))
    res = pinch(moving, far_m, x, v, h, np.zeros(3), thickness, max_push)
    assert res.need[list(res.idx).index(2)] == pytest.approx(0.5 - max_push)
