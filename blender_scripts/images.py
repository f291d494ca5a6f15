"""Image loading for the scene: every image goes through here, so none renders as a placeholder."""

from __future__ import annotations

import bpy
from common import JobError


def load_image(path: str, what: str):
    """bpy.data.images.load, refusing a file Blender cannot decode: such an image loads without an
    error and renders as Blender's magenta placeholder (its size, which decodes it, is 0 x 0)."""
    try:
        image = bpy.data.images.load(path, check_existing=True)
    except RuntimeError as exc:
        raise JobError(f"cannot read {what} ({exc})", path, "replace the file") from exc
    if image.size[0] == 0 or image.size[1] == 0:
        raise JobError(f"cannot decode {what} (Blender would render its magenta placeholder)", path, "replace the file")
    return image
