"""`synth inspect DIR`: look at a sample: a contact sheet PNG (cameras x frames) and an MP4/GIF,
both with the mesh (body + garments) and the 2D joints overlaid, and the render passes stored in
the shards (seg, depth, parts, normals, flow) as extra rows under each camera.

The overlay is drawn from the shard's own annotations (the body rebuilt from smpl.npz and the
garments of verts.npz, synth/shards/verts.py, moved into each camera's frame with its extrinsics
and projected with its K; j2d as stored), so misaligned annotations are visible at a glance.
Visible joints are filled dots, occluded ones hollow rings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synth.annotate.project import SMPL_PARENTS, project
from synth.body.joints import LEFT_JOINTS
from synth.errors import SynthError

BODY_RGB = (120, 170, 255)
CLOTH_RGB = [(255, 170, 60), (120, 230, 140), (240, 110, 200), (250, 240, 90)]


def _mesh_layers(meshes: dict) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """[(verts (T,V,3), faces, rgb)] for the body and every garment of one camera's meshes."""
    layers = []
    if "body" in meshes:
        layers.append((*meshes["body"], BODY_RGB))
    for n, k in enumerate(sorted(k for k in meshes if k.startswith("cloth_"))):
        layers.append((*meshes[k], CLOTH_RGB[n % len(CLOTH_RGB)]))
    return layers


def pass_image(name: str, arr: np.ndarray) -> np.ndarray:
    """One frame of a pass as RGB uint8: seg/parts as label colours (0 black), depth as grey
    (near bright, background black), normals as (n + 1) / 2, flow as hue = direction, value = speed."""
    if name in ("seg", "parts"):
        rng = np.random.default_rng(7)
        lut = rng.integers(60, 256, (256, 3)).astype(np.uint8)
        lut[0] = 0
        lut[1] = (230, 200, 170) if name == "seg" else lut[1]
        return lut[np.asarray(arr, np.int64)]
    if name == "depth":
        d = np.asarray(arr, np.float64)
        fg = np.isfinite(d)
        out = np.zeros(d.shape, np.uint8)
        if fg.any():
            lo, hi = d[fg].min(), d[fg].max()
            out[fg] = (255 - 195 * (d[fg] - lo) / max(hi - lo, 1e-6)).astype(np.uint8)
        return np.repeat(out[..., None], 3, -1)
    if name == "normals":
        n = np.asarray(arr, np.float64)
        fg = np.linalg.norm(n, axis=-1) > 0.1
        return (np.where(fg[..., None], (n + 1) / 2, 0) * 255).astype(np.uint8)
    f = np.asarray(arr, np.float64)  # flow
    hue = (np.arctan2(f[..., 1], f[..., 0]) / (2 * np.pi)) % 1.0
    speed = np.linalg.norm(f, axis=-1)
    val = speed / max(speed.max(), 1e-6)
    hsv = np.stack([hue, np.ones_like(hue), val], -1)
    return np.asarray(Image.fromarray((hsv * 255).astype(np.uint8), "HSV").convert("RGB"))


def draw_mesh(img: Image.Image, layers: list, t: int, K: np.ndarray, scale: float, alpha: float = 0.45) -> Image.Image:
    """Painter's-algorithm shaded mesh over the image (front faces only), blended with `alpha`."""
    polys, depth, colours = [], [], []
    for verts, faces, rgb in layers:
        v = verts[t]
        tri = v[faces]  # (F,3,3) camera frame
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        centre = tri.mean(1)
        norm = np.linalg.norm(n, axis=1) + 1e-12
        facing = -(n * centre).sum(1) / (norm * (np.linalg.norm(centre, axis=1) + 1e-12))
        keep = (facing > 0) & (tri[:, :, 2] > 0.05).all(1)
        uv = project(tri[keep], K) * scale
        shade = 0.35 + 0.65 * facing[keep]
        polys.append(uv)
        depth.append(centre[keep, 2])
        colours.append(np.clip(np.asarray(rgb)[None] * shade[:, None], 0, 255).astype(int))
    if not polys:
        return img
    uv, z, col = np.concatenate(polys), np.concatenate(depth), np.concatenate(colours)
    order = np.argsort(-z)  # far first
    overlay = Image.new("RGB", img.size)
    mask = Image.new("L", img.size, 0)
    d, dm = ImageDraw.Draw(overlay), ImageDraw.Draw(mask)
    for k in order:
        pts = [tuple(p) for p in uv[k]]
        d.polygon(pts, fill=tuple(col[k]))
        dm.polygon(pts, fill=255)
    mask = mask.point(lambda m: int(m * alpha))
    return Image.composite(overlay, img, mask)


