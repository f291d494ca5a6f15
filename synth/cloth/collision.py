"""Proximity to a moving triangle mesh (the body): signed distance, a tracked surface point carried
to the moved body (`surface_at`), contact response, a triangle-frame embedding that carries garment
points onto a posed body (the initial drape), and the rigid neighbourhood motion attachments follow.

Closest points are exact point-triangle distances over the triangles around the nearest mesh vertex
(found on a uniform grid), in numba kernels (compiled on first use, then loaded from numba's disk
cache); the sign comes from the Phong-interpolated vertex normal at that point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from synth.motion.rotations import special_procrustes


def contiguous_f64(a) -> np.ndarray:
    """a as a C-ordered float64 array: what the numba kernels are compiled for."""
    return np.ascontiguousarray(a, np.float64)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted unit vertex normals (float64)."""
    return _vertex_normals(np.ascontiguousarray(verts, np.float64), np.ascontiguousarray(faces, np.int64))


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


def make_contact_elements(jit) -> tuple:
    """The closest-point queries' per-point element functions compiled by `jit` (numba.njit(inline="always")
    for the CPU drivers below, numba.cuda.jit(device=True) for collision_cuda.py): (dot, face_cross,
    vertex_normal, cell_of, cell_box, nearest_vertex, closest_point); nested calls go to the same target's compiled
    versions. Kept in this file so that numba's cache, keyed on it, sees changes."""

    @jit
    def dot(ax, ay, az, bx, by, bz):
        """a . b summed as numpy's einsum("...i,...i") sums it (x + z, then y): with it the kernels gave
        the numbers of the numpy code they replaced bit for bit (not required: agreement to rounding is)."""
        return (ax * bx + az * bz) + ay * by

    @jit
    def face_cross(verts, faces, f):
        """(b - a) x (c - a) of triangle f, as np.cross computes it."""
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        abx, aby, abz = verts[b, 0] - verts[a, 0], verts[b, 1] - verts[a, 1], verts[b, 2] - verts[a, 2]
        acx, acy, acz = verts[c, 0] - verts[a, 0], verts[c, 1] - verts[a, 1], verts[c, 2] - verts[a, 2]
        return aby * acz - abz * acy, abz * acx - abx * acz, abx * acy - aby * acx

    @jit
    def vertex_normal(verts, faces, vf, valence, allowed, v):
        """vertex_normals at vertex v of the sub-mesh of the faces `allowed` (F,) bool (same sums, same order)."""
        sx, sy, sz = 0.0, 0.0, 0.0
        for k in range(valence[v]):
            f = vf[v, k]
            if allowed[f]:
                nx, ny, nz = face_cross(verts, faces, f)
                sx, sy, sz = sx + nx, sy + ny, sz + nz
        m = math.sqrt(sx * sx + sy * sy + sz * sz) + 1e-12
        return sx / m, sy / m, sz / m

    @jit
    def scan_cell(c, start, order, cverts, allowed, px, py, pz, best, bv):
        """The nearer of (best squared distance, vertex bv) and the allowed vertices of grid cell c
        (the lower index of equals). cverts: the vertices in the grid's order, read in sequence; whether a
        vertex is allowed is looked up only for one as near as the best (most are farther)."""
        for k in range(start[c], start[c + 1]):
            d2 = (px - cverts[k, 0]) ** 2 + (py - cverts[k, 1]) ** 2 + (pz - cverts[k, 2]) ** 2
            if d2 <= best:
                v = order[k]
                if allowed[v] and (d2 < best or v < bv):
                    best, bv = d2, v
        return best, bv

    @jit
    def cell_of(q, lo, h, n):
        """The grid cell index along one axis of coordinate q (monotone in q, clamped to the grid)."""
        return min(max(int(math.floor((q - lo) / h)), 0), n - 1)

    @jit
    def cell_box(px, py, pz, r, lo, h, n):
        """(x0, x1, y0, y1, z0, z1): the grid cells meeting the box of half-side r around (px, py, pz)."""
        x0, x1 = cell_of(px - r, lo[0], h, n[0]), cell_of(px + r, lo[0], h, n[0])
        y0, y1 = cell_of(py - r, lo[1], h, n[1]), cell_of(py + r, lo[1], h, n[1])
        z0, z1 = cell_of(pz - r, lo[2], h, n[2]), cell_of(pz + r, lo[2], h, n[2])
        return x0, x1, y0, y1, z0, z1

    @jit
    def nearest_vertex(i, points, verts, vallow, group, hint, start, order, cverts, cellbits, lo, n, h, reach):
        """Point i's nearest vertex v with vallow[group[i], v] (the lowest index of equals) on `_grid`'s
        grid (start, order, lo, n, h; cverts = verts[order]): exact, searched in growing shells of cells
        around the point's cell until no unvisited cell can hold a nearer vertex. With a hint (an allowed
        vertex, e.g. the point's answer a substep before; -1 for none) only the cells meeting the ball through
        the hint are searched: the same answer, from a few cells instead of 27 or more. reach: only vertices within
        this distance count (math.inf: any), -1 when there is none (a far surface costs a few cells, not
        the grid). cellbits (`_cell_bits`): cells holding no vertex of the point's group are passed over
        unread (the other parts' query of a point on the torso found nothing within reach after reading
        every torso vertex of 125 cells)."""
        allowed = vallow[group[i]]
        gb = min(group[i], 63)
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        best, bv = math.inf, -1
        if not (math.isfinite(px) and math.isfinite(py) and math.isfinite(pz)):  # a blown-up point: any vertex
            for v in range(allowed.shape[0]):  # the first allowed one (np.argmax of the row)
                if allowed[v]:
                    return v
            return 0
        v = hint[i]
        if v >= 0 and allowed[v]:
            best = (px - verts[v, 0]) ** 2 + (py - verts[v, 1]) ** 2 + (pz - verts[v, 2]) ** 2
            rad = min(math.sqrt(best) * (1.0 + 1e-9) + 1e-12, reach)  # every vertex as near as the hint is in it
            x0, x1, y0, y1, z0, z1 = cell_box(px, py, pz, rad, lo, h, n)
            bv = v
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    for z in range(z0, z1 + 1):
                        c = (x * n[1] + y) * n[2] + z
                        if (cellbits[c] >> gb) & 1:
                            best, bv = scan_cell(c, start, order, cverts, allowed, px, py, pz, best, bv)
            return bv if best <= reach * reach else -1
        # the point's cell, or the nearest one when it is outside the grid
        cx = int(min(max((px - lo[0]) / h, 0.0), n[0] - 1.0))
        cy = int(min(max((py - lo[1]) / h, 0.0), n[1] - 1.0))
        cz = int(min(max((pz - lo[2]) / h, 0.0), n[2] - 1.0))
        last = max(0, cx, n[0] - 1 - cx, cy, n[1] - 1 - cy, cz, n[2] - 1 - cz)
        # within a reach only the cells meeting its box can hold an answer: 5-6 cells an axis, not the shells' 7
        bx0, by0, bz0, bx1, by1, bz1 = 0, 0, 0, n[0] - 1, n[1] - 1, n[2] - 1
        if math.isfinite(reach):
            rr = reach * (1.0 + 1e-9) + 1e-12
            bx0, bx1, by0, by1, bz0, bz1 = cell_box(px, py, pz, rr, lo, h, n)
        for r in range(last + 1):
            if best < ((r - 1) * h) ** 2 or (r - 1) * h > reach:  # every cell of shell r is (r - 1) h away
                break
            for x in range(max(cx - r, bx0), min(cx + r, bx1) + 1):
                for y in range(max(cy - r, by0), min(cy + r, by1) + 1):
                    if abs(x - cx) == r or abs(y - cy) == r:
                        z0, z1, dz = max(cz - r, bz0), min(cz + r, bz1), 1
                    else:  # inside the shell's x-y square only its top and bottom cells are on it
                        z0, z1, dz = cz - r, cz + r, 2 * r
                    for z in range(z0, z1 + 1, dz):
                        if z < bz0 or z > bz1:
                            continue
                        c = (x * n[1] + y) * n[2] + z
                        if (cellbits[c] >> gb) & 1:
                            best, bv = scan_cell(c, start, order, cverts, allowed, px, py, pz, best, bv)
        return bv if best <= reach * reach else -1

    @jit
    def closest_point(i, points, verts, faces, vf, valence, near, allow, whole, group, normals, out):
        """Point i's exact closest point on the triangles around its nearest mesh vertex near[i] that its
        group may touch (allow[group[i]] (F,) bool), the first of equals in vf's (face) order, and the unit
        normal there interpolated from the vertex normals of those allowed faces' sub-mesh (normals: the
        whole mesh's, used where whole[group[i], v]: every face around v allowed). Plane barycentrics, else
        the nearest of the three edges. Writes out[i] = (signed, normal (3), point (3), face, bary (3));
        with no nearest vertex (near[i] -1: none within the query's reach) signed +inf, face 0, the rest 0."""
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        v, allowed = near[i], allow[group[i]]
        if v < 0:
            out[i, 0] = math.inf
            for k in range(1, 11):
                out[i, k] = 0.0
            return
        best = math.inf
        bf, b0, b1, b2, qx, qy, qz = -1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        for k in range(valence[v]):
            f = vf[v, k]
            if not allowed[f]:
                continue
            ia, ib, ic = faces[f, 0], faces[f, 1], faces[f, 2]
            ax, ay, az = verts[ia, 0], verts[ia, 1], verts[ia, 2]
            bx, by, bz = verts[ib, 0], verts[ib, 1], verts[ib, 2]
            cx, cy, cz = verts[ic, 0], verts[ic, 1], verts[ic, 2]
            abx, aby, abz = bx - ax, by - ay, bz - az
            acx, acy, acz = cx - ax, cy - ay, cz - az
            nx, ny, nz = face_cross(verts, faces, f)
            nn = dot(nx, ny, nz, nx, ny, nz) + 1e-30
            apx, apy, apz = px - ax, py - ay, pz - az
            # barycentrics of the projection onto the plane
            w2 = dot(aby * apz - abz * apy, abz * apx - abx * apz, abx * apy - aby * apx, nx, ny, nz) / nn
            w1 = dot(apy * acz - apz * acy, apz * acx - apx * acz, apx * acy - apy * acx, nx, ny, nz) / nn
            w0 = 1.0 - w1 - w2
            if not (w0 >= 0 and w1 >= 0 and w2 >= 0):  # outside: the nearest point of the edges
                edge_d, e0, eu = math.inf, -1, 0.0
                for e in range(3):
                    s, t = faces[f, e], faces[f, (e + 1) % 3]
                    sx, sy, sz = verts[s, 0], verts[s, 1], verts[s, 2]
                    stx, sty, stz = verts[t, 0] - sx, verts[t, 1] - sy, verts[t, 2] - sz
                    u = dot(px - sx, py - sy, pz - sz, stx, sty, stz) / (dot(stx, sty, stz, stx, sty, stz) + 1e-30)
                    u = min(max(u, 0.0), 1.0)
                    dx, dy, dz = px - (sx + u * stx), py - (sy + u * sty), pz - (sz + u * stz)
                    d = dot(dx, dy, dz, dx, dy, dz)
                    if d < edge_d:
                        edge_d, e0, eu = d, e, u
                w0, w1, w2 = 0.0, 0.0, 0.0
                if e0 == 0:
                    w0, w1 = 1.0 - eu, eu
                elif e0 == 1:
                    w1, w2 = 1.0 - eu, eu
                elif e0 == 2:
                    w2, w0 = 1.0 - eu, eu
            x = w0 * ax + w1 * bx + w2 * cx
            y = w0 * ay + w1 * by + w2 * cy
            z = w0 * az + w1 * bz + w2 * cz
            d2 = dot(px - x, py - y, pz - z, px - x, py - y, pz - z)
            if d2 < best or bf < 0:
                best, bf, b0, b1, b2, qx, qy, qz = d2, f, w0, w1, w2, x, y, z
        mx, my, mz = 0.0, 0.0, 0.0
        for j in range(3):
            wj = b0 if j == 0 else (b1 if j == 1 else b2)
            u = faces[bf, j]
            if whole[group[i], u]:
                nx, ny, nz = normals[u, 0], normals[u, 1], normals[u, 2]
            else:
                nx, ny, nz = vertex_normal(verts, faces, vf, valence, allowed, u)
            mx, my, mz = mx + wj * nx, my + wj * ny, mz + wj * nz
        m = math.sqrt(mx * mx + my * my + mz * mz) + 1e-12
        mx, my, mz = mx / m, my / m, mz / m
        side = dot(px - qx, py - qy, pz - qz, mx, my, mz)
        out[i, 0] = -math.sqrt(best) if side < 0 else math.sqrt(best)
        out[i, 1], out[i, 2], out[i, 3] = mx, my, mz
        out[i, 4], out[i, 5], out[i, 6] = qx, qy, qz
        out[i, 7] = bf
        out[i, 8], out[i, 9], out[i, 10] = b0, b1, b2

    return dot, face_cross, vertex_normal, cell_of, cell_box, nearest_vertex, closest_point


