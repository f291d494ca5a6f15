"""`synth simulate SEQ.npz|builtin:NAME --garments tshirt,shorts --material cotton --out DIR
[--preview PNG|GIF]`: dress a MoshedSequence and simulate its garments (one cache .npz each)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate garments on a MoshedSequence (implicit mass-spring cloth)")
    p.add_argument("seq", help="MoshedSequence .npz, or builtin:NAME (e.g. builtin:walk)")
    p.add_argument(
        "--garments", default="tshirt,shorts", help="comma list of tshirt,longsleeve,shorts,trousers,skirt,dress"
    )
    p.add_argument("--material", default="cotton", help="one preset for all, or a comma list (one per garment)")
    p.add_argument("--out", type=Path, required=True, help="output directory: {garment}.npz caches")
    p.add_argument("--substeps", type=int, default=4, help="solver steps per frame")
    p.add_argument("--seed", type=int, default=0, help="seed of the garments' fit (ease jitter, slack scale)")
    p.add_argument(
        "--lead-in",
        type=int,
        default=8,
        metavar="N",
        help="lead-in frames from the pipeline's rest pose (motion.lead_in_pose) added when the sequence has none "
        "(written to OUT/sequence.npz)",
    )
    p.add_argument("--seconds", type=float, help="length of a builtin motion")
    p.add_argument("--preview", type=Path, help="PNG strip or GIF of the clothed body")
    p.add_argument("--model", type=Path, help="SMPL model file (default: $SYNTH_SMPL_MODEL or embedded)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from synth.body import load_body_model
    from synth.cloth.simulate import body_vertices, simulate_sequence
    from synth.motion.interpolate import add_lead_in
    from synth.pipeline.config import PipelineConfig
    from synth.sequence import MoshedSequence

    body = load_body_model(model_path=args.model)
    if args.seq.startswith("builtin:"):
        from synth.mocap.builtin import builtin_motion

        seq = builtin_motion(args.seq.split(":", 1)[1], seconds=args.seconds)
    else:
        seq = MoshedSequence.load(args.seq)
    if not seq.lead_in.any() and args.lead_in > 0:
        seq = add_lead_in(seq, args.lead_in, PipelineConfig().motion.lead_in_pose, skeleton=body)
    seq.save(args.out / "sequence.npz")
    garments = [g for g in args.garments.split(",") if g]
    caches = simulate_sequence(
        seq, body, garments, args.material.split(","), args.seed, substeps=args.substeps, progress=True
    )
    for c in caches:
        c.save(args.out / f"{c.garment_type}.npz")
        s = c.stats
        print(
            f"{c.garment_type}: {len(c.rest)} verts, {s['frames']} frames, {s['seconds_per_frame']:.3f} s/frame, "
            f"penetration max {s['max_penetration_mm']:.1f} mm p95 {s['p95_penetration_mm']:.1f} mm, "
            f"stretch mean {100 * s['mean_edge_stretch']:.1f}% max {100 * s['max_edge_stretch']:.0f}%"
        )
    if args.preview:
        write_preview(args.preview, body_vertices(body, seq), np.asarray(body.faces), caches)
        print(f"preview: {args.preview}")
    return 0


def follow_view(body_frames: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-frame view centres (T, 3) and one extent (m) so a travelling body stays in every picture:
    the view follows the body horizontally (SMPL world, Y up) at a fixed height and one scale."""
    lo, hi = body_frames.min(1), body_frames.max(1)  # (T, 3) per-frame bounds
    centres = (lo + hi) / 2
    centres[:, 1] = (lo[:, 1].min() + hi[:, 1].max()) / 2  # fixed height: the ground line does not jump
    span = max(float(hi[:, 1].max() - lo[:, 1].min()), float((hi - lo)[:, [0, 2]].max()))
    return centres, 0.55 * span + 0.05


def write_preview(path: Path, body_frames: np.ndarray, body_faces: np.ndarray, caches: list, n: int = 5) -> None:
    """PNG: a strip of n frames (front view); GIF: every frame."""
    from synth.io import atomic_path
    from synth.viz import render_mesh_image, save_png, tile_images

    T = len(body_frames)
    gif = path.suffix.lower() == ".gif"
    frames = range(T) if gif else np.linspace(0, T - 1, n).round().astype(int)
    centres, extent = follow_view(body_frames)
    colours = [(0.75, 0.75, 0.78), (0.85, 0.35, 0.25), (0.25, 0.4, 0.75), (0.3, 0.65, 0.35)]
    images = [
        render_mesh_image(
            [body_frames[t]] + [c.verts[t] for c in caches],
            [body_faces] + [c.faces for c in caches],
            size=256,
            colours=colours[: 1 + len(caches)],
            centre=centres[t],
            extent=extent,
        )
        for t in frames
    ]
    if gif:
        import imageio.v2 as imageio

        with atomic_path(path) as tmp:
            imageio.mimsave(tmp, images, format="GIF", duration=1000 / 30)
    else:
        save_png(path, tile_images(images, cols=len(images), titles=[f"frame {t}" for t in frames]))
