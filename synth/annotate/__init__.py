"""Annotation: cameras from the render, 2D joint projection, visibility, person boxes.

Names are imported on first use (synth.lazy).
"""

from synth.lazy import lazy_exports

_API = {
    "CameraTrack": "synth.annotate.cameras",
    "load_render_cameras": "synth.annotate.cameras",
    "SMPL_PARENTS": "synth.annotate.project",
    "bbox_from_mask": "synth.annotate.project",
    "bbox_from_points": "synth.annotate.project",
    "in_image": "synth.annotate.project",
    "project": "synth.annotate.project",
    "to_camera": "synth.annotate.project",
    "visibility": "synth.annotate.project",
    "CameraAnnotation": "synth.annotate.sample",
    "annotate_camera": "synth.annotate.sample",
    "root_to_camera": "synth.annotate.sample",
}
__all__ = list(_API)
__getattr__, __dir__ = lazy_exports(__name__, _API)
