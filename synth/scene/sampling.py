"""sample_scene: draw every random choice of a render (background, skin, hair, eyes, shoes, fabrics,
lights, camera elevations) from one seed. Same seed and settings -> identical SceneSpec."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from synth.errors import SynthError
from synth.scene.labels import GARMENT_SLOTS
from synth.scene.lighting import balance, draw_lights
from synth.scene.render_assets import (
    hdri_luminance,
    list_hdris,
    list_photos,
    list_textures,
    photo_luminance,
    plate_photo,
)
from synth.scene.spec import (
    BACKGROUNDS,
    CAMERA_NAMES,
    DEVICES,
    ENGINES,
    FACIAL_HAIR,
    HAIR_STYLES,
    PASSES,
    SHOE_TYPES,
    SceneSpec,
)

# sRGB skin albedos from light to dark, ITA +61 .. -70 degrees (individual typology angle: very
# light > 55 .. dark < -30, Fitzpatrick-like); a drawn tone t in [0, 1] is a point on the
# piecewise-linear curve through them. Uniform t gives 7/16/13/14/21/29 % of the six ITA classes
# (very light .. dark) and renders continuous (benchmarks/skin_tones.py, docs/BENCHMARKS.md).
# fmt: off
SKIN_TONES = np.array([
    [0.96, 0.80, 0.69], [0.92, 0.72, 0.58], [0.84, 0.62, 0.47], [0.73, 0.52, 0.37],
    [0.60, 0.41, 0.28], [0.46, 0.30, 0.20], [0.33, 0.21, 0.145], [0.23, 0.145, 0.10],
])
# fmt: on
PATTERNS = ("plain", "stripes", "plaid", "knit", "denim", "print")
# sRGB iris colours from light to dark (blue, grey-green, green, hazel, brown, dark brown).
# fmt: off
IRIS_COLOURS = np.array([
    [0.28, 0.45, 0.68], [0.42, 0.52, 0.50], [0.36, 0.48, 0.26],
    [0.50, 0.40, 0.18], [0.36, 0.20, 0.09], [0.16, 0.08, 0.04],
])
# fmt: on
HAIR_STYLE_P = np.array([0.1] + [0.9 / (len(HAIR_STYLES) - 1)] * (len(HAIR_STYLES) - 1))  # bald 10 %
SHOE_P = np.array([0.15, 0.35, 0.25, 0.25])  # barefoot, sneaker, boot, flat
FACIAL_HAIR_P = np.array([0.7, 0.12, 0.06, 0.12])  # none, stubble, moustache, beard
# Settings that steer the sampler but are not SceneSpec fields.
_SAMPLER_KEYS = {
    "background",
    "hdri_dir",
    "photo_dir",
    "texture_dir",
    "texture_prob",
    "photo_prob",
    "plate_prob",
    "people",
    "ground_shadow",
}


def _color(rng: np.random.Generator, sat: tuple[float, float] = (0.2, 0.9), val: tuple[float, float] = (0.15, 0.9)):
    """A random sRGB colour from HSV ranges (denim, shoes)."""
    return _hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val))


def _hsv_to_rgb(h: float, s: float, v: float) -> list[float]:
    import colorsys

    return [round(float(c), 4) for c in colorsys.hsv_to_rgb(h, s, v)]


# Clothing is mostly neutral (black, greys, white, beige) and its colours are muted. Uniform HSV draws
# (saturation 0.2-0.9, value 0.15-0.9) gave no neutrals and 18 % of colours with saturation x value
# (chroma) above 0.45, the lime and magenta tones no street crowd wears. NEUTRAL_SHARE of the draws
# are near-greys; the rest keep chroma under MAX_CHROMA, so a saturated colour is a dark one.
NEUTRAL_SHARE = 0.4
MAX_CHROMA = 0.45


def garment_color(rng: np.random.Generator) -> list[float]:
    """A fabric's sRGB colour drawn like everyday clothing: neutrals or muted colours, never neon."""
    if rng.uniform() < NEUTRAL_SHARE:
        h, s, v = rng.uniform(0.05, 0.65), rng.uniform(0.0, 0.15), rng.uniform(0.06, 0.92)
    else:
        h, s, v = rng.uniform(), rng.uniform(0.2, 0.85), rng.uniform(0.15, 0.8)
        s = min(s, MAX_CHROMA / v)
    return _hsv_to_rgb(h, s, v)


