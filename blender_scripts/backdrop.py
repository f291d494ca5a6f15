"""Backgrounds composited with the render, and the subject's border.

Photo: each camera sees its own crop of one photo (zoom, small rotation, offset in the free
margin), composited behind the transparent-film render with its alpha; or (Plate) two photos of
surfaces of known size, a wall and the ground, ray-cast per frame at their physical scale. HDRI (Environment): the
equirectangular image as the camera sees it, looked up per pixel centre exactly as Cycles' world
shader maps a camera ray's direction, filled in where Cycles did not render. Cycles traces only
the subject's border (`subject_border`): the camera-visible background was most of a render's
samples (docs/BENCHMARKS.md, "Rendering")."""

from __future__ import annotations

import math

import numpy as np
from common import JobError, srgb_decode, srgb_encode
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
    """One photo, one crop per camera (computed once), in linear light: the background radiance
    behind camera c's transparent-film render (`composite`)."""

    def __init__(self, path: str, views: list[dict], width: int, height: int):
        photo = read_image(path)[..., :3]
        if photo.shape[0] < 2 or photo.shape[1] < 2:
            raise JobError("background photo is too small", path, "replace the file")
        if photo.shape[2] == 1:
            photo = np.repeat(photo, 3, axis=2)
        self.crops = [srgb_decode(bilinear(photo, crop_coordinates(photo.shape[:2], v, width, height))) for v in views]

    def view(self, camera: int) -> np.ndarray:
        return self.crops[camera % len(self.crops)]


def mip_pyramid(image: np.ndarray) -> list[np.ndarray]:
    """[image, its 2x2 box means, ...] down to a few pixels: prefiltered levels for minified lookups."""
    levels = [np.asarray(image, np.float32)]
    while min(levels[-1].shape[:2]) >= 8:
        a = levels[-1]
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        levels.append(a[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3)))
    return levels


