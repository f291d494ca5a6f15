"""Contact sheet: a few sampled scenes (backgrounds, fabrics, skin, lights) x the four views of one
frame of a dressed walking body, rendered through the real render path, tiled into one PNG."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from synth.io import atomic_path
from synth.paths import shared_assets_dir
from synth.scene.job import write_render_job
from synth.scene.runner import run_render
from synth.scene.sampling import sample_scene
from synth.scene.spec import DEFAULT_SAMPLES


def _default_dirs() -> dict[str, str]:
    """Shared CC0 photos/textures/HDRIs when present (the bundled HDRIs and procedural fabrics otherwise)."""
    assets = shared_assets_dir()
    if assets is None:
        return {}
    return {"photo_dir": str(assets / "backgrounds"), "texture_dir": str(assets / "textures"),
            "hdri_dir": str(assets / "hdri")}  # fmt: skip


def _scene_settings(k: int, dirs: dict[str, str], resolution: int, samples: int) -> dict:
    """Scene k cycles through: bundled HDRI, photo, HDRI folder; fabrics mix images and procedurals."""
    s = {"resolution": resolution, "samples": samples, "passes": [], "texture_prob": 0.5}
    if dirs.get("texture_dir"):
        s["texture_dir"] = dirs["texture_dir"]
    kind = ("hdri-builtin", "photo", "hdri-folder")[k % 3]
    if kind == "photo" and dirs.get("photo_dir"):
        s.update(background="photo", photo_dir=dirs["photo_dir"])
    elif kind == "hdri-folder" and dirs.get("hdri_dir"):
        s.update(background="hdri", hdri_dir=dirs["hdri_dir"])
    else:
        s["background"] = "hdri"
    return s


def _caption(spec) -> str:
    bg = spec.background
    mats = [m["pattern"] if m["kind"] == "procedural" else Path(m["path"]).stem for m in spec.garment_materials[:2]]
    return f"seed {spec.seed}: {bg['kind']} {Path(bg['path']).stem} | trousers {mats[0]}, top {mats[1]}"


def make_contact_sheet(out: str | Path, body, scenes: int = 3, seed: int = 0, resolution: int = 250,
                       samples: int = DEFAULT_SAMPLES, frame: int = 20, dirs: dict[str, str] | None = None) -> Path:  # fmt: skip
    """Render `scenes` scenes x 4 cameras and write them as rows of one PNG with captions."""
    from PIL import Image, ImageDraw

    from synth.scene.demo import demo_subject

    dirs = _default_dirs() if dirs is None else dirs
    verts, _, faces, garments = demo_subject(body, "walk", [frame])
    rows, pad = [], 16
    with tempfile.TemporaryDirectory() as tmp:
        for k in tqdm(range(scenes), desc="contact sheet", unit="scene"):
            spec = sample_scene(seed + k, _scene_settings(k, dirs, resolution, samples))
            job = write_render_job(Path(tmp) / f"scene{k}", spec, verts, faces, garments)
            run_render(job)
            views = [np.asarray(Image.open(job / "frames" / f"cam{c}" / "0000.png").convert("RGB")) for c in range(4)]
            row = Image.new("RGB", (4 * resolution, resolution + pad), "white")
            row.paste(Image.fromarray(np.concatenate(views, axis=1)), (0, pad))
            ImageDraw.Draw(row).text((4, 2), _caption(spec) + "   (views: east, west, south, north)", fill="black")
            rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    for k, row in enumerate(rows):
        sheet.paste(row, (0, k * rows[0].height))
    out = Path(out)
    with atomic_path(out) as tmp_png:
        sheet.save(tmp_png, format="PNG")
    return out
