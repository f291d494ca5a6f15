"""CLI subcommands of this stage (registered by synth/cli.py)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; each sets `func(args) -> int`."""