def _fold(i: np.ndarray, n: int) -> np.ndarray:
    """Texel indices mirrored about each edge (abba...): a photo that does not tile repeats without a seam."""
    m = np.mod(i, 2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def mirrored_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup at texel coordinates (x, y) (pixel centres at integers) with mirrored repeat."""
    h, w = image.shape[:2]
    flat = image.reshape(h * w, -1)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32)[..., None], (y - y0).astype(np.float32)[..., None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    xa, xb, ya, yb = _fold(x0, w), _fold(x0 + 1, w), _fold(y0, h) * w, _fold(y0 + 1, h) * w
    top = flat[ya + xa] * (1 - fx) + flat[ya + xb] * fx
    bottom = flat[yb + xa] * (1 - fx) + flat[yb + xb] * fx
    return top * (1 - fy) + bottom * fy


def surface_lookup(levels: list[np.ndarray], texel: float, uv: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Lookup of a photo whose pixels span `texel` metres laid on a surface: `uv` (..., 2) in metres
    on it (u right, v up), `footprint` (...) the metres one output pixel covers there; bilinear in
    the first pyramid level whose texels are at least that large (no aliasing, at most 2x blur)."""
    level = np.clip(np.ceil(np.log2(np.maximum(footprint / texel, 1e-6))), 0, len(levels) - 1).astype(np.int64)
    out = np.zeros(uv.shape[:-1] + (levels[0].shape[2],), np.float32)
    for k in np.unique(level):
        sel = level == k
        size = texel * 2.0**k
        # image rows run down the surface
        out[sel] = mirrored_bilinear(levels[k], uv[sel, 0] / size - 0.5, -uv[sel, 1] / size - 0.5)
    return out


def rectify(photo: np.ndarray, vanishing: tuple[float, float]) -> np.ndarray:
    """A photo of a plane seen tilted about the image's horizontal axis, its columns converging to
    `vanishing` (x, y pixels, y < 0: above the image), resampled as if seen square-on: scale 1 at the
    middle row, rows spaced by the projective map Y = c + d0 - d0^2 / (y - y_v), cropped to the columns
    every row covers (the widest rows lose their sides)."""
    h, w = photo.shape[:2]
    xv, yv = vanishing
    d0, c = h / 2 - yv, h / 2
    d_bottom = h - 1 - yv
    half = min(xv, w - 1 - xv) * d0 / d_bottom  # rectified half-width the bottom row still covers
    y_top, y_bottom = (c + d0 - d0 * d0 / (y - yv) for y in (0.0, h - 1.0))
    rows, cols = int(y_bottom - y_top), int(2 * half)
    Y = y_top + np.arange(rows) + 0.5
    X = xv - half + np.arange(cols) + 0.5
    d = d0 * d0 / (c + d0 - Y)
    y = yv + d
    x = xv + (X[None, :] - xv) * (d[:, None] / d0)
    return bilinear(photo, np.stack([x, np.broadcast_to(y[:, None], x.shape)], axis=-1)).astype(np.float32)


GROUND_TAPS = 6  # looks per ground pixel along its stretch (the grain stays; 1 look blurred it to a flat grey)


class Plate:
    """Two photos of surfaces of known size as a set the subject stands in: `ground` laid on the floor
    (z = `floor_z`) and `wall` standing `distance` metres beyond the subject's reach (`center`,
    `radius`: the sequence's mean tracked point and the farthest any point gets from it), square to
    each camera's azimuth, both fixed in the world (Blender, z up), each photo at its physical size
    (metres per pixel), mirrored where it repeats and prefiltered for the output pixel's footprint.
    `view` gives the linear background radiance behind each pixel of a frame."""

    def __init__(self, plate: dict, wall: np.ndarray, ground: np.ndarray, stage: dict, azimuths: list[float]):
        """`wall`, `ground`: the photos as read (H, W, C) sRGB values in [0, 1]."""

        def prepare(photo: np.ndarray, turns: int, vanishing=None) -> list[np.ndarray]:
            photo = photo[..., :3]
            if photo.shape[2] == 1:
                photo = np.repeat(photo, 3, axis=2)
            if vanishing:
                photo = rectify(photo, vanishing)
            return mip_pyramid(srgb_decode(np.rot90(photo, turns)))

        self.wall = prepare(wall, plate["wall_turns"], plate.get("wall_vanishing"))
        self.ground = prepare(ground, plate["ground_turns"])
        self.wall_m, self.ground_m = float(plate["wall_pixel_m"]), float(plate["ground_pixel_m"])
        self.floor_z = float(stage["floor_z"])
        center = np.asarray(stage["center"], np.float64)
        # per camera: the wall's normal (towards the camera) and its point on the floor line
        self.normals = [np.array([math.cos(a), math.sin(a), 0.0]) for a in azimuths]
        reach = float(stage["radius"]) + float(plate["distance"])
        self.origins = [np.array([*(center[:2] - reach * n[:2]), self.floor_z]) for n in self.normals]

    def view(self, camera: int, R: np.ndarray, t: np.ndarray, K: np.ndarray, size: int) -> np.ndarray:
        """(size, size, 3) radiance behind each pixel centre of camera `camera` (OpenCV R, t, K)."""
        centres = np.arange(size) + 0.5
        qx, qy = np.meshgrid((centres - K[0, 2]) / K[0, 0], (centres - K[1, 2]) / K[1, 1])
        rays = np.stack([qx, qy, np.ones_like(qx)], axis=-1) @ np.asarray(R)  # camera -> world: R^T d
        length = np.linalg.norm(rays, axis=-1)
        rays = rays / length[..., None]
        eye = -np.asarray(R).T @ np.asarray(t)
        n, o = self.normals[camera % len(self.normals)], self.origins[camera % len(self.origins)]
        side = np.cross([0.0, 0.0, 1.0], n)  # the wall's u axis (right as the camera sees it)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_wall = ((o - eye) @ n) / (rays @ n)
            s_ground = (self.floor_z - eye[2]) / rays[..., 2]
        s_wall = np.where(np.isfinite(s_wall) & (s_wall > 0), s_wall, np.inf)
        s_ground = np.where(np.isfinite(s_ground) & (s_ground > 0), s_ground, np.inf)
        on_ground = s_ground < s_wall
        s = np.minimum(np.where(np.isinf(s_wall) & np.isinf(s_ground), 1e3, s_wall), s_ground)
        hit = eye + s[..., None] * rays
        # a pixel's footprint: its angular size (1 / f px) at the hit's distance, stretched by the ray's
        # slant onto the plane (the ground, seen at a grazing angle, blurs along its depth as in a camera)
        pixel = s / (K[0, 0] / length)
        cos_wall, cos_ground = np.abs(rays @ n), np.abs(rays[..., 2])
        out = np.empty((size, size, 3), np.float32)
        wall = ~on_ground
        rel = hit - o
        uv_wall = np.stack([rel @ side, rel[..., 2]], axis=-1)
        out[wall] = surface_lookup(
            self.wall, self.wall_m, uv_wall[wall], pixel[wall] / np.maximum(cos_wall[wall], 1e-3)
        )
        uv_ground = np.stack([rel @ side, -(rel @ n)], axis=-1)[on_ground]  # v: from the wall to the camera
        # the ground, seen at a grazing angle, stretches a pixel along the ray's direction on it: GROUND_TAPS
        # looks spread over that length, each prefiltered for the pixel's width across (anisotropic)
        across = pixel[on_ground]
        along = across / np.maximum(cos_ground[on_ground], 1e-3)
        flat = rays[on_ground][:, :2]
        flat = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-9)
        step = np.stack([flat @ side[:2], -(flat @ n[:2])], axis=-1)
        taps = min(GROUND_TAPS, int(np.ceil(float(np.median(along / across)))))
        width = np.maximum(across, along / taps)
        acc = 0.0
        for j in range(taps):
            offset = ((j + 0.5) / taps - 0.5) * along
            acc = acc + surface_lookup(self.ground, self.ground_m, uv_ground + offset[:, None] * step, width)
        out[on_ground] = acc / taps
        return out


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


