"""CLI subcommands of this stage (registered by synth/cli.py): `synth render`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synth.scene.spec import DEFAULT_SAMPLES


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; each sets `func(args) -> int`."""
    p = sub.add_parser("render", help="render a job directory in Blender, or a contact sheet of sampled scenes")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--job", type=Path, help="render job directory (job.json, body.npz, garments/)")
    what.add_argument("--contact-sheet", type=Path, metavar="OUT.png", help="render sampled scenes x 4 views to a PNG")
    p.add_argument("--scenes", type=int, default=3, help="contact sheet rows (scenes)")
    p.add_argument(
        "--people",
        type=int,
        default=0,
        metavar="N",
        help="people mode: N people (one per seed) front and back, at --resolution (default 512 here)",
    )
    p.add_argument("--seed", type=int, default=0, help="first scene seed of the contact sheet")
    p.add_argument("--resolution", type=int, help="pixels (default 250; 512 in people mode)")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    p.add_argument("--timeout", type=float, help="seconds before a render is abandoned")
    p.set_defaults(func=_render)


def _render(args: argparse.Namespace) -> int:
    from synth.scene.runner import run_render

    if args.job:
        job = run_render(args.job, timeout=args.timeout)
        info = json.loads((job / "render_info.json").read_text())
        print(
            f"rendered {info['images']} images in {info['seconds']:.1f} s "
            f"({info['steady_seconds_per_image']:.2f} s/image, {info['device']}) -> {job}"
        )
        return 0
    from synth.body import load_body_model
    from synth.scene.contact import make_contact_sheet

    settings = {"samples": args.samples} | ({"resolution": args.resolution} if args.resolution else {})
    count = args.people or args.scenes
    out = make_contact_sheet(
        args.contact_sheet, load_body_model(), count, args.seed, settings, people=bool(args.people)
    )
    print(f"contact sheet -> {out}")
    return 0
