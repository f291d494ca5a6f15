"""OpenImageDenoise called directly (ctypes on the library Blender ships) for the tiled renders.

Cycles builds a new OIDN device and filter for every render and every denoised pass (with a shadow
catcher: Combined, Shadow Catcher and its Matte), and building the filter loads the network's
weights: 0.2 CPU s of a 0.5 s image at 250 px, most of it set-up (docs/BENCHMARKS.md#rendering).
One device and filter here serve every tile of the job, with the guides Cycles uses at its FAST
prefilter (the noisy albedo and normal, cleanAux off), HDR colour and FAST quality. HIGH came closer
to a 128-sample render (person 5.01 against 5.26 levels) for 0.025 CPU s more per 250 px image, a
fifth of what the kept filter saves: left for a quality setting (docs/BENCHMARKS.md#rendering).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

_DEVICE_CPU = 1
_FORMAT_FLOAT3 = 3
_QUALITY_FAST = 4
# the passes Cycles writes with view_layer.cycles.denoising_store_passes (its own guides)
ALBEDO = tuple(f"Denoising Albedo.{c}" for c in "RGB")
NORMAL = tuple(f"Denoising Normal.{c}" for c in "XYZ")
GUIDES = ALBEDO + NORMAL + ("Denoising Depth.Z",)


def library_paths(local: str) -> list[str]:
    """Where Blender keeps libOpenImageDenoise: `lib` beside its versioned resource folder (the bpy
    wheel's site-packages/bpy/lib, a Blender build's blender-x.y/lib), else the loader's search."""
    return [os.path.join(os.path.dirname(local), "lib", "libOpenImageDenoise.so.2"), "libOpenImageDenoise.so.2"]


class Denoiser:
    """An OIDN "RT" filter kept for the whole job; `__call__` denoises one RGB image in place."""

    def __init__(self, lib: ctypes.CDLL, threads: int):
        self.lib = lib
        vp, cp, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        lib.oidnNewDevice.restype, lib.oidnNewDevice.argtypes = vp, [ctypes.c_int]
        lib.oidnSetDeviceInt.argtypes = [vp, cp, ctypes.c_int]
        lib.oidnSetDeviceBool.argtypes = [vp, cp, ctypes.c_bool]
        lib.oidnCommitDevice.argtypes = [vp]
        lib.oidnGetDeviceError.restype, lib.oidnGetDeviceError.argtypes = ctypes.c_int, [vp, ctypes.POINTER(cp)]
        lib.oidnNewFilter.restype, lib.oidnNewFilter.argtypes = vp, [vp, cp]
        lib.oidnSetSharedFilterImage.argtypes = [vp, cp, vp, ctypes.c_int, size, size, size, size, size]
        lib.oidnSetFilterBool.argtypes = [vp, cp, ctypes.c_bool]
        lib.oidnSetFilterInt.argtypes = [vp, cp, ctypes.c_int]
        lib.oidnCommitFilter.argtypes = lib.oidnExecuteFilter.argtypes = [vp]
        self.device = lib.oidnNewDevice(_DEVICE_CPU)
        if threads > 0:  # the render's fixed thread count (parallel workers share the cores)
            lib.oidnSetDeviceInt(self.device, b"numThreads", threads)
        lib.oidnSetDeviceBool(self.device, b"setAffinity", False)  # as Cycles: do not pin Blender's threads
        lib.oidnCommitDevice(self.device)
        self.check()
        self.filter = lib.oidnNewFilter(self.device, b"RT")
        lib.oidnSetFilterBool(self.filter, b"hdr", True)
        lib.oidnSetFilterInt(self.filter, b"quality", _QUALITY_FAST)
        self.check()

    def check(self) -> None:
        message = ctypes.c_char_p()
        if self.lib.oidnGetDeviceError(self.device, ctypes.byref(message)):
            raise RuntimeError(f"OpenImageDenoise: {(message.value or b'').decode()}")

    def __call__(self, rgb: np.ndarray, albedo: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 linear colour denoised, guided by Cycles' (H, W, 3) albedo and normal."""
        h, w = rgb.shape[:2]
        images = {
            b"color": np.ascontiguousarray(rgb, np.float32),
            b"albedo": np.ascontiguousarray(albedo, np.float32),
            b"normal": np.ascontiguousarray(normal, np.float32),
        }
        out = np.empty((h, w, 3), np.float32)
        for name, image in (*images.items(), (b"output", out)):
            self.lib.oidnSetSharedFilterImage(self.filter, name, image.ctypes.data, _FORMAT_FLOAT3, w, h, 0, 0, 0)
        self.lib.oidnCommitFilter(self.filter)
        self.lib.oidnExecuteFilter(self.filter)
        self.check()
        return out


def open_denoiser(local: str, threads: int) -> Denoiser | None:
    """The job's denoiser, or None where this Blender ships no OIDN library to load."""
    for path in library_paths(local):
        try:
            return Denoiser(ctypes.CDLL(path), threads)
        except OSError:
            continue
    return None


def denoise_tile(denoiser: Denoiser, passes: dict, background: np.ndarray | None = None) -> None:
    """A tile's Combined RGB denoised in place (alpha kept, as Cycles keeps it); its guide passes dropped.
    `background` (the tile's (H, W, 3) HDRI radiance): the albedo guide of the shadow catcher's pixels.
    Over an opaque film they show the HDRI times the shadow, while Cycles' albedo there is the catcher's
    own flat one, so the denoiser took the HDRI's texture for noise; Cycles denoises the catcher's
    shadow as a separate pass instead (docs/BENCHMARKS.md#rendering)."""
    rgb = np.stack([passes[f"Combined.{c}"] for c in "RGB"], axis=-1)
    if rgb.size == 0:  # an empty border (nothing in view)
        return
    albedo = np.stack([passes[k] for k in ALBEDO], axis=-1)
    normal = np.stack([passes[k] for k in NORMAL], axis=-1)
    if background is not None:
        # label 0 with a surface normal: the catcher (camera rays that miss have a zero normal)
        catcher = (passes["Object Index.X"] < 0.5) & (np.abs(normal).sum(axis=-1) > 0.5)
        albedo[catcher] = np.clip(background[catcher], 0.0, 1.0)
    out = denoiser(rgb, albedo, normal)
    for i, c in enumerate("RGB"):
        passes[f"Combined.{c}"] = out[..., i]
    for k in GUIDES:
        passes.pop(k, None)
