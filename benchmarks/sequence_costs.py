"""Fixed and per-frame costs of one pipeline sequence: which costs do not shrink with fewer frames?

Runs the same original window (built-in walk, one outfit, one scene seed) through `run_sequence` at
two lengths with the given config (default `dataset_cpu`), keeps the render jobs, and splits each
stage into a per-sequence part and a per-frame part (two lengths -> intercept and slope). The render
stage is split further from `render_info.json`: Blender start + scene build (everything before the
first image), the first image's extra (shader compilation), the steady images.

    python benchmarks/sequence_costs.py [--config dataset_cpu] [--frames 12 36] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from synth.pipeline.config import load_config
from synth.pipeline.plan import SequencePlan, Source
from synth.pipeline.runner import prepare_sources
from synth.pipeline.stages import run_sequence, set_threads, work_dir


def one(out: Path, cfg, frames: int) -> dict:
    """Stage seconds and render_info of one original window of `frames` frames."""
    sp = SequencePlan(
        index=frames,
        id=f"seq{frames:06d}",
        split="train",
        seed=7,
        source_a="builtin/walk",
        kind="original",
        window_a=[0, frames],
        outfit=["tshirt", "trousers"],
        materials=["cotton", "denim"],
        scene_seed=11,
    )
    res = run_sequence(out, asdict(sp), cfg.to_dict())
    (job,) = (work_dir(out) / "tmp").glob(f"{sp.id}.*")
    info = json.loads((job / "render_info.json").read_text())
    images = info["images"]
    steady = info["steady_seconds_per_image"]
    return {
        "frames": frames,
        "times": res.times,
        "images": images,
        "render_images_s": info["seconds"],
        "render_fixed_s": res.times["render"] - info["seconds"],  # job files, Blender start, scene build
        "first_image_extra_s": info["first_image_seconds"] - steady,
        "steady_s_per_image": steady,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="dataset_cpu")
    ap.add_argument("--frames", type=int, nargs=2, default=[12, 36])
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (dataset_cpu: 2 cores / 2 workers)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cfg = load_config(args.config)
    cfg.run.keep_work = True
    set_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="synth-costs-")) / "out"
    prepare_sources(out, [Source("builtin/walk", "builtin", "builtin/walk")], cfg)
    runs = [one(out, cfg, n) for n in args.frames]
    a, b = runs
    print(
        f"config {args.config}: {cfg.render.num_cameras} cameras, {cfg.render.resolution} px, lead-in "
        f"{cfg.motion.lead_in_frames} frames, {args.threads} thread(s); windows of {a['frames']} and {b['frames']} frames"
    )
    print(f"| stage | s at {a['frames']} frames | s at {b['frames']} frames | per sequence s | per frame s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    dn = b["frames"] - a["frames"]
    for stage in a["times"]:
        ya, yb = a["times"][stage], b["times"].get(stage, 0.0)
        slope = (yb - ya) / dn
        print(f"| {stage} | {ya:.2f} | {yb:.2f} | {ya - slope * a['frames']:.2f} | {slope:.3f} |")
    print()
    print(f"| render part | at {a['frames']} frames | at {b['frames']} frames |")
    print("| --- | ---: | ---: |")
    for k in ("render_fixed_s", "first_image_extra_s", "steady_s_per_image", "render_images_s", "images"):
        print(f"| {k} | {a[k]:.2f} | {b[k]:.2f} |")
    if args.out is None:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
