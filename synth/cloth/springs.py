"""Spring topology of a triangle mesh: stretch (edges), shear (across an edge), bend (over two
nearly collinear edges, Provot style). Works on any triangle mesh, not only on grids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.cloth.materials import Material

STRETCH, SHEAR, BEND = 0, 1, 2


@dataclass
class Springs:
    i: np.ndarray  # (S,) int64
    j: np.ndarray  # (S,) int64
    rest: np.ndarray  # (S,) rest lengths, m
    kind: np.ndarray  # (S,) int8: STRETCH, SHEAR or BEND

    def __len__(self) -> int:
        return len(self.i)


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2), smaller index first."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def across_edge_pairs(faces: np.ndarray) -> np.ndarray:
    """(P, 2) pairs of the vertices opposite each interior edge (the two triangles' far corners)."""
    f = np.asarray(faces)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    opp = np.concatenate([f[:, 2], f[:, 0], f[:, 1]])
    key = np.sort(e, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    key, opp = key[order], opp[order]
    same = np.all(key[1:] == key[:-1], axis=1)
    pairs = np.stack([opp[:-1][same], opp[1:][same]], 1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(np.sort(pairs, axis=1), axis=0)


def bend_pairs(verts: np.ndarray, edges: np.ndarray, max_cos: float = -0.8) -> np.ndarray:
    """(P, 2) pairs (i, k) with a common neighbour j where i-j-k is nearly straight (cos < max_cos)."""
    V = len(verts)
    both = np.concatenate([edges, edges[:, ::-1]])
    both = both[np.argsort(both[:, 0], kind="stable")]
    deg = np.bincount(both[:, 0], minlength=V)
    maxdeg = int(deg.max()) if len(deg) else 0
    start = np.concatenate([[0], np.cumsum(deg)[:-1]])
    slot = np.arange(len(both)) - start[both[:, 0]]
    nbr = np.full((V, maxdeg), -1, np.int64)
    nbr[both[:, 0], slot] = both[:, 1]
    valid = nbr >= 0
    d = verts[np.where(valid, nbr, 0)] - verts[:, None, :]
    d /= np.linalg.norm(d, axis=-1, keepdims=True) + 1e-12
    cos = np.einsum("vad,vbd->vab", d, d)
    ok = valid[:, :, None] & valid[:, None, :]
    cos = np.where(ok, cos, np.inf)
    best = np.argmin(cos, axis=2)  # for each (j, i) the straightest continuation k
    bc = np.take_along_axis(cos, best[..., None], 2)[..., 0]
    keep = valid & (bc < max_cos)
    jj, aa = np.nonzero(keep)
    pairs = np.stack([nbr[jj, aa], nbr[jj, best[jj, aa]]], 1)
    return np.unique(np.sort(pairs, axis=1), axis=0)


def build_springs(verts: np.ndarray, faces: np.ndarray) -> Springs:
    """All three spring classes, each vertex pair once (stretch wins over shear over bend)."""
    verts = np.asarray(verts, np.float64)
    edges = mesh_edges(faces)
    sets = [edges, across_edge_pairs(faces), bend_pairs(verts, edges)]
    pairs = np.concatenate(sets)
    kind = np.concatenate([np.full(len(s), k, np.int8) for k, s in enumerate(sets)])
    _, first = np.unique(pairs, axis=0, return_index=True)  # np.unique keeps the first occurrence
    pairs, kind = pairs[first], kind[first]
    rest = np.linalg.norm(verts[pairs[:, 1]] - verts[pairs[:, 0]], axis=1)
    keep = rest > 1e-9
    return Springs(pairs[keep, 0].astype(np.int64), pairs[keep, 1].astype(np.int64), rest[keep], kind[keep])


def vertex_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Lumped (V,) area per vertex: a third of each incident triangle."""
    v = np.asarray(verts, np.float64)
    a = 0.5 * np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]]), axis=1)
    return np.bincount(faces.ravel(), weights=np.repeat(a / 3.0, 3), minlength=len(v))


def spring_coefficients(
    springs: Springs, mass: np.ndarray, materials: list[Material], vertex_garment: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-spring stiffness k (N/m) and damping c (N s/m): c = zeta * 2 sqrt(k * reduced mass)."""
    g = vertex_garment[springs.i]
    table = np.array([[m.stretch, m.shear, m.bend, m.damping] for m in materials])
    k = table[g, springs.kind]
    zeta = table[g, 3]
    mi, mj = mass[springs.i], mass[springs.j]
    mu = mi * mj / (mi + mj)
    return k, zeta * 2.0 * np.sqrt(k * mu)