_dot, _face_cross, _vertex_normal, _cell_of, _cell_box, _nearest_vertex, _closest_point = make_contact_elements(
    njit(cache=True, inline="always")
)


@njit(cache=True)
def _vertex_normals(verts, faces):
    """vertex_normals: the face cross products summed onto their vertices in face order, normalised."""
    out = np.zeros(verts.shape)
    for f in range(faces.shape[0]):
        nx, ny, nz = _face_cross(verts, faces, f)
        for j in range(3):
            v = faces[f, j]
            out[v, 0], out[v, 1], out[v, 2] = out[v, 0] + nx, out[v, 1] + ny, out[v, 2] + nz
    for v in range(verts.shape[0]):
        m = np.sqrt(out[v, 0] * out[v, 0] + out[v, 1] * out[v, 1] + out[v, 2] * out[v, 2]) + 1e-12
        out[v, 0], out[v, 1], out[v, 2] = out[v, 0] / m, out[v, 1] / m, out[v, 2] / m
    return out


@njit(cache=True)
def _grid(verts, faces):
    """A uniform grid of the vertices, cells three mean edges long: (start (cells + 1,) CSR of the cells,
    order (U,) vertices by cell, ascending within each, lo (3,) the grid's corner, n (3,) cells per axis,
    h the cell size)."""
    U = verts.shape[0]
    e = 0.0
    for f in range(faces.shape[0]):
        a, b = faces[f, 0], faces[f, 1]
        e += np.sqrt(
            (verts[a, 0] - verts[b, 0]) ** 2 + (verts[a, 1] - verts[b, 1]) ** 2 + (verts[a, 2] - verts[b, 2]) ** 2
        )
    h = 3.0 * e / max(faces.shape[0], 1) + 1e-9  # 3, not 2: fewer empty cells around points far off the body
    lo, hi = np.empty(3), np.empty(3)
    n = np.ones(3, np.int64)
    for d in range(3):
        lo[d], hi[d] = verts[:, d].min(), verts[:, d].max()
    while True:  # coarser cells where a few small triangles lie far apart: at most ~8 cells a vertex
        for d in range(3):
            n[d] = int((hi[d] - lo[d]) / h) + 1
        if n[0] * n[1] * n[2] <= 8 * U + 64:
            break
        h *= 1.5
    cell = np.empty(U, np.int64)
    start = np.zeros(n[0] * n[1] * n[2] + 1, np.int64)
    for v in range(U):
        c = 0
        for d in range(3):
            c = c * n[d] + min(int((verts[v, d] - lo[d]) / h), n[d] - 1)
        cell[v] = c
        start[c + 1] += 1
    for c in range(len(start) - 1):
        start[c + 1] += start[c]
    order = np.empty(U, np.int64)
    fill = start[:-1].copy()
    for v in range(U):
        order[fill[cell[v]]] = v
        fill[cell[v]] += 1
    return start, order, lo, n, h


