"""User-facing errors: the CLI prints these as one clear message, without a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class SynthError(Exception):
    """An error caused by input or setup that the user can fix.

    The message names the offending file (when there is one) and says how to fix it; `path` and
    `fix` are keyword-only so a call site always says which is which.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, fix: str | None = None):
        self.path = None if path is None else Path(path)
        self.fix = fix
        text = message if path is None else f"{path}: {message}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)


def run_command(func: Callable[[Any], int | None], args: Any, prog: str) -> int:
    """Run a CLI command: a SynthError becomes one message on stderr (exit 2), Ctrl-C exits 130."""
    try:
        return int(func(args) or 0)
    except SynthError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
