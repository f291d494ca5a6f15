"""Package layout that pyproject.toml cannot express: blender_scripts/ and assets_manifest/ stay top-level
folders in the checkout (the source of truth) and ship inside the wheel as `synth.blender_scripts` and
`synth.assets_manifest`, found at run time with importlib.resources (synth/paths.py)."""

from setuptools import find_namespace_packages, setup

DATA_PACKAGES = {"synth.blender_scripts": "blender_scripts", "synth.assets_manifest": "assets_manifest"}

setup(
    packages=find_namespace_packages(include=["synth", "synth.*", "train", "train.*"], exclude=["*__pycache__*"])
    + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={"": ["*.yaml", "*.json"]},
)
