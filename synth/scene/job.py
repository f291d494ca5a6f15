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

from synth.body.look import similarity_fit
from synth.cloth.cache import GarmentCache
from synth.errors import SynthError
from synth.frames import smpl_to_blender
from synth.io import save_json_atomic, save_npz_atomic
from synth.scene import hair, people
from synth.scene.labels import BODY, EYES, HAIR, SHOES, garment_label, seg_legend
from synth.scene.placement import camera_tracks, light_positions, track_points
from synth.scene.render_assets import check_asset, mpfb_dir
from synth.scene.spec import SceneSpec

JOB_FORMAT = 1
# metres of shadow-catching floor around each frame's footprint: the reach of the contact shadow kept in
# the frames (full to 0.4 of it, none at it: backdrop.ground_weight), all of it inside the render border;
# each metre more costs ~10 % of an image (docs/BENCHMARKS.md#rendering)
GROUND_RADIUS = 0.6


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
        raise SynthError(
            f"{len(garments)} garments but {len(spec.garment_materials)} material slots", fix="wear fewer garments"
        )
    for k, g in enumerate(garments):
        if len(g.verts) != T:
            raise SynthError(
                f"garment {k} ({g.garment_type}) has {len(g.verts)} frames, body {T}",
                fix="simulate the garment for the rendered frames",
            )
        if not np.isfinite(g.verts).all():
            raise SynthError(f"garment {k} ({g.garment_type}) verts contain NaN/inf", fix="re-run the cloth stage")


def _check_assets(spec: SceneSpec, n_garments: int) -> None:
    bg = spec.background
    check_asset(bg["path"], "background photo" if bg.get("kind") == "photo" else "HDRI")
    if bg.get("plate"):
        check_asset(bg["plate"]["ground"], "ground photo")
    if "light" in bg:
        check_asset(bg["light"]["path"], "lighting HDRI")
    for mat in spec.garment_materials[:n_garments]:
        if mat.get("kind") == "image":
            check_asset(mat["path"], "fabric texture")


def _hair_arrays(spec_hair: dict, rig: people.BodyRig, verts0: np.ndarray, axes: np.ndarray) -> dict:
    """Scalp hair (none when bald), facial hair (moustache, beard) and eyebrows as flattened strands:
    points (sum P, 3), counts (N,)."""
    patches = {}
    for name, faces in (
        ("scalp", people.scalp_faces(rig)),
        ("brows", people.brow_faces(rig)),
        ("head", people.head_faces(rig)),
    ):
        used, local = people.submesh(faces)
        patches[name] = (verts0[used], local)
    hv, hf = patches["head"]
    seed, style = int(spec_hair["seed"]), spec_hair["style"]
    scalp = []
    if style in hair.STYLES:
        scalp.append(
            hair.grow_strands(
                *patches["scalp"],
                hv,
                hf,
                axes,
                hair.STYLES[style],
                seed,
                spec_hair.get("length_scale", 1.0),
                spec_hair.get("density_scale", 1.0),
                spec_hair.get("parting", 0.0),
            )
        )
        if style == "bun":
            scalp.append(hair.bun_strands(patches["scalp"][0], axes, seed + 1))
    facial = spec_hair.get("facial", "none")
    if facial in hair.FACIAL:
        used, local = people.submesh(people.facial_hair_faces(rig, facial))
        scalp.append(hair.grow_strands(verts0[used], local, hv, hf, axes, hair.FACIAL[facial], seed + 3))
    brows = [hair.grow_strands(*patches["brows"], hv, hf, axes, hair.BROWS, seed + 2)]
    out = {}
    for name, strands in (("hair", scalp), ("brow", brows)):
        out[f"{name}_points"] = np.concatenate([s.reshape(-1, 3) for s in strands] or [np.zeros((0, 3))]).astype(
            np.float32
        )
        out[f"{name}_counts"] = np.concatenate([np.full(len(s), s.shape[1]) for s in strands] or [np.zeros(0)]).astype(
            np.int32
        )
    return out


def _people_arrays(spec: SceneSpec, rig: people.BodyRig, body_b: np.ndarray) -> tuple[dict, dict]:
    """people.npz arrays (Blender world) and the job.json entry: the head's motion, the scalp and
    brow patches (frame 0), the eyeballs (frame 0), the shoes (every frame)."""
    arrays: dict[str, np.ndarray] = {"head_xform": people.head_transforms(body_b, people.head_vertices(rig))}
    _, R, _ = similarity_fit(rig.rest[people.head_vertices(rig)], body_b[0, people.head_vertices(rig)])
    arrays["head_axes"] = R.T  # rows: the head's right (+x), up (+y), forward (+z) at frame 0
    entry: dict[str, Any] = {"file": "people.npz"}
    if spec.hair:
        arrays.update(_hair_arrays(spec.hair, rig, body_b[0], arrays["head_axes"]))
        arrays["skin_hair"] = people.hair_tint(rig, spec.hair["style"], spec.hair.get("facial", "none"))
        entry["hair"] = {
            "label": HAIR,
            "style": spec.hair["style"],
            "facial": spec.hair.get("facial", "none"),
            "strands": len(arrays["hair_counts"]),
            "radius": hair.STYLES.get(spec.hair["style"], hair.BROWS)["radius"],
            "brow_radius": hair.BROWS["radius"],
        }
    if spec.eyes and rig.look.has_eyes:
        arrays["eye_verts"] = people.place_eyes(rig, body_b[0]).astype(np.float32)
        arrays["eye_faces"] = rig.look.eye_faces.astype(np.int32)
        arrays["eye_uv"] = rig.look.eye_uv.astype(np.float32)
        entry["eyes"] = {"label": EYES, "num_verts": len(arrays["eye_verts"])}
    if spec.shoes and spec.shoes.get("type", "barefoot") != "barefoot":
        shoe = people.shoe_shell(rig, body_b, spec.shoes["type"])
        arrays["shoe_verts"], arrays["shoe_faces"] = shoe["verts"].astype(np.float32), shoe["faces"].astype(np.int32)
        arrays["shoe_sole"] = shoe["sole"]
        if rig.look.uv is not None:  # the foot skin's UVs carry the upper's fabric/leather detail
            fmask = np.isin(rig.faces, shoe["used"]).all(axis=1)
            arrays["shoe_uv"] = rig.look.uv[fmask].astype(np.float32)
        entry["shoes"] = {"label": SHOES, "type": spec.shoes["type"], "num_verts": int(shoe["verts"].shape[1])}
    return arrays, entry


