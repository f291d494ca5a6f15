"""Seconds per rendered image (one camera, one frame) for each engine and sample setting.

A dressed walking body (synth.scene.demo) with hair, eyes, shoes and the ground's contact shadow (scene
seed 0: its sampled hair style and shoes), 4 cameras x --frames frames, the scene built once per setting.
Flags after the samples: `nodenoise`, `flow`, `nopeople` (no hair/eyes/shoes/ground: the body, garments and
skin only), `noground` (without the shadow-catching ground: the default before it was on), `photo` (a shared
scene photo as a backdrop instead of a bundled HDRI), `plate` (the shared brick wall and ground photos as
a set, ray-cast per frame), `hair=STYLE` (that hair style, sneakers), `plain` (nopeople and
the pre-MPFB plain skin: the scene before the people work), `fullframe` (every pixel path-traced, the HDRI
seen by camera rays: $SYNTH_RENDER_FULL_FRAME=1, the renderer before the subject's border). `s/image` is the steady state in wall seconds
(median over images after the first, which pays for the scene upload: `first s`), `cpu s` the same in the
render process's CPU seconds (all its threads: comparable on a loaded machine); `setup s` is Blender's
start-up plus the scene build; the last column is CPU seconds per image by step of render.py's frame loop
(first image included); `traced` the share of the pixels path-traced. Passes (depth, seg) are on, as in the pipeline. `--keep DIR` keeps the rendered jobs
to look at. For the `nopeople` setting it also prints how well joints, depth and seg agree with the geometry.
`--rounds N` renders the settings list N times over, interleaved (the machine's load moves between rounds),
and ends with each setting's time as a ratio of the first setting's in the same round (`cycles:8:plain:
nodenoise:fullframe` first: issue 14's 1.0).
Usage: python benchmarks/render.py [--resolution 250] [--frames 2] [--threads 2] [--hair-rows] [--keep DIR]
       [--settings cycles:1,cycles:8,cycles:8:noground,cycles:8:photo,cycles:8:plate,eevee:1] [--device cpu|gpu|auto]
       [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.paths import shared_assets_dir
from synth.scene import run_render, sample_scene, write_render_job
from synth.scene.demo import demo_subject
from synth.scene.people import people_rig
from synth.scene.reference import joints_in_mask, pass_errors
from synth.scene.spec import DEFAULT_SAMPLES, HAIR_STYLES

D = DEFAULT_SAMPLES
DEFAULT_SETTINGS = (
    f"cycles:1,cycles:4,cycles:{D},cycles:{D}:nodenoise,cycles:{D}:nopeople,cycles:{D}:plain,"
    f"cycles:{D}:flow,cycles:16,cycles:32,eevee:1"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=250)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--settings", default=DEFAULT_SETTINGS)
    ap.add_argument("--hair-rows", action="store_true", help="add a cycles:8 row per hair style")
    ap.add_argument("--keep", default="", help="render the jobs into KEEP/<n>_<setting> and keep them (to look at)")
    ap.add_argument("--rounds", type=int, default=1, help="render the settings list this many times, interleaved")
    args = ap.parse_args()
    if args.hair_rows:
        args.settings += "," + ",".join(f"cycles:{D}:hair={h}" for h in HAIR_STYLES)
    os.environ["SYNTH_RENDER_THREADS"] = str(args.threads)
    from synth.body import load_body_model

    body = load_body_model()
    rig = people_rig(body)
    verts, joints, faces, garments = demo_subject(body, "walk", list(range(0, 10 * args.frames, 10)))
    print(
        f"{args.resolution}x{args.resolution}, {args.frames} frames x 4 cameras, {args.threads} threads, "
        f"device {args.device}, body {verts.shape[1]} verts + garments {[g.verts.shape[1] for g in garments]}"
    )
    accuracy = ""
    print(
        f"{'engine':<8}{'samples':>8}{'denoise':>11}{'flow':>6}{'people':>20}{'device':>12}{'s/image':>9}{'cpu s':>7}"
        f"{'first s':>9}{'setup s':>9}{'wall s':>8}{'traced':>7}  CPU s per image by step"
    )
    items = args.settings.split(",")
    ratios: dict[str, list[tuple[float, float]]] = {}
    first = None  # (s/image, cpu s) of the round's first setting
    for n, item in enumerate(items * args.rounds):
        engine, samples, *flags = item.split(":")
        if n % len(items) == 0:
            first = None
        settings = {
            "resolution": args.resolution,
            "samples": int(samples),
            "engine": engine,
            "device": args.device,
            "background": "photo" if {"photo", "plate"} & set(flags) else "hdri",
            **({"photo_dir": str(shared_assets_dir() / "backgrounds")} if {"photo", "plate"} & set(flags) else {}),
            **({"plate_prob": float("plate" in flags)} if {"photo", "plate"} & set(flags) else {}),
            "denoise": "nodenoise" not in flags,
            "passes": (["depth", "seg"] if engine == "cycles" else ["depth"]) + ["flow"] * ("flow" in flags),
        }
        plain = "plain" in flags
        settings["people"] = not (plain or "nopeople" in flags)
        settings["ground_shadow"] = "noground" not in flags
        spec = sample_scene(0, settings)
        hair = [f.split("=", 1)[1] for f in flags if f.startswith("hair=")]
        if hair:
            spec.hair["style"] = hair[0]
            spec.shoes["type"] = "sneaker"
        who = "plain skin, none" if plain else (f"{spec.hair['style']}, {spec.shoes['type']}" if spec.hair else "none")
        who += ", ground" if spec.ground else ""
        with tempfile.TemporaryDirectory() as tmp:
            where = Path(args.keep) / f"{n}_{item.replace(':', '_')}" if args.keep else Path(tmp) / "job"
            job = write_render_job(where, spec, verts, faces, garments, rig=None if plain else rig)
            os.environ["SYNTH_RENDER_FULL_FRAME"] = "1" if "fullframe" in flags else ""
            t0 = time.perf_counter()
            try:
                run_render(job)
            except SynthError as exc:
                print(f"{engine:<8}{samples:>8}{'':>8}  failed: {str(exc).splitlines()[0][:80]}")
                continue
            wall = time.perf_counter() - t0
            info = json.loads((job / "render_info.json").read_text())
            if engine == "cycles" and int(samples) == DEFAULT_SAMPLES and "nopeople" in flags:
                meshes = [(verts, faces)] + [(g.verts.astype(float), g.faces) for g in garments]
                err, agree = pass_errors(job, meshes, [0, 1, 2, 3], 0)
                accuracy = (
                    f"default setting without hair/shoes (the reference meshes): {100 * joints_in_mask(job, joints):.2f}% of projected joints in the "
                    f"person mask; depth vs z-buffer of the meshes: median {1000 * np.median(err):.2f} mm, "
                    f"p90 {1000 * np.percentile(err, 90):.1f} mm; seg = z-buffer labels on "
                    f"{100 * min(agree):.1f}% of pixels (worst camera)"
                )
        steps = " ".join(f"{k} {v / info['images']:.3f}" for k, v in info["steps"]["cpu"].items())
        print(
            f"{engine:<8}{samples:>8}{str(info['denoised_by']):>11}{str('flow' in flags):>6}{who[:19]:>20}"
            f"{info['device'][:11]:>12}{info['steady_seconds_per_image']:>9.2f}{info['steady_cpu_seconds_per_image']:>7.2f}"
            f"{info['first_image_seconds']:>9.2f}{wall - info['seconds']:>9.1f}{wall:>8.1f}{info.get('traced_share', 1.0):>7.2f}  {steps}"
        )
        times = (info["steady_seconds_per_image"], info["steady_cpu_seconds_per_image"])
        if n % len(items) == 0:
            first = times
        if first is not None:
            ratios.setdefault(item, []).append((times[0] / first[0], times[1] / first[1]))
    if accuracy:
        print(accuracy)
    if args.rounds > 1:
        print(f"x {items[0]} in the same round (s/image; cpu s), {args.rounds} rounds:")
        for item, r in ratios.items():
            wall_r, cpu_r = (np.array(v) for v in zip(*r))
            print(
                f"  {item:<40} s/image {' '.join(f'{x:.2f}' for x in wall_r)} (median {np.median(wall_r):.2f}); "
                f"cpu s {' '.join(f'{x:.2f}' for x in cpu_r)} (median {np.median(cpu_r):.2f})"
            )


if __name__ == "__main__":
    main()
