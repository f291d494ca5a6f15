"""Pipeline configuration: dataclasses with a default and a one-line doc for every setting.

A YAML file overrides any subset of the defaults (`synth generate --config cfg.yaml`); unknown keys
are errors, so a typo never silently falls back to a default. `config_to_yaml` writes the full,
commented configuration (the packaged `configs/default.yaml` is generated from these dataclasses
and a test keeps the two in sync).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from synth.errors import SynthError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def _f(default: Any, doc: str) -> Any:
    """A dataclass field with its documentation (mutable defaults are copied per instance)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: json.loads(json.dumps(d)), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass
class MotionConfig:
    sources: list = _f(
        ["builtin:*"],
        "motion sources: 'builtin:*' or 'builtin:NAME' (embedded keyframed motions), or paths/globs of "
        "BVH, ASF/AMC or AMASS .npz clips; relative paths are resolved against the config file, "
        "'shared:REL' against the shared test assets",
    )
    fps: float = _f(30.0, "frame rate of every sequence (clips are resampled by MoSh)")
    builtin_seconds: float = _f(2.0, "length of each built-in motion, seconds")
    pair_mode: str = _f("random", "interpolation pair selection: 'random' (seeded) or 'topk' (most contrasting)")
    include_root: bool = _f(True, "include the global orientation in the pose distance D")
    frames_per_unit: float = _f(12.0, "interpolated frames per radian of max D")
    min_frames: int = _f(16, "fewest interpolated frames per sequence")
    max_frames: int = _f(24, "most interpolated frames per sequence")
    method: str = _f("linear", "pose blending: 'linear' axis-angle (the paper) or 'slerp'")
    lead_in_frames: int = _f(12, "frames from a rest pose to the first frame, simulated so cloth starts relaxed")
    lead_in_pose: str = _f("t", "rest pose of the lead-in: 't' (T-pose) or 'a' (A-pose)")
    render_lead_in: bool = _f(False, "also render and annotate the lead-in frames (meta.lead_in marks them)")


@dataclass
class ClothConfig:
    enabled: bool = _f(True, "simulate garments (False: naked body, for debugging)")
    outfits: list = _f(
        [["tshirt", "trousers"], ["longsleeve", "shorts"], ["tshirt", "skirt"], ["dress"]],
        "garment sets; each sequence wears one, drawn from the plan's seed",
    )
    materials: list = _f(["cotton", "denim", "silk", "jersey", "wool"], "material presets drawn per garment (synth.cloth.MATERIALS)")
    substeps: int = _f(4, "solver substeps per output frame")
    options: dict = _f({}, "extra keyword settings handed to the cloth solver unchanged")


@dataclass
class RenderConfig:
    resolution: int = _f(250, "square output size in pixels")
    num_cameras: int = _f(4, "cameras at East/West/South/North tracking the pelvis")
    focal_mm: float = _f(180.0, "lens focal length, mm")
    sensor_mm: float = _f(32.0, "sensor width, mm")
    engine: str = _f("cycles", "Blender engine: 'cycles' or 'eevee'")
    samples: int = _f(8, "render samples per pixel (the renderer's default, synth.scene.spec.DEFAULT_SAMPLES)")
    device: str = _f("auto", "'cpu', 'gpu' or 'auto' (GPU when present)")
    background: str = _f("mixed", "'hdri', 'photo' or 'mixed' backgrounds")
    hdri_dir: str = _f("", "folder of equirectangular HDRIs ('' = Blender's bundled ones)")
    photo_dir: str = _f("", "folder of background photos, e.g. Places365 ('' = none)")
    texture_dir: str = _f("", "folder of fabric images, e.g. DTD/Fabrics ('' = procedural fabric shaders)")
    passes: list = _f(["depth", "seg"], "extra passes: depth, seg (both used for joint visibility)")
    options: dict = _f({}, "extra SceneSpec settings handed to the scene sampler unchanged")


@dataclass
class AnnotateConfig:
    occlusion_margin_m: float = _f(
        0.15, "a joint is occluded when the rendered surface is this much nearer than the joint"
    )
    window_px: int = _f(1, "half size of the pixel window searched for the joint's own surface")


@dataclass
class ShardConfig:
    samples_per_shard: int = _f(64, "most samples (sequence x camera) per tar shard")
    max_shard_mb: float = _f(512.0, "start a new shard past this size, MB")
    image_format: str = _f("jpg", "frame encoding in the shards: 'jpg' or 'png'")
    jpeg_quality: int = _f(92, "JPEG quality 1-100")
    include_verts: bool = _f(True, "write verts.npz (body and garment vertices, camera frame, float16)")
    splits: dict = _f({"train": 0.8, "val": 0.1, "test": 0.1}, "fractions of source subjects per split")