@njit(cache=True)
def _group_bits(mask):
    """(N,) int64 per vertex or face of a (groups, N) mask: bit g set where mask[g] holds it (groups 63 and up
    share bit 63)."""
    bits = np.zeros(mask.shape[1], np.int64)
    for g in range(mask.shape[0]):
        b = np.int64(1) << min(g, 63)
        for v in range(mask.shape[1]):
            if mask[g, v]:
                bits[v] |= b
    return bits


@njit(cache=True)
def _cell_bits(start, order, vbits):
    """(cells,) int64: the OR of `_group_bits` over each grid cell's vertices (the groups with a vertex there)."""
    out = np.zeros(len(start) - 1, np.int64)
    for c in range(len(start) - 1):
        for k in range(start[c], start[c + 1]):
            out[c] |= vbits[order[k]]
    return out


@njit(cache=True)
def _nearest_vertices(points, verts, vallow, vbits, group, hint, start, order, cverts, lo, n, h, reach):
    """For each point i the nearest vertex v with vallow[group[i], v] within reach (`nearest_vertex` on the
    grid start, order, lo, n, h of `_grid`, cverts = verts[order])."""
    cellbits = _cell_bits(start, order, vbits)
    out = np.empty(points.shape[0], np.int64)
    for i in range(points.shape[0]):
        out[i] = _nearest_vertex(i, points, verts, vallow, group, hint, start, order, cverts, cellbits, lo, n, h, reach)
    return out


@njit(cache=True)
def _closest_points(points, verts, faces, vf, valence, near, allow, whole, group, normals):
    """`closest_point` for every point (independent: no reductions): (N, 11) rows for `_unpack`; normals:
    the whole mesh's vertex normals (`_vertex_normals`)."""
    out = np.empty((points.shape[0], 11))
    for i in range(points.shape[0]):
        _closest_point(i, points, verts, faces, vf, valence, near, allow, whole, group, normals, out)
    return out


def _unpack(out: np.ndarray) -> tuple[np.ndarray, ...]:
    """closest_point's (N, 11) rows as (signed, normal, point, face, bary)."""
    return out[:, 0].copy(), out[:, 1:4].copy(), out[:, 4:7].copy(), out[:, 7].astype(np.int64), out[:, 8:11].copy()


@dataclass
class Proximity:
    signed: np.ndarray  # (N,) signed distance, negative inside
    normal: np.ndarray  # (N, 3) unit outward normal at the closest point
    point: np.ndarray  # (N, 3) closest surface point
    face: np.ndarray  # (N,) triangle index
    bary: np.ndarray  # (N, 3)
    vertex: np.ndarray  # (N,) nearest mesh vertex


class Pose:
    """The mesh posed at verts (its own float64 copy), with the search grid and the vertex normals each built
    on first use: a substep's two queries share them, and the normals of its end (`track`) are the next
    substep's start's (built four times a substep and the grid twice, they were 1-2 % of it)."""

    def __init__(self, verts: np.ndarray, faces: np.ndarray):
        self.verts, self.faces = np.array(verts, np.float64, order="C"), faces
        self.finite = bool(np.isfinite(self.verts).all())
        self._grid: tuple | None = None
        self._normals: np.ndarray | None = None
        self.device: Any = None  # collision_cuda's copies of this pose, made on its first query there
        self.face_cells: np.ndarray | None = None  # PartCollider's `_face_cells` of the other parts on this pose

    def same(self, verts: np.ndarray) -> bool:
        """Whether verts are this pose's vertices, bit for bit."""
        return verts.shape == self.verts.shape and bool(np.array_equal(verts, self.verts))

    @property
    def grid(self) -> tuple:
        """`_grid` of the posed vertices with the vertices in its order: (start, order, cverts, lo, n, h)."""
        if self._grid is None:
            start, order, lo, n, h = _grid(self.verts, self.faces)
            self._grid = (start, order, self.verts[order], lo, n, h)
        return self._grid

    @property
    def normals(self) -> np.ndarray:
        """(V, 3) `vertex_normals` of the posed mesh."""
        if self._normals is None:
            self._normals = _vertex_normals(self.verts, self.faces)
        return self._normals