def _garment_material(rng: np.random.Generator, textures: list[str], texture_prob: float) -> dict[str, Any]:
    common = {
        "scale": float(rng.uniform(1.5, 4.0)),
        "rotation": float(rng.uniform(0, np.pi)),
        "roughness": float(rng.uniform(0.55, 0.95)),
        "sheen": float(rng.uniform(0.2, 0.7)),
        "hem_shade": float(rng.uniform(0.7, 0.9)),
        "thickness": float(rng.uniform(0.002, 0.004)),
    }
    if textures and rng.uniform() < texture_prob:
        tint = [round(float(c), 4) for c in rng.uniform(0.6, 1.0, 3)]
        return {"kind": "image", "path": textures[int(rng.integers(len(textures)))], "tint": tint, **common}
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    colors = [garment_color(rng) for _ in range(3)]
    if pattern == "denim":
        colors = [_color(rng, (0.5, 0.8), (0.25, 0.55)) for _ in range(3)]
        colors = [[c[0] * 0.4, c[1] * 0.6, max(c)] for c in colors]  # blue-ish indigo family
    return {
        "kind": "procedural",
        "pattern": pattern,
        "colors": colors,
        "stripe_ratio": float(rng.uniform(0.2, 0.6)),
        **common,
    }


def _cloth_finish(rng: np.random.Generator) -> dict[str, float]:
    """How dark a garment's folds get (colour factor at full concavity) and its wrinkle bump strength."""
    return {"fold_shade": float(rng.uniform(0.55, 0.75)), "rumple": float(rng.uniform(0.3, 0.6))}


# HDRI exposure: each HDRI's strength comes from its own measured luminance (render_assets.hdri_luminance),
# so that the background the cameras see lands at BAND_TARGET (linear; sRGB 137) at its median, within
# [BAND_LOW, BAND_HIGH] at its darkest and brightest tenth (sRGB 48 .. 231, under the Standard view's clip
# at 1), and the whole sphere's mean at most LIGHT_CAP; then EXPOSURE_STOPS of seeded variation, and the
# lighting's exposure for the subject (synth.scene.lighting.balance, with the lights). Where the band's tenths span more than that window (a bright window or sunlit wall
# beside dark furniture) the strength splits the excess evenly in stops between the two ends: capping
# the bright tenth alone put interior's room 2 stops under and its dark side near black behind the
# subject; a fixed U(0.6, 1.4) strength left courtyard and interior white (docs/BENCHMARKS.md#rendering).
BAND_TARGET, BAND_LOW, BAND_HIGH, LIGHT_CAP = 0.25, 0.03, 0.8, 1.2
EXPOSURE_STOPS = (-0.5, 0.5)


def exposure_base(lum: dict[str, float]) -> float:
    """The strength (before the seeded stops) that puts the measured band `lum` at BAND_TARGET within
    [BAND_LOW, BAND_HIGH], splitting the stops evenly when both ends cannot hold, under LIGHT_CAP."""
    tiny = 1e-6
    low = BAND_LOW / max(lum["band_p10"], tiny)  # at least this bright: the dark tenth off black
    high = BAND_HIGH / max(lum["band_p90"], tiny)  # at most this bright: the bright tenth under the clip
    target = BAND_TARGET / max(lum["band_median"], tiny)
    base = min(max(target, low), high) if low <= high else float(np.sqrt(low * high))
    return min(base, LIGHT_CAP / max(lum["mean"], tiny))


def hdri_strength(path: str, stops: float) -> tuple[float, dict | None]:
    """(strength, the measured luminance or None): the world strength of HDRI `path` at `stops` of
    exposure from its normalised level (unnormalised when it cannot be read here)."""
    lum = hdri_luminance(path)
    base = 1.0 if lum is None else exposure_base(lum)
    return round(float(base * 2.0**stops), 5), lum


