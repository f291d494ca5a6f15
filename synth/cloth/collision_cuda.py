"""Closest-point queries on CUDA (numba.cuda): collision.py's per-point element functions compiled as device
functions, one thread per query point. The uniform grid is built on the CPU (`collision._grid`, a serial
counting sort of the body's vertices, once per `collision.Pose`) and copied in with the posed mesh, once per
pose; the whole mesh's vertex normals are gathered per vertex over its faces in face order (the CPU's scatter
order: the same sums)."""

from __future__ import annotations

import numpy as np
from numba import cuda

from synth.cloth.collision import _cell_bits, make_contact_elements
from synth.cloth.solver_cuda import THREADS, _blocks, require

_, _, _vertex_normal, _, _, _nearest_vertex, _closest_point = make_contact_elements(cuda.jit(device=True))


@cuda.jit(cache=True)
def _k_normals(verts, faces, vf, valence, every, normals):
    v = cuda.grid(1)
    if v >= verts.shape[0]:
        return
    normals[v, 0], normals[v, 1], normals[v, 2] = _vertex_normal(verts, faces, vf, valence, every, v)


@cuda.jit(cache=True)
def _k_nearest(points, verts, vallow, group, hint, start, order, cverts, cellbits, lo, n, h, reach, near):
    i = cuda.grid(1)
    if i >= points.shape[0]:
        return
    near[i] = _nearest_vertex(i, points, verts, vallow, group, hint, start, order, cverts, cellbits, lo, n, h, reach)


@cuda.jit(cache=True)
def _k_closest(points, verts, faces, vf, valence, near, allow, whole, group, normals, out):
    i = cuda.grid(1)
    if i >= points.shape[0]:
        return
    _closest_point(i, points, verts, faces, vf, valence, near, allow, whole, group, normals, out)


class CudaQuery:
    """A MeshCollider's constant arrays on the device (faces, vertex-face table, group masks as they come)."""

    def __init__(self, faces: np.ndarray, vf: np.ndarray, valence: np.ndarray) -> None:
        require()
        self.faces, self.vf, self.valence = faces, cuda.to_device(vf), cuda.to_device(valence)
        self.dfaces = cuda.to_device(faces)
        self.every = cuda.to_device(np.ones(len(faces), np.bool_))
        self._masks: tuple | None = None  # (host arrays, device copies) of the last group masks

    def _device_masks(self, allow: np.ndarray, vallow: np.ndarray, whole: np.ndarray) -> tuple:
        if self._masks is None or any(a is not b for a, b in zip(self._masks[0], (allow, vallow, whole))):
            self._masks = ((allow, vallow, whole), tuple(cuda.to_device(a) for a in (allow, vallow, whole)))
        return self._masks[1]

    def _device_pose(self, pose) -> tuple:
        """(verts, normals, start, order, cverts, lo, n) of a collision.Pose on the device, uploaded and computed
        once."""
        if pose.device is None:
            start, order, cverts, lo, n, _ = pose.grid
            dv = cuda.to_device(pose.verts)
            normals = cuda.device_array((len(pose.verts), 3))
            _k_normals[_blocks(len(pose.verts)), THREADS](dv, self.dfaces, self.vf, self.valence, self.every, normals)
            pose.device = (dv, normals, *(cuda.to_device(a) for a in (start, order, cverts, lo, n)))
        return pose.device

    def query(self, points, pose, allow, vallow, vbits, whole, group, hint, reach) -> tuple[np.ndarray, np.ndarray]:
        """(near (N,), rows (N, 11)) as collision._nearest_vertices and collision._closest_points give them."""
        d = cuda.to_device
        dv, normals, dstart, dorder, dcverts, dlo, dn = self._device_pose(pose)
        start, order, _, _, _, h = pose.grid
        dp = d(points)
        dallow, dvallow, dwhole = self._device_masks(allow, vallow, whole)
        dgroup = d(group)
        N = len(points)
        near, out = cuda.device_array(N, np.int64), cuda.device_array((N, 11))
        cellbits = d(_cell_bits(start, order, vbits))
        _k_nearest[_blocks(N), THREADS](
            dp, dv, dvallow, dgroup, d(hint), dstart, dorder, dcverts, cellbits, dlo, dn, h, reach, near
        )
        _k_closest[_blocks(N), THREADS](
            dp, dv, self.dfaces, self.vf, self.valence, near, dallow, dwhole, dgroup, normals, out
        )
        return near.copy_to_host(), out.copy_to_host()
