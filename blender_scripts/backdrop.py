"""Photo backgrounds: each camera sees its own crop of one photo (zoom, small rotation, offset in
the free margin), composited behind the transparent-film render with its alpha."""

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
    out.open(path, lib.ImageSpec(img.shape[1], img.shape[0], 3, "uint8"))
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
