"""Blender-side scripts (run inside Blender or the bpy module, never imported by synth/). A package only so
that the wheel ships them as `synth.blender_scripts` (see setup.py)."""
