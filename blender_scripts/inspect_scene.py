"""Build the scenes of render jobs without rendering and describe them as JSON (for tests).

    python blender_scripts/inspect_scene.py --out OUT.json JOB_DIR [JOB_DIR ...]

Per job: every object's type, pass index, render visibility, shadow-catcher flag, materials,
mesh vertex/face counts or hair curve/point counts and bounds (world frame, after frame 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from render import load_spec  # noqa: E402
from scene_build import build_subject, place_riders, set_verts, setup_engine  # noqa: E402


def describe(obj) -> dict:
    d = {
        "type": obj.type,
        "pass_index": obj.pass_index,
        "hide_render": obj.hide_render,
        "shadow_catcher": bool(getattr(obj, "is_shadow_catcher", False)),
        "materials": [m.name for m in obj.data.materials if m] if hasattr(obj.data, "materials") else [],
    }
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


def inspect(job_dir: str) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    spec = load_spec(job_dir)
    setup_engine(scene, spec)
    subject, riders = build_subject(scene, job_dir, spec)
    for obj, verts in subject:
        set_verts(obj, verts[0])
    place_riders(riders, 0)
    bpy.context.view_layer.update()
    return {obj.name: describe(obj) for obj in scene.objects}


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
