"""Preview pictures: a fast numpy mesh renderer and image tiling (used by every stage's preview).

Names are imported on first use (synth.lazy).
"""

from synth.lazy import lazy_exports

_API, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "synth.viz.render": ("VIEWS", "render_mesh_image", "save_figure", "save_png", "tile_images", "view_basis"),
    },
)
__all__ = list(_API)
