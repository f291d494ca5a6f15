"""Build the scenes of render jobs without rendering and describe them as JSON (for tests).

    python blender_scripts/inspect_scene.py --out OUT.json JOB_DIR [JOB_DIR ...]

Per job, built and posed at frame 0 exactly as render.py does: "settings" (engine, device, film,
colour, threads, samples, denoiser, view layer passes, frame range) and "objects": every object's
type, pass index, render visibility, shadow-catcher flag, materials, mesh vertex/face counts or hair
curve/point counts and bounds (world frame), camera lens and light power.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from outputs import PASS_DIRS  # noqa: E402
from render import build_scene, load_spec, pose_frame  # noqa: E402
from scene_build import denoised_by  # noqa: E402


def describe(obj) -> dict:
    d = {
        "type": obj.type,
        "pass_index": obj.pass_index,
        "hide_render": obj.hide_render,
        "shadow_catcher": bool(getattr(obj, "is_shadow_catcher", False)),
        "ray_visibility": {
            ray: bool(getattr(obj, f"visible_{ray}", True)) for ray in ("camera", "diffuse", "glossy", "shadow")
        },
        "materials": [m.name for m in obj.data.materials if m] if hasattr(obj.data, "materials") else [],
        "location": list(obj.matrix_world.translation),
    }
    if obj.type == "CAMERA":
        d.update(lens=obj.data.lens, sensor_width=obj.data.sensor_width, clip_end=obj.data.clip_end)
    if obj.type == "LIGHT":
        d.update(energy=obj.data.energy, size=obj.data.size)
    if obj.type == "MESH":
        co = np.zeros((len(obj.data.vertices), 3), np.float32)
        obj.data.vertices.foreach_get("co", co.ravel())
        d.update(verts=len(co), faces=len(obj.data.polygons), uv=len(obj.data.uv_layers))
    elif obj.type == "CURVES":
        co = np.zeros((len(obj.data.points), 3), np.float32)
        obj.data.position_data.foreach_get("vector", co.ravel())
        d.update(curves=len(obj.data.curves), points=len(co))
    else:
        return d
    M = np.array(obj.matrix_world)
    co = co @ M[:3, :3].T + M[:3, 3]
    if len(co):
        d.update(min=co.min(0).tolist(), max=co.max(0).tolist())
    return d


def settings(scene, device: str) -> dict:
    """The render settings setup_engine and enable_passes made, as Blender reports them."""
    r, layer = scene.render, scene.view_layers[0]
    d = {
        "engine": r.engine,
        "device": device,
        "resolution": [r.resolution_x, r.resolution_y, r.resolution_percentage],
        "film_transparent": r.film_transparent,
        "view_transform": scene.view_settings.view_transform,
        "dither": r.dither_intensity,
        "threads": [r.threads_mode, r.threads],
        "layer_passes": {prop: getattr(layer, prop) for prop in sorted(set(PASS_DIRS.values()))},
        "frame_range": [scene.frame_start, scene.frame_end],
        "world": scene.world.name if scene.world else None,
    }
    if r.engine == "CYCLES":
        c = scene.cycles
        d.update(
            samples=c.samples,
            adaptive_sampling=c.use_adaptive_sampling,
            denoise=denoised_by(scene) is not None,
            denoised_by=denoised_by(scene),
            light_tree=c.use_light_tree,
            denoiser=c.denoiser,
            denoising_prefilter=c.denoising_prefilter,
            denoising_quality=getattr(c, "denoising_quality", None),
            bounces=[c.max_bounces, c.diffuse_bounces, c.glossy_bounces, c.transmission_bounces],
            cycles_device=c.device,
            persistent_data=r.use_persistent_data,
            curves=[scene.cycles_curves.shape, scene.cycles_curves.subdivisions],
        )
    else:
        d.update(samples=scene.eevee.taa_render_samples)
    return d


def inspect(job_dir: str) -> dict:
    spec = load_spec(job_dir)
    built = build_scene(job_dir, spec)
    pose_frame(built, spec["job"]["cameras"], 0)
    bpy.context.view_layer.update()
    scene = built.scene
    return {"settings": settings(scene, built.device), "objects": {obj.name: describe(obj) for obj in scene.objects}}


def main(argv: list[str]) -> int:
    args = argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]
    ap = argparse.ArgumentParser(prog="inspect_scene.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("jobs", nargs="+")
    a = ap.parse_args(args)
    result = {job: inspect(os.path.abspath(job)) for job in a.jobs}
    with open(a.out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
