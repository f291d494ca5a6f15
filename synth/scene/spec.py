"""SceneSpec: every choice a render makes (assets, materials, lights, cameras, engine), drawn
once from a seed so a render job is reproducible from its job.json alone."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Cycles CPU default chosen to meet <= 1 s per 250x250 frame on a 2-core CPU (benchmarks/render.py).
DEFAULT_SAMPLES = 8
CAMERA_NAMES = ("east", "west", "south", "north")
ENGINES = ("cycles", "eevee")
DEVICES = ("cpu", "gpu", "auto")
BACKGROUNDS = ("hdri", "photo", "mixed")
PASSES = ("depth", "seg", "parts", "normals", "flow")
SHOE_TYPES = ("barefoot", "sneaker", "boot", "flat")
HAIR_STYLES = ("bald", "buzz", "short", "medium", "long_straight", "long_wavy", "curly", "coily", "bun")
FACIAL_HAIR = ("none", "stubble", "moustache", "beard")


@dataclass
class SceneSpec:
    """The render job's scene. Plain JSON types only (it is copied into meta.json of every sample)."""

    seed: int
    resolution: int = 250  # square output, pixels
    num_cameras: int = 4  # east, west, south, north (in that order)
    focal_mm: float = 180.0
    sensor_mm: float = 32.0  # sensor width; sensor fit horizontal
    engine: str = "cycles"
    samples: int = DEFAULT_SAMPLES
    denoise: bool = True  # OpenImageDenoise on Cycles
    device: str = "auto"
    passes: list[str] = field(default_factory=lambda: ["depth", "seg"])
    fill: float = 0.9  # the body's farthest point reaches this fraction of the half frame
    fps: float = 30.0
    num_frames: int = 0  # set by the caller (pipeline) or by write_render_job from the caches
    background: dict[str, Any] = field(default_factory=dict)  # kind hdri|photo, path, rotation, strength...
    skin: dict[str, Any] = field(default_factory=dict)  # tone 0..1 (light..dark), color (sRGB), roughness, ...
    hair: dict[str, Any] = field(default_factory=dict)  # style, parting, facial, melanin, redness, roughness, eyebrows
    eyes: dict[str, Any] = field(default_factory=dict)  # iris colours (sRGB), pupil size
    shoes: dict[str, Any] = field(default_factory=dict)  # type (barefoot|sneaker|boot|flat), colours
    ground: dict[str, Any] = field(default_factory=dict)  # shadow: a shadow-catching floor under the feet
    garment_materials: list[dict[str, Any]] = field(default_factory=list)  # one per garment slot, job order
    lights: list[dict[str, Any]] = field(default_factory=list)  # 4 area lights around the subject
    lighting: dict[str, Any] = field(default_factory=dict)  # lights' ratio to the HDRI, exposure, grey card
    cameras: list[dict[str, Any]] = field(default_factory=list)  # name, azimuth, elevation (radians)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SceneSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
