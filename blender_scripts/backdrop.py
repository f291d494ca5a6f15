"""Backgrounds composited with the render, and the subject's border.

Photo: each camera sees its own crop of one photo (zoom, small rotation, offset in the free
margin), composited behind the transparent-film render with its alpha. HDRI (Environment): the
equirectangular image as the camera sees it, looked up per pixel centre exactly as Cycles' world
shader maps a camera ray's direction, filled in where Cycles did not render. Cycles traces only
the subject's border (`subject_border`): the camera-visible background was most of a render's
samples (docs/BENCHMARKS.md, "Rendering")."""

from __future__ import annotations

import math

import numpy as np
from common import JobError
from outputs import oiio


def read_image(path: str) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] (8-bit images) via the OpenImageIO bundled with Blender."""
    lib = oiio()
    inp = lib.ImageInput.open(path)
    if inp is None:
        raise JobError(f"cannot read image ({lib.geterror()})", path, "replace the file")
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
        err = inp.geterror()  # a truncated JPEG decodes with an error and grey rows
    finally:
        inp.close()
    if pixels is None or err:
        raise JobError(f"cannot decode image ({err.strip() or 'no pixels'})", path, "replace the file")
    pixels = np.asarray(pixels, np.float32)
    return pixels.reshape(spec.height, spec.width, spec.nchannels)


def write_rgb_png(path: str, rgb: np.ndarray) -> None:
    lib = oiio()
    img = np.ascontiguousarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
    out = lib.ImageOutput.create(path)
    spec = lib.ImageSpec(img.shape[1], img.shape[0], 3, "uint8")
    spec.attribute("png:compressionLevel", 1)  # lossless all the same; zlib's default 6 took 2.5x the time
    out.open(path, spec)
    out.write_image(img)
    out.close()


def crop_coordinates(photo_hw: tuple[int, int], view: dict, width: int, height: int) -> np.ndarray:
    """(H, W, 2) photo pixel coordinates (x, y) seen by each output pixel centre.

    Units of the photo's shorter side; the output square, rotated by `rotation` and shrunk by
    zoom * (|cos| + |sin|), stays inside the photo, and `offset` in [-1, 1]^2 moves it within the margin.
    """
    ph, pw = photo_hw
    unit = min(ph, pw)
    theta = float(view["rotation"])
    scale = 1.0 / (view["zoom"] * (abs(math.cos(theta)) + abs(math.sin(theta))))
    half = 0.5 / view["zoom"]
    cx = pw / unit / 2 + view["offset"][0] * (pw / unit / 2 - half)
    cy = ph / unit / 2 + view["offset"][1] * (ph / unit / 2 - half)
    side = max(width, height)
    xs = (np.arange(width) + 0.5 - width / 2) / side
    ys = (np.arange(height) + 0.5 - height / 2) / side
    qx, qy = np.meshgrid(xs, ys)
    c, s = math.cos(theta), math.sin(theta)
    px = cx + scale * (c * qx - s * qy)
    py = cy + scale * (s * qx + c * qy)
    return np.stack([px * unit - 0.5, py * unit - 0.5], axis=-1)


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x = np.clip(xy[..., 0], 0, w - 1)
    y = np.clip(xy[..., 1], 0, h - 1)
    x0, y0 = np.minimum(x.astype(int), w - 2), np.minimum(y.astype(int), h - 2)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


class Backdrop:
    """One photo, one crop per camera (computed once), composited under RGBA renders."""

    def __init__(self, path: str, views: list[dict], width: int, height: int):
        photo = read_image(path)[..., :3]
        if photo.shape[0] < 2 or photo.shape[1] < 2:
            raise JobError("background photo is too small", path, "replace the file")
        if photo.shape[2] == 1:
            photo = np.repeat(photo, 3, axis=2)
        self.crops = [bilinear(photo, crop_coordinates(photo.shape[:2], v, width, height)) for v in views]

    def composite(self, rgba_png: str, out_png: str, camera: int, ground: np.ndarray | None = None) -> None:
        """Straight-alpha 'over' in display space: out = a * subject + (1 - a) * photo. `ground` (H,W
        bools, the background-labelled pixels) marks where the alpha is the shadow catcher's shadow:
        it is smoothed there (the denoiser passes alpha through with the path tracer's noise)."""
        fg = read_image(rgba_png)
        alpha = fg[..., 3:4] if ground is None else smooth_shadow(fg[..., 3], ground)[..., None]
        write_rgb_png(out_png, alpha * fg[..., :3] + (1 - alpha) * self.crops[camera % len(self.crops)])


# Pixels added around the subject's projected bounding box: Cycles' pixel filter (Blackman-Harris,
# 1.5 px wide) reaches 0.75 px past a pixel, hair ribbons and the garments' render-time thickness a
# few mm past their points; 3 px is 2-5 cm at 128-250 px.
BORDER_MARGIN_PX = 3


def subject_border(
    points: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, size: int, margin: int = BORDER_MARGIN_PX
) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1): the pixel rectangle (columns x0..x1-1, rows y0..y1-1 from the top) holding
    every world point (N,3) seen by the OpenCV camera (R, t, K) of a size x size image, grown by
    `margin`; a triangle projects inside its corners' box, so no subject pixel lies outside it.
    Points behind the camera give the whole image."""
    cam = np.asarray(points, np.float64) @ np.asarray(R).T + np.asarray(t)
    if len(cam) == 0:
        return 0, 0, 0, 0
    if cam[:, 2].min() <= 1e-6:
        return 0, size, 0, size
    uv = cam[:, :2] / cam[:, 2:3] * np.diag(K)[:2] + K[:2, 2]
    lo, hi = np.floor(uv.min(axis=0)) - margin, np.ceil(uv.max(axis=0)) + margin
    x0, y0 = (int(np.clip(v, 0, size)) for v in lo)
    x1, y1 = (int(np.clip(v, 0, size)) for v in hi)
    return x0, max(x0, x1), y0, max(y0, y1)


def outside_border(size: int, border: tuple[int, int, int, int]) -> np.ndarray:
    """(size, size) bools: the pixels Cycles did not render (background by construction)."""
    x0, x1, y0, y1 = border
    out = np.ones((size, size), bool)
    out[y0:y1, x0:x1] = False
    return out


class Environment:
    """An equirectangular HDRI as the world shader shows it (scene_build._environment): direction
    rotated about Z by `rotation`, Cycles' equirectangular mapping, bilinear lookup with the image
    repeating around the horizon, negatives clamped, times `strength`. Linear scene radiance."""

    def __init__(self, path: str, rotation: float, strength: float):
        self.image = read_image(path)[..., :3].astype(np.float32)
        self.rotation, self.strength = float(rotation), float(strength)

    def radiance(self, directions: np.ndarray) -> np.ndarray:
        """(..., 3) world directions (Blender, z up) -> (..., 3) radiance."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        d = np.asarray(directions, np.float32)
        x, y = c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]
        z = np.clip(d[..., 2] / np.linalg.norm(d, axis=-1), -1.0, 1.0)
        h, w = self.image.shape[:2]
        # Cycles' direction_to_equirectangular: u = 0.5 - atan2(y, x) / 2pi, v = 1 - acos(z) / pi
        # (1 at the zenith); the file's rows run from the top, so the row is acos(z) / pi * h
        px = (0.5 - np.arctan2(y, x) / (2 * math.pi)) * w - 0.5
        py = np.arccos(z) / math.pi * h - 0.5
        x0, y0 = np.floor(px), np.floor(py)
        fx, fy = (px - x0)[..., None], (py - y0)[..., None]
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        flat = self.image.reshape(-1, 3)
        cols = (x0 % w, (x0 + 1) % w)  # repeating around the horizon
        rows = (np.clip(y0, 0, h - 1) * w, np.clip(y0 + 1, 0, h - 1) * w)
        top = flat[rows[0] + cols[0]] * (1 - fx) + flat[rows[0] + cols[1]] * fx
        bottom = flat[rows[1] + cols[0]] * (1 - fx) + flat[rows[1] + cols[1]] * fx
        return np.maximum(top * (1 - fy) + bottom * fy, 0.0) * np.float32(self.strength)

    def view(self, R: np.ndarray, K: np.ndarray, size: int) -> np.ndarray:
        """(size, size, 3) radiance behind each pixel centre of the OpenCV camera (R world->camera, K)."""
        centres = np.arange(size) + 0.5
        qx, qy = np.meshgrid((centres - K[0, 2]) / K[0, 0], (centres - K[1, 2]) / K[1, 1])
        rays = np.stack([qx, qy, np.ones_like(qx)], axis=-1) @ np.asarray(R)  # camera -> world: R^T d
        return self.radiance(rays)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Blender's 'Standard' view on an sRGB display: the piecewise sRGB curve, clipped to [0, 1]."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def over_environment(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Premultiplied linear RGBA (Cycles' Combined pass; 0 where not rendered) over linear radiance
    -> display RGB in [0, 1]."""
    alpha = np.clip(rgba[..., 3:4], 0.0, 1.0)
    return srgb_encode(rgba[..., :3] + (1.0 - alpha) * background)


SHADOW_SIGMA_PX = 2.0  # shadows are low-frequency; 8 samples leave per-pixel grain in the alpha


def smooth_shadow(alpha: np.ndarray, ground: np.ndarray, sigma: float = SHADOW_SIGMA_PX) -> np.ndarray:
    """The shadow alpha blurred over the ground pixels only (a normalised Gaussian: the subject's
    opaque pixels do not bleed into it). Pixels next to the subject keep their own alpha: they hold
    its anti-aliased edge, which the (first-sample) labels call background."""
    inner = erode(ground)
    weight = ground.astype(np.float32)
    num, den = gaussian_blur(alpha * weight, sigma), gaussian_blur(weight, sigma)
    smooth = np.divide(num, den, out=np.zeros_like(num), where=den > 1e-6)
    return np.where(inner, smooth, alpha).astype(np.float32)


def erode(mask: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood lies wholly in the mask (border pixels count as outside)."""
    padded = np.pad(mask, 1, constant_values=False)
    h, w = mask.shape
    out = np.ones_like(mask, dtype=bool)
    for dy in range(3):
        for dx in range(3):
            out &= padded[dy : dy + h, dx : dx + w]
    return out


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian (3 sigma radius), zero outside the image (numpy only: Blender's Python)."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = image.astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(out, [(r, r) if a == axis else (0, 0) for a in range(2)])
        n = out.shape[axis]
        out = sum(w * np.take(padded, range(i, i + n), axis=axis) for i, w in enumerate(k))
    return out
