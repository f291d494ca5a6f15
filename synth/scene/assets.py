"""Render assets: HDRIs (default: the CC0 ones inside the bpy wheel), background photos and
fabric images. Paths are validated here so a bad folder fails before Blender starts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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


def resolve_asset(path: str) -> Path | None:
    """Filesystem path of an asset reference ('builtin:NAME.exr' or a path); None if unknown here."""
    if path.startswith(BUILTIN_PREFIX):
        root = builtin_hdri_dir()
        return None if root is None else root / path[len(BUILTIN_PREFIX) :]
    return Path(path)


def _list(folder: str | Path, suffixes: tuple[str, ...], what: str, setting: str) -> list[str]:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SynthError(f"{what} folder does not exist", root, f"point render.{setting} at a folder of {what}")
    files = sorted(
        str(p.resolve())
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not any(k in p.stem.lower() for k in _NOT_COLOUR)
    )
    if not files:
        raise SynthError(
            f"no {what} ({', '.join(suffixes)}) in this folder", root, f"add files or change render.{setting}"
        )
    return files


def list_hdris(hdri_dir: str | Path = "") -> list[str]:
    if not hdri_dir:
        return [f"{BUILTIN_PREFIX}{name}.exr" for name in BUILTIN_HDRIS]
    return _list(hdri_dir, HDRI_SUFFIXES, "HDRI environment maps", "hdri_dir")


def list_photos(photo_dir: str | Path) -> list[str]:
    return _list(photo_dir, IMAGE_SUFFIXES, "background photos", "photo_dir")


def list_textures(texture_dir: str | Path) -> list[str]:
    return _list(texture_dir, IMAGE_SUFFIXES, "fabric colour images", "texture_dir")


def check_asset(path: str, what: str) -> None:
    """Raise SynthError naming the file when a referenced asset is missing."""
    resolved = resolve_asset(path)
    if resolved is None:  # builtin without a bpy wheel: the Blender binary resolves it itself
        return
    if not resolved.is_file():
        raise SynthError(f"{what} not found", resolved, "restore the file or re-sample the scene from a valid folder")
