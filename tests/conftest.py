"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def body():
    """The default body model ($SYNTH_SMPL_MODEL or the embedded open model, built on first use
    under synth.paths.cache_dir(): about a minute and a half on a fresh machine)."""
    from synth.body import load_body_model

    return load_body_model()
