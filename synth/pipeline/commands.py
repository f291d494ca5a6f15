"""CLI: `synth generate`, `synth shard`, `synth inspect`, `synth validate`, `synth assets check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _count(lo: int):
    """argparse type: an integer >= lo (so `--seed -1` is refused before any work)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value} is below {lo}")
        return value

    return parse


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="plan and generate a dataset: MoSh -> variation -> cloth -> render -> shards")
    g.add_argument("--out", type=Path, required=True, help="output folder (shards, dataset card, plan, work/)")
    g.add_argument("--n-seq", type=_count(1), help="number of sequences (default: n_seq of the config, 4)")
    g.add_argument(
        "--config", help="YAML config overriding the defaults, or a packaged name: default, ci (tiny, for tests)"
    )
    g.add_argument("--workers", type=_count(1), help="parallel local sequence tasks (default: run.workers)")
    g.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the tasks on a Ray cluster (ADDRESS like ray://head:10001, 'auto', or 'local'); "
        "--out must be on a filesystem every node sees",
    )
    g.add_argument("--seed", type=_count(0), help="master seed (default: seed of the config, 0)")
    g.add_argument(
        "--resume", action="store_true", help="finish an interrupted run in --out (skips finished sequences)"
    )
    g.add_argument("--print-config", action="store_true", help="print the full resolved config as YAML and exit")
    g.set_defaults(func=run_generate)

    s = sub.add_parser("shard", help="(re)pack finished sequences of a generate folder into shards + dataset card")
    s.add_argument("dir", type=Path)
    s.add_argument("--samples-per-shard", type=_count(1), help="override shards.samples_per_shard")
    s.set_defaults(func=run_shard)

    i = sub.add_parser("inspect", help="contact sheet PNG and MP4/GIF with mesh and 2D joints for a sample")
    i.add_argument("dir", type=Path, help="a generate folder or a shard .tar")
    i.add_argument("--key", help="sequence id (seq000003) or sample key (seq000003_c1); default: first")
    i.add_argument("--out", type=Path, help="output folder (default: DIR/inspect)")
    i.add_argument("--format", choices=("mp4", "gif"), default="mp4")
    i.add_argument("--frames", type=int, default=6, help="frames per camera on the contact sheet")
    i.add_argument("--tile", type=int, default=200, help="tile size in pixels")
    i.add_argument("--fps", type=float, help="video frame rate (default: the sequence's; lower = slow motion)")
    i.set_defaults(func=run_inspect)

    v = sub.add_parser("validate", help="check shards against the sample contract (exit 1 on any violation)")
    v.add_argument("dir", type=Path)
    v.add_argument("--list", action="store_true", help="also list the sample keys")
    v.set_defaults(func=run_validate)

    a = sub.add_parser("assets", help="external assets: what is present and configured")
    asub = a.add_subparsers(dest="assets_command", required=True)
    c = asub.add_parser("check", help="report every asset of assets_manifest/ (location, files, licence)")
    c.add_argument("--config", help="config whose asset settings to check")
    c.add_argument("--verify", action="store_true", help="also compare the pinned file checksums")
    c.set_defaults(func=run_assets_check)


def build_config(args: argparse.Namespace):
    from synth.pipeline.config import load_config

    cfg = load_config(args.config)
    if args.n_seq is not None:
        cfg.n_seq = args.n_seq
    if args.seed is not None:
        cfg.seed = args.seed
    if args.workers is not None:
        cfg.run.workers = args.workers
    return cfg


def run_generate(args: argparse.Namespace) -> int:
    from synth.pipeline.config import config_to_yaml
    from synth.pipeline.runner import generate, summary_table

    cfg = build_config(args)
    if args.print_config:
        print(config_to_yaml(cfg), end="")
        return 0
    summary = generate(
        args.out, cfg, resume=args.resume, ray_address=args.ray, base_dir=getattr(cfg, "_source_dir", None)
    )
    print(summary_table(summary), end="")
    print(f"shards and dataset card in {args.out}; look at a sample with: synth inspect {args.out}")
    return 1 if summary.failed else 0


def run_shard(args: argparse.Namespace) -> int:
    import json

    from synth.errors import SynthError
    from synth.pipeline.config import load_config
    from synth.pipeline.lock import output_lock
    from synth.pipeline.runner import finalize

    if not args.dir.is_dir():
        raise SynthError("no such folder", path=args.dir, fix="give the --out folder of a `synth generate` run")

    cfg = load_config(args.dir / "config.yaml") if (args.dir / "config.yaml").is_file() else None
    if cfg is not None and args.samples_per_shard:
        cfg.shards.samples_per_shard = args.samples_per_shard
    with output_lock(args.dir):
        infos = finalize(args.dir, None, cfg)
    for i in infos:
        print(f"{i.name}: {i.samples} samples, {i.bytes / 2**20:.1f} MiB")
    card = json.loads((args.dir / "dataset_card.json").read_text())
    print(f"dataset card: {card['total']}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from synth.shards.inspect import inspect

    base = args.dir if args.dir.is_dir() else args.dir.parent
    paths = inspect(args.dir, args.out or base / "inspect", args.key, args.format, args.frames, args.tile, args.fps)
    for p in paths:
        print(p)
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from synth.shards.validate import validate_dir

    rep = validate_dir(args.dir)
    if args.list:
        print("\n".join(rep.keys))
    for e in rep.errors:
        print(f"error: {e}", file=sys.stderr)
    status = "OK" if rep.ok else f"{len(rep.errors)} problem(s)"
    print(f"{args.dir}: {rep.shards} shards, {rep.samples} samples, {rep.frames} frames: {status}")
    return 0 if rep.ok else 1


def run_assets_check(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from synth.pipeline.asset_manifests import check_assets
    from synth.pipeline.config import load_config

    cfg = load_config(args.config)
    rows = check_assets(cfg, verify=args.verify)
    t = Table(title="synth assets (assets_manifest/*.yaml)")
    for col in ("asset", "kind", "default", "status", "where", "licence"):
        t.add_column(col, overflow="fold")
    bad = 0
    for r in rows:
        if r.present:
            status = "in use" if r.configured else ("default" if r.default else "available, not configured")
        else:
            status = "MISSING" if r.configured else "not configured"
        bad += r.configured and not r.present
        t.add_row(r.name, r.kind, "yes" if r.default else "", status, r.detail, r.licence[:60])
    Console(width=160).print(t)
    if bad:
        print(f"{bad} configured asset(s) missing: see the how_to_use of their manifest", file=sys.stderr)
    return 1 if bad else 0
