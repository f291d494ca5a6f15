"""`synth mosh CLIP [--out OUT] [--fps 30] [--preview PNG] [--device cpu]`: fit SMPL to a clip."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mosh", help="fit SMPL to a motion-capture clip (.bvh, .asf/.amc, AMASS .npz)")
    p.add_argument("clip", type=Path, help="motion file")
    p.add_argument("--out", type=Path, help="MoshedSequence .npz (default: CLIP_mosh.npz here)")
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    p.add_argument("--preview", type=Path, help="write a PNG strip: mocap vs fitted SMPL")
    p.add_argument("--model", type=Path, help="SMPL model file (default: $SYNTH_SMPL_MODEL or embedded)")
    p.add_argument("--device", default="cpu", help="torch device for the fit (cpu, cuda)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from synth.body import load_body_model
    from synth.errors import SynthError
    from synth.mocap import load_clip
    from synth.mosh.fit import mosh_clip, require_good_fit

    out = args.out or Path(f"{args.clip.stem}_mosh.npz")
    if out.is_dir():
        raise SynthError(
            "--out is a folder", path=out, fix=f"give a file name, e.g. --out {out / (args.clip.stem + '_mosh.npz')}"
        )
    body = load_body_model(model_path=args.model)
    clip = load_clip(args.clip, body=body)
    seq = require_good_fit(mosh_clip(clip, body, fps=args.fps, device=args.device), args.clip)
    try:
        seq.save(out)
    except OSError as exc:
        raise SynthError(f"cannot write ({exc.strerror})", path=out, fix="choose a writable --out path") from exc
    err = seq.fit_error_mm
    print(
        f"{clip.name}: {seq.num_frames} frames at {seq.fps:g} fps, joint error mean {err.mean():.1f} mm, "
        f"p95 {np.percentile(err, 95):.1f} mm -> {out}"
    )
    if seq.repaired.any():
        from synth.mosh.glitches import frame_ranges

        ranges = ", ".join(f"[{a}:{b})" for a, b in frame_ranges(seq.repaired))
        print(f"mocap glitches repaired (slerped over): {int(seq.repaired.sum())} frames at {ranges}")
    if args.preview:
        from synth.mosh.preview import write_preview

        print(f"preview -> {write_preview(args.preview, clip, seq, body)}")
    return 0