class MeshCollider:
    """A triangle mesh whose vertices move over time (faces fixed). device "cuda" runs the queries on the
    GPU (collision_cuda.py: the same element functions), "cpu" (default) in the numba kernels here."""

    def __init__(self, faces: np.ndarray, num_verts: int, device: str = "cpu"):
        self.faces = np.asarray(faces, np.int64)
        self.vf = vertex_face_table(self.faces, num_verts)
        self.valence = np.bincount(self.faces.ravel(), minlength=num_verts)
        self.everything = (np.ones((1, len(self.faces)), bool), np.ones((1, num_verts), bool))
        self.everything += (self.whole(self.everything[0]),)
        self._hint: np.ndarray | None = None  # the nearest vertices of the last warm query
        self._poses: list[Pose] = []  # the last two poses asked for (a substep's start and end)
        self._bits: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(vallow) -> (vallow, its _group_bits)
        self._cuda = None
        self.to_device(device)

    def pose(self, verts: np.ndarray) -> Pose:
        """The mesh posed at verts: one of the last two poses again (grid and normals built) when verts equal
        its vertices."""
        for p in self._poses:
            if p.same(verts):
                return p
        self._poses = [Pose(verts, self.faces), *self._poses[:1]]
        return self._poses[0]

    def _vertex_bits(self, vallow: np.ndarray) -> np.ndarray:
        """`_group_bits` of a vertex group mask, computed once per mask array (the callers' masks are constant)."""
        got = self._bits.get(id(vallow))
        if got is None or got[0] is not vallow:
            if len(self._bits) > 8:
                self._bits.clear()
            got = self._bits[id(vallow)] = (vallow, _group_bits(vallow))
        return got[1]

    def to_device(self, device: str) -> None:
        """Run the queries on "cpu" or "cuda" from now on."""
        self._cuda, self._poses = None, []
        if device == "cuda":
            from synth.cloth.collision_cuda import CudaQuery  # numba.cuda only when a GPU is asked for

            self._cuda = CudaQuery(self.faces, self.vf, self.valence)

    def query(self, points: np.ndarray, verts: np.ndarray, warm: bool = False) -> Proximity:
        """Closest points of points (N, 3) on the mesh posed at verts (its normals are computed only
        where needed, at the closest points' triangles). warm: see query_groups."""
        return self.query_groups(points, verts, *self.everything, np.zeros(len(points), np.int64), warm)

    def whole(self, allow: np.ndarray) -> np.ndarray:
        """(G, V) bool: for face masks allow (G, F), whether every face around each vertex is allowed."""
        return allow[:, self.vf].all(axis=2)

    def query_groups(
        self,
        points: np.ndarray,
        verts: np.ndarray,
        allow: np.ndarray,
        vallow: np.ndarray,
        whole: np.ndarray,
        group: np.ndarray,
        warm: bool = False,
        reach: float = math.inf,
        hint: np.ndarray | None = None,
    ) -> Proximity:
        """query with each point restricted to the faces allow[group] (G, F) bool of its group (N,),
        whose vertices are vallow[group] (G, V) bool (the sub-mesh whose normals give the sign);
        whole = self.whole(allow). warm: start each point's nearest-vertex search from the nearest
        vertex of the last warm query of as many points (the substep before): the same answer,
        found in fewer grid cells. reach: points with no allowed vertex this near get signed +inf,
        vertex -1 (and face 0). hint (N,): each point's search starts from this allowed vertex (-1: none),
        the same answer as from none."""
        points = np.ascontiguousarray(points, np.float64)
        pose = self.pose(verts)
        if not pose.finite:
            raise ValueError("the collision mesh has non-finite vertices")
        if hint is None and warm and self._hint is not None and len(self._hint) == len(points):
            hint = self._hint
        if hint is None:
            hint = np.full(len(points), -1, np.int64)
        near, rows = self._rows(points, pose, allow, vallow, whole, group, hint, reach)
        if warm:
            self._hint = near
        signed, normal, point, face, bary = _unpack(rows)
        return Proximity(signed, normal, point, face, bary, near)

    def _rows(self, points, pose, allow, vallow, whole, group, hint, reach) -> tuple[np.ndarray, np.ndarray]:
        """query_groups' nearest vertices (N,) and closest_point's rows (N, 11), on this collider's device."""
        vbits = self._vertex_bits(vallow)
        if self._cuda is not None:
            return self._cuda.query(points, pose, allow, vallow, vbits, whole, group, hint, float(reach))
        near = _nearest_vertices(points, pose.verts, vallow, vbits, group, hint, *pose.grid, float(reach))
        rows = _closest_points(
            points, pose.verts, self.faces, self.vf, self.valence, near, allow, whole, group, pose.normals
        )
        return near, rows