def draw_joints(img: Image.Image, j2d: np.ndarray, vis: np.ndarray, scale: float) -> Image.Image:
    d = ImageDraw.Draw(img)
    p = j2d * scale
    r = max(2.0, img.size[0] / 90)
    for j, parent in enumerate(SMPL_PARENTS):
        if parent >= 0 and (j2d[[j, parent]] >= 0).all():
            d.line(
                [tuple(p[parent]), tuple(p[j])],
                fill=(255, 60, 60) if j in LEFT_JOINTS else (60, 255, 255),
                width=max(1, int(r / 2)),
            )
    for j in range(len(p)):
        box = [p[j, 0] - r, p[j, 1] - r, p[j, 0] + r, p[j, 1] + r]
        if vis[j]:
            d.ellipse(box, fill=(255, 255, 0), outline=(0, 0, 0))
        else:
            d.ellipse(box, outline=(255, 255, 255), width=max(1, int(r / 2)))
    return img


def _tile(frame: np.ndarray, size: int) -> tuple[Image.Image, float]:
    H, W = frame.shape[:2]
    scale = size / W
    img = Image.fromarray(frame).resize((size, int(round(H * scale))), Image.NEAREST if scale > 1 else Image.BILINEAR)
    return img, scale


def render_tile(sample: dict, t: int, size: int, overlay: bool = True, meshes: dict | None = None) -> Image.Image:
    """Frame t scaled to `size` px wide with the meshes (this camera's, synth.shards.verts), joints
    and box drawn (or as rendered)."""
    img, scale = _tile(sample["frames"][t], size)
    if not overlay:
        return img
    K = np.asarray(sample["camera"]["K"], np.float64)
    if meshes:
        img = draw_mesh(img, _mesh_layers(meshes), t, K, scale)
    j = sample["joints"]
    img = draw_joints(img, j["j2d"][t], j["visibility"][t], scale)
    b = j["bbox"][t] * scale
    if b[2] > b[0]:
        ImageDraw.Draw(img).rectangle(list(b), outline=(0, 255, 0))
    return img


def sequence_samples(path: str | Path, key: str | None) -> list[tuple[str, dict]]:
    """All camera samples of the sequence named by `key` (a sequence id or a sample key; None: the first)."""
    from synth.shards.reader import iter_samples
    from synth.shards.sample import decode_sample

    want = None if key is None else key.split("_c")[0]
    found = []
    for k, files in iter_samples(path, decode=False):
        seq = k.rsplit("_c", 1)[0]
        if want is None:
            want = seq
        if seq == want:
            found.append((k, decode_sample(files, passes="all")))
        elif found:
            break
    if not found:
        raise SynthError(f"no samples for {key!r}", path=path, fix="pass --key seqNNNNNN (see dataset_card.md)")
    for k, s in found:
        missing = [f"{k}.{name}" for name in ("joints.npz", "camera.json", "meta.json") if name.split(".")[0] not in s]
        if missing or s["frames"] is None:
            raise SynthError(
                f"sample {k} lacks {', '.join(missing) or 'frames'}",
                path=path,
                fix="re-pack it (`synth shard DIR`) or regenerate; `synth validate` lists every problem",
            )
    if key and "_c" in key:
        found = [f for f in found if f[0] == key] or found
    return found


