"""A small numpy software renderer for previews: orthographic, z-buffered, flat Lambert shading.

Why not Blender or matplotlib: previews must be fast (a 256 px body in well under a second),
run anywhere (CI, no GPU, no bpy), and be deterministic. Triangles are rasterised in batches
grouped by bounding-box size, so the cost is numpy work proportional to covered pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synth.io import atomic_path

VIEWS = {
    "front": (0.0, 0.0),
    "back": (180.0, 0.0),
    "left": (90.0, 0.0),
    "right": (-90.0, 0.0),
    "side": (90.0, 0.0),
    "top": (0.0, 89.0),
}
DEFAULT_COLOURS = ((0.72, 0.74, 0.80), (0.85, 0.45, 0.35), (0.35, 0.60, 0.85), (0.45, 0.75, 0.45))


def view_basis(view: str | tuple[float, float] = "front") -> np.ndarray:
    """(3, 3) rows: screen right, screen up, towards the viewer, in the SMPL world (Y up).

    `view` is a name from VIEWS or (azimuth, elevation) in degrees; azimuth 0 looks at a body
    facing +Z from the front, 90 from the body's left (+X) side.
    """
    az, el = VIEWS[view] if isinstance(view, str) else view
    az, el = np.deg2rad(az), np.deg2rad(el)
    towards = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    right = np.cross([0.0, 1.0, 0.0], towards)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(towards, right), towards])


def _rasterise(xy: np.ndarray, depth: np.ndarray, faces: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Visible face per pixel (-1 for background) and its depth, for 2D vertices in pixels."""
    tri = xy[faces]  # (F, 3, 2)
    lo = np.floor(tri.min(1) - 0.5).astype(np.int64) + 1  # first pixel whose centre may be inside
    hi = np.floor(tri.max(1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [w - 1, h - 1])
    size = np.max(hi - lo + 1, axis=1)
    ok = size > 0
    pix_all, dep_all, face_all = [], [], []
    k = 1
    remaining = ok.copy()
    while remaining.any():
        sel = np.flatnonzero(remaining & (size <= k))
        remaining[sel] = False
        if len(sel):
            oy, ox = np.divmod(np.arange(k * k), k)
            px = lo[sel, 0:1] + ox
            py = lo[sel, 1:2] + oy
            cx, cy = px + 0.5, py + 0.5
            a, b, c = tri[sel, 0], tri[sel, 1], tri[sel, 2]
            area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
            good = np.abs(area) > 1e-12
            area = np.where(good, area, 1.0)[:, None]
            w0 = ((b[:, 0:1] - cx) * (c[:, 1:2] - cy) - (b[:, 1:2] - cy) * (c[:, 0:1] - cx)) / area
            w1 = ((c[:, 0:1] - cx) * (a[:, 1:2] - cy) - (c[:, 1:2] - cy) * (a[:, 0:1] - cx)) / area
            w2 = 1.0 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (px <= hi[sel, 0:1]) & (py <= hi[sel, 1:2])
            inside &= good[:, None]
            d = depth[faces[sel]]
            z = w0 * d[:, 0:1] + w1 * d[:, 1:2] + w2 * d[:, 2:3]
            fi, ci = np.nonzero(inside)
            pix_all.append(py[fi, ci] * w + px[fi, ci])
            dep_all.append(z[fi, ci])
            face_all.append(sel[fi])
        k *= 2
    face_buf = np.full(h * w, -1, np.int64)
    depth_buf = np.full(h * w, -np.inf)
    if pix_all:
        pix, dep, fid = (np.concatenate(x) for x in (pix_all, dep_all, face_all))
        order = np.lexsort((-dep, pix))  # per pixel, the closest (largest depth) first
        first = np.unique(pix[order], return_index=True)[1]
        win = order[first]
        face_buf[pix[win]] = fid[win]
        depth_buf[pix[win]] = dep[win]
    return face_buf.reshape(h, w), depth_buf.reshape(h, w)


def render_mesh_image(
    verts: np.ndarray | Sequence[np.ndarray],
    faces: np.ndarray | Sequence[np.ndarray],
    size: int | tuple[int, int] = 256,
    view: str | tuple[float, float] = "front",
    colours: Sequence[Sequence[float]] | None = None,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    centre: Sequence[float] | None = None,
    extent: float | None = None,
    light: Sequence[float] | None = None,
    supersample: int = 2,
) -> np.ndarray:
    """(H, W, 3) uint8 picture of one mesh or several (lists of verts/faces, one colour each).

    Orthographic camera along `view`; `centre` (world point at the image centre) and `extent`
    (half the visible height in metres) default to the meshes' bounds, and fixing them keeps
    several pictures at one scale. Flat Lambert shading (two-sided) with a light from `light`
    (world direction, default: from the viewer, upper left) plus ambient.
    """
    vs = [np.asarray(verts, np.float64)] if np.ndim(verts[0]) == 1 else [np.asarray(v, np.float64) for v in verts]
    fs = [np.asarray(faces)] if np.ndim(faces[0]) == 1 else [np.asarray(f) for f in faces]
    if len(vs) != len(fs):
        raise ValueError(f"{len(vs)} vertex arrays but {len(fs)} face arrays")
    colours = (
        list(colours) if colours is not None else [DEFAULT_COLOURS[i % len(DEFAULT_COLOURS)] for i in range(len(vs))]
    )
    h, w = (size, size) if isinstance(size, int) else size
    H, W = h * supersample, w * supersample
    basis = view_basis(view)
    all_v = np.concatenate(vs)
    lo, hi = all_v.min(0), all_v.max(0)
    centre = (lo + hi) / 2 if centre is None else np.asarray(centre, np.float64)
    if extent is None:
        span = (all_v - centre) @ basis[:2].T
        extent = 1.05 * max(np.abs(span[:, 1]).max(), np.abs(span[:, 0]).max() * h / w, 1e-6)
    scale = (H / 2) / extent
    light_dir = basis.T @ np.array([-0.4, 0.5, 1.0]) if light is None else np.asarray(light, np.float64)
    light_dir = light_dir / np.linalg.norm(light_dir)

    offsets = np.cumsum([0] + [len(v) for v in vs])
    face_offsets = np.cumsum([0] + [len(f) for f in fs])
    all_f = np.concatenate([f + o for f, o in zip(fs, offsets[:-1])]).astype(np.int64)
    cam = (all_v - centre) @ basis.T
    xy = np.stack([W / 2 + cam[:, 0] * scale, H / 2 - cam[:, 1] * scale], axis=1)
    face_buf, _ = _rasterise(xy, cam[:, 2], all_f, H, W)

    tri = all_v[all_f]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    shade = 0.3 + 0.7 * np.abs(normals @ light_dir)
    mesh_of_face = np.searchsorted(face_offsets, np.arange(len(all_f)), side="right") - 1
    face_rgb = np.asarray(colours, np.float64)[mesh_of_face] * shade[:, None]

    img = np.empty((H, W, 3))
    img[:] = np.asarray(background, np.float64)
    hit = face_buf >= 0
    img[hit] = face_rgb[face_buf[hit]]
    if supersample > 1:
        img = img.reshape(h, supersample, w, supersample, 3).mean(axis=(1, 3))
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def tile_images(
    images: Sequence[np.ndarray],
    cols: int | None = None,
    pad: int = 4,
    background: int = 255,
    titles: Sequence[str] | None = None,
) -> np.ndarray:
    """Grid of equally sized (H, W, 3) uint8 images (one row by default), optional captions."""
    if not images:
        raise ValueError("no images to tile")
    h, w = images[0].shape[:2]
    cols = len(images) if cols is None else cols
    rows = -(-len(images) // cols)
    title_h = 14 if titles else 0
    out = np.full((rows * (h + pad + title_h) + pad, cols * (w + pad) + pad, 3), background, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad + title_h) + title_h, pad + c * (w + pad)
        out[y : y + h, x : x + w] = im[..., :3]
    if titles:
        from PIL import Image, ImageDraw

        pil = Image.fromarray(out)
        draw = ImageDraw.Draw(pil)
        for i, text in enumerate(titles):
            r, c = divmod(i, cols)
            while text and draw.textlength(text) > w - 2:  # cut at the tile's edge, not into the next caption
                text = text[:-1]
            draw.text((pad + c * (w + pad) + 2, pad + r * (h + pad + title_h)), text, fill=(0, 0, 0))
        out = np.asarray(pil)
    return out


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image atomically."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, np.uint8)).save(tmp, format="PNG")
    return Path(path)


def save_figure(fig, path: str | Path, dpi: int = 90) -> Path:
    """Lay out a matplotlib figure, write it as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)
