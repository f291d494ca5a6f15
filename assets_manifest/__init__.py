"""Asset manifests (*.yaml). A package only so that the wheel ships them as `synth.assets_manifest` (see setup.py)."""
