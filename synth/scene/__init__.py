"""scene stage: sample a scene from a seed, write a render job, run Blender on it.

Importable without bpy; everything that runs inside Blender lives in blender_scripts/. Names are
imported on first use (synth.lazy): `synth.scene.spec` needs neither torch nor trimesh.
"""

from synth.lazy import lazy_exports

_API, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "synth.scene.job": ("load_job", "write_render_job"),
        "synth.scene.runner": ("run_render",),
        "synth.scene.sampling": ("sample_scene",),
        "synth.scene.spec": ("SceneSpec",),
    },
)
__all__ = list(_API)
