"""Pipeline configuration: dataclasses with a default and a one-line doc for every setting.

A YAML file overrides any subset of the defaults (`synth generate --config cfg.yaml`); unknown keys
are errors, so a typo never silently falls back to a default. Every setting carries a `Rule` (its
allowed range or choices) and `validate_config` checks them all when a config is loaded, before any
work, naming the file, the key and the range. `config_to_yaml` writes the full,
commented configuration (the packaged `configs/default.yaml` is generated from these dataclasses
and a test keeps the two in sync).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from synth.errors import SynthError
from synth.yamlconfig import dotted, find_config, merge_into, read_yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class Rule:
    """The allowed values of one setting. Numbers: `lo` <= v <= `hi`, `gt` < v; strings: `choices`;
    lists: at least `min_items`, each item checked by `each`; mappings: keys from `fields` (a rule per
    key) or `keys`. `choices` and `keys` may be callables, so names owned by a stage (materials,
    garments, solver settings) are imported from it only when a config is checked."""

    lo: float | None = None
    hi: float | None = None
    gt: float | None = None
    choices: tuple | Callable[[], tuple] | None = None
    kind: type | None = None  # required type of list items / mapping values (top-level types come from the default)
    min_items: int = 0
    each: Rule | None = None
    fields: dict | None = None  # mapping: key -> Rule
    keys: tuple | Callable[[], tuple] | None = None  # mapping: allowed keys when `fields` is not given

    def allowed(self) -> str:
        """The range in words, for error messages and the comments of default.yaml."""
        parts = []
        if self.gt is not None:
            parts.append(f"> {_num(self.gt)}" + (f" and <= {_num(self.hi)}" if self.hi is not None else ""))
        elif self.lo is not None and self.hi is not None:
            parts.append(f"{_num(self.lo)}..{_num(self.hi)}")
        elif self.lo is not None:
            parts.append(f">= {_num(self.lo)}")
        elif self.hi is not None:
            parts.append(f"<= {_num(self.hi)}")
        if self.choices is not None:
            parts.append("one of " + ", ".join(map(str, _call(self.choices))))
        if self.kind is not None:
            parts.append(f"a {self.kind.__name__}")
        if self.min_items:
            parts.append(f"at least {self.min_items} item" + "s" * (self.min_items > 1))
        if self.fields is not None:
            parts.append("keys " + ", ".join(f"{k} ({r.allowed()})" for k, r in self.fields.items()))
        elif self.keys is not None:
            parts.append("keys from " + ", ".join(map(str, _call(self.keys))))
        if self.each is not None:
            inner = self.each.allowed()
            parts.append(f"each ({inner})" if ";" in inner else f"each {inner}")
        return "; ".join(parts)

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed (None when it is), naming a bad item or key."""
        if self.kind is not None and not (isinstance(value, self.kind) and not _is_bool_for_number(value, self.kind)):
            if not (self.kind is float and isinstance(value, int) and not isinstance(value, bool)):
                return f"{value!r} is not a {self.kind.__name__}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (
                value != value
                or (self.lo is not None and value < self.lo)
                or (self.hi is not None and value > self.hi)
                or (self.gt is not None and value <= self.gt)
            ):
                return f"{value!r} is out of range"
        if self.choices is not None and not isinstance(value, (list, dict)) and value not in _call(self.choices):
            return f"{value!r} is not a valid choice"
        if isinstance(value, list):
            if len(value) < self.min_items:
                return f"{value!r} has {len(value)} item(s)"
            for k, item in enumerate(value):
                why = self.each.problem(item) if self.each else None
                if why:
                    return f"item {k}: {why}"
        if isinstance(value, dict):
            allowed = tuple(self.fields) if self.fields is not None else (_call(self.keys) if self.keys else None)
            bad = sorted(set(map(str, value)) - set(allowed)) if allowed is not None else []
            if bad:
                return f"unknown key(s) {bad}"
            for k, v in value.items():
                rule = self.fields.get(k) if self.fields else self.each
                why = rule.problem(v) if rule else None
                if why:
                    return f"key {k!r}: {why}"
        return None


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _call(x: Any) -> tuple:
    return tuple(x() if callable(x) else x)


def _is_bool_for_number(value: Any, kind: type) -> bool:
    return isinstance(value, bool) and kind in (int, float)


def _names(module: str, name: str) -> Callable[[], tuple]:
    """The allowed names as their owning stage defines them (imported only when a config is checked)."""

    def get() -> tuple:
        import importlib

        return tuple(getattr(importlib.import_module(module), name))

    return get