def contact_sheet(
    samples: list[tuple[str, dict]], out_png: str | Path, n_frames: int = 6, tile: int = 200, meshes: dict | None = None
) -> Path:
    """Rows: cameras, each followed by one row per stored pass; columns: the first frame as rendered
    (no overlay, to judge the picture itself), then evenly spaced frames with the mesh, 2D joints
    and box overlaid (pass rows: the same frames, colour-coded as in `pass_image`)."""
    T = len(samples[0][1]["frames"])
    ts = np.unique(np.linspace(0, T - 1, min(n_frames, T)).round().astype(int))
    label_h = 14
    rows = []
    for key, s in samples:
        rows.append((key, s, None))
        rows += [(key, s, name) for name in s.get("passes", {})]
    sheet = Image.new("RGB", (tile * (len(ts) + 1), (tile + label_h) * len(rows)), (30, 30, 30))
    d = ImageDraw.Draw(sheet)
    for r, (key, s, name) in enumerate(rows):
        y = r * (tile + label_h)
        if name is None:
            sheet.paste(render_tile(s, int(ts[0]), tile, overlay=False), (0, y + label_h))
            d.text((3, y + 1), f"{key} {s['meta'].get('camera_name', '')} raw", fill=(230, 230, 230))
        else:
            d.text((3, y + 1), f"{key} {name}", fill=(230, 230, 230))
        for c, t in enumerate(ts, start=1):
            if name is None:
                img = render_tile(s, int(t), tile, meshes=(meshes or {}).get(key))
            else:
                arr = s["passes"][name]
                if int(t) >= len(arr):  # flow has no frame after the last
                    continue
                img = _tile(pass_image(name, arr[int(t)]), tile)[0]
            sheet.paste(img, (c * tile, y + label_h))
            d.text((c * tile + 3, y + 1), f"t={t}", fill=(230, 230, 230))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png)
    return out_png


def video(
    samples: list[tuple[str, dict]],
    out_path: str | Path,
    tile: int = 200,
    fps: float | None = None,
    meshes: dict | None = None,
) -> Path:
    """All frames, cameras side by side in a grid; MP4 (or GIF by suffix, or when ffmpeg is missing)."""
    import imageio.v2 as imageio

    T = len(samples[0][1]["frames"])
    cols = 2 if len(samples) == 4 else len(samples)
    rows = int(np.ceil(len(samples) / cols))
    fps = fps or float(samples[0][1]["meta"].get("fps", 30.0))
    frames = []
    for t in range(T):
        canvas = Image.new("RGB", (cols * tile, rows * tile))
        for n, (k, s) in enumerate(samples):
            canvas.paste(render_tile(s, t, tile, meshes=(meshes or {}).get(k)), ((n % cols) * tile, (n // cols) * tile))
        frames.append(np.asarray(canvas))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix.lower() == ".mp4":
        try:
            imageio.mimwrite(out_path, frames, fps=fps, macro_block_size=8, quality=8)
            return out_path
        except Exception:  # noqa: BLE001 - no ffmpeg backend: fall back to GIF
            out_path = out_path.with_suffix(".gif")
    imageio.mimwrite(out_path, frames, duration=1000.0 / fps, loop=0)
    return out_path


def inspect(
    path: str | Path,
    out_dir: str | Path,
    key: str | None = None,
    fmt: str = "mp4",
    n_frames: int = 6,
    tile: int = 200,
    fps: float | None = None,
) -> list[Path]:
    """Contact sheet PNG and video of one sequence (all its cameras); returns their paths."""
    from synth.shards.verts import camera_meshes

    samples = sequence_samples(path, key)
    seq = samples[0][0].rsplit("_c", 1)[0]
    meshes = camera_meshes(sequence_samples(path, seq) if key and "_c" in key else samples)
    out_dir = Path(out_dir)
    sheet = contact_sheet(samples, out_dir / f"{seq}_sheet.png", n_frames, tile, meshes)
    vid = video(samples, out_dir / f"{seq}.{fmt}", tile, fps, meshes)
    return [sheet, vid]