@dataclass
class RunConfig:
    workers: int = _f(1, "parallel sequence tasks on this machine (1 = in process)")
    retries: int = _f(1, "extra attempts for a failing sequence (each doubles the cloth substeps) before it goes to failures.jsonl")
    min_free_gb: float = _f(1.0, "stop with a clear message when the output disk has less free space")
    threads_per_worker: int = _f(0, "torch/OpenMP/Blender threads per task (0 = cores / workers)")
    keep_work: bool = _f(False, "keep per-sequence render jobs (body, garment caches, passes) under work/tmp")
    fail_sequences: list = _f([], "sequence ids that fail on purpose (exercises retries and failures.jsonl)")


@dataclass
class PipelineConfig:
    n_seq: int = _f(4, "sequences to generate (--n-seq overrides)")
    seed: int = _f(0, "master seed; every random choice in the plan derives from it (--seed overrides)")
    motion: MotionConfig = field(default_factory=MotionConfig, metadata={"doc": "motion sources and variation"})
    cloth: ClothConfig = field(default_factory=ClothConfig, metadata={"doc": "garments and cloth simulation"})
    render: RenderConfig = field(default_factory=RenderConfig, metadata={"doc": "scene sampling and Blender"})
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig, metadata={"doc": "2D joints, visibility"})
    shards: ShardConfig = field(default_factory=ShardConfig, metadata={"doc": "WebDataset shards and splits"})
    run: RunConfig = field(default_factory=RunConfig, metadata={"doc": "execution and reliability"})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Hash of everything that changes the dataset (not how it is executed)."""
        d = self.to_dict()
        d.pop("run")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _merge(obj: Any, data: dict, where: str, path: Path | None) -> None:
    if not isinstance(data, dict):
        raise SynthError(f"'{where or 'top level'}' must be a mapping", path, "see synth/pipeline/configs/default.yaml")
    names = {f.name: f for f in fields(obj)}
    for key, value in data.items():
        if key not in names:
            raise SynthError(
                f"unknown setting '{where + '.' if where else ''}{key}'",
                path,
                f"valid keys here: {', '.join(names)}",
            )
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            _merge(current, value or {}, f"{where}.{key}" if where else key, path)
        else:
            if current is not None and value is not None and not isinstance(value, type(current)):
                if isinstance(current, float) and isinstance(value, int):
                    value = float(value)
                else:
                    raise SynthError(
                        f"setting '{where + '.' if where else ''}{key}' should be {type(current).__name__}, "
                        f"got {value!r}",
                        path,
                        "fix the value's type",
                    )
            setattr(obj, key, value)


def config_from_dict(data: dict | None, path: Path | None = None) -> PipelineConfig:
    cfg = PipelineConfig()
    _merge(cfg, data or {}, "", path)
    return cfg


def resolve_config_path(name: str | Path) -> Path:
    """A file path, or the name of a packaged config (`default`, `ci`)."""
    p = Path(name)
    if p.is_file():
        return p
    packaged = CONFIG_DIR / f"{name}.yaml"
    if packaged.is_file():
        return packaged
    known = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
    raise SynthError("config file not found", p, f"give a YAML path or a packaged config name ({known})")


def load_config(path: str | Path | None = None) -> PipelineConfig:
    """Defaults overridden by the YAML file `path` (a packaged name such as 'ci' works too)."""
    import yaml

    if path is None:
        return PipelineConfig()
    p = resolve_config_path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise SynthError(f"not valid YAML ({exc})", p, "fix the syntax") from exc
    cfg = config_from_dict(data, p)
    cfg._source_dir = str(p.resolve().parent)  # type: ignore[attr-defined]
    return cfg


def config_to_yaml(cfg: PipelineConfig | None = None) -> str:
    """The full configuration as YAML with every setting's documentation as a comment."""
    import yaml

    cfg = cfg or PipelineConfig()
    lines = ["# synth generate configuration. Every setting is optional; these are the defaults.",
             "# Generated by synth.pipeline.config.config_to_yaml()."]  # fmt: skip

    def dump(obj: Any, indent: str) -> None:
        for f in fields(obj):
            value = getattr(obj, f.name)
            doc = f.metadata.get("doc", "")
            if dataclasses.is_dataclass(value):
                lines.append(f"{indent}{f.name}:  # {doc}")
                dump(value, indent + "  ")
                continue
            text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
            if text.endswith("\n...") or text.endswith("..."):
                text = text.replace("\n...", "").rstrip(".").strip() or "''"
            lines.append(f"{indent}# {doc}")
            lines.append(f"{indent}{f.name}: {text}")

    dump(cfg, "")
    return "\n".join(lines) + "\n"
