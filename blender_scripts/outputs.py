"""What render.py writes besides the frames: passes read back from the render's multilayer EXR,
exact 8-bit label PNGs, and OpenCV cameras taken from the camera objects actually rendered."""

from __future__ import annotations

import glob
import os
import struct
import sys
import zlib

import numpy as np

BACKGROUND_DEPTH = 1e9  # Cycles writes 1e10 where no surface is hit
# pass name -> the view layer switch that produces it (also the output folder's name)
PASS_DIRS = {
    "depth": "use_pass_z",
    "seg": "use_pass_object_index",
    "parts": "use_pass_material_index",
    "normals": "use_pass_normal",
    "flow": "use_pass_vector",
}


def oiio():
    """OpenImageIO ships inside Blender; the bpy wheel keeps it in its own bundled site-packages."""
    try:
        import OpenImageIO
    except ImportError:
        import bpy

        local = bpy.utils.resource_path("LOCAL")
        sys.path += glob.glob(os.path.join(local, "python", "lib", "python3*", "site-packages"))
        import OpenImageIO
    return OpenImageIO


def read_exr_passes(path: str) -> dict[str, np.ndarray]:
    """{'Depth.Z': (H,W) float32, 'Object Index.X': ...} from a multilayer EXR (every part/channel)."""
    lib = oiio()
    inp = lib.ImageInput.open(path)
    if inp is None:
        raise RuntimeError(f"cannot open {path}: {lib.geterror()}")
    out: dict[str, np.ndarray] = {}
    sub = 0
    try:
        while inp.seek_subimage(sub, 0):
            spec = inp.spec()
            px = np.asarray(inp.read_image(sub, 0, 0, spec.nchannels, "float")).reshape(spec.height, spec.width, -1)
            for i, name in enumerate(spec.channelnames):
                out[name.split(".", 1)[1] if "." in name else name] = px[..., i]
            sub += 1
    finally:
        inp.close()
    return out


def depth_from_pass(z: np.ndarray, clip_end: float) -> np.ndarray:
    """Camera-z depth in metres, inf for background (Cycles writes 1e10 there, EEVEE the clip end)."""
    z = z.astype(np.float32)
    z[z >= min(BACKGROUND_DEPTH, 0.999 * clip_end)] = np.inf
    return z


def labels_from_pass(index: np.ndarray) -> np.ndarray:
    """Object pass_index (0 background, 1 body, 2.. garments) as uint8."""
    return np.clip(np.rint(index), 0, 255).astype(np.uint8)


def write_passes(
    job_dir: str,
    wanted: list[str],
    passes: dict[str, np.ndarray],
    c: int,
    t: int,
    last_frame: int,
    clip_end: float,
    R: np.ndarray,
    ground: bool = False,
    outside: np.ndarray | None = None,
) -> None:
    """depth/seg/parts/normals/flow of camera c, frame t, from the render's passes (R: world->OpenCV camera).
    With a ground plane (label 0, a shadow catcher) its pixels get background depth and normals;
    `outside` (H,W bools) marks pixels outside the rendered border: background in every pass."""
    background = labels_from_pass(passes["Object Index.X"]) == 0 if ground else None
    if outside is not None:
        background = outside if background is None else background | outside

    def path(name: str, ext: str) -> str:
        return os.path.join(job_dir, name, f"cam{c}", f"{t:04d}.{ext}")

    if "depth" in wanted:
        depth = depth_from_pass(passes["Depth.Z"], clip_end)
        if background is not None:
            depth[background] = np.inf
        save_npy(path("depth", "npy"), depth)
    for name, channel in (("seg", "Object Index.X"), ("parts", "Material Index.X")):
        if name in wanted:
            labels = labels_from_pass(passes[channel])
            if outside is not None:
                labels[outside] = 0
            write_gray_png(path(name, "png"), labels)
    if "normals" in wanted:
        world = np.stack([passes[f"Normal.{a}"] for a in "XYZ"], axis=-1).astype(np.float64)
        cam = world @ R.T
        if background is not None:
            cam[background] = 0.0
        save_npy(path("normals", "npy"), cam.astype(np.float16))
    if "flow" in wanted and t < last_frame:
        # Blender's vector pass: (X, Y) motion to the previous frame, (Z, W) to the next, y up;
        # forward flow in image pixels (x right, y down) is (-Z, W).
        save_npy(path("flow", "npy"), np.stack([-passes["Vector.Z"], passes["Vector.W"]], axis=-1).astype(np.float16))


def write_gray_png(path: str, image: np.ndarray) -> None:
    """Lossless 8-bit grayscale PNG with the standard library (values stay exact labels)."""
    image = np.ascontiguousarray(image, np.uint8)
    h, w = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(png)
    os.replace(tmp, path)


def save_npy(path: str, array: np.ndarray) -> None:
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def opencv_extrinsics(matrix_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World->camera R, t (x_cam = R x + t, OpenCV axes) from a Blender camera's matrix_world.

    Blender cameras look down their local -Z with +Y up; OpenCV looks down +Z with +Y down,
    so the camera axes differ by diag(1, -1, -1).
    """
    m = np.asarray(matrix_world, np.float64)
    rot = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0, keepdims=True)
    R = np.diag([1.0, -1.0, -1.0]) @ rot.T
    return R, -R @ m[:3, 3]


def intrinsics(lens_mm: float, sensor_width_mm: float, width: int, height: int) -> np.ndarray:
    """K for a horizontal sensor fit, square pixels, no lens shift; pixel (0,0) is the top-left corner."""
    f = lens_mm / sensor_width_mm * width
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
