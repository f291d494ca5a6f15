"""Contact sheets rendered through the real render path, tiled into one PNG: a few sampled scenes
(backgrounds, fabrics, skin, lights) x the four views of one frame of a dressed walking body, or
(people mode) many people, one per seed (shape, skin, hair, eyes, shoes, an outfit draped by the cloth
solver as the dataset's is), front and back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from synth.paths import shared_assets_dir
from synth.scene.job import write_render_job
from synth.scene.people import people_rig
from synth.scene.runner import run_render
from synth.scene.sampling import sample_scene
from synth.viz.render import save_png, tile_images

FRAME = 20  # the frame of the built-in walk shown (mid-stride)
HOLD_FRAMES = 6  # people mode: frames the cloth settles at the shown pose after the pipeline's lead-in into it


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


def _scene_settings(k: int, dirs: dict[str, str], settings: dict) -> dict:
    """Scene k cycles through: bundled HDRI, photo, HDRI folder; fabrics mix images and procedurals."""
    s = {"passes": [], "texture_prob": 0.5, **settings}
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


def _people_caption(spec, outfit: list[str]) -> str:
    bg = spec.background
    return (
        f"seed {spec.seed} {bg['kind']} {Path(bg['path']).stem[:10]} | tone {spec.skin['tone']:.2f} "
        f"{spec.hair['style']} m{spec.hair['melanin']:.2f} | {spec.shoes['type']} | {'+'.join(outfit)}"
    )


def draped_person(body, betas: np.ndarray, seed: int, hold: int = HOLD_FRAMES, lead_in: int | None = None):
    """(verts (1,V,3), faces, garments) of a body of shape `betas` at the built-in walk's FRAME, in an outfit and
    materials drawn from `seed` out of the pipeline's defaults, simulated by the cloth solver as the pipeline
    simulates a sequence: the pipeline's lead-in (its frames and rest pose, on which the garments are cut) into
    that pose, then `hold` frames standing there so the cloth settles; the last frame is kept."""
    from dataclasses import replace

    from synth.cloth import simulate_sequence
    from synth.mocap.builtin import builtin_motion
    from synth.motion.interpolate import add_lead_in
    from synth.pipeline.config import PipelineConfig
    from synth.pipeline.plan import draw_outfit

    cfg = PipelineConfig()
    rng = np.random.default_rng([seed, 98])
    outfit, materials = draw_outfit(cfg.cloth, rng)
    walk = builtin_motion("walk")
    still = replace(
        walk,
        poses=np.repeat(walk.poses[FRAME : FRAME + 1], hold, 0),
        trans=np.repeat(walk.trans[FRAME : FRAME + 1], hold, 0),
        betas=np.asarray(betas, np.float32),
        fit_error_mm=np.zeros(hold, np.float32),
        lead_in=None,
        implausible=None,
        repaired=None,
    )
    n_lead = cfg.motion.lead_in_frames if lead_in is None else lead_in
    seq = add_lead_in(still, n_lead, cfg.motion.lead_in_pose, skeleton=body)
    caches = simulate_sequence(seq, body, outfit, materials, seed, substeps=cfg.cloth.substeps)
    verts = body.evaluate(seq.betas, seq.poses[-1:], seq.trans[-1:])[0]
    return verts, np.asarray(body.faces, np.int64), [c.select_frames([-1]) for c in caches]


def _render_views(folder: Path, spec, verts, faces, garments, rig) -> np.ndarray:
    """Render one frame of a scene and put its cameras' images side by side (H, cameras x W, 3)."""
    from PIL import Image

    job = write_render_job(folder, spec, verts, faces, garments, rig=rig)
    run_render(job)
    views = [Image.open(job / "frames" / f"cam{c}" / "0000.png").convert("RGB") for c in range(len(spec.cameras))]
    return np.concatenate([np.asarray(v) for v in views], axis=1)


def make_contact_sheet(
    out: str | Path, body, count: int = 3, seed: int = 0, settings: dict | None = None, people: bool = False
) -> Path:
    """Render `count` sampled scenes (seeds seed..) x the four views of one frame of a dressed walking
    body (offset-shell garments, `demo.demo_subject`), a row each; or (`people`) `count` people, one per seed
    (body shape, skin, hair, eyes, shoes, garments draped by the cloth solver: `draped_person`), seen from the
    front (south) and the back (north), four to a row, alternating HDRI and photo backgrounds. `settings` go to sample_scene (default 250 px, 512 px for people). One PNG with
    captions."""
    from synth.scene.demo import demo_subject

    dirs = _default_dirs()
    settings = {"resolution": 512 if people else 250, **(settings or {})}
    walker = None if people else demo_subject(body, "walk", [FRAME])

    def cell(k: int) -> tuple:
        """(spec, subject, caption) of cell k."""
        if not people:
            spec = sample_scene(seed + k, _scene_settings(k, dirs, settings))
            return spec, walker, _caption(spec) + "   (views: east, west, south, north)"
        spec = sample_scene(seed + k, _scene_settings(k % 2, dirs, settings))
        spec.cameras = [c for c in spec.cameras if c["name"] in ("south", "north")]
        betas = np.random.default_rng([seed + k, 99]).normal(0.0, 1.0, 10)
        verts, faces, garments = draped_person(body, betas, seed + k)
        return spec, (verts, None, faces, garments), _people_caption(spec, [g.garment_type for g in garments])

    rig = people_rig(body)
    images, captions = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in tqdm(range(count), desc="contact sheet", unit="person" if people else "scene"):
            spec, (verts, _, faces, garments), caption = cell(k)
            images.append(_render_views(Path(tmp) / f"{k}", spec, verts, faces, garments, rig))
            captions.append(caption)
    return save_png(out, tile_images(images, cols=4 if people else 1, pad=0, titles=captions))
