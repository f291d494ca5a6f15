"""Render a job directory (see docs/ARCHITECTURE.md, "Render job"):

    blender -b -P blender_scripts/render.py -- --job DIR      (Blender 4.2+ binary)
    python blender_scripts/render.py --job DIR                (bpy module from PyPI)

The scene is built once; per frame the body and garment vertices are streamed into their meshes
and each camera renders one image: Cycles path-traces only the subject's border (its projected
bounding box) and, with the shadow-catching ground, the ground within the shadow's reach beside it
(a second and third tile at fewer samples), each tile denoised by one OpenImageDenoise filter kept
for the job (denoise.py); the background (HDRI or photo) is composited in linear
light everywhere else, the ground's shadow fading out before the tiles' edges (backdrop.py). With
the flow pass or $SYNTH_RENDER_FULL_FRAME=1 every pixel is path-traced (the background's motion
needs the camera rays to see the HDRI). Writes frames/cam{c}/{t:04d}.png, depth/cam{c}/{t:04d}.npy,
seg/cam{c}/{t:04d}.png (when asked), cameras.json and render_info.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from backdrop import (  # noqa: E402
    Backdrop,
    Environment,
    Plate,
    border_tiles,
    composite,
    footprint,
    ground_border,
    ground_weight,
    keep_near_subject,
    outside_tiles,
    read_image,
    smooth_shadow,
    stitch_tiles,
    subject_border,
    write_rgb_png,
)
from common import JobError  # noqa: E402
from denoise import denoise_tile, open_denoiser  # noqa: E402
from outputs import (  # noqa: E402
    PASS_DIRS,
    intrinsics,
    labels_from_pass,
    opencv_extrinsics,
    read_exr_passes,
    write_passes,
)
from people import place_ground  # noqa: E402
from scene_build import (  # noqa: E402
    animate,
    build_subject,
    denoised_by,
    place_camera,
    place_riders,
    resolve_asset,
    set_verts,
    setup_cameras,
    setup_engine,
    setup_lights,
    setup_world,
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Arguments after '--' under the Blender binary, all of them under plain Python."""
    args = argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]
    parser = argparse.ArgumentParser(prog="render.py", description="Render a synth render job.")
    parser.add_argument("--job", required=True, help="render job directory (job.json, body.npz, garments/)")
    return parser.parse_args(args)


def load_spec(job_dir: str) -> dict:
    path = os.path.join(job_dir, "job.json")
    try:
        with open(path) as fh:
            spec = json.load(fh)
        spec["job"]["cameras"]
    except (OSError, ValueError, KeyError) as exc:
        raise JobError(f"not a render job ({exc!r})", path, "write it with synth.scene.write_render_job") from exc
    index_passes = sorted({"seg", "parts"} & set(spec["passes"]))
    if spec["engine"] == "eevee" and index_passes:
        raise JobError(
            f"passes {index_passes} (object/material index) need engine 'cycles'", path, "drop them or use cycles"
        )
    return spec


def save_image(scene, image, path: str, multilayer: bool) -> None:
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0+; 4.x has the multilayer EXR as a file format
        settings.media_type = "MULTI_LAYER_IMAGE" if multilayer else "IMAGE"
    if multilayer:
        # a temporary file read back at once: compressing it (ZIP) only cost time (~0.04 s per 250 px image)
        settings.file_format, settings.color_depth, settings.exr_codec = "OPEN_EXR_MULTILAYER", "32", "NONE"
    else:
        settings.file_format = "PNG"
        settings.color_mode, settings.color_depth, settings.compression = "RGB", "8", 15
    image.save_render(path, scene=scene)


def camera_record(cam) -> dict:
    R, t = opencv_extrinsics(np.array(cam.matrix_world))
    return {"R": R.tolist(), "t": t.tolist()}


