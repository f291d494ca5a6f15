"""`python -m train.mviper train|eval|predict`: two-stage MVIPER training, evaluation against HMR and the
baselines, inference. The command line only; the jobs live in their own modules:

train:   train/trainer.py  (stage "hmr", then stage "mviper" initialised from HMR's weights; config in train/config.py)
eval:    train/evaluate.py (per-sequence metrics on a held-out split's whole clips, tables, RUN/eval_{split}.json)
predict: train/predict.py  (frames folder or MP4 -> OUT/smpl.npz, OUT/motion.npz (a `synth generate` motion source), meshes)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from synth.errors import SynthError, run_command
from synth.io import save_json_atomic
from train.config import TRAINING_STAGES, load_train_config
from train.runtime import setup_runtime

if TYPE_CHECKING:
    import torch

# ---------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.mviper", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda, cuda:N")
    common.add_argument(
        "--body-model", default=None, help="SMPL .pkl/.npz; default $SYNTH_SMPL_MODEL or the embedded model"
    )
    t = sub.add_parser("train", parents=[common], help="two-stage training: hmr, then mviper from hmr")
    t.add_argument("--data", required=True, type=Path, help="directory of {split}-NNNNNN.tar shards")
    t.add_argument("--out", required=True, type=Path, help="run directory")
    t.add_argument("--config", default="default", help="name in train/configs or a YAML path")
    t.add_argument("--stage", choices=("hmr", "mviper", "both"), default="both")
    t.add_argument("--resume", action="store_true", help="continue from RUN/{stage}/last.pt")
    t.add_argument(
        "--force",
        action="store_true",
        help="start the chosen stages again in an existing run (deletes their checkpoints and logs)",
    )
    t.add_argument("--hmr-steps", type=int)
    t.add_argument("--mviper-steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--workers", type=int)
    t.add_argument("--weights", help="encoder init: a torchvision ResNet .pth, or 'imagenet' (hub cache only)")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("eval", parents=[common], help="metric table of MVIPER vs HMR on held-out shards")
    e.add_argument("--data", required=True, type=Path)
    e.add_argument("--run", required=True, type=Path)
    e.add_argument(
        "--split", default=None, help="held-out split (default test; an error lists the splits the data has)"
    )
    e.add_argument("--models", default="hmr,mviper")
    e.add_argument("--preview", type=Path, help="PNG: input crops, ground truth and predicted meshes of the first clip")
    e.add_argument("--no-baselines", action="store_true", help="models only (no mean-pose and no-motion rows)")
    e.set_defaults(func=cmd_eval)
    pr = sub.add_parser("predict", parents=[common], help="frames folder or MP4 -> per-frame SMPL .npz and .obj meshes")
    pr.add_argument("--run", required=True, type=Path)
    pr.add_argument("--input", required=True, type=Path)
    pr.add_argument("--out", required=True, type=Path)
    pr.add_argument("--model", choices=TRAINING_STAGES, default="mviper")
    pr.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        metavar=("X0", "Y0", "X1", "Y1"),
        help="person box in pixels (default: whole frame)",
    )
    pr.add_argument(
        "--fps", type=float, default=None, help="frame rate of motion.npz (default: the video's, 30 for a folder)"
    )
    pr.set_defaults(func=cmd_predict)
    return p


def _body(args, device: torch.device, data: Path | None = None):
    """The body model; warns when the shards were annotated with a different one (targets would not match)."""
    from synth.body import load_body_model
    from synth.shards.reader import iter_samples

    body = load_body_model(args.body_model, device=device)
    if data is not None:
        _, files = next(iter_samples(data, decode=False))
        used = json.loads(files.get("meta.json", b"{}")).get("body_model", "")
        if used and used != body.identifier:
            print(
                f"warning: shards in {data} were annotated with {used}, training uses {body.identifier}",
                file=sys.stderr,
            )
    return body


def cmd_train(args) -> int:
    from train.trainer import train

    cfg = load_train_config(args.config)
    for name in ("hmr_steps", "mviper_steps", "batch_size", "lr", "workers"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.weights is not None:
        cfg.model.weights = args.weights
    try:
        cfg.check()
    except ValueError as exc:
        raise SynthError(f"bad setting ({exc})", fix="fix the command-line value") from exc
    rt = setup_runtime(args.device)
    body = _body(args, rt.device, args.data)
    stages = TRAINING_STAGES if args.stage == "both" else (args.stage,)
    for stage, final in zip(stages, train(cfg, args.data, args.out, body, rt, stages, args.resume, args.force)):
        if rt.main:
            print(f"{stage}: {final}")
    return 0


def cmd_eval(args) -> int:
    from train.evaluate import evaluate, format_table, resolve_split, save_preview

    split = resolve_split(args.data, args.split)
    rt = setup_runtime(args.device)
    body = _body(args, rt.device, args.data)
    firsts: dict = {}
    kinds = tuple(k for k in args.models.split(",") if k)
    unknown = [k for k in kinds if k not in TRAINING_STAGES]
    if unknown or not kinds:
        raise SynthError(f"unknown --models {args.models!r}", fix=f"use a comma list of {', '.join(TRAINING_STAGES)}")
    results = evaluate(args.run, args.data, split, body, rt.device, kinds, firsts, baselines=not args.no_baselines)
    print(f"split {split}")
    print(format_table(results))
    if args.preview:
        print(save_preview(args.preview, firsts, body))
    save_json_atomic(args.run / f"eval_{split}.json", results)
    return 0


def cmd_predict(args) -> int:
    from train.predict import predict

    rt = setup_runtime(args.device)
    path = predict(
        args.run, args.input, args.out, _body(args, rt.device), rt.device, args.model, args.bbox, fps=args.fps
    )
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="warning: %(name)s: %(message)s"
    )  # skipped samples, truncated shards
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, f"train.mviper {args.command}")


if __name__ == "__main__":
    sys.exit(main())
