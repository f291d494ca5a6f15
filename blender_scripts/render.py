"""Render a job directory (see docs/ARCHITECTURE.md, "Render job"):

    blender -b -P blender_scripts/render.py -- --job DIR      (Blender 4.2+ binary)
    python blender_scripts/render.py --job DIR                (bpy module from PyPI)

The scene is built once; per frame the body and garment vertices are streamed into their meshes
and each camera renders one image: Cycles path-traces only the subject's border (its projected
bounding box), and the background (HDRI or photo) outside it is composited in (backdrop.py). With the shadow-catching ground, the flow pass or $SYNTH_RENDER_FULL_FRAME=1 every
pixel is path-traced, the HDRI seen by the camera rays (the ground's shadow and the background's
motion need them). Writes frames/cam{c}/{t:04d}.png, depth/cam{c}/{t:04d}.npy,
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
    outside_border,
    over_environment,
    subject_border,
    write_rgb_png,
)
from common import JobError  # noqa: E402
from outputs import (  # noqa: E402
    PASS_DIRS,
    intrinsics,
    labels_from_pass,
    opencv_extrinsics,
    read_exr_passes,
    write_passes,
)
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


def save_image(scene, image, path: str, multilayer: bool, alpha: bool = False) -> None:
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0+; 4.x has the multilayer EXR as a file format
        settings.media_type = "MULTI_LAYER_IMAGE" if multilayer else "IMAGE"
    if multilayer:
        # a temporary file read back at once: compressing it (ZIP) only cost time (~0.04 s per 250 px image)
        settings.file_format, settings.color_depth, settings.exr_codec = "OPEN_EXR_MULTILAYER", "32", "NONE"
    else:
        settings.file_format = "PNG"
        settings.color_mode, settings.color_depth, settings.compression = "RGBA" if alpha else "RGB", "8", 15
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
    ground: bool
    animated: bool  # keyframed (the flow pass): frame t is scene frame t
    # the camera Cycles renders through: moved onto each job camera in turn (switching scene.camera
    # re-synced every object and rebuilt the BVH, ~0.02 s a render); None when keyframed (flow)
    view: object = None
    cropped: bool = False  # path-trace only the subject's border (see the module docstring)
    environment: Environment | None = None  # the HDRI composited behind a cropped render


def build_scene(job_dir: str, spec: dict) -> BuiltScene:
    """Engine, passes, world, lights, cameras and subject of a job in a fresh scene, posed nowhere yet."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    device = setup_engine(scene, spec)
    ground = bool(spec["job"].get("ground"))
    enable_passes(scene.view_layers[0], spec["passes"], ground, spec["background"]["kind"] == "photo")
    setup_world(scene, spec["background"])
    setup_lights(scene, spec["lights"], spec["job"]["lights"])
    cams = setup_cameras(scene, spec)
    subject, riders = build_subject(scene, job_dir, spec)
    animated = "flow" in spec["passes"]
    if animated:
        animate(scene, subject, cams, spec["job"]["cameras"], int(spec["num_frames"]), riders)
    built = BuiltScene(scene, device, cams, subject, riders, ground, animated)
    if not animated:
        built.view = add_view_camera(scene, cams[0])
    built.cropped = spec["engine"] == "cycles" and not (ground or animated or os.environ.get("SYNTH_RENDER_FULL_FRAME"))
    if built.cropped:
        # the film stays opaque over an HDRI: OIDN denoising the subject beside a transparent (black)
        # background brightened it by 1-5 levels (hair 7); beside the lit HDRI it denoises as before
        if spec["background"]["kind"] == "hdri":
            bg = spec["background"]
            built.environment = Environment(resolve_asset(bg["path"], "HDRI"), bg["rotation"], bg["strength"])
    return built


def add_view_camera(scene, like):
    """The camera Cycles renders through, a copy of `like`'s lens; render_view moves it."""
    obj = bpy.data.objects.new("view", like.data.copy())
    scene.collection.objects.link(obj)
    scene.camera = obj
    return obj


def enable_passes(layer, wanted: list[str], ground: bool, photo: bool) -> None:
    """The view layer switches of the asked-for passes (PASS_DIRS)."""
    for name in wanted:
        setattr(layer, PASS_DIRS[name], True)
    if ground and ({"depth", "normals"} & set(wanted) or photo):
        # the ground is background: its depth/normals are cleared, its shadow on a photo smoothed, by label
        layer.use_pass_object_index = True


def pose_frame(built: BuiltScene, tracks: list[dict], t: int) -> None:
    """Body, garment and head-rider geometry and every camera at frame t."""
    if built.animated:
        built.scene.frame_set(t)  # shape keys and camera keys of frame t (and motion to t + 1)
        return
    for obj, verts in built.subject:
        set_verts(obj, verts[t])
    place_riders(built.riders, t)
    for cam, track in zip(built.cams, tracks):
        place_camera(cam, track, t)


def load_backdrop(spec: dict) -> Backdrop | None:
    """The photo composited behind the subject, or None for an HDRI background (rendered as is)."""
    bg, size = spec["background"], int(spec["resolution"])
    if bg["kind"] != "photo":
        return None
    return Backdrop(resolve_asset(bg["path"], "background photo"), bg["views"], size, size)


