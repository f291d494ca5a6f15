"""How bright the HDRI backgrounds and the subject come out, per HDRI: the share of background pixels
the Standard view clips to white and the share it leaves near black, the median display value, and
the display value of a grey card on the subject, with the strength the sampler draws now
(synth.scene.sampling.exposure_base: the band's median at the target, its darkest and brightest tenth
inside a window, the excess split evenly) against the rule before it (median at the target, the
brightest tenth capped alone).

No rendering: each camera's view of the HDRI is looked up as render.py composites it outside the
subject's border (blender_scripts/backdrop.Environment, Cycles' equirectangular mapping), 180 mm lens,
for --views random rotations, camera azimuths and elevations (-0.03..0.12 rad, as sampled). The
subject is an 18 % grey Lambertian card facing the camera, lit by the HDRI (its irradiance integrated
over the sphere at the drawn rotation and strength) and by the scene's four area lights as sampled
(Cycles: a disk light of P watts gives P / (pi d^2) on axis at d metres, measured with bpy on a white
plane: 0.618 against 0.623 predicted; d = the light's distance + 1 m, a walk's radius).

    python benchmarks/hdri_exposure.py [--hdri-dir DIR] [--views 24] [--resolution 96]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synth.scene.placement import camera_direction
from synth.scene.render_assets import hdri_luminance, list_hdris, resolve_asset
from synth.scene.runner import RENDER_SCRIPT
from synth.scene.sampling import (
    BAND_HIGH,
    BAND_TARGET,
    EXPOSURE_STOPS,
    LIGHT_CAP,
    exposure_base,
    sample_scene,
)

NEAR_BLACK = 20 / 255  # display value under which a background pixel reads as black
CARD_ALBEDO = 0.18
SUBJECT_RADIUS_M = 1.0
REC709 = np.array([0.2126, 0.7152, 0.0722])


def before_base(lum: dict) -> float:
    """The rule before this one: the band's median at the target, the bright tenth and the mean capped."""
    return min(BAND_TARGET / lum["band_median"], BAND_HIGH / lum["band_p90"], LIGHT_CAP / lum["mean"])


