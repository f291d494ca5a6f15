"""Preview pictures: a fast numpy mesh renderer and image tiling (used by every stage's preview)."""

from synth.viz.render import VIEWS, render_mesh_image, save_figure, save_png, tile_images, view_basis

__all__ = ["VIEWS", "render_mesh_image", "save_figure", "save_png", "tile_images", "view_basis"]