def make_output_dirs(job_dir: str, num_cams: int, wanted: list[str]) -> None:
    for c in range(num_cams):
        for sub in ["frames"] + wanted:
            os.makedirs(os.path.join(job_dir, sub, f"cam{c}"), exist_ok=True)


def render_view(built: BuiltScene, cam, t: int) -> tuple[object, tuple[int, int, int, int] | None]:
    """Render frame t (posed) through one camera; returns (Blender's 'Render Result' image, the
    border rendered as (x0, x1, y0, y1) pixels from the top left, or None for the whole image)."""
    scene = built.scene
    if built.view is None:
        scene.camera = cam
    else:
        # the camera's own location/rotation, not its matrix: decomposing that again moved rays by ~1e-5
        view = built.view
        view.location, view.rotation_euler, view.scale = cam.location, cam.rotation_euler, cam.scale
        view.data.clip_end = cam.data.clip_end
    border = None
    if built.cropped:
        size = scene.render.resolution_x
        R, tv = opencv_extrinsics(np.array(cam.matrix_world))
        K = intrinsics(cam.data.lens, cam.data.sensor_width, size, size)
        border = subject_border(subject_points(built, t), R, tv, K, size)
        set_border(scene.render, border, size)
    bpy.ops.render.render()
    return bpy.data.images["Render Result"], border


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
    """Blender's render border (fractions, y from the bottom), the full-size result kept."""
    x0, x1, y0, y1 = border
    render.use_border, render.use_crop_to_border = True, False
    render.border_min_x, render.border_max_x = x0 / size, x1 / size
    render.border_min_y, render.border_max_y = 1.0 - y1 / size, 1.0 - y0 / size


def save_frame(scene, result, path: str, backdrop: Backdrop | None, c: int, tmp_png: str, ground=None) -> None:
    """The RGB frame: the render itself, or the subject (with alpha) composited over camera c's photo
    crop; `ground` (H,W bools: background-labelled pixels) smooths the shadow catcher's alpha there."""
    if backdrop is None:
        save_image(scene, result, path, False)
    else:
        save_image(scene, result, tmp_png, False, alpha=True)
        backdrop.composite(tmp_png, path, c, ground)


def save_over_environment(
    path: str, passes: dict, environment: Environment, cam, size: int, outside: np.ndarray
) -> None:
    """The RGB frame of a cropped HDRI render: its Combined pass (opaque inside the border) over the
    camera's view of the HDRI (`outside`: the pixels not rendered)."""
    rgba = np.stack([passes[f"Combined.{ch}"] for ch in "RGBA"], axis=-1)
    rgba[outside] = 0.0
    R, _ = opencv_extrinsics(np.array(cam.matrix_world))
    K = intrinsics(cam.data.lens, cam.data.sensor_width, size, size)
    write_rgb_png(path, over_environment(rgba, environment.view(R, K, size)))


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


def render_frames(job_dir: str, spec: dict, built: BuiltScene, backdrop: Backdrop | None) -> tuple[list, dict]:
    """Every frame through every camera: images and passes on disk. Returns (per camera the OpenCV
    pose of each frame, timings: wall and CPU seconds of each image and of each step, and the share
    of each image's pixels that were path-traced)."""
    T, wanted, tracks = int(spec["num_frames"]), list(spec["passes"]), spec["job"]["cameras"]
    scene, size = built.scene, int(spec["resolution"])
    records = [[] for _ in built.cams]
    tmp_exr, tmp_png = os.path.join(job_dir, ".passes.exr"), os.path.join(job_dir, ".subject.png")
    shadow_on_photo = built.ground and backdrop is not None  # its alpha is smoothed by label
    clock, wall, cpu, traced = StepClock(), [], [], []
    t0 = time.perf_counter()
    for t in range(T):
        with clock("pose"):
            pose_frame(built, tracks, t)
        for c, cam in enumerate(built.cams):
            w_img, c_img = time.perf_counter(), time.process_time()
            with clock("render"):
                result, border = render_view(built, cam, t)
            record = camera_record(cam)
            passes = None
            if wanted or shadow_on_photo or built.environment is not None:
                with clock("read passes"):
                    save_image(scene, result, tmp_exr, True)
                    passes = read_exr_passes(tmp_exr)
            outside = outside_border(size, border) if border is not None else None
            with clock("save frame"):
                frame_path = os.path.join(job_dir, "frames", f"cam{c}", f"{t:04d}.png")
                if built.environment is not None:
                    save_over_environment(frame_path, passes, built.environment, cam, size, outside)
                else:
                    ground = labels_from_pass(passes["Object Index.X"]) == 0 if shadow_on_photo else None
                    save_frame(scene, result, frame_path, backdrop, c, tmp_png, ground)
            if wanted:
                with clock("write passes"):
                    R, clip_end = np.array(record["R"]), cam.data.clip_end
                    write_passes(job_dir, wanted, passes, c, t, T - 1, clip_end, R, built.ground, outside)
            records[c].append(record)
            wall.append(time.perf_counter() - w_img)
            cpu.append(time.process_time() - c_img)
            traced.append(1.0 if outside is None else 1.0 - float(outside.mean()))
        print(f"render.py: frame {t + 1}/{T} ({time.perf_counter() - t0:.1f} s)", flush=True)
    for tmp in (tmp_exr, tmp_png):
        if os.path.exists(tmp):
            os.remove(tmp)
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
