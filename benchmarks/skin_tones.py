"""Rendered skin colour against the sampled albedo, over the tone range.

Each tone t (light..dark) is rendered on the bare demo body (no garments, hair or shoes) from the front
in a uniform white environment of radiance 1 with no lights (synth.scene.reference.rendered_skin_colour):
a diffuse surface of albedo a then renders as about a (less where the body shades itself), so the
rendered/albedo L* ratio shows what the skin shader adds or takes away, tone by tone. Colour is the
median sRGB of the skin pixels; ITA (individual typology angle, degrees, from CIELAB) classes: > 55 very light, 41-55 light,
28-41 intermediate, 10-28 tan, -30-10 brown, < -30 dark.
Usage: python benchmarks/skin_tones.py [--tones 7] [--resolution 160] [--samples 16]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from synth.scene.demo import demo_subject
from synth.scene.people import people_rig
from synth.scene.reference import ita_degrees, rendered_skin_colour, srgb_to_lab


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tones", type=int, default=7)
    ap.add_argument("--resolution", type=int, default=160)
    ap.add_argument("--samples", type=int, default=16)
    args = ap.parse_args()
    from synth.body import load_body_model

    body = load_body_model()
    rig = people_rig(body)
    verts, _, faces, _ = demo_subject(body, "walk", [0])
    print(f"{args.resolution} px, {args.samples} samples, white environment (radiance 1), no lights, front view")
    print(f"{'tone':>5} {'albedo sRGB':>20} {'ITA':>6} {'rendered sRGB':>20} {'ITA':>6} {'L ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for t in np.linspace(0.0, 1.0, args.tones):
            albedo, got = rendered_skin_colour(
                Path(tmp) / f"t{t:.2f}", t, verts, faces, rig, args.resolution, args.samples
            )
            ratio = srgb_to_lab(got)[0] / srgb_to_lab(albedo)[0]
            fmt = lambda c: "(" + ", ".join(f"{v:.2f}" for v in c) + ")"  # noqa: E731
            print(
                f"{t:>5.2f} {fmt(albedo):>20} {ita_degrees(albedo):>6.1f} {fmt(got):>20} {ita_degrees(got):>6.1f} {ratio:>8.2f}"
            )


if __name__ == "__main__":
    main()
