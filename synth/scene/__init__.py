"""scene stage: sample a scene from a seed, write a render job, run Blender on it.

Importable without bpy; everything that runs inside Blender lives in blender_scripts/. Names are
imported on first use (synth.lazy): `synth.scene.spec` needs neither torch nor trimesh.
"""

from synth.lazy import lazy_exports

_API = {
    "SceneSpec": "synth.scene.spec",
    "load_job": "synth.scene.job",
    "run_render": "synth.scene.runner",
    "sample_scene": "synth.scene.sampling",
    "write_render_job": "synth.scene.job",
}
__all__ = list(_API)
__getattr__, __dir__ = lazy_exports(__name__, _API)
