"""Shared helpers for the Blender-side scripts (numpy and the standard library only)."""

from __future__ import annotations


class JobError(Exception):
    """Bad render job input; render.py prints it as one line naming the file and exits 2."""

    def __init__(self, message: str, path: str = "", fix: str = ""):
        self.text = (f"{path}: " if path else "") + message + (f" (fix: {fix})" if fix else "")
        super().__init__(self.text)


def srgb_to_linear(c: float) -> float:
    """Principled BSDF colours are scene-linear; the SceneSpec stores sRGB."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def linear_rgba(rgb: list[float]) -> tuple[float, float, float, float]:
    return (*(srgb_to_linear(float(c)) for c in rgb), 1.0)
