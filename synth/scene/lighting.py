"""The subject's light follows its environment: the four area lights' power is set from the light the
HDRI itself puts on the subject, and one exposure scales the HDRI and the lights together (a camera's
exposure) so that an 18 % grey card on the subject lands in a display range.

Model (benchmarks/hdri_exposure.py checks it against the HDRIs): an upright card facing a camera gets
from the HDRI a white-card radiance (irradiance / pi) of strength x `subject` over its facing
directions (median) and at most strength x `subject_max` (render_assets.hdri_luminance), and from a Cycles disk
light of P W at d metres P x luminance(colour) / (pi^2 d^2) x cos(angle) (checked with bpy on a white
plane: 0.618 rendered, 0.623 predicted), d = the light's distance + SUBJECT_RADIUS_M. Before, the lights
were a fixed 100-900 W each and gave 55-95 % of the subject's light whatever the environment, so a person
in a dim interior was lit like a studio and the brightest 5 % of grey cards clipped
(docs/BENCHMARKS.md#rendering). Blender world frame (Z up), radians."""

from __future__ import annotations

from typing import Any

import numpy as np

from synth.blender_scripts.common import REC709_LUMA, srgb_decode, srgb_encode
from synth.scene.placement import camera_direction

CARD_ALBEDO = 0.18
# Display window of the grey card: the model's typical card (the HDRI's median facing direction, the
# lights' mean over the cameras) raised to at least CARD_FLOOR (sRGB 128, linear 0.22: the measured median
# view then comes out at ~120, the sum's median under the sum of medians), by at most MAX_RAISE_STOPS over
# the background's own exposure (1.5 stops whitened a quarter of builtin sunset's background), the lights
# filling in the rest; and the brightest card (the HDRI's brightest side plus the lights on the most lit
# camera) held under CARD_PEAK (sRGB 200, linear 0.58: white fabric, albedo ~0.8, then reaches the
# Standard view's clip only on the key-lit side). docs/BENCHMARKS.md#rendering has the figures.
CARD_FLOOR, CARD_PEAK = float(srgb_decode(128 / 255)), float(srgb_decode(200 / 255))
MAX_RAISE_STOPS = 1.0
# The lights' total on-axis light as a fraction of the HDRI's light on the subject (its median facing
# direction). A card facing a camera
# sees about two of the four at ~50 % of on-axis, so the HDRI gives 55-90 % of its light; at least a
# third is a key/fill modulation that shapes the face. One light is the key; each fill's share is
# FILL_WEIGHT of the key's.
LIGHT_RATIO = (0.3, 1.5)
FILL_WEIGHT = (0.1, 0.4)
# Photo backgrounds carry no light of their own: the grey card is set to the photo's mean linear
# luminance (the metering convention: a scene averages 18 % grey), within this window (a near-black
# photo does not leave the subject black, a bright one does not clip it).
PHOTO_CARD = (0.08, 0.35)
SUBJECT_RADIUS_M = 1.0  # the subject's reach added to a light's distance (placement.light_positions)


def draw_lights(rng: np.random.Generator) -> tuple[list[dict[str, Any]], float]:
    """Four area lights, one per quadrant around the subject (random azimuth jitter, elevation, distance,
    size, tint, and `share`: its fraction of the lights' light, one `key`), and the lights' ratio to the
    HDRI's light; powers are set by `balance`."""
    lights = []
    for k in range(4):
        lights.append(
            {
                "azimuth": float(np.pi / 4 + k * np.pi / 2 + rng.uniform(-0.4, 0.4)),
                "elevation": float(rng.uniform(0.3, 1.0)),
                "distance": float(rng.uniform(3.0, 5.0)),
                "size": float(rng.uniform(1.0, 3.0)),
                "color": [round(float(c), 4) for c in 1.0 - rng.uniform(0.0, 0.15, 3)],
            }
        )
    key = int(rng.integers(4))
    weights = np.where(np.arange(4) == key, 1.0, rng.uniform(*FILL_WEIGHT, 4))
    for k, light in enumerate(lights):
        light["key"] = k == key
        light["share"] = round(float(weights[k] / weights.sum()), 5)
    return lights, round(float(rng.uniform(*LIGHT_RATIO)), 5)


