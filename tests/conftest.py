"""Shared pytest fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def body():
    """The default body model ($SYNTH_SMPL_MODEL or the embedded open model, built on first use
    under synth.paths.cache_dir(): about a minute and a half on a fresh machine)."""
    from synth.body import load_body_model

    return load_body_model()


@pytest.fixture(scope="session")
def joint_model(body):
    """The MoSh fit's joint regressor of the default body (one torch thread, as the fit runs)."""
    import torch

    from synth.mosh.joints import JointModel

    torch.set_num_threads(1)
    return JointModel.from_body(body)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (Linux /proc; a zombie has exited, it is only not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def wait_gone(pids, seconds: float = 20.0) -> list[int]:
    """The processes of `pids` still running after up to `seconds`."""
    import time

    deadline = time.time() + seconds
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


# The checkout's Blender scripts (the installed package data is a copy of them).
BLENDER_SCRIPTS = Path(__file__).resolve().parents[1] / "blender_scripts"


def inspect_scenes(jobs, out: Path, env: dict | None = None) -> tuple[dict, str]:
    """Build the jobs' Blender scenes without rendering (blender_scripts/inspect_scene.py, in the bpy
    module): ({job dir: {"settings": ..., "objects": ...}}, the build's stdout)."""
    proc = subprocess.run(
        [sys.executable, str(BLENDER_SCRIPTS / "inspect_scene.py"), "--out", str(out)] + [str(j) for j in jobs],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text()), proc.stdout
