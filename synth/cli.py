"""`synth` entry point. Each stage registers its own subcommands from `<stage>/commands.py`.

Subcommands: body, mosh, interpolate, simulate, render, generate, shard, inspect, validate, assets.
"""

from __future__ import annotations

import argparse
import sys

from synth import __version__
from synth.errors import run_command

STAGE_COMMAND_MODULES = (
    "synth.body.commands",
    "synth.mosh.commands",
    "synth.motion.commands",
    "synth.cloth.commands",
    "synth.scene.commands",
    "synth.pipeline.commands",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="synth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"synth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in STAGE_COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, f"synth {args.command}")


if __name__ == "__main__":
    sys.exit(main())
