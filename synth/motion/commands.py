"""`synth interpolate A.npz B.npz --out OUT.npz [--lead-in N] [--preview PNG]`: a new motion
from the most contrasting pair of poses of two MoshedSequences."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interpolate", help="new motion between the most contrasting poses of two MoshedSequences")
    p.add_argument("a", type=Path, help="MoshedSequence .npz (X: the motion starts at its chosen frame)")
    p.add_argument("b", type=Path, help="MoshedSequence .npz (Y: the motion ends at its chosen frame)")
    p.add_argument("--out", type=Path, required=True, help="output MoshedSequence .npz")
    p.add_argument("--lead-in", type=int, default=0, metavar="N", help="prepend N frames from a rest pose (default 0)")
    p.add_argument("--start-pose", choices=("t", "a"), default="t", help="lead-in rest pose: T-pose or A-pose")
    p.add_argument("--frames-per-unit", type=float, help="frames per radian of pose distance")
    p.add_argument("--min-frames", type=int)
    p.add_argument("--max-frames", type=int)
    p.add_argument("--method", choices=("linear", "slerp"), default="linear", help="linear = the paper's rule")
    p.add_argument(
        "--guard",
        choices=("flag", "reject"),
        default="flag",
        help="implausible frames: report them (flag) or write nothing and exit 3 (reject)",
    )
    p.add_argument("--preview", type=Path, help="PNG strip of bodies from A to B")
    p.add_argument("--model", type=Path, help="SMPL model file (default: $SYNTH_SMPL_MODEL or embedded)")
    p.set_defaults(func=run)


def _body(args: argparse.Namespace):
    from synth.body import load_body_model

    return load_body_model(model_path=args.model)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from synth.motion.interpolate import InterpolationConfig, add_lead_in, interpolate_pair
    from synth.motion.pairs import most_contrasting_pair
    from synth.motion.plausibility import plausibility
    from synth.motion.skeleton import Skeleton
    from synth.sequence import MoshedSequence

    X, Y = MoshedSequence.load(args.a), MoshedSequence.load(args.b)
    cfg = InterpolationConfig(method=args.method)
    for name in ("frames_per_unit", "min_frames", "max_frames"):
        if getattr(args, name) is not None:
            cfg = replace(cfg, **{name: getattr(args, name)})
    sk = Skeleton.resolve(_body(args))
    choice = most_contrasting_pair(X, Y)
    seq = interpolate_pair(X, Y, choice, cfg, sk)
    flags = plausibility(seq.poses, sk, seq.betas)
    print(
        f"max D = {choice.distance:.3f} rad at X[{choice.i}] / Y[{choice.j}] -> {seq.num_frames} frames; "
        f"implausible frames {flags.implausible.sum()} ({flags.rate:.1%}: {flags.joint_limit.sum()} joint limit, "
        f"{flags.penetration.sum()} limb through torso)"
    )
    if args.guard == "reject" and flags.implausible.any():
        print("rejected: implausible frames (--guard flag writes it anyway)")
        return 3
    if args.lead_in > 0:
        seq = add_lead_in(seq, args.lead_in, args.start_pose, sk)
    seq.save(args.out)
    print(
        f"{seq.num_frames} frames ({int(seq.lead_in.sum())} lead-in, {int(seq.implausible.sum())} flagged "
        f"implausible, saved as `implausible`) -> {args.out}"
    )
    if args.preview:
        from synth.motion.preview import write_transition_strip

        print(f"preview -> {write_transition_strip(args.preview, seq, sk, flags=seq.implausible)}")
    return 0