def _background(
    rng: np.random.Generator, kind: str, hdris: list[str], photos: list[str], photo_prob: float, plate_prob: float
):
    if kind == "mixed":
        kind = "photo" if photos and rng.uniform() < photo_prob else "hdri"
    path = hdris[int(rng.integers(len(hdris)))]
    rotation = float(rng.uniform(0, 2 * np.pi))
    stops = float(rng.uniform(*EXPOSURE_STOPS))
    strength, lum = hdri_strength(path, stops)
    env = {"path": path, "rotation": rotation, "strength": strength, "exposure": round(stops, 4), "luminance": lum}
    if kind == "hdri":
        return {"kind": "hdri", **env}
    photo = _photo(rng, photos, plate_prob)
    return {"kind": "photo", **photo, "luminance": photo_luminance(photo["path"]), "light": env}


# Photo backgrounds: a wall photo and a ground photo (render_assets.PLATE_PHOTOS) laid out as a set at
# their physical size, the wall WALL_DISTANCE_M beyond the subject's reach, in `plate_prob` (default
# PLATE_PROB) of the photo scenes when the folder has both; otherwise a scene photo seen whole (BACKDROP_ZOOM: at most 1.3x into
# it) as a distant backdrop (a 1.2-2.5x crop put a cup or a face larger than the person behind them).
PLATE_PROB = 0.7
WALL_DISTANCE_M = (1.0, 4.0)
BACKDROP_ZOOM = (1.0, 1.3)


def _photo(rng: np.random.Generator, photos: list[str], plate_prob: float) -> dict[str, Any]:
    """The photo background's draw: a wall-and-ground `plate`, or a scene photo's per-camera `views`."""
    kinds = {p: plate_photo(p) for p in photos}
    walls = [p for p, v in kinds.items() if v is not None and v.role == "wall"]
    grounds = [p for p, v in kinds.items() if v is not None and v.role == "ground"]
    scenes = [p for p, v in kinds.items() if v is None]
    if walls and grounds and (not scenes or rng.uniform() < plate_prob):
        wall, ground = walls[int(rng.integers(len(walls)))], grounds[int(rng.integers(len(grounds)))]
        plate = {
            "ground": ground,
            "wall_pixel_m": kinds[wall].pixel_m,
            "wall_turns": kinds[wall].turns,
            "wall_vanishing": list(kinds[wall].vanishing) if kinds[wall].vanishing else None,
            "ground_pixel_m": kinds[ground].pixel_m,
            "ground_turns": kinds[ground].turns,
            "distance": round(float(rng.uniform(*WALL_DISTANCE_M)), 4),
        }
        return {"layout": "plate", "path": wall, "plate": plate}
    pool = scenes or photos
    # each camera its own crop, rotated a little so no edge shows; the HDRI still lights the subject
    # but is invisible to camera rays
    views = [
        {
            "zoom": float(rng.uniform(*BACKDROP_ZOOM)),
            "rotation": float(rng.uniform(-0.12, 0.12)),
            "offset": [float(v) for v in rng.uniform(-1, 1, 2)],
        }  # offset: fraction of the free margin
        for _ in CAMERA_NAMES
    ]
    return {"layout": "backdrop", "path": pool[int(rng.integers(len(pool)))], "views": views}


def _on_curve(anchors: np.ndarray, t: float) -> np.ndarray:
    """Point t in [0, 1] on the piecewise-linear curve through the rows of `anchors`."""
    x = np.clip(t, 0.0, 1.0) * (len(anchors) - 1)
    k = min(int(x), len(anchors) - 2)
    return anchors[k] + (x - k) * (anchors[k + 1] - anchors[k])


def _rgb(c) -> list[float]:
    return [round(float(v), 4) for v in np.clip(c, 0.0, 1.0)]


