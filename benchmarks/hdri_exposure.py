"""How bright the HDRI backgrounds come out: the share of background pixels the Standard view clips to
white, and the median display value, per HDRI, with the strength the sampler draws (each HDRI's own
measured luminance, synth.scene.sampling.hdri_strength) against the fixed U(0.6, 1.4) it drew before.

No rendering: each camera's view of the HDRI is looked up as render.py composites it outside the
subject's border (blender_scripts/backdrop.Environment, Cycles' equirectangular mapping), 250 px, the
180 mm lens, for --views random rotations, camera azimuths and elevations (-0.03..0.12 rad, as sampled).

    python benchmarks/hdri_exposure.py [--hdri-dir DIR] [--views 24] [--resolution 96]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synth.scene.render_assets import hdri_luminance, list_hdris, resolve_asset
from synth.scene.runner import RENDER_SCRIPT
from synth.scene.sampling import EXPOSURE_STOPS, hdri_strength


def view_rotation(azimuth: float, elevation: float) -> np.ndarray:
    """World (Blender, z up) -> OpenCV camera rotation of a camera at `azimuth`/`elevation` looking at
    the subject (x right, y down, z forward)."""
    forward = -np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hdri-dir", default="")
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--resolution", type=int, default=96)
    args = ap.parse_args()
    sys.path.insert(0, str(RENDER_SCRIPT.parent))
    from backdrop import Environment
    from common import srgb_encode

    size = args.resolution
    f = 180.0 / 32.0 * size
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    rng = np.random.default_rng(0)
    print(f"{args.views} views per HDRI, {size} px; white = all channels clipped (linear >= 1); median = display value")
    print(
        "| HDRI | band median / p90 / mean L | before: strength | white % | median | after: strength | white % | median |"
    )
    print("| --- | --- | --- | ---: | ---: | --- | ---: | ---: |")
    totals = {"before": [], "after": []}
    for path in list_hdris(args.hdri_dir):
        lum = hdri_luminance(path)
        env = Environment(str(resolve_asset(path)), 0.0, 1.0)
        row = {}
        for name in ("before", "after"):
            whites, medians, strengths = [], [], []
            for _ in range(args.views):
                env.rotation = float(rng.uniform(0, 2 * np.pi))
                if name == "before":
                    strength = float(rng.uniform(0.6, 1.4))
                else:
                    strength = hdri_strength(path, float(rng.uniform(*EXPOSURE_STOPS)))[0]
                env.strength = strength
                R = view_rotation(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(-0.03, 0.12)))
                radiance = env.view(R, K, size)
                whites.append(float((radiance >= 1.0).all(axis=-1).mean()))
                medians.append(float(np.median(srgb_encode(radiance).mean(axis=-1))) * 255)
                strengths.append(strength)
            totals[name] += whites
            row[name] = (
                f"{min(strengths):.2f}-{max(strengths):.2f} | {100 * np.mean(whites):.1f} | {np.median(medians):.0f}"
            )
        stats = f"{lum['band_median']:.3f} / {lum['band_p90']:.2f} / {lum['mean']:.2f}" if lum else "unreadable"
        print(f"| {Path(path).stem} | {stats} | {row['before']} | {row['after']} |")
    for name, w in totals.items():
        w = np.array(w)
        print(
            f"{name}: white pixels {100 * w.mean():.1f} % of the background; views over 10 % white: {100 * (w > 0.1).mean():.0f} %"
        )


if __name__ == "__main__":
    main()
