"""One run per output folder: `synth generate` holds an exclusive lock on `--out` for the whole run.

The lock is an fcntl.flock on `OUT/.synth.lock`, so the kernel releases it however the holder ends
(exit, exception, SIGKILL): a lock left by a dead process is never in the way. The file records the
holder (pid, host, start time, command) for the message a second run gets. It is never deleted
(unlinking a lock file lets two processes lock two different files of the same name).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synth.errors import SynthError

LOCK_NAME = ".synth.lock"


def _holder_text(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 65536).decode() or "{}")
    except (OSError, ValueError):
        return "another process"
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')} ({info.get('command', '')})"


@contextmanager
def output_lock(out: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of folder `out` (created if needed) for the block; raise a SynthError
    naming the folder and the holder when another process has it."""
    out = Path(out)
    path = out / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise SynthError(
            f"cannot create the lock file ({exc.strerror})", path=path, fix="choose an --out folder you can write to"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SynthError(
                f"another run is writing into this folder: {_holder_text(fd)}",
                path=out,
                fix="wait for it to finish (then --resume if needed), or choose another --out folder",
            ) from None
        except OSError as exc:  # a filesystem without flock: run unlocked rather than not at all
            print(f"warning: cannot lock {out} ({exc.strerror}); make sure no other run writes there", file=sys.stderr)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": " ".join(sys.argv)[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock
