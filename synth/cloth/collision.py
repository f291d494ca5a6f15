"""Proximity to a moving triangle mesh (the body): signed distance, a tracked surface point carried
to the moved body (`surface_at`), contact response, and a triangle-frame embedding that makes garment
points follow the body (attachments, initial drape).

Closest points are exact point-triangle distances over the triangles around the nearest mesh vertex
(found with a k-d tree); the sign comes from the Phong-interpolated vertex normal at that point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


def face_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    return n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals."""
    n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    idx = faces.ravel()
    out = np.stack([np.bincount(idx, weights=np.repeat(n[:, c], 3), minlength=len(verts)) for c in range(3)], 1)
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-12)


def vertex_face_table(faces: np.ndarray, num_verts: int) -> np.ndarray:
    """(V, maxval) incident faces per vertex, padded by repeating the vertex's first face."""
    f = np.repeat(np.arange(len(faces)), 3)
    v = faces.ravel()
    order = np.argsort(v, kind="stable")
    v, f = v[order], f[order]
    count = np.bincount(v, minlength=num_verts)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    table = np.zeros((num_verts, max(int(count.max()), 1)), np.int64)
    slot = np.arange(len(v)) - start[v]
    table[v, slot] = f
    pad = np.arange(table.shape[1])[None, :] >= count[:, None]
    table[pad] = np.broadcast_to(table[:, :1], table.shape)[pad]
    return table


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """Closest points of p (..., 3) on triangles (a, b, c) (..., 3): (point, barycentric (..., 3))."""
    ab, ac = b - a, c - a
    n = np.cross(ab, ac)
    nn = np.einsum("...i,...i->...", n, n) + 1e-30
    ap = p - a
    # barycentrics of the projection onto the plane
    w2 = np.einsum("...i,...i->...", np.cross(ab, ap), n) / nn
    w1 = np.einsum("...i,...i->...", np.cross(ap, ac), n) / nn
    w0 = 1.0 - w1 - w2
    bary = np.stack([w0, w1, w2], -1)
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    best_d = np.where(inside, 0.0, np.inf)
    best_bary = np.where(inside[..., None], bary, 0.0)
    corners = (a, b, c)
    for e0, e1 in ((0, 1), (1, 2), (2, 0)):
        s, t = corners[e0], corners[e1]
        st = t - s
        u = np.clip(np.einsum("...i,...i->...", p - s, st) / (np.einsum("...i,...i->...", st, st) + 1e-30), 0, 1)
        q = s + u[..., None] * st
        d = np.einsum("...i,...i->...", p - q, p - q)
        better = ~inside & (d < best_d)
        eb = np.zeros(bary.shape)
        eb[..., e0], eb[..., e1] = 1 - u, u
        best_d = np.where(better, d, best_d)
        best_bary = np.where(better[..., None], eb, best_bary)
    point = best_bary[..., :1] * a + best_bary[..., 1:2] * b + best_bary[..., 2:] * c
    return point, best_bary


@dataclass
class Proximity:
    signed: np.ndarray  # (N,) signed distance, negative inside
    normal: np.ndarray  # (N, 3) unit outward normal at the closest point
    point: np.ndarray  # (N, 3) closest surface point
    face: np.ndarray  # (N,) triangle index
    bary: np.ndarray  # (N, 3)
    vertex: np.ndarray  # (N,) nearest mesh vertex


class MeshCollider:
    """A triangle mesh whose vertices move over time (faces fixed)."""

    def __init__(self, faces: np.ndarray, num_verts: int):
        self.faces = np.asarray(faces, np.int64)
        self.vf = vertex_face_table(self.faces, num_verts)

    def query(self, points: np.ndarray, verts: np.ndarray, normals: np.ndarray | None = None) -> Proximity:
        if normals is None:
            normals = vertex_normals(verts, self.faces)
        _, near = cKDTree(verts).query(points)
        cand = self.vf[near]  # (N, K)
        tri = self.faces[cand]  # (N, K, 3)
        p = points[:, None, :]
        q, bary = closest_on_triangles(p, verts[tri[..., 0]], verts[tri[..., 1]], verts[tri[..., 2]])
        d2 = np.einsum("nki,nki->nk", p - q, p - q)
        k = np.argmin(d2, axis=1)
        r = np.arange(len(points))
        face, bary, point = cand[r, k], bary[r, k], q[r, k]
        n = np.einsum("nk,nki->ni", bary, normals[self.faces[face]])
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        dist = np.sqrt(d2[r, k])
        sign = np.where(np.einsum("ni,ni->n", points - point, n) < 0, -1.0, 1.0)
        return Proximity(sign * dist, n, point, face, bary, near)


