"""User-facing errors: the CLI prints these as one clear message, without a traceback."""

from __future__ import annotations

from pathlib import Path


class SynthError(Exception):
    """An error caused by input or setup that the user can fix.

    The message names the offending file (when there is one) and says how to fix it.
    """

    def __init__(self, message: str, path: str | Path | None = None, fix: str | None = None):
        self.path = None if path is None else Path(path)
        self.fix = fix
        text = message if path is None else f"{path}: {message}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)