def composite(rgba: np.ndarray, background: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Premultiplied linear RGBA (Cycles' Combined pass; 0 where not rendered) over linear background
    radiance (the HDRI or the photo) -> display RGB in [0, 1]. `weight` (H,W in [0, 1]) scales the
    render's share per pixel (`ground_weight`: the ground's shadow fades out before the border):
    out = w rgb + (1 - w alpha) background, the 'over' operator in light, not in display values."""
    rgb, alpha = rgba[..., :3], np.clip(rgba[..., 3:4], 0.0, 1.0)
    if weight is not None:
        w = weight[..., None]
        rgb, alpha = w * rgb, w * alpha
    return srgb_encode(rgb + (1.0 - alpha) * background)


# The ground keeps the subject's shadow within SHADOW_FULL x its radius of the feet at full
# strength, fading to none at the radius (1 - smoothstep): the render border covers that ground and
# no more, and nothing of the catcher shows at the border's edge.
SHADOW_FULL = 0.4
NEAR_SUBJECT_PX = 2  # background-labelled pixels this close to the subject hold its anti-aliased edge
FOOT_LAYER = 0.5  # metres above the floor: the points whose ground footprint the shadow surrounds


def footprint(points: np.ndarray, z: float) -> np.ndarray:
    """(2, 2) [[x0, y0], [x1, y1]]: the ground box (world xy) under the subject's lowest FOOT_LAYER
    metres (all its points when none are that low: a jump)."""
    pts = np.asarray(points, np.float64)
    low = pts[pts[:, 2] < z + FOOT_LAYER]
    low = low if len(low) else pts
    return np.stack([low[:, :2].min(axis=0), low[:, :2].max(axis=0)])


def ground_border(
    box: np.ndarray, z: float, radius: float, R: np.ndarray, t: np.ndarray, K: np.ndarray, size: int
) -> tuple[int, int, int, int]:
    """The pixel rectangle holding the ground within `radius` metres of the footprint `box`: the
    projection of the grown box's corners (a flat rectangle projects inside its corners' box)."""
    (x0, y0), (x1, y1) = np.asarray(box) + [[-radius, -radius], [radius, radius]]
    corners = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])
    return subject_border(corners, R, t, K, size, margin=1)


TILE_OVERLAP_PX = 3  # ground tiles reach this far into the subject's tile (its margin: background), blended


def border_tiles(
    subject: tuple[int, int, int, int], ground: tuple[int, int, int, int], overlap: int = TILE_OVERLAP_PX
) -> list[tuple[tuple[int, int, int, int], bool]]:
    """The rectangles Cycles renders for one image with the ground: [(border, is the subject's)].
    The subject's box, grown down/up to the ground's rows, at full samples; the ground's rows left
    and right of it, reaching `overlap` px into it, as ground tiles (fewer samples: only floor and
    sky). One rectangle around both would trace the background beside the whole body too."""
    sx0, sx1, sy0, sy1 = subject
    gx0, gx1, gy0, gy1 = ground
    if gx1 <= gx0 or gy1 <= gy0:  # no ground in view
        return [(subject, True)]
    if sx1 <= sx0 or sy1 <= sy0:  # nothing of the subject in view
        return [(ground, True)]
    tiles = [((sx0, sx1, min(sy0, gy0), max(sy1, gy1)), True)]
    if gx0 < sx0:
        tiles.append(((gx0, min(sx0 + overlap, sx1), gy0, gy1), False))
    if gx1 > sx1:
        tiles.append(((max(sx1 - overlap, sx0), gx1, gy0, gy1), False))
    return tiles


def stitch_tiles(size: int, tiles: list[tuple[tuple[int, int, int, int], dict]], channels) -> dict:
    """Full-size (size, size) channels from cropped tile passes ({name: (h, w)} for each border):
    the first tile (the subject's) as rendered; later tiles fill around it, their Combined blended
    linearly into it across the overlap so the two renders' noise and denoising meet without a step."""
    out = {name: np.zeros((size, size), np.float32) for name in channels}
    covered = np.zeros((size, size), bool)
    for k, ((x0, x1, y0, y1), passes) in enumerate(tiles):
        w = np.ones((y1 - y0, x1 - x0), np.float32)
        seen = covered[y0:y1, x0:x1]
        if k and seen.any():
            cols = np.nonzero(seen.any(axis=0))[0]  # the overlap's columns: blend across them
            ramp = np.linspace(1.0, 0.0, len(cols) + 2)[1:-1]
            w[:, cols] = (ramp if cols[0] > 0 else ramp[::-1])[None, :] * seen[:, cols]
        for name in channels:
            tile = np.asarray(passes[name], np.float32)
            if tile.shape != w.shape:
                raise JobError(f"tile {name} is {tile.shape}, its border {w.shape}", "render border", "report it")
            if name.startswith("Combined"):
                region = out[name][y0:y1, x0:x1]
                region[...] = np.where(seen, region * (1 - w) + tile * w, tile)
            else:
                region = out[name][y0:y1, x0:x1]
                region[...] = np.where(seen, region, tile)
        covered[y0:y1, x0:x1] = True
    return out


def outside_tiles(size: int, borders) -> np.ndarray:
    """(size, size) bools: the pixels no tile rendered (background by construction)."""
    out = np.ones((size, size), bool)
    for x0, x1, y0, y1 in borders:
        out[y0:y1, x0:x1] = False
    return out


def ground_weight(
    box: np.ndarray, z: float, radius: float, R: np.ndarray, t: np.ndarray, K: np.ndarray, size: int
) -> np.ndarray:
    """(size, size) share of the render kept at each background pixel: the ground point seen there
    (the camera ray met with the plane at height z) at distance d from the footprint `box` gives
    1 - smoothstep(d / radius from SHADOW_FULL to 1); rays that miss the ground give 0."""
    centres = np.arange(size) + 0.5
    qx, qy = np.meshgrid((centres - K[0, 2]) / K[0, 0], (centres - K[1, 2]) / K[1, 1])
    rays = np.stack([qx, qy, np.ones_like(qx)], axis=-1) @ np.asarray(R)  # camera -> world: R^T d
    origin = -np.asarray(R).T @ np.asarray(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (z - origin[2]) / rays[..., 2]
    hit = np.isfinite(s) & (s > 0)
    xy = origin[:2] + np.where(hit, s, 0.0)[..., None] * rays[..., :2]
    lo, hi = np.asarray(box)
    d = np.linalg.norm(np.maximum(np.maximum(lo - xy, xy - hi), 0.0), axis=-1)
    u = np.clip((d / radius - SHADOW_FULL) / (1.0 - SHADOW_FULL), 0.0, 1.0)
    return np.where(hit, 1.0 - u * u * (3.0 - 2.0 * u), 0.0).astype(np.float32)


def keep_near_subject(weight: np.ndarray, labels: np.ndarray, px: int = NEAR_SUBJECT_PX) -> np.ndarray:
    """`weight` raised to 1 on the subject's pixels and within `px` of them (its anti-aliased edge,
    which the first-sample labels call background)."""
    return np.where(dilate(labels > 0, px), 1.0, weight).astype(np.float32)


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


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Pixels within `px` (Chebyshev) of the mask."""
    h, w = mask.shape
    padded = np.pad(mask, px, constant_values=False)
    out = np.zeros_like(mask, dtype=bool)
    for dy in range(2 * px + 1):
        for dx in range(2 * px + 1):
            out |= padded[dy : dy + h, dx : dx + w]
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
