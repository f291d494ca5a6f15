"""How bright the HDRI backgrounds and the subject come out, per HDRI: the share of background pixels
the Standard view clips to white and the share it leaves near black, the median display value, and
the display value of an 18 % grey card on the subject with the HDRI's share of its light, with the
lighting the sampler draws now (synth.scene.lighting: the four area lights' power from the HDRI's own
light on the subject, one exposure for both holding the card in a window) against the rule before it
(the same HDRI strength, synth.scene.sampling.exposure_base, and four lights of a fixed U(100, 900) W).

No rendering: each camera's view of the HDRI is looked up as render.py composites it outside the
subject's border (blender_scripts/backdrop.Environment, Cycles' equirectangular mapping), 180 mm lens,
for --views random HDRI rotations, one of the four cameras (east, west, south, north) and its
elevation (-0.03..0.12 rad, as sampled). The subject is an 18 % grey Lambertian card facing the
camera, lit by the HDRI (its irradiance integrated over the sphere at the drawn rotation and strength)
and by the scene's four area lights (Cycles: a disk light of P watts gives P / (pi d^2) on axis at d
metres, measured with bpy on a white plane: 0.618 against 0.623 predicted; d = the light's distance +
1 m, a walk's radius). --photos DIR adds the photo backgrounds: per photo, its mean linear luminance and
the card as sampled (sample_scene with that folder; the lighting HDRI is unseen there).

    python benchmarks/hdri_exposure.py [--hdri-dir DIR] [--photos DIR] [--views 24] [--resolution 96]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synth.blender_scripts.common import REC709_LUMA, srgb_encode
from synth.scene.lighting import CARD_ALBEDO, balance, draw_lights, light_radiance_per_watt
from synth.scene.placement import camera_direction
from synth.scene.render_assets import hdri_luminance, list_hdris, resolve_asset
from synth.scene.runner import RENDER_SCRIPT
from synth.scene.sampling import EXPOSURE_STOPS, exposure_base, sample_scene
from synth.scene.spec import CAMERA_NAMES

NEAR_BLACK = 20 / 255  # display value under which a background pixel reads as black
CAMERA_AZIMUTHS = (0.0, np.pi, -np.pi / 2, np.pi / 2)  # east, west, south, north (synth.scene.sampling)


def before_lights(rng: np.random.Generator) -> list[dict]:
    """The four area lights as drawn before (main at e6920aa): a fixed U(100, 900) W each."""
    return [
        {
            "azimuth": float(np.pi / 4 + k * np.pi / 2 + rng.uniform(-0.4, 0.4)),
            "elevation": float(rng.uniform(0.3, 1.0)),
            "distance": float(rng.uniform(3.0, 5.0)),
            "size": float(rng.uniform(1.0, 3.0)),
            "power": float(rng.uniform(100.0, 900.0)),
            "color": [round(float(c), 4) for c in 1.0 - rng.uniform(0.0, 0.15, 3)],
        }
        for k in range(4)
    ]


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
    lum = np.maximum(image[: h // bh * bh, : w // bw * bw], 0.0) @ REC709_LUMA
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
    return float(np.pi * sum(light["power"] * light_radiance_per_watt(light, normal) for light in lights))


def card_display(irradiance: float) -> float:
    """Display value (0..1) of the grey card under `irradiance`."""
    return float(srgb_encode(np.array(CARD_ALBEDO * irradiance / np.pi)))


def summary(r: np.ndarray) -> str:
    """Card and share figures of rows (..., card display, HDRI share)."""
    card = 255 * r[:, 3]
    return (
        f"{np.median(card):.0f} ({np.percentile(card, 5):.0f}..{np.percentile(card, 95):.0f}, max {card.max():.0f})"
        f" | {100 * np.median(r[:, 4]):.0f} % ({100 * r[:, 4].min():.0f}..{100 * r[:, 4].max():.0f})"
        f" | {100 * (card > 200.5).mean():.0f} / {100 * (card < 119.5).mean():.0f}"
    )


def hdri_rows(args, size: int, K: np.ndarray) -> None:
    from backdrop import Environment

    print(
        f"{args.views} views per HDRI, {size} px; white = all channels clipped (linear >= 1), black = display"
        f" < {NEAR_BLACK * 255:.0f}/255, median = display value x 255; card = an 18 % grey card on the"
        " subject facing the camera, display x 255: median (5th..95th pct, max); HDRI % = its share of the"
        " card's light, median (min..max); > 200 / < 120 = % of views with the card over 200 / under 120"
    )
    print("| HDRI | rule | strength | white % | black % | median | card | HDRI % | > 200 / < 120 % |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |")
    totals = {"before": [], "after": []}
    rng = np.random.default_rng(0)
    for path in list_hdris(args.hdri_dir):
        lum = hdri_luminance(path)
        if lum is None:
            print(f"| {Path(path).stem} | unreadable | | | | | | | |")
            continue
        env = Environment(str(resolve_asset(path)), 0.0, 1.0)
        table = irradiance_table(env.image)
        cameras = [{"name": n, "azimuth": a, "elevation": 0.0} for n, a in zip(CAMERA_NAMES, CAMERA_AZIMUTHS)]
        views = []
        for k in range(args.views):
            azimuth = CAMERA_AZIMUTHS[int(rng.integers(4))]
            stops = float(rng.uniform(*EXPOSURE_STOPS))
            strength = exposure_base(lum) * 2.0**stops
            rotation = float(rng.uniform(0, 2 * np.pi))
            lights, ratio = draw_lights(np.random.default_rng([k, 3]))
            background = {"kind": "hdri", "strength": strength, "rotation": rotation, "luminance": lum}
            balance(background, lights, ratio, cameras)
            views.append(
                {
                    "rotation": rotation,
                    "azimuth": azimuth,
                    "R": view_rotation(azimuth, float(rng.uniform(-0.03, 0.12))),
                    "before": (strength, before_lights(np.random.default_rng([k, 3]))),
                    "after": (background["strength"], lights),
                }
            )
        for name in ("before", "after"):
            rows = []
            for v in views:
                env.rotation, (env.strength, lights) = v["rotation"], v[name]
                radiance = env.view(v["R"], K, size)
                display = srgb_encode(radiance) @ REC709_LUMA
                normal = camera_direction(v["azimuth"], 0.0)
                e_env = env_irradiance(table, normal, v["rotation"], env.strength)
                e_all = e_env + light_irradiance(lights, normal)
                rows.append(
                    (
                        float((radiance >= 1.0).all(axis=-1).mean()),
                        float((display < NEAR_BLACK).mean()),
                        float(np.median(display)),
                        card_display(e_all),
                        e_env / e_all,
                        env.strength,
                    )
                )
            r = np.array(rows)
            totals[name].append(r)
            print(
                f"| {Path(path).stem} | {name} | {r[:, 5].min():.2f}-{r[:, 5].max():.2f} | "
                f"{100 * r[:, 0].mean():.1f} | {100 * r[:, 1].mean():.1f} | {255 * np.median(r[:, 2]):.0f} | "
                f"{summary(r)} |"
            )
    for name, rs in totals.items():
        r = np.concatenate(rs)
        print(
            f"| all {len(rs)} ({len(r)} views) | {name} | | {100 * r[:, 0].mean():.1f} | {100 * r[:, 1].mean():.1f}"
            f" | {255 * np.median(r[:, 2]):.0f} | {summary(r)} |"
        )


def photo_rows(args) -> None:
    """Per photo: its mean linear luminance and the grey card as sample_scene lights it."""
    tables: dict[str, tuple] = {}
    from backdrop import Environment

    per: dict[str, list] = {}
    for seed in range(args.views * 4):
        spec = sample_scene(seed, {"background": "photo", "photo_dir": args.photos, "hdri_dir": args.hdri_dir})
        bg, light = spec.background, spec.background["light"]
        if light["path"] not in tables:
            tables[light["path"]] = irradiance_table(Environment(str(resolve_asset(light["path"])), 0.0, 1.0).image)
        for cam in spec.cameras:
            normal = camera_direction(cam["azimuth"], 0.0)
            e_env = env_irradiance(tables[light["path"]], normal, light["rotation"], light["strength"])
            e_all = e_env + light_irradiance(spec.lights, normal)
            per.setdefault(Path(bg["path"]).stem, []).append((bg["luminance"], card_display(e_all), e_env / e_all))
    print("\n| photo | mean linear luminance (display) | views | card | HDRI % | > 200 / < 120 % |")
    print("| --- | --- | ---: | --- | --- | --- |")
    for name, rows in sorted(per.items()):
        r = np.array([(0, 0, 0, c, s) for _, c, s in rows])
        lum = rows[0][0]
        print(f"| {name} | {lum:.3f} ({255 * card_display(np.pi * lum / CARD_ALBEDO):.0f}) | {len(r)} | {summary(r)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hdri-dir", default="")
    ap.add_argument("--photos", default="", help="a folder of background photos: add their table")
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--resolution", type=int, default=96)
    args = ap.parse_args()
    sys.path.insert(0, str(RENDER_SCRIPT.parent))
    size = args.resolution
    f = 180.0 / 32.0 * size
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    hdri_rows(args, size, K)
    if args.photos:
        photo_rows(args)


if __name__ == "__main__":
    main()
