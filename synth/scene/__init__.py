"""scene stage: sample a scene from a seed, write a render job, run Blender on it.

Importable without bpy; everything that runs inside Blender lives in blender_scripts/.
"""

from synth.scene.job import load_job, write_render_job
from synth.scene.runner import run_render
from synth.scene.sampling import sample_scene
from synth.scene.spec import SceneSpec

__all__ = ["SceneSpec", "load_job", "run_render", "sample_scene", "write_render_job"]