_GARMENTS = _names("synth.cloth.garments", "GARMENT_TYPES")
_MATERIALS = _names("synth.cloth.materials", "MATERIALS")
_CLOTH_OPTIONS = _names("synth.cloth.simulate", "OPTION_KEYS")
_SPLITS = _names("synth.pipeline.plan", "SPLITS")


def _f(default: Any, doc: str, rule: Rule | None = None, path: bool = False) -> Any:
    """A dataclass field with its documentation and allowed values (mutable defaults are copied
    per instance). `path`: a file or folder setting, resolved against the config file's folder."""
    meta = {"doc": doc, "rule": rule or Rule(), "path": path}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: json.loads(json.dumps(d)), metadata=meta)
    return field(default=default, metadata=meta)


def _scene_default(name: str) -> Any:
    """SceneSpec's default for a render setting both declare: the scene spec is its one home."""
    from synth.scene.spec import SceneSpec

    f = {f.name: f for f in fields(SceneSpec)}[name]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


_PROB = Rule(lo=0.0, hi=1.0)


@dataclass
class MotionConfig:
    sources: list = _f(
        ["builtin:*"],
        "motion sources: 'builtin:*' or 'builtin:NAME' (embedded keyframed motions), or paths/globs of "
        "BVH, ASF/AMC or AMASS .npz clips; relative paths are resolved against the config file, "
        "'shared:REL' against the shared test assets",
        Rule(min_items=1, each=Rule(kind=str)),
    )
    fps: float = _f(30.0, "frame rate of every sequence (clips are resampled by MoSh)", Rule(gt=0, hi=1000))
    builtin_seconds: float = _f(2.0, "length of each built-in motion, seconds", Rule(gt=0, hi=3600))
    original_fraction: float = _f(
        0.5,
        "share of sequences that are windows of the source motion itself ('original'); the rest are "
        "'transition' sequences between the most contrasting poses of two sources",
        _PROB,
    )
    original_seconds: list = _f(
        [0.8, 1.0],
        "shortest and longest original window, seconds; the length and start are drawn from the seed, "
        "and a long clip gives several windows that do not overlap",
        Rule(min_items=2, each=Rule(gt=0, hi=3600)),
    )
    context_seconds: float = _f(
        0.2,
        "real motion around a transition: X's motion up to frame i and Y's from frame j, seconds each",
        Rule(lo=0, hi=3600),
    )
    pair_mode: str = _f(
        "random",
        "interpolation pair selection: 'random' (seeded) or 'topk' (most contrasting)",
        Rule(choices=("random", "topk")),
    )
    include_root: bool = _f(True, "include the global orientation in the pose distance D")
    frames_per_unit: float = _f(12.0, "interpolated frames per radian of max D", Rule(lo=0, hi=10000))
    min_frames: int = _f(16, "fewest interpolated frames per sequence", Rule(lo=1, hi=100000))
    max_frames: int = _f(24, "most interpolated frames per sequence (>= min_frames)", Rule(lo=1, hi=100000))
    method: str = _f(
        "linear", "pose blending: 'linear' axis-angle (the paper) or 'slerp'", Rule(choices=("linear", "slerp"))
    )
    lead_in_frames: int = _f(
        12, "frames from a rest pose to the first frame, simulated so cloth starts relaxed", Rule(lo=0, hi=10000)
    )
    lead_in_pose: str = _f(
        "a",
        "rest pose of the lead-in, which the garments are cut on: 'a' (A-pose) or 't' (T-pose)",
        Rule(choices=("t", "a")),
    )
    render_lead_in: bool = _f(False, "also render and annotate the lead-in frames (meta.lead_in marks them)")


@dataclass
class ClothConfig:
    enabled: bool = _f(True, "simulate garments (False: naked body, for debugging)")
    outfits: list = _f(
        [["tshirt", "trousers"], ["longsleeve", "shorts"], ["tshirt", "skirt"], ["dress"]],
        "garment sets; each sequence wears one, drawn from the plan's seed",
        Rule(min_items=1, each=Rule(kind=list, min_items=1, each=Rule(choices=_GARMENTS))),
    )
    materials: list = _f(
        ["cotton", "denim", "silk", "jersey", "wool"],
        "material presets drawn per garment (synth.cloth.MATERIALS)",
        Rule(min_items=1, each=Rule(choices=_MATERIALS)),
    )
    substeps: int = _f(4, "solver substeps per output frame", Rule(lo=1, hi=1024))
    options: dict = _f({}, "extra keyword settings handed to the cloth solver unchanged", Rule(keys=_CLOTH_OPTIONS))


