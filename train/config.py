"""Training configuration: one dataclass tree, loaded from train/configs/NAME.yaml or a YAML path.

The same tree is stored in every checkpoint and in RUN/config.json, so a run can always be rebuilt
(and a resume checked) from what it wrote.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from synth.errors import SynthError
from synth.yamlconfig import find_config, merge_into, read_yaml
from train.data import DataConfig
from train.losses import LossWeights
from train.models import ModelConfig

CONFIG_DIR = Path(__file__).parent / "configs"
TRAINING_STAGES = ("hmr", "mviper")  # HMR (per frame), then MVIPER (video) from it
LR_SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    batch_size: int = 16
    lr: float = 1e-5  # peak learning rate (after warm-up)
    warmup_steps: int = 500  # linear ramp from 0 to lr; keeps Adam's first, noisy moments from wrecking BatchNorm stats
    lr_schedule: str = (
        "cosine"  # after warm-up: cosine decay to min_lr_ratio * lr at the stage's last step, or constant
    )
    min_lr_ratio: float = 0.01
    grad_clip: float = 100.0  # max global gradient L2 norm (cuts spikes; typical norms are 10-50); 0 disables
    hmr_steps: int = 50000
    mviper_steps: int = 50000
    log_every: int = 50
    ckpt_every: int = 1000
    workers: int = 8
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict, path: Path | None = None) -> TrainConfig:
        """Defaults overridden by `d` (a YAML file's or a checkpoint's tree): unknown keys and wrong
        types are SynthErrors naming `path`, as the pipeline config's are."""
        cfg = cls()
        merge_into(cfg, d, "", path, "train/configs/default.yaml")
        return cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Raise ValueError naming the first setting outside its range."""
        for name, v in {
            "batch_size": self.batch_size,
            "log_every": self.log_every,
            "ckpt_every": self.ckpt_every,
            "data.crop_size": self.data.crop_size,
            "data.window": self.data.window,
        }.items():
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        for name, v in {
            "hmr_steps": self.hmr_steps,
            "mviper_steps": self.mviper_steps,
            "warmup_steps": self.warmup_steps,
            "workers": self.workers,
            "grad_clip": self.grad_clip,
        }.items():
            if v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


def load_train_config(name_or_path: str) -> TrainConfig:
    """A training config by name (train/configs/NAME.yaml) or path, strict and range-checked."""
    path = find_config(name_or_path, CONFIG_DIR)
    cfg = TrainConfig.from_dict(read_yaml(path) or {}, path)
    try:
        cfg.check()
    except ValueError as exc:
        raise SynthError(f"bad config ({exc})", path=path, fix="compare with train/configs/default.yaml") from exc
    return cfg


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Learning rate of optimiser step `step` (0-based) of a stage of `total` steps: linear warm-up, then
    cosine decay to min_lr_ratio * lr at the last step (or constant). A pure function of the step, so a
    resumed run follows exactly the same schedule."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    span = max(1, total - 1 - cfg.warmup_steps)
    progress = min(1.0, max(0.0, (step - cfg.warmup_steps) / span))
    low = cfg.min_lr_ratio * cfg.lr
    return low + 0.5 * (cfg.lr - low) * (1 + math.cos(math.pi * progress))


def config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts (as TrainConfig.to_dict gives)."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out