def surface_at(
    verts: np.ndarray, normals: np.ndarray, faces: np.ndarray, face: np.ndarray, bary: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The point with barycentrics `bary` on triangle `face` of a posed mesh, and its unit
    Phong-interpolated normal: where a tracked surface point is after the body moved."""
    return _surface_at(
        contiguous_f64(verts),
        contiguous_f64(normals),
        np.ascontiguousarray(faces, np.int64),
        np.asarray(face),
        contiguous_f64(bary),
    )


@njit(cache=True)
def _surface_at(verts, normals, faces, face, bary):
    """surface_at (N points)."""
    N = len(face)
    point, normal = np.empty((N, 3)), np.empty((N, 3))
    for c in range(N):
        f = face[c]
        for d in range(3):
            point[c, d] = bary[c, 0] * verts[faces[f, 0], d] + bary[c, 1] * verts[faces[f, 1], d]
            point[c, d] += bary[c, 2] * verts[faces[f, 2], d]
            m = bary[c, 0] * normals[faces[f, 0], d] + bary[c, 1] * normals[faces[f, 1], d]
            normal[c, d] = m + bary[c, 2] * normals[faces[f, 2], d]  # unnormalised here: no array per point
        length = np.sqrt(normal[c, 0] * normal[c, 0] + normal[c, 1] * normal[c, 1] + normal[c, 2] * normal[c, 2])
        length += 1e-12
        for d in range(3):
            normal[c, d] = normal[c, d] / length
    return point, normal


@njit(cache=True, inline="always")
def _coulomb(t0, t1, t2, normal_dv, friction):
    """The factor on the tangential velocity (t0, t1, t2) relative to the body after a contact changed
    the normal velocity by normal_dv >= 0: Coulomb friction removes at most friction x normal_dv of
    tangential speed."""
    speed = np.sqrt(t0 * t0 + t1 * t1 + t2 * t2)
    return max(0.0, 1.0 - friction * normal_dv / (speed + 1e-12))


@njit(cache=True)
def track(
    x, v, moved, end, normals, faces, signed, face, bary, point0, thickness, free, force, gravity, h, margin, proximity,
    max_push,
):  # fmt: skip
    """The contacts of one substep (see simulate.substep): every free vertex nearer to its closest body
    point at the start (signed, face, bary, point0 of the query) than its thickness + margin + the
    body's motion there (moved (U,): each body vertex's, `body_motion`) + its own (h |v|) keeps that triangle and
    barycentric point (normals: the moved body's `vertex_normals`, `Pose.normals`). Returns their
    indices, the point and its unit normal on the moved body `end`, the body's velocity there, `need`
    (the normal speed that ends the step at the thickness, but at most max_push faster than the body's
    own normal speed there: a vertex found deep inside, as cloth caught between two body parts is, comes
    out over several substeps at a bounded speed, where a one-substep catch-up gives it depth / h, which
    grows as the substeps shrink: docs/BENCHMARKS.md#cloth, seq000175), `coming` (the normal speed the vertex
    would have after gravity) and `act`: the vertex is about to come closer than its thickness or
    rests within `proximity` x it, unless the last step's constraint held it on (force < 0)."""
    V = len(x)
    near = np.zeros(V, np.bool_)
    for a in range(V):
        if free[a]:
            f = face[a]
            disp = bary[a, 0] * moved[faces[f, 0]] + bary[a, 1] * moved[faces[f, 1]] + bary[a, 2] * moved[faces[f, 2]]
            speed = np.sqrt(v[a, 0] * v[a, 0] + v[a, 1] * v[a, 1] + v[a, 2] * v[a, 2])
            near[a] = signed[a] < thickness[a] + margin + disp + h * speed
    idx = np.nonzero(near)[0]
    point, normal = _surface_at(end, normals, faces, face[idx], bary[idx])
    C = len(idx)
    body_vel, need, coming = np.empty((C, 3)), np.empty(C), np.empty(C)
    act = np.empty(C, np.bool_)
    for c in range(C):
        a = idx[c]
        gap, come = 0.0, 0.0
        for d in range(3):
            body_vel[c, d] = (point[c, d] - point0[a, d]) / h
            gap += (x[a, d] - point[c, d]) * normal[c, d]  # at the end of the step if it stood still
            come += (v[a, d] + h * gravity[d]) * normal[c, d]
        body_n = body_vel[c, 0] * normal[c, 0] + body_vel[c, 1] * normal[c, 1] + body_vel[c, 2] * normal[c, 2]
        need[c] = min((thickness[a] - gap) / h, body_n + max_push)
        coming[c] = come
        act[c] = come < need[c] or (gap < proximity * thickness[a] and force[a] >= 0.0)
    return idx, point, normal, body_vel, need, coming, act


@njit(cache=True)
def body_motion(start, end):
    """(U,) each body vertex's displacement from start to end (for `track`) and the largest (as
    sqrt(einsum("ni,ni->n", d, d).max()) gives it: the sums in einsum's order; 0 for none)."""
    moved = np.empty(len(start))
    most = 0.0  # the largest squared displacement (sqrt is monotone: its root is the largest root)
    for u in range(len(start)):
        d0, d1, d2 = end[u, 0] - start[u, 0], end[u, 1] - start[u, 1], end[u, 2] - start[u, 2]
        moved[u] = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        most = max(most, _dot(d0, d1, d2, d0, d1, d2))
    return moved, np.sqrt(most)


@njit(cache=True)
def stick(v, idx, normal, body_vel, push, friction):
    """After the solve held vertices idx on the body: their velocity relative to the body's there
    loses its normal part (the catch-up of the prescribed speed was a position fix, not momentum) and
    Coulomb friction acts on the tangential part for the normal velocity change `push` >= 0. In place."""
    for c in range(len(idx)):
        a = idx[c]
        r0, r1, r2 = v[a, 0] - body_vel[c, 0], v[a, 1] - body_vel[c, 1], v[a, 2] - body_vel[c, 2]
        rn = r0 * normal[c, 0] + r1 * normal[c, 1] + r2 * normal[c, 2]
        t0, t1, t2 = r0 - rn * normal[c, 0], r1 - rn * normal[c, 1], r2 - rn * normal[c, 2]
        k = _coulomb(t0, t1, t2, push[c], friction[a])
        v[a, 0], v[a, 1], v[a, 2] = body_vel[c, 0] + k * t0, body_vel[c, 1] + k * t1, body_vel[c, 2] + k * t2


@dataclass
class Tracked:
    """One side's contacts of a substep (`track`'s output, `need` after simulate.hold_resting)."""

    idx: np.ndarray  # (C,) vertex indices
    point: np.ndarray  # (C, 3) the tracked body point on the moved body
    normal: np.ndarray  # (C, 3) its unit normal
    body_vel: np.ndarray  # (C, 3) the body's velocity there
    need: np.ndarray  # (C,) prescribed normal speed
    coming: np.ndarray  # (C,) the normal speed the vertex would have after gravity
    act: np.ndarray  # (C,) bool: held in the solve


@dataclass
class Resolved:
    """A substep's contacts after `pinch`: those held in the solve, and those only position-fixed after it."""

    idx: np.ndarray  # (S,) vertices held in the solve (unique)
    normal: np.ndarray  # (S, 3)
    need: np.ndarray  # (S,) prescribed normal speed
    body_vel: np.ndarray  # (S, 3) the body velocity friction acts against
    push: np.ndarray  # (S,) the normal velocity change that drives friction (>= 0)
    fix: Tracked  # the tracked vertices not held in the solve (respond pushes them out after strain limiting)


FAR_REACH = 0.08  # m: how far PartCollider.others_within looks, so that a point far off is queried again rarely
PINCH_COS = 0.5  # the two surfaces oppose when their normals are more than 120 degrees apart


def pinch(
    near: Tracked, far: Tracked, x: np.ndarray, v: np.ndarray, h: float, gravity, thickness, max_push
) -> Resolved:
    """Merge the contacts with the parts around each vertex's home (near) and with the other parts (far).
    A vertex tracked on both with opposing normals, one of them acting, is pinched (cloth between arm and
    chest, thigh and belly, hand and thigh). Where the gap has no room for both thicknesses, one constraint
    along n = (n_near - n_far) / |.| brings it to the gap's middle, at most max_push faster than the two
    surfaces' mean normal speed: each surface alone pushed it into the other one's clearance, and the next
    substep it was thrown back (or, when the other part was not collided with, left inside it). Friction acts
    against the home surface's tangential velocity (and the middle's normal speed). Where the
    gap has room, and for other vertices tracked on both, the acting one goes into the solve, of two the one
    that changes the normal speed more: either ends the substep at its own clearance, clear of the other."""
    sides = [np.ascontiguousarray(getattr(t, k), d) for t in (near, far) for k, d in _TRACKED.items()]
    out = _pinch(
        *sides,
        contiguous_f64(x),
        contiguous_f64(v),
        float(h),
        contiguous_f64(gravity),
        contiguous_f64(thickness),
        float(max_push),
    )
    return Resolved(*out[:5], Tracked(*out[5:]))


_TRACKED = {"idx": np.int64, "point": np.float64, "normal": np.float64, "body_vel": np.float64, "need": np.float64}
_TRACKED |= {"coming": np.float64, "act": np.bool_}  # Tracked's fields and their dtypes, in its order


@njit(cache=True)
def _pinch(ni, np_, nn, nb, nneed, ncome, nact, fi, fp, fn, fb, fneed, fcome, fact, x, v, h, gravity, thickness, mp):
    """pinch on the two sides' Tracked fields (n..., f...), in one pass over their contacts: the numbers of
    the numpy code it replaced bit for bit (`_dot` sums as its einsum did, norms as its np.linalg.norm;
    about 80 small numpy calls were 3 % of a substep)."""
    A, B = len(ni), len(fi)
    slot = np.full(len(x), -1, np.int64)
    for k in range(B):
        slot[fi[k]] = k
    prefer_far = np.zeros(len(x), np.bool_)
    held = np.zeros(len(x), np.bool_)
    pairs = np.empty((A, 2), np.int64)  # the pinched (near, far) contact pairs, in near's order
    P = 0
    for ka in range(A):
        kb = slot[ni[ka]]
        if kb < 0:
            continue
        if fact[kb] and (not nact[ka] or fneed[kb] - fcome[kb] > nneed[ka] - ncome[ka]):
            prefer_far[ni[ka]] = True
        opposed = _dot(nn[ka, 0], nn[ka, 1], nn[ka, 2], fn[kb, 0], fn[kb, 1], fn[kb, 2]) < -PINCH_COS
        if opposed and (nact[ka] or fact[kb]):
            pairs[P, 0], pairs[P, 1] = ka, kb
            P += 1
    # of those, the ones whose gap has no room for both clearances
    n = np.empty((P, 3))
    keep = np.zeros(P, np.bool_)
    for p in range(P):
        ka, kb = pairs[p, 0], pairs[p, 1]
        m0, m1, m2 = nn[ka, 0] - fn[kb, 0], nn[ka, 1] - fn[kb, 1], nn[ka, 2] - fn[kb, 2]
        m = math.sqrt((m0 * m0 + m1 * m1) + m2 * m2)
        n[p, 0], n[p, 1], n[p, 2] = m0 / m, m1 / m, m2 / m
        d0, d1, d2 = fp[kb, 0] - np_[ka, 0], fp[kb, 1] - np_[ka, 1], fp[kb, 2] - np_[ka, 2]
        keep[p] = _dot(d0, d1, d2, n[p, 0], n[p, 1], n[p, 2]) - 2 * thickness[ni[ka]] < 0
    Q = int(keep.sum())
    for p in range(P):
        if keep[p]:
            held[ni[pairs[p, 0]]] = True
    a = np.zeros(A, np.bool_)
    for k in range(A):
        if nact[k] and not held[ni[k]] and not prefer_far[ni[k]]:
            a[k] = True
    for k in range(A):
        if a[k]:
            held[ni[k]] = True
    b = np.zeros(B, np.bool_)
    for k in range(B):
        if fact[k] and not held[fi[k]]:
            b[k] = True
            held[fi[k]] = True
    S = Q + int(a.sum()) + int(b.sum())
    idx, need, push = np.empty(S, np.int64), np.empty(S), np.empty(S)
    normal, body_vel = np.empty((S, 3)), np.empty((S, 3))
    s = 0
    hg0, hg1, hg2 = h * gravity[0], h * gravity[1], h * gravity[2]
    for p in range(P):
        if not keep[p]:
            continue
        ka, kb = pairs[p, 0], pairs[p, 1]
        u = ni[ka]
        n0, n1, n2 = n[p, 0], n[p, 1], n[p, 2]
        middle = 0.5 * _dot(np_[ka, 0] + fp[kb, 0], np_[ka, 1] + fp[kb, 1], np_[ka, 2] + fp[kb, 2], n0, n1, n2)
        body_n = 0.5 * _dot(nb[ka, 0] + fb[kb, 0], nb[ka, 1] + fb[kb, 1], nb[ka, 2] + fb[kb, 2], n0, n1, n2)
        # friction against the home part: the other sliding over the cloth (a forearm along the thigh) does not
        # drag it along (against the two's mean velocity, shorts pinched so were stretched past 4x)
        off = body_n - _dot(nb[ka, 0], nb[ka, 1], nb[ka, 2], n0, n1, n2)
        go = (middle - _dot(x[u, 0], x[u, 1], x[u, 2], n0, n1, n2)) / h
        go = min(max(go, body_n - mp), body_n + mp)
        coming = _dot(v[u, 0] + hg0, v[u, 1] + hg1, v[u, 2] + hg2, n0, n1, n2)
        idx[s], need[s], push[s] = u, go, abs(go - coming)
        normal[s, 0], normal[s, 1], normal[s, 2] = n0, n1, n2
        for d in range(3):
            body_vel[s, d] = nb[ka, d] + off * n[p, d]
        s += 1
    for side in range(2):
        sel, si, sn, sb, sneed, scome = (a, ni, nn, nb, nneed, ncome) if side == 0 else (b, fi, fn, fb, fneed, fcome)
        for k in range(len(sel)):
            if sel[k]:
                idx[s], need[s], push[s] = si[k], sneed[k], max(sneed[k] - scome[k], 0.0)
                for d in range(3):
                    normal[s, d], body_vel[s, d] = sn[k, d], sb[k, d]
                s += 1
    # the tracked vertices not held: position-fixed after strain limiting
    F = 0
    for k in range(A):
        F += not held[ni[k]]
    for k in range(B):
        F += not held[fi[k]]
    fidx, fpt, fnor, fbv = np.empty(F, np.int64), np.empty((F, 3)), np.empty((F, 3)), np.empty((F, 3))
    fneed_, fcome_, fact_ = np.empty(F), np.empty(F), np.empty(F, np.bool_)
    s = 0
    for side in range(2):
        si, sp, sn, sb, sneed, scome, sact = (
            (ni, np_, nn, nb, nneed, ncome, nact) if side == 0 else (fi, fp, fn, fb, fneed, fcome, fact)
        )
        for k in range(len(si)):
            if not held[si[k]]:
                fidx[s], fneed_[s], fcome_[s], fact_[s] = si[k], sneed[k], scome[k], sact[k]
                for d in range(3):
                    fpt[s, d], fnor[s, d], fbv[s, d] = sp[k, d], sn[k, d], sb[k, d]
                s += 1
    return idx, normal, need, body_vel, push, fidx, fpt, fnor, fbv, fneed_, fcome_, fact_


def respond(
    x: np.ndarray,
    v: np.ndarray,
    idx: np.ndarray,
    point: np.ndarray,
    normal: np.ndarray,
    body_vel: np.ndarray,
    thickness: np.ndarray,
    friction: np.ndarray,
) -> int:
    """Keep vertices idx at least `thickness` in front of their body surface point (point, unit
    normal): push the closer ones out along the normal, cancel their approaching normal velocity
    relative to the body's velocity there, and apply Coulomb friction to the tangential part.
    There is no depth cut-off: the caller tracks each vertex's triangle from the start of the
    substep (where it was outside), so a deep point is one the body ran into, never the far side.
    In place on x, v (float64, C order); returns the number of contacts."""
    return _respond(
        x,
        v,
        np.asarray(idx, np.int64),
        contiguous_f64(point),
        contiguous_f64(normal),
        contiguous_f64(body_vel),
        contiguous_f64(thickness),
        contiguous_f64(friction),
    )


@njit(cache=True)
def _respond(x, v, idx, point, normal, body_vel, thickness, friction):
    """respond."""
    hits = 0
    for c in range(len(idx)):
        a = idx[c]
        n0, n1, n2 = normal[c, 0], normal[c, 1], normal[c, 2]
        s = (x[a, 0] - point[c, 0]) * n0 + (x[a, 1] - point[c, 1]) * n1 + (x[a, 2] - point[c, 2]) * n2
        if not s < thickness[a]:
            continue
        hits += 1
        push = thickness[a] - s
        x[a, 0], x[a, 1], x[a, 2] = x[a, 0] + push * n0, x[a, 1] + push * n1, x[a, 2] + push * n2
        r0, r1, r2 = v[a, 0] - body_vel[c, 0], v[a, 1] - body_vel[c, 1], v[a, 2] - body_vel[c, 2]
        vn = r0 * n0 + r1 * n1 + r2 * n2
        t0, t1, t2 = r0 - vn * n0, r1 - vn * n1, r2 - vn * n2
        k = _coulomb(t0, t1, t2, max(-vn, 0.0), friction[a])
        out = max(vn, 0.0)
        v[a, 0] = body_vel[c, 0] + k * t0 + out * n0
        v[a, 1] = body_vel[c, 1] + k * t1 + out * n1
        v[a, 2] = body_vel[c, 2] + k * t2 + out * n2
    return hits


@dataclass
class Embedding:
    """Points expressed in the frame (e1, e2, n) of a triangle of a deforming mesh."""

    face: np.ndarray  # (N,)
    coords: np.ndarray  # (N, 3): p = v0 + a e1 + b e2 + c n

    @classmethod
    def build(cls, points: np.ndarray, verts: np.ndarray, faces: np.ndarray, prox: Proximity) -> Embedding:
        tri = verts[faces[prox.face]]
        frame = _frames(tri)
        coords = np.linalg.solve(frame, (points - tri[:, 0])[..., None])[..., 0]
        return cls(prox.face, coords)

    def evaluate(self, verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
        tri = verts[faces[self.face]]
        return tri[:, 0] + np.einsum("nij,nj->ni", _frames(tri), self.coords)


@dataclass
class RigidAttachment:
    """Points carried by the best-fit rigid motion (Kabsch) of their `k` nearest body vertices at rest:
    the collar pins of tops (simulate.Attachments). A triangle frame (`Embedding`) carries a point 2 cm
    out along the normal of one small body triangle, whose turning and shrinking (the front of the neck
    as the arms come down) stretched pinned collar edges 2.9x and sank pins 17 mm into the body; a
    neighbourhood's rigid motion stretches them only by the skin's strain over some 10 cm."""

    neighbours: np.ndarray  # (P, k) body vertex indices
    gather: Any  # (4P, Vb) sparse: per point its neighbours' centroid, then rows i of H = sum r_k x_k^T
    offset: np.ndarray  # (P, 3) each point at rest, relative to that centroid

    @classmethod
    def build(cls, points: np.ndarray, rest: np.ndarray, k: int = 128) -> RigidAttachment:
        from scipy.sparse import csr_matrix
        from scipy.spatial import cKDTree

        rest = np.asarray(rest, np.float64)
        P, k = len(points), min(k, len(rest))
        idx = np.asarray(cKDTree(rest).query(points, k)[1], np.int64).reshape(P, k)
        centre = rest[idx].mean(1)
        local = rest[idx] - centre[:, None]  # (P, k, 3): zero mean, so H needs no centred current positions
        values = np.concatenate([np.full((P, k), 1.0 / k), *(local[..., i] for i in range(3))])
        rows = np.repeat(np.arange(4 * P), k)
        gather = csr_matrix((values.ravel(), (rows, np.tile(idx, (4, 1)).ravel())), shape=(4 * P, len(rest)))
        return cls(idx, gather, np.asarray(points, np.float64) - centre)

    def evaluate(self, verts: np.ndarray) -> np.ndarray:
        """(P, 3) the points on the body posed as verts (Vb, 3)."""
        P = len(self.offset)
        if P == 0:
            return np.zeros((0, 3))
        g = self.gather @ np.asarray(verts, np.float64)
        centre, H = g[:P], g[P:].reshape(3, P, 3).transpose(1, 0, 2)  # H = sum_k r_k x_k^T (P, 3, 3)
        R = special_procrustes(H.transpose(0, 2, 1))  # maximises tr(R^T sum_k x_k r_k^T)
        return centre + np.einsum("pij,pj->pi", R, self.offset)


def _frames(tri: np.ndarray) -> np.ndarray:
    """(N, 3, 3) matrices whose columns are e1, e2 and the unit normal."""
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    n = np.cross(e1, e2)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return np.stack([e1, e2, n], -1)


class PartCollider:
    """Collide each cloth point with the body parts around its home part (the part under it at rest,
    with its parent and its children: `query`), and separately with every other part (`query_others`,
    within a reach). A point pinched between two parts then has one closest surface of each kind, never a
    closest point that flips from one to the other (which pushed it through the far one, or tore the cloth
    across the gap); `pinch` resolves the two together.

    groups: per home part, (points, faces (F_g,) it may touch, vertices (U_g,) of those faces)."""

    def __init__(
        self, faces: np.ndarray, labels: np.ndarray, parents: np.ndarray, home: np.ndarray, device: str = "cpu"
    ):
        self.mesh = MeshCollider(faces, len(labels), device)
        self.faces = self.mesh.faces
        face_labels = labels[self.faces]
        self.groups, allow = [], []
        self.group = np.zeros(len(home), np.int64)
        for part in np.unique(home):
            pts = np.nonzero(home == part)[0]
            allowed = {int(part), int(parents[part])} | {int(c) for c in np.nonzero(parents == part)[0]}
            fmask = np.isin(face_labels, list(allowed)).any(1)
            self.group[pts] = len(allow)
            allow.append(fmask)
            self.groups.append((pts, np.nonzero(fmask)[0], np.unique(self.faces[fmask])))
        self.allow = np.stack(allow)
        self.others = ~self.allow  # the faces of no part around the home part
        self.vallow, self.vothers = (np.zeros((len(allow), len(labels)), bool) for _ in range(2))
        for g in range(len(allow)):
            self.vallow[g, self.groups[g][2]] = True
            self.vothers[g, np.unique(self.faces[self.others[g]])] = True
        self.whole, self.whole_others = self.mesh.whole(self.allow), self.mesh.whole(self.others)
        self.far_last = np.zeros(0)  # simulate.far_signed's answer a substep before (contact history)
        self._bound: np.ndarray | None = None  # others_within's state: each point's distance bound when queried,
        self._at, self._from, self._travel = np.zeros(0), np.zeros((0, 3)), 0.0  # the body's travel and the point then
        self._far_hint = np.zeros(0, np.int64)  # each point's nearest other-part vertex when last queried, -1 none
        self._others_bits: np.ndarray | None = None  # _group_bits(self.others)

    def query(self, points: np.ndarray, verts: np.ndarray, warm: bool = False) -> Proximity:
        """Closest points of points (N, 3) (those PartCollider was built for) on their groups' faces,
        from the nearest of the group's vertices; the sign from the group sub-mesh's normals.
        warm: see MeshCollider.query_groups."""
        return self.mesh.query_groups(points, verts, self.allow, self.vallow, self.whole, self.group, warm)

    def query_others(
        self,
        points: np.ndarray,
        verts: np.ndarray,
        reach: float,
        hint: np.ndarray | None = None,
    ) -> Proximity:
        """`query` on the faces of the parts *not* around each point's home part, for the points with such a
        vertex within reach (m); the others get signed +inf. hint: see MeshCollider.query_groups. (The
        substep's own calls go through `others_within`, which queries only the points that need it.)"""
        args = (self.others, self.vothers, self.whole_others, self.group)
        return self.mesh.query_groups(points, verts, *args, False, reach, hint)  # not warm: mesh's hints stay

    def others_within(self, points: np.ndarray, verts: np.ndarray, need: np.ndarray, moved: float) -> Proximity:
        """query_others for every point that may be within need (N,) m of the other parts, the rest signed +inf.
        Each point's last answer (its distance, or the reach it found nothing within) less the body's motion
        since (moved: the largest body vertex displacement since the last call) and its own bounds its
        distance now; only points whose bound is below need are queried again, within FAR_REACH or need.
        Most cloth is 10-40 cm from every other part: queried every substep, the other parts cost 2-8x the
        home parts' query."""
        N = len(points)
        points = np.ascontiguousarray(points, np.float64)
        if self._bound is None or len(self._bound) != N:
            self._bound, self._at, self._from = np.zeros(N), np.zeros(N), np.array(points, np.float64)
            self._far_hint = np.full(N, -1, np.int64)
        self._travel += moved
        need = np.ascontiguousarray(need, np.float64)
        idx = _requery(points, self._from, self._bound, self._at, self._travel, need)
        reach = max(FAR_REACH, float(need.max(initial=0.0)))
        pose = self.mesh.pose(verts)
        if not pose.finite:
            raise ValueError("the collision mesh has non-finite vertices")
        # of those, only the ones some other part's face may be within need of (the rest: 2-4x as many, most of
        # them with no other part within FAR_REACH, each a search of some 125 cells)
        start, order, cverts, lo, n, h = pose.grid
        idx = _may_touch(points, idx, need, self.group, self._face_cells(pose), lo, n, h)
        # each search starts from the point's last answer: the same answer from fewer cells (docs/BENCHMARKS.md)
        pts, group, hint = points[idx], self.group[idx], self._far_hint[idx]
        near, rows = self.mesh._rows(pts, pose, self.others, self.vothers, self.whole_others, group, hint, reach)
        out = _record_far(
            points, idx, near, *_unpack(rows), reach, self._travel, self._far_hint, self._bound, self._at, self._from
        )
        return Proximity(*out)

    def _face_cells(self, pose: Pose) -> np.ndarray:
        """`_face_cells` of the other parts' faces on pose's grid, once per pose."""
        if pose.face_cells is None:
            if self._others_bits is None:
                self._others_bits = _group_bits(self.others)
            _, _, _, lo, n, h = pose.grid
            pose.face_cells = _face_cells(pose.verts, self.faces, self._others_bits, lo, n, h)
        return pose.face_cells

    def pose(self, verts: np.ndarray) -> Pose:
        """MeshCollider.pose."""
        return self.mesh.pose(verts)

    def to_device(self, device: str) -> None:
        """Run the queries on "cpu" or "cuda" from now on."""
        self.mesh.to_device(device)


@njit(cache=True)
def _requery(points, last, bound, at, travel, need):
    """others_within's points to query again: last answer (bound) less the body's travel since and the point's own
    drift below need (the numpy expression it replaced, bit for bit: `_dot` sums as its einsum did)."""
    keep = np.empty(len(points), np.bool_)
    for i in range(len(points)):
        d0, d1, d2 = points[i, 0] - last[i, 0], points[i, 1] - last[i, 1], points[i, 2] - last[i, 2]
        keep[i] = bound[i] - (travel - at[i]) - math.sqrt(_dot(d0, d1, d2, d0, d1, d2)) < need[i]
    return np.nonzero(keep)[0]


@njit(cache=True)
def _record_far(
    points, idx, near, q_signed, q_normal, q_point, q_face, q_bary, reach, travel, far_hint, bound, at, last
):
    """others_within's answers: the `_unpack`ed answers (q_...) of the points idx queried again, in full-size
    Proximity fields (the rest signed +inf, vertex -1, zeros), and their state (hint, distance bound, travel and
    position) updated."""
    N = len(points)
    signed, normal, point = np.full(N, np.inf), np.zeros((N, 3)), np.zeros((N, 3))
    face, bary, vertex = np.zeros(N, np.int64), np.zeros((N, 3)), np.full(N, -1, np.int64)
    for k in range(len(idx)):
        i = idx[k]
        signed[i], face[i], vertex[i] = q_signed[k], q_face[k], near[k]
        for d in range(3):
            normal[i, d], point[i, d], bary[i, d] = q_normal[k, d], q_point[k, d], q_bary[k, d]
            last[i, d] = points[i, d]
        far_hint[i] = near[k]
        bound[i] = min(abs(q_signed[k]), reach)
        at[i] = travel
    return signed, normal, point, face, bary, vertex


@njit(cache=True)
def _face_cells(verts, faces, fbits, lo, n, h):
    """(cells,) int64: the OR of `_group_bits` over the faces whose bounding box meets each grid cell (a cell
    without group g's bit holds no point of its faces: a face's box spans its vertices' cells, `_cell_of`
    being monotone)."""
    vc = np.empty((verts.shape[0], 3), np.int64)
    for v in range(verts.shape[0]):
        for d in range(3):
            vc[v, d] = _cell_of(verts[v, d], lo[d], h, n[d])
    out = np.zeros(n[0] * n[1] * n[2], np.int64)
    for f in range(faces.shape[0]):
        i, j, k = faces[f, 0], faces[f, 1], faces[f, 2]
        x0, x1 = min(vc[i, 0], vc[j, 0], vc[k, 0]), max(vc[i, 0], vc[j, 0], vc[k, 0])
        y0, y1 = min(vc[i, 1], vc[j, 1], vc[k, 1]), max(vc[i, 1], vc[j, 1], vc[k, 1])
        z0, z1 = min(vc[i, 2], vc[j, 2], vc[k, 2]), max(vc[i, 2], vc[j, 2], vc[k, 2])
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                for z in range(z0, z1 + 1):
                    out[(x * n[1] + y) * n[2] + z] |= fbits[f]
    return out


@njit(cache=True)
def _may_touch(points, idx, need, group, cells, lo, n, h):
    """The points of idx that may have a point of their group's faces within need (`_face_cells`: some cell
    meeting the box of that radius around them holds one); the others are provably farther."""
    keep = np.zeros(len(idx), np.bool_)
    for k in range(len(idx)):
        i = idx[k]
        gb = min(group[i], 63)
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        r = need[i] * (1.0 + 1e-9) + 1e-12  # over the rounding of p +- need
        if not (math.isfinite(px) and math.isfinite(py) and math.isfinite(pz) and math.isfinite(r)):
            keep[k] = True
            continue
        x0, x1, y0, y1, z0, z1 = _cell_box(px, py, pz, r, lo, h, n)
        keep[k] = _box_holds(cells, gb, x0, x1, y0, y1, z0, z1, n)
    return idx[keep]


@njit(cache=True, inline="always")
def _box_holds(cells, gb, x0, x1, y0, y1, z0, z1, n):
    """Whether a grid cell of the box x0..x1, y0..y1, z0..z1 has bit gb in cells (the first one found ends it)."""
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            for z in range(z0, z1 + 1):
                if (cells[(x * n[1] + y) * n[2] + z] >> gb) & 1:
                    return True
    return False
