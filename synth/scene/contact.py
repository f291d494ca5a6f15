"""Contact sheets rendered through the real render path, tiled into one PNG: a few sampled scenes
(backgrounds, fabrics, skin, lights) x the four views of one frame of a dressed walking body, or
(people mode) many people, one per seed (shape, skin, hair, eyes, shoes), front and back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from synth.io import atomic_path
from synth.paths import shared_assets_dir
from synth.scene.job import write_render_job
from synth.scene.people import people_rig
from synth.scene.runner import run_render
from synth.scene.sampling import sample_scene
from synth.scene.spec import DEFAULT_SAMPLES


def _default_dirs() -> dict[str, str]:
    """Shared CC0 photos/textures/HDRIs when present (the bundled HDRIs and procedural fabrics otherwise)."""
    assets = shared_assets_dir()
    if assets is None:
        return {}
    return {
        "photo_dir": str(assets / "backgrounds"),
        "texture_dir": str(assets / "textures"),
        "hdri_dir": str(assets / "hdri"),
    }


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


def _people_caption(spec) -> str:
    bg = spec.background
    return (
        f"seed {spec.seed} {bg['kind']} {Path(bg['path']).stem[:10]} | tone {spec.skin['tone']:.2f} "
        f"{spec.hair['style']} m{spec.hair['melanin']:.2f} | {spec.shoes['type']}"
    )


def make_people_sheet(
    out: str | Path,
    body,
    people: int = 12,
    seed: int = 0,
    resolution: int = 512,
    samples: int = DEFAULT_SAMPLES,
    frame: int = 20,
    dirs: dict[str, str] | None = None,
    cols: int = 4,
) -> Path:
    """`people` people (seeds seed..seed+people-1: body shape, skin, hair, eyes, shoes, garments),
    each seen from the front (south) and the back (north), alternating HDRI and photo backgrounds."""
    from PIL import Image, ImageDraw

    from synth.scene.demo import demo_subject

    dirs = _default_dirs() if dirs is None else dirs
    rig = people_rig(body)
    cells, pad = [], 16
    with tempfile.TemporaryDirectory() as tmp:
        for k in tqdm(range(people), desc="people sheet", unit="person"):
            s = seed + k
            betas = np.random.default_rng([s, 99]).normal(0.0, 1.0, 10)
            verts, _, faces, garments = demo_subject(body, "walk", [frame], betas)
            settings = {**_scene_settings(0 if k % 2 == 0 else 1, dirs, resolution, samples), "ground_shadow": True}
            spec = sample_scene(s, settings)
            spec.cameras = [c for c in spec.cameras if c["name"] in ("south", "north")]
            job = write_render_job(Path(tmp) / f"p{k}", spec, verts, faces, garments, rig=rig)
            run_render(job)
            views = [np.asarray(Image.open(job / "frames" / f"cam{c}" / "0000.png").convert("RGB")) for c in range(2)]
            cell = Image.new("RGB", (2 * resolution, resolution + pad), "white")
            cell.paste(Image.fromarray(np.concatenate(views, axis=1)), (0, pad))
            ImageDraw.Draw(cell).text((4, 2), _people_caption(spec), fill="black")
            cells.append(cell)
    rows = (len(cells) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cells[0].width, rows * cells[0].height), "white")
    for k, cell in enumerate(cells):
        sheet.paste(cell, ((k % cols) * cell.width, (k // cols) * cell.height))
    out = Path(out)
    with atomic_path(out) as tmp_png:
        sheet.save(tmp_png, format="PNG")
    return out


def make_contact_sheet(
    out: str | Path,
    body,
    scenes: int = 3,
    seed: int = 0,
    resolution: int = 250,
    samples: int = DEFAULT_SAMPLES,
    frame: int = 20,
    dirs: dict[str, str] | None = None,
) -> Path:
    """Render `scenes` scenes x 4 cameras and write them as rows of one PNG with captions."""
    from PIL import Image, ImageDraw

    from synth.scene.demo import demo_subject

    dirs = _default_dirs() if dirs is None else dirs
    verts, _, faces, garments = demo_subject(body, "walk", [frame])
    rig = people_rig(body)
    rows, pad = [], 16
    with tempfile.TemporaryDirectory() as tmp:
        for k in tqdm(range(scenes), desc="contact sheet", unit="scene"):
            spec = sample_scene(seed + k, _scene_settings(k, dirs, resolution, samples))
            job = write_render_job(Path(tmp) / f"scene{k}", spec, verts, faces, garments, rig=rig)
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
