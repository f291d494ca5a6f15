"""Checkpoints of a run directory RUN/{hmr,mviper}/{last,final}.pt: atomic writes, readable errors,
and the checks that keep a run from loading weights of another architecture or non-finite weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from synth.errors import SynthError
from synth.io import atomic_path
from train.config import TRAINING_STAGES, TrainConfig, config_differences
from train.models import ModelConfig, build_model

CHECKPOINTS = ("final.pt", "last.pt")


def save_checkpoint(path: Path, **state) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise SynthError(
            f"unreadable checkpoint ({exc})", path=path, fix="delete it and re-run without --resume"
        ) from exc
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        raise SynthError(
            "not a train.mviper checkpoint (no model/config)",
            path=path,
            fix="point at a run directory written by `python -m train.mviper train`",
        )
    return ck


def check_architecture(ck: dict, cfg: TrainConfig, path: Path, what: str) -> None:
    """SynthError unless the checkpoint's model settings are this config's (weights would not fit). A
    setting the checkpoint predates counts as its default (the behaviour before it existed)."""
    theirs = dataclasses.asdict(ModelConfig()) | ck["config"].get("model", {})
    diff = config_differences(theirs, cfg.to_dict()["model"], "model.")
    if diff:
        shown = ", ".join(
            f"{k} {theirs.get(k.split('.', 1)[1])!r} here {getattr(cfg.model, k.split('.', 1)[1], None)!r}"
            for k in diff[:4]
        )
        raise SynthError(
            f"{what}: the checkpoint has another architecture ({shown})",
            path=path,
            fix="train with the run's own config (see RUN/config.json), or use a new --out",
        )


def nonfinite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items() if torch.is_floating_point(v) and not torch.isfinite(v).all()]


def trained_stages(run: Path) -> list[str]:
    return [k for k in TRAINING_STAGES if any((run / k / n).exists() for n in CHECKPOINTS)]


def load_trained(
    run: Path, kind: str, device: torch.device, flag: str = "--model"
) -> tuple[torch.nn.Module, TrainConfig]:
    """The finished (else latest) model of a stage, in eval mode; `flag` is the option that chooses the
    stage, named in the error when the run lacks this one."""
    for name in CHECKPOINTS:
        path = run / kind / name
        if path.exists():
            ck = load_checkpoint(path)
            cfg = TrainConfig.from_dict(ck["config"])
            bad = nonfinite_tensors(ck["model"])
            if bad:
                raise SynthError(
                    f"non-finite weights (NaN/inf) in {len(bad)} tensors, e.g. {bad[0]}",
                    path=path,
                    fix="retrain this stage (training stops on a non-finite loss since this check exists)",
                )
            model = build_model(kind, cfg.model)
            try:
                model.load_state_dict(ck["model"])
            except RuntimeError as exc:
                raise SynthError(
                    f"weights do not fit the {kind} model of the stored config ({str(exc).splitlines()[0]})",
                    path=path,
                    fix="the checkpoint is damaged or was written by another version: retrain",
                ) from exc
            return model.to(device).eval(), cfg
    have = trained_stages(run)
    if have:
        fix = (
            f"this run has {', '.join(have)}: pass {flag} {','.join(have) if flag == '--models' else have[-1]}, "
            f"or train it: python -m train.mviper train --data DATA --out {run} --stage {kind}"
        )
    else:
        fix = f"run `python -m train.mviper train --data DATA --out {run}` first"
    raise SynthError(f"no {kind} checkpoint", path=run / kind, fix=fix)