def skin_color(tone: float, undertone: float = 0.0) -> np.ndarray:
    """sRGB albedo of tone t in [0, 1] (light..dark) with a cool (-1, pinkish) .. warm (+1, golden)
    undertone."""
    return _on_curve(SKIN_TONES, tone) * (1.0 + undertone * np.array([0.015, 0.02, -0.05]))


def _skin(rng: np.random.Generator) -> dict[str, Any]:
    """Tone t ~ U(0, 1) light..dark, a warm/cool undertone, and MPFB enhanced-skin parameters."""
    tone = float(rng.uniform())
    undertone = float(rng.uniform(-1.0, 1.0))
    color = skin_color(tone, undertone) * rng.uniform(0.97, 1.03)
    return {
        "tone": round(tone, 4),
        "undertone": round(undertone, 4),
        "color": _rgb(color),
        "roughness": float(rng.uniform(0.38, 0.55)),
        "subsurface": float(rng.uniform(0.15, 0.3)),
        "pore_strength": float(rng.uniform(0.1, 0.3)),
        "blush": float(rng.uniform(0.02, 0.1)),
        "lip_tint": float(rng.uniform(0.2, 0.6)),
    }


def _hair(rng: np.random.Generator, tone: float) -> dict[str, Any]:
    """Style, parting, facial hair, and a melanin-like colour (Principled Hair BSDF parameters) that
    darkens with the skin."""
    style = HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=HAIR_STYLE_P))]
    grey = rng.uniform() < 0.07
    melanin = (
        float(rng.uniform(0.0, 0.25)) if grey else float(np.clip(0.5 + 0.4 * tone + rng.normal(0, 0.2), 0.1, 0.98))
    )
    redness = float(rng.uniform(0.0, 0.15)) if grey else float(rng.uniform(0.0, 1.0) ** 2 * (1.2 - melanin))
    out = {
        "style": style,
        "melanin": round(melanin, 4),
        "redness": round(min(redness, 1.0), 4),
        "roughness": float(rng.uniform(0.25, 0.45)),
        "length_scale": float(rng.uniform(0.85, 1.15)),
        "density_scale": float(rng.uniform(0.8, 1.2)),
        "seed": int(rng.integers(1 << 30)),
        "eyebrow_melanin": round(min(1.0, melanin + 0.15), 4),
    }
    # where the front hair parts (metres right of the head's midline): centre, or 2-4.5 cm to a side
    side = int(rng.integers(3)) - 1
    out["parting"] = round(side * float(rng.uniform(0.02, 0.045)), 4)
    out["facial"] = FACIAL_HAIR[int(rng.choice(len(FACIAL_HAIR), p=FACIAL_HAIR_P))]
    return out


def _eyes(rng: np.random.Generator, tone: float) -> dict[str, Any]:
    """Iris colour on a light..dark curve (darker eyes more likely with darker skin), pupil size."""
    t = float(np.clip(0.45 + 0.55 * tone + rng.normal(0, 0.3), 0.0, 1.0))
    major = _on_curve(IRIS_COLOURS, t) * rng.uniform(0.9, 1.1, 3)
    return {
        "iris_tone": round(t, 4),
        "iris_major": _rgb(major),
        "iris_minor": _rgb(0.45 * major),
        "pupil_size": float(rng.uniform(0.25, 0.35)),
    }


def _shoes(rng: np.random.Generator) -> dict[str, Any]:
    kind = SHOE_TYPES[int(rng.choice(len(SHOE_TYPES), p=SHOE_P))]
    sole = [0.9, 0.89, 0.86] if rng.uniform() < 0.5 else [0.08, 0.08, 0.08]
    return {
        "type": kind,
        "color": _color(rng, (0.0, 0.7), (0.05, 0.9)),
        "sole_color": sole,
        "roughness": float(rng.uniform(0.3, 0.8)),
    }


