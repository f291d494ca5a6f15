"""Where things live: the cache, the shared test assets, user-supplied model files.

Every location can be overridden by an environment variable so that CI, clusters and users
can point the toolkit elsewhere without editing code.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

# The checkout (or, for an installed wheel, site-packages): only used to find ../shared beside a checkout and
# to ask git for the commit; package data is found through importlib.resources, checkout or wheel alike.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package_data_dir(name: str) -> Path:
    """A folder shipped as package data: `blender_scripts` or `assets_manifest` (top-level folders in the
    checkout, `synth.blender_scripts` / `synth.assets_manifest` in the wheel; see setup.py)."""
    return Path(str(importlib.resources.files(f"synth.{name}")))


def cache_dir() -> Path:
    """Root of generated, reproducible caches (embedded body model, MoSh fits). `SYNTH_CACHE`."""
    root = os.environ.get("SYNTH_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "synth"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_assets_dir() -> Path | None:
    """CC0/CMU test and demo assets (`SYNTH_ASSETS`, else ../shared/assets beside the checkout)."""
    root = os.environ.get("SYNTH_ASSETS")
    candidates = [Path(root)] if root else [PROJECT_ROOT.parent / "shared" / "assets"]
    for path in candidates:
        if path.is_dir():
            return path
    return None