def view_rotation(azimuth: float, elevation: float) -> np.ndarray:
    """World (Blender, z up) -> OpenCV camera rotation of a camera at `azimuth`/`elevation` looking at
    the subject (x right, y down, z forward)."""
    forward = -np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def irradiance_table(image: np.ndarray, cells: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(directions (N,3) in the HDRI's frame, luminance x solid angle (N,)) of the HDRI averaged into
    cells x cells/2 blocks (Cycles' mapping: u = 0.5 - atan2(y, x) / 2pi, row = acos(z) / pi)."""
    h, w = image.shape[:2]
    bh, bw = max(1, h // (cells // 2)), max(1, w // cells)
    lum = np.maximum(image[: h // bh * bh, : w // bw * bw], 0.0) @ REC709
    lum = lum.reshape(h // bh, bh, w // bw, bw).mean(axis=(1, 3))
    rows, cols = lum.shape
    theta = (np.arange(rows) + 0.5) / rows * np.pi
    phi = 2 * np.pi * (0.5 - (np.arange(cols) + 0.5) / cols)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    dirs = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).reshape(-1, 3)
    solid = (np.sin(t) * (np.pi / rows) * (2 * np.pi / cols)).ravel()
    return dirs, lum.ravel() * solid


def env_irradiance(table, normal: np.ndarray, rotation: float, strength: float) -> float:
    """Irradiance from the HDRI on a surface with world normal `normal` (the world turned by `rotation`)."""
    dirs, weighted = table
    c, s = np.cos(rotation), np.sin(rotation)
    n = np.array([c * normal[0] - s * normal[1], s * normal[0] + c * normal[1], normal[2]])
    return float(strength * (weighted * np.maximum(dirs @ n, 0.0)).sum())


def light_irradiance(lights: list[dict], normal: np.ndarray) -> float:
    """Irradiance from the four area lights (aimed at the subject) on a surface with normal `normal`."""
    total = 0.0
    for light in lights:
        to_light = camera_direction(light["azimuth"], light["elevation"])
        d = light["distance"] + SUBJECT_RADIUS_M
        total += light["power"] * float(np.dot(light["color"], REC709)) / (np.pi * d * d) * max(0.0, to_light @ normal)
    return total


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
    print(
        f"{args.views} views per HDRI, {size} px; white = all channels clipped (linear >= 1), black = display"
        f" < {NEAR_BLACK * 255:.0f}/255, median = display value x 255; card = an 18 % grey card on the"
        " subject facing the camera (display x 255; its share lit by the HDRI in brackets)"
    )
    print("| HDRI | band p10 / median / p90 / mean L | rule | strength | white % | black % | median | card (HDRI %) |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | --- |")
    totals = {"before": [], "after": []}
    for path in list_hdris(args.hdri_dir):
        lum = hdri_luminance(path)
        if lum is None:
            print(f"| {Path(path).stem} | unreadable | | | | | | |")
            continue
        env = Environment(str(resolve_asset(path)), 0.0, 1.0)
        table = irradiance_table(env.image)
        views = []
        for k in range(args.views):
            azimuth = float(rng.uniform(0, 2 * np.pi))
            views.append(
                {
                    "rotation": float(rng.uniform(0, 2 * np.pi)),
                    "azimuth": azimuth,
                    "R": view_rotation(azimuth, float(rng.uniform(-0.03, 0.12))),
                    "stops": float(rng.uniform(*EXPOSURE_STOPS)),
                    "lights": sample_scene(k).lights,
                }
            )
        for name, base in (("before", before_base(lum)), ("after", exposure_base(lum))):
            rows = []
            for v in views:
                env.rotation, env.strength = v["rotation"], base * 2.0 ** v["stops"]
                radiance = env.view(v["R"], K, size)
                display = srgb_encode(radiance) @ REC709
                normal = camera_direction(v["azimuth"], 0.0)
                e_env = env_irradiance(table, normal, v["rotation"], env.strength)
                e_all = e_env + light_irradiance(v["lights"], normal)
                card = float(srgb_encode(np.array(CARD_ALBEDO * e_all / np.pi)))
                rows.append(
                    (
                        float((radiance >= 1.0).all(axis=-1).mean()),
                        float((display < NEAR_BLACK).mean()),
                        float(np.median(display)),
                        card,
                        e_env / e_all,
                        env.strength,
                    )
                )
            r = np.array(rows)
            totals[name].append(r)
            print(
                f"| {Path(path).stem} | {lum.get('band_p10', float('nan')):.3f} / {lum['band_median']:.3f} / "
                f"{lum['band_p90']:.2f} / {lum['mean']:.2f} | {name} | {r[:, 5].min():.2f}-{r[:, 5].max():.2f} | "
                f"{100 * r[:, 0].mean():.1f} | {100 * r[:, 1].mean():.1f} | {255 * np.median(r[:, 2]):.0f} | "
                f"{255 * np.median(r[:, 3]):.0f} ({100 * np.median(r[:, 4]):.0f} %) |"
            )
    for name, rs in totals.items():
        r = np.concatenate(rs)
        print(
            f"{name}: white {100 * r[:, 0].mean():.1f} % of the background (views over 10 % white:"
            f" {100 * (r[:, 0] > 0.1).mean():.0f} %), near black {100 * r[:, 1].mean():.1f} % (views over 25 %"
            f" black: {100 * (r[:, 1] > 0.25).mean():.0f} %); card display {255 * np.percentile(r[:, 3], 5):.0f}"
            f" .. {255 * np.percentile(r[:, 3], 95):.0f} (5th..95th pct), median {255 * np.median(r[:, 3]):.0f}"
        )


if __name__ == "__main__":
    main()
