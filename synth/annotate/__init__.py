"""Annotation: cameras from the render, 2D joint projection, visibility, person boxes.

Names are imported on first use (synth.lazy).
"""

from synth.lazy import lazy_exports

_API, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "synth.annotate.cameras": ("CameraTrack", "load_render_cameras"),
        "synth.annotate.project": (
            "SMPL_PARENTS",
            "bbox_from_mask",
            "bbox_from_points",
            "in_image",
            "project",
            "to_camera",
            "visibility",
        ),
        "synth.annotate.sample": ("CameraAnnotation", "annotate_camera", "root_to_camera"),
    },
)
__all__ = list(_API)
