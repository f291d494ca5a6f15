"""Mesh data blocks from numpy arrays (the one place render-side meshes are built)."""

from __future__ import annotations

import bpy
import numpy as np


def new_mesh(name: str, verts: np.ndarray, faces: np.ndarray, uv: np.ndarray | None = None, per_corner: bool = False):
    """A smooth-shaded triangle mesh; uv per vertex (V,2) or, with per_corner, per face corner (F,3,2)."""
    faces = np.asarray(faces, np.int32)
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", np.asarray(verts, np.float32).ravel())
    me.loops.add(faces.size)
    me.loops.foreach_set("vertex_index", faces.ravel())
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    if uv is not None:
        layer = me.uv_layers.new(name="UVMap")
        data = np.asarray(uv, np.float32).reshape(-1, 2) if per_corner else np.asarray(uv, np.float32)[faces.ravel()]
        layer.data.foreach_set("uv", data.ravel())
    me.update(calc_edges=True)
    me.validate(verbose=False)
    me.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
    return me
