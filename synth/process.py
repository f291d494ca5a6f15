"""Child processes die with their parent: a SIGKILLed `synth generate` leaves no worker or Blender
process behind (they would finish their sequences into a folder nobody packs and idle at ~1 GB)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
try:  # loaded here, not in the forked child, where only async-signal-safe work belongs
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _PRCTL = None


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when its parent exits (prctl PR_SET_PDEATHSIG); if the parent
    `parent_pid` is already gone (it died before this ran), exit now. A no-op elsewhere."""
    if _PRCTL is None:
        return
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def child_preexec():
    """A subprocess `preexec_fn` that ties the child to the calling process."""
    parent = os.getpid()
    return lambda: die_with_parent(parent)