def write_render_job(
    job_dir: str | Path,
    spec: SceneSpec,
    verts: np.ndarray,
    faces: np.ndarray,
    garments: list[GarmentCache],
    track: np.ndarray | None = None,
    part_labels: np.ndarray | None = None,
    rig: people.BodyRig | None = None,
) -> Path:
    """Write job.json, body.npz and garments/*.npz (Blender world). `verts` (T,V,3) and the garment
    caches are in the SMPL world; `track` (T,3) SMPL-world pelvis (default: body vertex centroid);
    `part_labels` (V,) SMPL part per body vertex (body.part_labels), needed by the 'parts' pass;
    `rig` (synth.scene.people.people_rig(body)): UVs, hair, eyes and shoes (without it: none)."""
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
            raise SynthError(
                f"part_labels has {len(body['part_labels'])} entries for {verts.shape[1]} vertices",
                fix="pass the body model's part_labels",
            )
    elif "parts" in spec.passes:
        raise SynthError("the 'parts' pass needs part_labels", fix="pass part_labels=body.part_labels")
    if rig is not None and rig.look.uv is not None:
        if len(rig.look.uv) != len(faces):
            raise SynthError(
                f"the body's UV map has {len(rig.look.uv)} faces, the mesh {len(faces)}",
                fix="give the UV map of this body model",
            )
        body["uv"] = rig.look.uv.astype(np.float32)
    save_npz_atomic(job_dir / "body.npz", **body)
    people_entry = None
    if rig is not None and (spec.hair or spec.eyes or spec.shoes):
        arrays, people_entry = _people_arrays(spec, rig, body_b)
        save_npz_atomic(job_dir / "people.npz", **arrays)
    garment_entries = []
    all_points = [body_b]
    for k, g in enumerate(garments):
        name = f"{k:02d}_{g.garment_type}"
        gv = smpl_to_blender(g.verts.astype(np.float64))
        all_points.append(gv)
        GarmentCache(
            g.garment_type, g.faces, g.uv, smpl_to_blender(g.rest), gv.astype(np.float32), g.material, g.stats
        ).save(job_dir / "garments" / f"{name}.npz")
        save_npz_atomic(job_dir / "garments" / f"{name}.hem.npz", hem=people.hem_weights(g.rest, g.faces))
        garment_entries.append(
            {
                "file": f"garments/{name}.npz",
                "type": g.garment_type,
                "label": garment_label(k),
                "num_verts": int(gv.shape[1]),
                "material": spec.garment_materials[k],
                "hem": f"garments/{name}.hem.npz",
            }
        )

    targets = track_points(body_b) if track is None else smpl_to_blender(np.asarray(track, np.float64))
    points = np.concatenate(all_points, axis=1)
    center = targets.mean(axis=0)
    radius = float(np.linalg.norm(points - center, axis=2).max())
    job: dict[str, Any] = spec.to_json()
    lowest = [body_b] + ([arrays["shoe_verts"]] if people_entry and "shoe_verts" in arrays else [])
    floor = people.ground_patch(lowest, GROUND_RADIUS)
    job["job"] = {
        "format": JOB_FORMAT,
        "world_frame": "blender_z_up",
        "body": {"file": "body.npz", "label": BODY, "num_verts": int(verts.shape[1])},
        "garments": garment_entries,
        "cameras": camera_tracks(spec.cameras, points, targets, spec.focal_mm, spec.sensor_mm, spec.fill),
        "lights": light_positions(spec.lights, center, radius),
        # where a photo plate's wall and ground stand (backdrop.Plate): the mean tracked point, the
        # farthest any point gets from it, the floor under the lowest point of the sequence
        "stage": {"center": center.tolist(), "radius": radius, "floor_z": floor["z"]},
        "people": people_entry,
        "mpfb2": str(mpfb_dir()) if rig is not None else "",
        "ground": floor if spec.ground else None,
        "seg_legend": seg_legend(
            [g.garment_type for g in garments],
            hair=bool(people_entry and "hair" in people_entry),
            eyes=bool(people_entry and "eyes" in people_entry),
            shoes=bool(people_entry and "shoes" in people_entry),
        ),
    }
    save_json_atomic(job_dir / "job.json", job)
    return job_dir


def load_job(job_dir: str | Path) -> dict[str, Any]:
    path = Path(job_dir) / "job.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SynthError(
            f"not a readable render job ({exc})", path=path, fix="re-create it with write_render_job"
        ) from exc
