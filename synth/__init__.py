"""Synthetic clothed-human action videos from motion capture.

Stages (each runnable alone, decoupled through files on disk): mocap -> mosh -> motion ->
cloth -> render (blender_scripts/) -> annotate -> shards. See docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