def aim_key(lights: list[dict[str, Any]], azimuth: float) -> None:
    """Make the light nearest world `azimuth` (the HDRI's brightest side) the key and turn it there,
    keeping its drawn jitter: the key then reinforces the environment's own light direction instead of
    casting a second, contradicting one (a sun from the west and a key from the east)."""
    gap = [abs((light["azimuth"] - azimuth + np.pi) % (2 * np.pi) - np.pi) for light in lights]
    nearest = lights[int(np.argmin(gap))]
    drawn = next(light for light in lights if light["key"])
    drawn["key"], nearest["key"] = False, True
    drawn["share"], nearest["share"] = nearest["share"], drawn["share"]
    quadrant = np.pi / 4 + np.pi / 2 * np.round((nearest["azimuth"] - np.pi / 4) / (np.pi / 2))
    nearest["azimuth"] = float(azimuth + nearest["azimuth"] - quadrant)


def light_radiance_per_watt(light: dict[str, Any], normal: np.ndarray) -> float:
    """White-card radiance (irradiance / pi) per watt of `light` on a card with world normal `normal`."""
    to_light = camera_direction(light["azimuth"], light["elevation"])
    d = light["distance"] + SUBJECT_RADIUS_M
    return float(light["color"] @ REC709_LUMA) / (np.pi**2 * d * d) * max(0.0, float(to_light @ normal))


def balance(
    background: dict[str, Any], lights: list[dict[str, Any]], ratio: float, cameras: list[dict[str, Any]]
) -> dict[str, Any]:
    """Aim the key at the HDRI's brightest side, set each light's `power` and scale the lighting HDRI's
    `strength` (in `background` and `lights`, in place);
    return the `lighting` record: the ratio, the exposure applied (stops), and the predicted grey card
    (display x 255, mean over the cameras and the brightest) with the HDRI's share of its light."""
    env = background if background["kind"] == "hdri" else background["light"]
    lum = env.get("luminance") or {}
    subject, subject_max = lum.get("subject", 1.0), lum.get("subject_max", 1.0)  # unread: a uniform sky of 1
    e_env, e_env_max = env["strength"] * subject, env["strength"] * subject_max
    if "subject_azimuth" in lum:  # the HDRI turned by `rotation` about Z (Cycles' mapping node)
        aim_key(lights, lum["subject_azimuth"] - env["rotation"])
    for light in lights:
        on_axis = light_radiance_per_watt(light, camera_direction(light["azimuth"], light["elevation"]))
        light["power"] = light["share"] * ratio * e_env / on_axis
    normals = [camera_direction(c["azimuth"], 0.0) for c in cameras] or [np.array([1.0, 0.0, 0.0])]
    lit = [sum(light["power"] * light_radiance_per_watt(light, n) for light in lights) for n in normals]
    mean, peak = e_env + float(np.mean(lit)), e_env_max + max(lit)
    record: dict[str, Any] = {"ratio": ratio, "fill_boost": 1.0}
    if background["kind"] == "photo":
        measured = background.get("luminance")
        record["photo_luminance"] = measured
        target = np.clip(measured if measured is not None else 0.18, *PHOTO_CARD)
        scale = target / (CARD_ALBEDO * mean)
    else:
        scale = float(np.clip(CARD_FLOOR / (CARD_ALBEDO * mean), 1.0, 2.0**MAX_RAISE_STOPS))
        # still under the floor (the HDRI's bright part is in the view, a window, a sunlit wall): the
        # lights fill in, as a film set's would, up to as much as the HDRI gives
        need = min(CARD_FLOOR / (CARD_ALBEDO * scale) - e_env, e_env)
        boost = need / float(np.mean(lit)) if np.mean(lit) > 0 else 1.0
        if boost > 1.0:
            for light in lights:
                light["power"] *= boost
            lit = [v * boost for v in lit]
            mean, peak = e_env + float(np.mean(lit)), e_env_max + max(lit)
        record["fill_boost"] = round(max(boost, 1.0), 4)  # the lights' power over the drawn ratio
    scale = min(scale, CARD_PEAK / (CARD_ALBEDO * peak))
    env["strength"] = round(float(env["strength"] * scale), 5)
    for light in lights:
        light["power"] = round(float(light["power"] * scale), 3)
    display = lambda e: round(255 * float(srgb_encode(np.array(CARD_ALBEDO * e * scale))), 1)  # noqa: E731
    record.update(
        scale_stops=round(float(np.log2(scale)), 4),
        card_mean=display(mean),
        card_peak=display(peak),
        hdri_share=round(e_env / mean, 4),
    )
    return record