def surface_at(verts: np.ndarray, normals: np.ndarray, faces: np.ndarray, face: np.ndarray,
               bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The point with barycentrics `bary` on triangle `face` of a posed mesh, and its unit
    Phong-interpolated normal: where a tracked surface point is after the body moved."""
    tri = faces[face]
    point = np.einsum("nk,nki->ni", bary, verts[tri])
    n = np.einsum("nk,nki->ni", bary, normals[tri])
    return point, n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)


def respond(x: np.ndarray, v: np.ndarray, idx: np.ndarray, point: np.ndarray, normal: np.ndarray,
            body_vel: np.ndarray, thickness: np.ndarray, friction: np.ndarray) -> int:  # fmt: skip
    """Keep vertices idx at least `thickness` in front of their body surface point (point, unit
    normal): push the closer ones out along the normal, cancel their approaching normal velocity
    relative to the body's velocity there, and apply Coulomb friction to the tangential part.
    There is no depth cut-off: the caller tracks each vertex's triangle from the start of the
    substep (where it was outside), so a deep point is one the body ran into, never the far side.
    In place; returns the number of contacts."""
    s = np.einsum("ni,ni->n", x[idx] - point, normal)
    hit = s < thickness[idx]
    if not hit.any():
        return 0
    i, n = idx[hit], normal[hit]
    x[i] += (thickness[i] - s[hit])[:, None] * n
    vb = body_vel[hit]
    vr = v[i] - vb
    vn = np.einsum("ni,ni->n", vr, n)
    dvn = np.maximum(-vn, 0.0)
    vt = vr - vn[:, None] * n
    v[i] = vb + vt * coulomb_scale(vt, dvn, friction[i])[:, None] + np.maximum(vn, 0.0)[:, None] * n
    return int(hit.sum())


def coulomb_scale(tangential: np.ndarray, normal_dv: np.ndarray, friction: np.ndarray) -> np.ndarray:
    """(N,) factor on the tangential velocity relative to the body after a contact changed the normal
    velocity by normal_dv >= 0: Coulomb friction removes at most friction x normal_dv of tangential speed."""
    speed = np.linalg.norm(tangential, axis=1)
    return np.maximum(0.0, 1.0 - friction * normal_dv / (speed + 1e-12))


@dataclass
class Embedding:
    """Points expressed in the frame (e1, e2, n) of a triangle of a deforming mesh."""

    face: np.ndarray  # (N,)
    coords: np.ndarray  # (N, 3): p = v0 + a e1 + b e2 + c n

    @classmethod
    def build(cls, points: np.ndarray, verts: np.ndarray, faces: np.ndarray, prox: Proximity) -> "Embedding":
        tri = verts[faces[prox.face]]
        frame = _frames(tri)
        coords = np.linalg.solve(frame, (points - tri[:, 0])[..., None])[..., 0]
        return cls(prox.face, coords)

    def evaluate(self, verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
        tri = verts[faces[self.face]]
        return tri[:, 0] + np.einsum("nij,nj->ni", _frames(tri), self.coords)


def _frames(tri: np.ndarray) -> np.ndarray:
    """(N, 3, 3) matrices whose columns are e1, e2 and the unit normal."""
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    n = np.cross(e1, e2)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return np.stack([e1, e2, n], -1)


class PartCollider:
    """Collide each cloth point only with the body parts around its home part (the part under it
    at rest, with its parent and children). A point pinched between two limbs then never flips to
    the far limb's surface (which would tear the cloth across the gap)."""

    def __init__(self, faces: np.ndarray, labels: np.ndarray, parents: np.ndarray, home: np.ndarray):
        self.faces = np.asarray(faces, np.int64)
        self.groups = []
        face_labels = labels[self.faces]
        for part in np.unique(home):
            allowed = {int(part), int(parents[part])} | {int(c) for c in np.nonzero(parents == part)[0]}
            fmask = np.isin(face_labels, list(allowed)).any(1)
            fidx = np.nonzero(fmask)[0]
            used = np.unique(self.faces[fidx])
            remap = np.full(len(labels), -1)
            remap[used] = np.arange(len(used))
            self.groups.append((np.nonzero(home == part)[0], fidx, used, MeshCollider(remap[self.faces[fidx]], len(used))))

    def query(self, points: np.ndarray, verts: np.ndarray) -> Proximity:
        N = len(points)
        out = Proximity(np.zeros(N), np.zeros((N, 3)), np.zeros((N, 3)), np.zeros(N, np.int64), np.zeros((N, 3)),
                        np.zeros(N, np.int64))  # fmt: skip
        for pts, fidx, used, col in self.groups:
            p = col.query(points[pts], verts[used])
            out.signed[pts], out.normal[pts], out.point[pts] = p.signed, p.normal, p.point
            out.face[pts], out.bary[pts], out.vertex[pts] = fidx[p.face], p.bary, used[p.vertex]
        return out
