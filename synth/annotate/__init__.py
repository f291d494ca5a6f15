"""Annotation: cameras from the render, 2D joint projection, visibility, person boxes."""

from synth.annotate.cameras import CameraTrack, load_render_cameras
from synth.annotate.project import (
    SMPL_PARENTS,
    bbox_from_mask,
    bbox_from_points,
    in_image,
    project,
    to_camera,
    visibility,
)
from synth.annotate.sample import CameraAnnotation, annotate_camera, root_to_camera

__all__ = [
    "CameraTrack",
    "load_render_cameras",
    "SMPL_PARENTS",
    "bbox_from_mask",
    "bbox_from_points",
    "in_image",
    "project",
    "to_camera",
    "visibility",
    "CameraAnnotation",
    "annotate_camera",
    "root_to_camera",
]
