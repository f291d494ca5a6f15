"""write_render_job: the render job directory handed to blender_scripts/render.py.

job.json = the SceneSpec's fields plus a "job" block with what Blender needs that depends on the
geometry (files, vertex counts, per-frame camera locations, light positions). Geometry is stored in
the Blender world (Z up), converted only through synth.frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synth.cloth.cache import GarmentCache
from synth.errors import SynthError
from synth.frames import smpl_to_blender
from synth.io import save_json_atomic, save_npz_atomic
from synth.scene.assets import check_asset
from synth.scene.labels import BODY, garment_label, seg_legend
from synth.scene.placement import camera_tracks, light_positions, track_points
from synth.scene.spec import SceneSpec

JOB_FORMAT = 1


def _check_geometry(verts: np.ndarray, faces: np.ndarray, garments: list[GarmentCache], spec: SceneSpec) -> None:
    if verts.ndim != 3 or verts.shape[2] != 3 or len(verts) == 0:
        raise SynthError(f"body verts must be (T,V,3), got {verts.shape}", fix="pass per-frame SMPL vertices")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= verts.shape[1]:
        raise SynthError(f"body faces (F,3) index past the {verts.shape[1]} vertices", fix="use the body model's faces")
    if not np.isfinite(verts).all():
        raise SynthError("body verts contain NaN/inf", fix="check the motion and body stages")
    T = len(verts)
    if spec.num_frames not in (0, T):
        raise SynthError(f"spec.num_frames={spec.num_frames} but the body has {T} frames", fix="set num_frames = T")
    if len(garments) > len(spec.garment_materials):
        raise SynthError(f"{len(garments)} garments but {len(spec.garment_materials)} material slots",
                         fix="wear fewer garments")  # fmt: skip
    for k, g in enumerate(garments):
        if len(g.verts) != T:
            raise SynthError(f"garment {k} ({g.garment_type}) has {len(g.verts)} frames, body {T}",
                             fix="simulate the garment for the rendered frames")  # fmt: skip
        if not np.isfinite(g.verts).all():
            raise SynthError(f"garment {k} ({g.garment_type}) verts contain NaN/inf", fix="re-run the cloth stage")


def _check_assets(spec: SceneSpec, n_garments: int) -> None:
    bg = spec.background
    check_asset(bg["path"], "background photo" if bg.get("kind") == "photo" else "HDRI")
    if "light" in bg:
        check_asset(bg["light"]["path"], "lighting HDRI")
    for mat in spec.garment_materials[:n_garments]:
        if mat.get("kind") == "image":
            check_asset(mat["path"], "fabric texture")


def write_render_job(job_dir: str | Path, spec: SceneSpec, verts: np.ndarray, faces: np.ndarray,
                     garments: list[GarmentCache], track: np.ndarray | None = None,
                     part_labels: np.ndarray | None = None) -> Path:  # fmt: skip
    """Write job.json, body.npz and garments/*.npz (Blender world). `verts` (T,V,3) and the garment
    caches are in the SMPL world; `track` (T,3) SMPL-world pelvis (default: body vertex centroid);
    `part_labels` (V,) SMPL part per body vertex (body.part_labels), needed by the 'parts' pass."""
    job_dir = Path(job_dir)
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces, np.int64)
    _check_geometry(verts, faces, garments, spec)
    _check_assets(spec, len(garments))
    spec.num_frames = len(verts)

    body_b = smpl_to_blender(verts)
    body = {"faces": faces.astype(np.int32), "verts": body_b.astype(np.float32)}
    if part_labels is not None:
        body["part_labels"] = np.asarray(part_labels, np.int32).reshape(-1)
        if len(body["part_labels"]) != verts.shape[1] or body["part_labels"].min() < 0:
            raise SynthError(f"part_labels has {len(body['part_labels'])} entries for {verts.shape[1]} vertices",
                             fix="pass the body model's part_labels")  # fmt: skip
    elif "parts" in spec.passes:
        raise SynthError("the 'parts' pass needs part_labels", fix="pass part_labels=body.part_labels")
    save_npz_atomic(job_dir / "body.npz", **body)
    garment_entries = []
    all_points = [body_b]
    for k, g in enumerate(garments):
        name = f"{k:02d}_{g.garment_type}"
        gv = smpl_to_blender(g.verts.astype(np.float64))
        all_points.append(gv)
        GarmentCache(g.garment_type, g.faces, g.uv, smpl_to_blender(g.rest), gv.astype(np.float32),
                     g.material, g.stats).save(job_dir / "garments" / f"{name}.npz")  # fmt: skip
        garment_entries.append({"file": f"garments/{name}.npz", "type": g.garment_type, "label": garment_label(k),
                                "num_verts": int(gv.shape[1]), "material": spec.garment_materials[k]})  # fmt: skip

    targets = track_points(body_b) if track is None else smpl_to_blender(np.asarray(track, np.float64))
    points = np.concatenate(all_points, axis=1)
    center = targets.mean(axis=0)
    radius = float(np.linalg.norm(points - center, axis=2).max())
    job: dict[str, Any] = spec.to_json()
    job["job"] = {
        "format": JOB_FORMAT,
        "world_frame": "blender_z_up",
        "body": {"file": "body.npz", "label": BODY, "num_verts": int(verts.shape[1])},
        "garments": garment_entries,
        "seg_legend": seg_legend([g.garment_type for g in garments]),
        "cameras": camera_tracks(spec.cameras, points, targets, spec.focal_mm, spec.sensor_mm, spec.fill),
        "lights": light_positions(spec.lights, center, radius),
    }
    save_json_atomic(job_dir / "job.json", job)
    return job_dir


def load_job(job_dir: str | Path) -> dict[str, Any]:
    path = Path(job_dir) / "job.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SynthError(f"not a readable render job ({exc})", path=path, fix="re-create it with write_render_job") from exc