@dataclass
class RenderConfig:
    resolution: int = _f(_scene_default("resolution"), "square output size in pixels", Rule(lo=16, hi=4096))
    num_cameras: int = _f(
        _scene_default("num_cameras"), "cameras at East/West/South/North tracking the pelvis", Rule(lo=1, hi=4)
    )  # as many as synth.scene.spec.CAMERA_NAMES
    focal_mm: float = _f(_scene_default("focal_mm"), "lens focal length, mm", Rule(lo=1, hi=5000))
    sensor_mm: float = _f(_scene_default("sensor_mm"), "sensor width, mm", Rule(lo=1, hi=100))
    engine: str = _f(
        _scene_default("engine"),
        "Blender engine: 'cycles' or 'eevee'",
        Rule(choices=_names("synth.scene.spec", "ENGINES")),
    )
    samples: int = _f(
        _scene_default("samples"),
        "render samples per pixel (the renderer's default, synth.scene.spec.DEFAULT_SAMPLES)",
        Rule(lo=1, hi=65536),
    )
    device: str = _f(
        _scene_default("device"),
        "'cpu', 'gpu' or 'auto' (GPU when present)",
        Rule(choices=_names("synth.scene.spec", "DEVICES")),
    )
    background: str = _f(
        "mixed", "'hdri', 'photo' or 'mixed' backgrounds", Rule(choices=_names("synth.scene.spec", "BACKGROUNDS"))
    )
    hdri_dir: str = _f(
        "",
        "folder of equirectangular HDRIs ('' = Blender's bundled ones); relative paths: against the config file",
        path=True,
    )
    photo_dir: str = _f(
        "",
        "folder of background photos, e.g. Places365 ('' = none); relative paths: against the config file",
        path=True,
    )
    texture_dir: str = _f(
        "",
        "folder of fabric images, e.g. DTD/Fabrics ('' = procedural fabric shaders); "
        "relative paths: against the config file",
        path=True,
    )
    passes: list = _f(
        _scene_default("passes"),
        "passes to render: depth, seg (both used for joint visibility), parts, "
        "normals, flow (flow about doubles the render time); shards.passes are added",
        Rule(each=Rule(choices=_names("synth.scene.spec", "PASSES"))),
    )
    options: dict = _f(
        {},
        "extra SceneSpec settings handed to the scene sampler unchanged",
        Rule(
            fields={
                "denoise": Rule(kind=bool),
                "fill": Rule(gt=0, hi=1),
                "texture_prob": _PROB,
                "photo_prob": _PROB,
                "plate_prob": _PROB,
                "people": Rule(kind=bool),
                "ground_shadow": Rule(kind=bool),
            }
        ),  # people and their ground shadow on by default
    )


@dataclass
class AnnotateConfig:
    occlusion_margin_m: float = _f(
        0.15, "a joint is occluded when the rendered surface is this much nearer than the joint", Rule(lo=0, hi=10)
    )
    window_px: int = _f(1, "half size of the pixel window searched for the joint's own surface", Rule(lo=0, hi=32))


@dataclass
class ShardConfig:
    samples_per_shard: int = _f(
        64, "most samples (sequence x camera) per tar shard; shards hold whole sequences", Rule(lo=1, hi=1000000)
    )
    max_shard_mb: float = _f(
        512.0, "start a new shard before a sequence that would pass this size, MB", Rule(gt=0, hi=1000000)
    )
    image_format: str = _f("jpg", "frame encoding in the shards: 'jpg' or 'png'", Rule(choices=("jpg", "png")))
    jpeg_quality: int = _f(92, "JPEG quality", Rule(lo=1, hi=100))
    include_verts: bool = _f(
        True,
        "write verts.npz once per sequence (in camera 0's sample): garment vertices in the SMPL world "
        "and every camera's extrinsics; body vertices are rebuilt from smpl.npz (synth.shards.verts)",
    )
    passes: list = _f(
        ["seg", "depth"],
        "render passes stored in the shards: seg, depth, parts, normals, flow "
        "(rendered even when not listed in render.passes; encodings in docs/ARCHITECTURE.md)",
        Rule(each=Rule(choices=_names("synth.shards.passes", "PASSES"))),
    )
    splits: dict = _f(
        {"train": 0.8, "val": 0.1, "test": 0.1},
        "fractions of source subjects per split (not all zero)",
        Rule(keys=_SPLITS, each=_PROB),
    )


