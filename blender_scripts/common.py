"""Shared helpers for the Blender-side scripts (numpy and the standard library only)."""

from __future__ import annotations

import numpy as np


class JobError(Exception):
    """Bad render job input; render.py prints it as one line naming the file and exits 2."""

    def __init__(self, message: str, path: str = "", fix: str = ""):
        self.text = (f"{path}: " if path else "") + message + (f" (fix: {fix})" if fix else "")
        super().__init__(self.text)


REC709_LUMA = np.array([0.2126, 0.7152, 0.0722])  # luminance of linear Rec. 709 / sRGB primaries


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Blender's 'Standard' view on an sRGB display: the piecewise sRGB curve, clipped to [0, 1]."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def srgb_decode(encoded) -> np.ndarray:
    """The inverse of srgb_encode: sRGB values in [0, 1] (a photo, a SceneSpec colour) -> linear light."""
    x = np.asarray(encoded, np.float32)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


def linear_rgba(rgb: list[float]) -> tuple[float, float, float, float]:
    """Principled BSDF colours are scene-linear; the SceneSpec stores sRGB."""
    return (*(float(c) for c in srgb_decode(rgb)), 1.0)