def sample_scene(seed: int, settings: dict[str, Any] | None = None) -> SceneSpec:
    """Draw a SceneSpec from `seed`; settings as in the pipeline's `render:` config (plus SceneSpec fields)."""
    settings = dict(settings or {})
    drawn = {
        "seed",
        "background",
        "skin",
        "hair",
        "eyes",
        "shoes",
        "ground",
        "garment_materials",
        "lights",
        "lighting",
        "cameras",
    }
    fields = {f.name for f in dataclasses.fields(SceneSpec)} - drawn
    unknown = set(settings) - fields - _SAMPLER_KEYS
    if unknown:
        raise SynthError(f"unknown render settings {sorted(unknown)}", fix=f"use {sorted(fields | _SAMPLER_KEYS)}")
    bg_kind = settings.get("background", "hdri")
    if bg_kind not in BACKGROUNDS:
        raise SynthError(f"render.background={bg_kind!r}", fix=f"use one of {BACKGROUNDS}")
    if settings.get("engine", "cycles") not in ENGINES:
        raise SynthError(f"render.engine={settings['engine']!r}", fix=f"use one of {ENGINES}")
    if settings.get("device", "auto") not in DEVICES:
        raise SynthError(f"render.device={settings['device']!r}", fix=f"use one of {DEVICES}")
    bad = set(settings.get("passes", [])) - set(PASSES)
    if bad:
        raise SynthError(f"unknown render passes {sorted(bad)}", fix=f"use a subset of {PASSES}")
    n_cam = int(settings.get("num_cameras", 4))
    if not 1 <= n_cam <= len(CAMERA_NAMES):
        raise SynthError(f"render.num_cameras={n_cam}", fix="use 1..4 (east, west, south, north)")

    hdris = list_hdris(settings.get("hdri_dir", ""))
    photo_dir = settings.get("photo_dir", "")
    photos = list_photos(photo_dir) if photo_dir else []
    if bg_kind == "photo" and not photos:
        raise SynthError("render.background='photo' needs render.photo_dir", fix="set photo_dir to a folder of photos")
    texture_dir = settings.get("texture_dir", "")
    textures = list_textures(texture_dir) if texture_dir else []

    # Independent streams per choice group: adding a light never changes the background drawn.
    bg_rng, skin_rng, cloth_rng, light_rng, cam_rng, hair_rng, eye_rng, shoe_rng, finish_rng = (
        np.random.default_rng([int(seed), k]) for k in range(9)
    )
    skin = _skin(skin_rng)
    people = bool(settings.get("people", True))  # hair, eyes, shoes, ground shadow
    kwargs = {k: settings[k] for k in fields if k in settings}
    kwargs["passes"] = list(kwargs.get("passes", ["depth", "seg"]))
    if people:
        kwargs.update(hair=_hair(hair_rng, skin["tone"]), eyes=_eyes(eye_rng, skin["tone"]), shoes=_shoes(shoe_rng))
        # the contact shadow: Cycles traces the ground only within its reach of the feet, beside the
        # subject's border (docs/BENCHMARKS.md#rendering); ground_shadow=False leaves it out
        kwargs["ground"] = {"shadow": True} if settings.get("ground_shadow", True) else {}
    background = _background(
        bg_rng,
        bg_kind,
        hdris,
        photos,
        float(settings.get("photo_prob", 0.5)),
        float(settings.get("plate_prob", PLATE_PROB)),
    )
    cameras = [
        {"name": CAMERA_NAMES[c], "azimuth": float(c_az), "elevation": float(cam_rng.uniform(-0.03, 0.12))}
        for c, c_az in enumerate((0.0, np.pi, -np.pi / 2, np.pi / 2)[:n_cam])
    ]
    lights, ratio = draw_lights(light_rng)
    lighting = balance(background, lights, ratio, cameras)  # sets the lights' power, scales the HDRI
    return SceneSpec(
        seed=int(seed),
        **kwargs,
        background=background,
        skin=skin,
        garment_materials=[
            _garment_material(cloth_rng, textures, float(settings.get("texture_prob", 0.5))) | _cloth_finish(finish_rng)
            for _ in range(GARMENT_SLOTS)
        ],
        lights=lights,
        lighting=lighting,
        cameras=cameras,
    )