@dataclass
class RunConfig:
    workers: int = _f(1, "parallel sequence tasks on this machine (1 = in process)", Rule(lo=1, hi=1024))
    retries: int = _f(
        1,
        "extra attempts for a failing sequence (each doubles the cloth substeps) before it goes to failures.jsonl",
        Rule(lo=0, hi=10),
    )
    min_free_gb: float = _f(1.0, "stop with a clear message when the output disk has less free space", Rule(lo=0))
    threads_per_worker: int = _f(0, "torch/OpenMP/Blender threads per task (0 = cores / workers)", Rule(lo=0, hi=1024))
    keep_work: bool = _f(False, "keep per-sequence render jobs (body, garment caches, passes) under work/tmp")
    fail_sequences: list = _f(
        [], "sequence ids that fail on purpose (exercises retries and failures.jsonl)", Rule(each=Rule(kind=str))
    )
    gpus: list = _f(
        [],
        "GPU ids for local workers: worker k renders on gpus[k % len] through CUDA_VISIBLE_DEVICES, one "
        "Blender process per GPU ([] = leave the environment as it is)",
        Rule(each=Rule(kind=int)),
    )
    ray_gpus_per_task: float = _f(
        0.0,
        "GPUs each Ray task asks for (1 on a GPU cluster: Ray gives every task its own GPU through "
        "CUDA_VISIBLE_DEVICES; 0 = CPU tasks)",
        Rule(lo=0, hi=64),
    )


@dataclass
class PipelineConfig:
    n_seq: int = _f(4, "sequences to generate (--n-seq overrides)", Rule(lo=1, hi=10**7))
    seed: int = _f(
        0, "master seed; every random choice in the plan derives from it (--seed overrides)", Rule(lo=0, hi=2**32 - 1)
    )
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


def _cross_checks(cfg: PipelineConfig) -> list[tuple[str, str, str]]:
    """(key, problem, allowed) for rules that tie two settings together."""
    out = []
    m = cfg.motion
    if m.min_frames > m.max_frames:
        out.append(
            (
                "motion.min_frames",
                f"{m.min_frames} is above motion.max_frames ({m.max_frames})",
                "min_frames <= max_frames",
            )
        )
    if not any(v > 0 for v in cfg.shards.splits.values()):
        out.append(("shards.splits", f"{cfg.shards.splits!r} gives no split any subject", "at least one fraction > 0"))
    return out


def validate_config(cfg: PipelineConfig, path: str | Path | None = None) -> None:
    """Check every setting against its Rule (and the cross-setting rules); raise a SynthError naming
    the file, the key and the allowed range. Cheap: run when a config is loaded and before a run."""

    def walk(obj: Any, where: str):
        for f in fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                yield from walk(value, dotted(where, f.name))
            elif "rule" in f.metadata:
                yield dotted(where, f.name), f.metadata["rule"], value

    for key, rule, value in walk(cfg, ""):
        why = rule.problem(value)
        if why:
            raise SynthError(f"setting '{key}': {why}", path=path, fix=f"allowed: {rule.allowed()}")
    for key, why, allowed in _cross_checks(cfg):
        raise SynthError(f"setting '{key}': {why}", path=path, fix=f"allowed: {allowed}")


def config_from_dict(data: dict | None, path: Path | None = None) -> PipelineConfig:
    cfg = PipelineConfig()
    merge_into(cfg, data or {}, "", path, "synth/pipeline/configs/default.yaml")
    validate_config(cfg, path)
    return cfg


def relative_to(value: str, base_dir: str | Path | None) -> str:
    """The one rule for paths in a config: `~` expanded, a relative path taken against the config
    file's folder (`base_dir`; the working directory for a config built in code)."""
    p = Path(value).expanduser()
    return str(p if p.is_absolute() or base_dir is None else Path(base_dir) / p)


def _resolve_paths(obj: Any, base_dir: Path) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _resolve_paths(value, base_dir)
        elif f.metadata.get("path") and isinstance(value, str) and value:
            setattr(obj, f.name, relative_to(value, base_dir))


def load_config(path: str | Path | None = None) -> PipelineConfig:
    """Defaults overridden by the YAML file `path` (a packaged name such as 'ci' works too); folder
    settings are made absolute against the file's folder, as motion.sources are (`_source_dir`)."""
    if path is None:
        return PipelineConfig()
    p = find_config(path, CONFIG_DIR)
    data = read_yaml(p)
    cfg = config_from_dict(data, p)
    base = p.resolve().parent
    _resolve_paths(cfg, base)
    cfg._source_dir = str(base)  # type: ignore[attr-defined]
    return cfg


def config_to_yaml(cfg: PipelineConfig | None = None) -> str:
    """The full configuration as YAML with every setting's documentation as a comment."""
    import yaml

    cfg = cfg or PipelineConfig()
    lines = [
        "# synth generate configuration. Every setting is optional; these are the defaults.",
        "# Generated by synth.pipeline.config.config_to_yaml().",
    ]

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
            allowed = f.metadata["rule"].allowed() if "rule" in f.metadata else ""
            lines.append(f"{indent}# {doc}" + (f" [{allowed}]" if allowed else ""))
            lines.append(f"{indent}{f.name}: {text}")

    dump(cfg, "")
    return "\n".join(lines) + "\n"