@dataclass
class BuiltScene:
    """The scene of a job, built once: what the frame loop poses and renders."""

    scene: object
    device: str  # as setup_engine reports it: 'cpu', 'eevee' or 'gpu:KIND:NAME'
    cams: list
    subject: list[tuple]  # [(mesh object, verts (T,V,3))]
    riders: list[tuple]  # [(object carried by the head, (T,4,4))]
    ground: dict | None  # job.json's ground block (z, radius: the shadow's reach) or None
    animated: bool  # keyframed (the flow pass): frame t is scene frame t
    # the camera Cycles renders through: moved onto each job camera in turn (switching scene.camera
    # re-synced every object and rebuilt the BVH, ~0.02 s a render); None when keyframed (flow)
    view: object = None
    cropped: bool = False  # path-trace only the subject's border (see the module docstring)
    floor: object = None  # the shadow-catching ground object
    footprint: np.ndarray | None = None  # (2, 2) world xy box the ground's shadow surrounds, this frame
    environment: Environment | None = None  # the HDRI composited behind a cropped render
    denoiser: object = None  # denoise.Denoiser: the tiles denoised here instead of in Cycles (cropped)


def build_scene(job_dir: str, spec: dict) -> BuiltScene:
    """Engine, passes, world, lights, cameras and subject of a job in a fresh scene, posed nowhere yet."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    device = setup_engine(scene, spec)
    ground = (spec["job"].get("ground") or None) if spec["engine"] == "cycles" else None
    enable_passes(scene.view_layers[0], spec["passes"], bool(ground))
    setup_world(scene, spec["background"])
    setup_lights(scene, spec["lights"], spec["job"]["lights"])
    cams = setup_cameras(scene, spec)
    subject, riders = build_subject(scene, job_dir, spec)
    animated = "flow" in spec["passes"]
    if animated:
        animate(scene, subject, cams, spec["job"]["cameras"], int(spec["num_frames"]), riders)
    built = BuiltScene(scene, device, cams, subject, riders, ground, animated)
    if ground:
        built.floor = bpy.data.objects["ground"]
        if animated:  # one floor for the whole keyframed sequence
            T = int(spec["num_frames"])
            boxes = np.stack([footprint(subject_points(built, t), ground["z"]) for t in range(T)])
            built.footprint = np.stack([boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)])
            place_ground(built.floor, built.footprint, ground["z"], ground["radius"])
    if not animated:
        built.view = add_view_camera(scene, cams[0])
    built.cropped = spec["engine"] == "cycles" and not (animated or os.environ.get("SYNTH_RENDER_FULL_FRAME"))
    if built.cropped and scene.cycles.use_denoising:
        use_own_denoiser(built)
    # the film stays opaque over an HDRI: OIDN denoising the subject beside a transparent (black)
    # background brightened it by 1-5 levels (hair 7); beside the lit HDRI it denoises as before
    bg = spec["background"]
    if spec["engine"] == "cycles" and bg["kind"] == "hdri" and (built.cropped or ground):
        built.environment = Environment(resolve_asset(bg["path"], "HDRI"), bg["rotation"], bg["strength"])
    return built


def use_own_denoiser(built: BuiltScene) -> None:
    """Tiles denoised by one OIDN filter kept for the job (denoise.py: Cycles set one up per tile and
    per shadow-catcher pass, most of the denoising's cost), from Cycles' guide passes; Cycles'
    denoising stays on where this Blender ships no OIDN library."""
    scene = built.scene
    built.denoiser = open_denoiser(
        bpy.utils.resource_path("LOCAL"), scene.render.threads * (scene.render.threads_mode == "FIXED")
    )
    if built.denoiser is not None:
        scene.cycles.use_denoising = False
        scene.view_layers[0].cycles.denoising_store_passes = True


def add_view_camera(scene, like):
    """The camera Cycles renders through, a copy of `like`'s lens; render_view moves it."""
    obj = bpy.data.objects.new("view", like.data.copy())
    scene.collection.objects.link(obj)
    scene.camera = obj
    return obj


def enable_passes(layer, wanted: list[str], ground: bool) -> None:
    """The view layer switches of the asked-for passes (PASS_DIRS)."""
    for name in wanted:
        setattr(layer, PASS_DIRS[name], True)
    if ground:
        # the ground is background: its depth/normals are cleared, its shadow composited, by label
        layer.use_pass_object_index = True


def pose_frame(built: BuiltScene, tracks: list[dict], t: int) -> None:
    """Body, garment and head-rider geometry and every camera at frame t."""
    if built.animated:
        built.scene.frame_set(t)  # shape keys and camera keys of frame t (and motion to t + 1)
        return
    for obj, verts in built.subject:
        set_verts(obj, verts[t])
    place_riders(built.riders, t)
    if built.ground:
        built.footprint = footprint(subject_points(built, t), built.ground["z"])
        place_ground(built.floor, built.footprint, built.ground["z"], built.ground["radius"])
    for cam, track in zip(built.cams, tracks):
        place_camera(cam, track, t)


def load_backdrop(spec: dict) -> Backdrop | Plate | None:
    """The photo (or the wall-and-ground plate) composited behind the subject, or None for an HDRI."""
    bg, size = spec["background"], int(spec["resolution"])
    if bg["kind"] != "photo":
        return None
    if bg.get("plate"):
        plate = bg["plate"]
        wall, ground = resolve_asset(bg["path"], "wall photo"), resolve_asset(plate["ground"], "ground photo")
        azimuths = [c["azimuth"] for c in spec["cameras"]]
        return Plate(plate, read_image(wall), read_image(ground), spec["job"]["stage"], azimuths)
    return Backdrop(resolve_asset(bg["path"], "background photo"), bg["views"], size, size)


def make_output_dirs(job_dir: str, num_cams: int, wanted: list[str]) -> None:
    for c in range(num_cams):
        for sub in ["frames"] + wanted:
            os.makedirs(os.path.join(job_dir, sub, f"cam{c}"), exist_ok=True)


@dataclass
class Shot:
    """One image as render_view rendered it: the OpenCV camera (R, t, K), the borders path-traced
    ((x0, x1, y0, y1) pixels from the top left; None: the whole image), with the ground the
    footprint box (world xy) its shadow surrounds, and the passes read back (None: not read)."""

    R: np.ndarray
    t: np.ndarray
    K: np.ndarray
    borders: list | None = None
    footprint: np.ndarray | None = None
    passes: dict | None = None
    background: np.ndarray | None = None  # the HDRI's (size, size, 3) radiance, for the tiles' denoising
    fade: np.ndarray | None = None  # backdrop.ground_weight of this view: the shadow's share kept


class StepClock:
    """Wall and CPU (all render threads of this process) seconds per step of the frame loop, summed
    over the job: render_info.json `steps`. CPU seconds stay comparable on a loaded machine."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        w, c = time.perf_counter(), time.process_time()
        yield
        self.wall[step] = self.wall.get(step, 0.0) + time.perf_counter() - w
        self.cpu[step] = self.cpu.get(step, 0.0) + time.process_time() - c

    def record(self) -> dict:
        return {"wall": self.wall, "cpu": self.cpu}


GROUND_SAMPLE_SHARE = 0.5  # samples of the ground tiles (floor and sky: a smooth, denoised shadow)


def render_view(
    built: BuiltScene, cam, t: int, tmp_exr: str, want_passes: bool, clock: StepClock
) -> tuple[object, Shot]:
    """Render frame t (posed) through one camera; returns (Blender's 'Render Result' image, the shot).
    Cropped, Cycles renders the subject's border and, with the ground, the ground within the
    shadow's radius beside it (backdrop.border_tiles), each tile cropped; their passes are stitched
    to full size. Whole, the passes are read when `want_passes`. `clock` times the steps."""
    scene = built.scene
    if built.view is None:
        scene.camera = cam
    else:
        # the camera's own location/rotation, not its matrix: decomposing that again moved rays by ~1e-5
        view = built.view
        view.location, view.rotation_euler, view.scale = cam.location, cam.rotation_euler, cam.scale
        view.data.clip_end = cam.data.clip_end
    size = scene.render.resolution_x
    R, tv = opencv_extrinsics(np.array(cam.matrix_world))
    shot = Shot(R, tv, intrinsics(cam.data.lens, cam.data.sensor_width, size, size))
    shot.footprint = built.footprint
    if not built.cropped:
        with clock("trace"):
            bpy.ops.render.render()
        result = bpy.data.images["Render Result"]
        if want_passes:
            with clock("read passes"):
                save_image(scene, result, tmp_exr, True)
                shot.passes = read_exr_passes(tmp_exr)
        return result, shot
    box = subject_border(subject_points(built, t), R, tv, shot.K, size)
    tiles = [(box, True)]
    if built.ground:
        g = built.ground
        tiles = border_tiles(box, ground_border(shot.footprint, g["z"], g["radius"], R, tv, shot.K, size))
        shot.fade = ground_weight(shot.footprint, g["z"], g["radius"], R, tv, shot.K, size)
        tiles = [tiles[0]] + [(b, False) for b in (fading_part(b, box, shot.fade) for b, _ in tiles[1:]) if b]
    samples = scene.cycles.samples
    rendered = []
    for border, full in tiles:
        scene.cycles.samples = samples if full else max(1, round(samples * GROUND_SAMPLE_SHARE))
        set_border(scene.render, border, size)
        with clock("trace subject" if full else "trace ground"):
            bpy.ops.render.render()
        with clock("read passes"):
            save_image(scene, bpy.data.images["Render Result"], tmp_exr, True)
            passes = read_exr_passes(tmp_exr)
        if built.denoiser is not None:
            with clock("denoise"):
                if built.environment is not None and shot.background is None:
                    shot.background = built.environment.view(R, shot.K, size)
                x0, x1, y0, y1 = border
                behind = None if shot.background is None else shot.background[y0:y1, x0:x1]
                denoise_tile(built.denoiser, passes, behind if built.ground else None)
        rendered.append((border, passes))
    scene.cycles.samples = samples
    shot.borders = [b for b, _ in rendered]
    with clock("stitch"):
        channels = set.intersection(*(set(p) for _, p in rendered)) if rendered else set()
        shot.passes = stitch_tiles(size, rendered, sorted(channels))
    return bpy.data.images["Render Result"], shot


def fading_part(border: tuple, subject: tuple, fade: np.ndarray) -> tuple | None:
    """A ground tile cut to the rows, and on its side away from the subject to the columns, where the
    shadow's fade is non-zero (a ground_border holds the grown footprint's corners, where none is
    kept: 12-27 % of its pixels); its edge in the subject's tile stays, for the blend. None: no shadow."""
    x0, x1, y0, y1 = border
    seen = fade[y0:y1, x0:x1] > 0
    if not seen.any():
        return None
    rows, cols = np.nonzero(seen.any(axis=1))[0], np.nonzero(seen.any(axis=0))[0]
    if x0 < subject[0]:  # left of the subject
        x0 += int(cols[0])
    else:
        x1 = x0 + int(cols[-1]) + 1
    return x0, x1, y0 + int(rows[0]), y0 + int(rows[-1]) + 1


def subject_points(built: BuiltScene, t: int) -> np.ndarray:
    """World points whose projection bounds the subject at frame t: every vertex of the meshes that
    move (body, garments, shoes) and the bounding-box corners of what the head carries (hair, eyes)."""
    pts = [np.asarray(verts[t], np.float64) for _, verts in built.subject]
    for obj, xforms in built.riders:
        M = np.asarray(xforms[t], np.float64)
        corners = np.array([list(c) for c in obj.bound_box], np.float64)
        pts.append(corners @ M[:3, :3].T + M[:3, 3])
    return np.concatenate(pts)


def set_border(render, border: tuple[int, int, int, int], size: int) -> None:
    """Blender's render border (fractions, y from the bottom), the result cropped to it."""
    x0, x1, y0, y1 = border
    render.use_border, render.use_crop_to_border = True, True
    render.border_min_x, render.border_max_x = x0 / size, x1 / size
    render.border_min_y, render.border_max_y = 1.0 - y1 / size, 1.0 - y0 / size


def save_frame(built: BuiltScene, result, path: str, shot: Shot, background) -> None:
    """The RGB frame: the render itself (an HDRI rendered whole, no ground), or its Combined pass
    composited over the background's linear radiance (`background`: the HDRI or photo this camera
    sees), the ground's shadow faded out within its radius (backdrop.ground_weight)."""
    if background is None:
        save_image(built.scene, result, path, False)
        return
    size = int(built.scene.render.resolution_x)
    passes = shot.passes
    rgba = np.stack([passes[f"Combined.{ch}"] for ch in "RGBA"], axis=-1)
    weight = None
    if built.ground:
        labels = labels_from_pass(passes["Object Index.X"])
        if built.environment is None:  # a photo: the transparent film's alpha carries the shadow
            rgba[..., 3] = smooth_shadow(rgba[..., 3], labels == 0)
        g = built.ground
        fade = shot.fade
        if fade is None:  # a whole frame
            fade = ground_weight(shot.footprint, g["z"], g["radius"], shot.R, shot.t, shot.K, size)
        weight = keep_near_subject(fade, labels)
    write_rgb_png(path, composite(rgba, background, weight))


def composited(built: BuiltScene, backdrop: Backdrop | None) -> bool:
    """Whether each frame is composited over a background (the photo crop, or the HDRI where
    Cycles did not see all of it: a border, or the ground's fade) rather than saved as rendered."""
    return backdrop is not None or (built.environment is not None and (built.cropped or bool(built.ground)))


def background_view(built: BuiltScene, backdrop: Backdrop | Plate | None, camera: int, shot, size: int):
    """The linear background radiance behind camera `camera`'s frame: its photo crop (fixed), the
    plate or the HDRI as this frame's camera sees them."""
    if isinstance(backdrop, Plate):
        return backdrop.view(camera, shot.R, shot.t, shot.K, size)
    if backdrop is not None:
        return backdrop.view(camera)
    return built.environment.view(shot.R, shot.K, size)


def render_frames(job_dir: str, spec: dict, built: BuiltScene, backdrop: Backdrop | None) -> tuple[list, dict]:
    """Every frame through every camera: images and passes on disk. Returns (per camera the OpenCV
    pose of each frame, timings: wall and CPU seconds of each image and of each step, and the share
    of each image's pixels that were path-traced)."""
    T, wanted, tracks = int(spec["num_frames"]), list(spec["passes"]), spec["job"]["cameras"]
    size = int(spec["resolution"])
    records = [[] for _ in built.cams]
    # read back at once: a RAM disk where there is one (the job folder's disk under load: 0.02-0.06 s)
    tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else job_dir
    tmp_exr = os.path.join(tmp_dir, f".passes-{os.getpid()}-{os.path.basename(job_dir)}.exr")
    clock, wall, cpu, traced = StepClock(), [], [], []
    t0 = time.perf_counter()
    try:  # the RAM disk's EXR goes whether the frames finish or not
        for t in range(T):
            with clock("pose"):
                pose_frame(built, tracks, t)
            for c, cam in enumerate(built.cams):
                w_img, c_img = time.perf_counter(), time.process_time()
                over = composited(built, backdrop)
                result, shot = render_view(built, cam, t, tmp_exr, bool(wanted) or over, clock)
                record = camera_record(cam)
                outside = outside_tiles(size, shot.borders) if shot.borders is not None else None
                with clock("save frame"):
                    background = None
                    if over:
                        background = (
                            shot.background
                            if shot.background is not None
                            else background_view(built, backdrop, c, shot, size)
                        )
                    frame = os.path.join(job_dir, "frames", f"cam{c}", f"{t:04d}.png")
                    save_frame(built, result, frame, shot, background)
                if wanted:
                    with clock("write passes"):
                        R, clip_end = np.array(record["R"]), cam.data.clip_end
                        write_passes(
                            job_dir, wanted, shot.passes, c, t, T - 1, clip_end, R, bool(built.ground), outside
                        )
                records[c].append(record)
                wall.append(time.perf_counter() - w_img)
                cpu.append(time.process_time() - c_img)
                traced.append(1.0 if outside is None else 1.0 - float(outside.mean()))
            print(f"render.py: frame {t + 1}/{T} ({time.perf_counter() - t0:.1f} s)", flush=True)
    finally:
        if os.path.exists(tmp_exr):
            os.remove(tmp_exr)
    return records, {"image_seconds": wall, "image_cpu_seconds": cpu, "steps": clock.record(), "traced": traced}


def cameras_record(cams: list, records: list[list[dict]], size: int) -> dict:
    """cameras.json: OpenCV intrinsics and per-frame extrinsics of the cameras actually rendered."""
    return {
        "convention": "opencv",
        "world_frame": "blender_z_up",
        "resolution": [size, size],
        "cameras": [
            {
                "name": cam.name,
                "K": intrinsics(cam.data.lens, cam.data.sensor_width, size, size).tolist(),
                "frames": recs,
            }
            for cam, recs in zip(cams, records)
        ],
    }


def render_info(spec: dict, built: BuiltScene, seconds: float, timing: dict) -> dict:
    """render_info.json: engine and device as rendered, and the timings (the first image pays for
    kernel and denoiser start-up; `steady` is the median of the others)."""
    T, n = int(spec["num_frames"]), len(built.cams)
    wall, cpu = timing["image_seconds"], timing["image_cpu_seconds"]
    return {
        "engine": spec["engine"],
        "device": built.device,
        "samples": spec["samples"],
        "denoise": denoised_by(built.scene) is not None,  # as rendered
        "denoised_by": denoised_by(built.scene),
        "frames": T,
        "cameras": n,
        "images": T * n,
        "seconds": seconds,
        "seconds_per_image": seconds / max(1, T * n),
        "first_image_seconds": wall[0],
        "steady_seconds_per_image": float(np.median(wall[1:] or wall)),
        "steady_cpu_seconds_per_image": float(np.median(cpu[1:] or cpu)),
        "steps": timing["steps"],
        # pixels path-traced per image (the subject's border; 1.0: the whole image)
        "traced_share": float(np.mean(timing["traced"])) if timing["traced"] else 1.0,
        "blender": bpy.app.version_string,
    }


def render_job(job_dir: str) -> dict:
    """Build the job's scene, render every frame and camera, write cameras.json and render_info.json."""
    job_dir = os.path.abspath(job_dir)
    spec = load_spec(job_dir)
    built = build_scene(job_dir, spec)
    backdrop = load_backdrop(spec)
    make_output_dirs(job_dir, len(built.cams), list(spec["passes"]))
    t0 = time.perf_counter()
    records, timing = render_frames(job_dir, spec, built, backdrop)
    seconds = time.perf_counter() - t0
    if "seg" in spec["passes"]:
        write_json(os.path.join(job_dir, "seg", "legend.json"), spec["job"].get("seg_legend") or {})
    info = render_info(spec, built, seconds, timing)
    write_json(os.path.join(job_dir, "cameras.json"), cameras_record(built.cams, records, int(spec["resolution"])))
    write_json(os.path.join(job_dir, "render_info.json"), info)
    return info


def write_json(path: str, obj) -> None:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
    os.replace(tmp, path)


MIN_BLENDER = (4, 2)  # node sockets, EEVEE ids and mesh attribute APIs used here; older builds render no subject


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        if tuple(bpy.app.version[:2]) < MIN_BLENDER:
            raise JobError(
                f"Blender {bpy.app.version_string} is too old (this script needs "
                f"{'.'.join(map(str, MIN_BLENDER))} or newer)",
                bpy.app.binary_path,
                "install Blender 4.2 LTS or newer, or unset SYNTH_BLENDER to use the bpy==5.0.1 module",
            )
        info = render_job(args.job)
    except JobError as exc:
        print(f"render.py: error: {exc.text}", file=sys.stderr, flush=True)
        return 2
    print(f"render.py: done {info['images']} images, {info['seconds_per_image']:.2f} s/image on {info['device']}")
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    if code:
        sys.exit(code)
