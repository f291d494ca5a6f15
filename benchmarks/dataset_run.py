"""What a dataset-scale `synth generate` run cost: the figures issue 20 asks for, from the run's own files.

`monitor` samples, every 10 s while a run lives, the number of finished sequences, the load and the
resident memory of every process under the run's root process (workers and their Blender renders);
`report` reads the output folder (summary.json, the done markers, the shards) and that log, and prints
sequences/hour, images/s, failures and their causes, bytes per frame per camera, shards, time per stage
and each process's smallest and largest RSS per 20 finished sequences (growth would show in the smallest).

    python benchmarks/dataset_run.py monitor ROOT_PID OUT LOG &   # beside `synth generate --out OUT`
    python benchmarks/dataset_run.py report OUT [--rss LOG]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import time
from pathlib import Path


def process_tree(root: int) -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, RSS MB, command) of root and its descendants (`ps`, Linux)."""
    rows = subprocess.run(["ps", "-eo", "pid=,ppid=,rss=,args="], capture_output=True, text=True).stdout
    procs = {}
    for row in rows.splitlines():
        f = row.split(None, 3)
        if len(f) == 4:
            procs[int(f[0])] = (int(f[1]), int(f[2]) // 1024, f[3][:160])
    keep, grown = {root}, True
    while grown:
        grown = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in keep and pid not in keep:
                keep.add(pid)
                grown = True
    return {pid: procs[pid] for pid in keep if pid in procs}


def monitor(root: int, out: Path, log: Path, every: float = 10.0) -> None:
    """Append `T time done load` and `P pid ppid rss_mb command` lines until root exits."""
    while True:
        tree = process_tree(root)
        if root not in tree:
            return
        done = len(glob.glob(str(out / "work" / "done" / "*.json")))
        lines = [f"T {time.strftime('%H:%M:%S', time.gmtime())} done={done} load={os.getloadavg()[0]:.2f}"]
        lines += [f"P {pid} {ppid} {rss} {cmd}" for pid, (ppid, rss, cmd) in sorted(tree.items())]
        with open(log, "a") as fh:
            fh.write("\n".join(lines) + "\n")
        time.sleep(every)


def rss_samples(log: Path) -> list[tuple[str, int, dict[int, tuple[int, int, str]]]]:
    """[(time, done, {pid: (ppid, rss_mb, command)})] from a monitor log."""
    samples = []
    for line in log.read_text().splitlines():
        if line.startswith("T "):
            _, t, done, _load = line.split()
            samples.append((t, int(done.split("=")[1]), {}))
        elif line.startswith("P ") and samples:
            _, pid, ppid, rss, cmd = line.split(" ", 4)
            samples[-1][2][int(pid)] = (int(ppid), int(rss), cmd)
    return samples


def role(cmd: str) -> str:
    if "render.py" in cmd:
        return "blender"
    if "resource_tracker" in cmd:
        return "other"
    if "synth.cli generate" in cmd or "synth generate" in cmd:
        return "parent"
    if "multiprocessing" in cmd:
        return "worker"
    return "other"


def print_rss(samples, bucket: int = 20) -> None:
    """Per block of `bucket` finished sequences: each process's smallest and largest RSS (MB). The
    smallest is what a worker holds between sequences (growth would show there), the largest its peak."""
    blocks: dict[int, dict[str, list[int]]] = {}
    for _, done, tree in samples:
        for pid, (_, rss, cmd) in tree.items():
            r = role(cmd)
            if r in ("parent", "worker"):
                blocks.setdefault(done // bucket, {}).setdefault(f"{r} {pid}", []).append(rss)
            elif r == "blender":
                blocks.setdefault(done // bucket, {}).setdefault("blender (any)", []).append(rss)
    names = sorted({n for b in blocks.values() for n in b})
    print("\n| sequences done | " + " | ".join(f"{n} RSS MB min-max" for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for k in sorted(blocks):
        cells = [f"{min(v):,}-{max(v):,}" if (v := blocks[k].get(n)) else "-" for n in names]
        print(f"| {k * bucket}-{(k + 1) * bucket - 1} | " + " | ".join(cells) + " |")


def report(out: Path, rss_log: Path | None) -> None:
    summary = json.loads((out / "summary.json").read_text())
    done = [json.loads(p.read_text()) for p in sorted((out / "work" / "done").glob("*.json"))]
    cameras = max(1, round(summary["samples"] / max(1, summary["done"])))
    frames = sum(d["frames"] for d in done)
    images = frames * cameras
    wall = summary["wall_s"]
    shard_bytes = sum(s["bytes"] for s in summary["shards"])
    print("| figure | value |\n| --- | --- |")
    print(
        f"| wall | {wall:,.0f} s ({wall / 3600:.2f} h): {summary['done']} of {summary['planned']} generated, {len(summary['failed'])} failed |"
    )
    print(f"| sequences/hour | {3600 * summary['done'] / wall:.0f} |")
    print(
        f"| images/s | {images / wall:.2f} ({summary['done']} sequences, {frames} frames x {cameras} cameras = {images:,} images) |"
    )
    per_seq = {k: v / max(1, summary["done"]) for k, v in summary["times"].items() if k not in ("plan", "pack")}
    total = sum(per_seq.values())
    stages = ", ".join(
        f"{k} {v:.1f} s ({100 * v / total:.0f} %)" for k, v in sorted(per_seq.items(), key=lambda kv: -kv[1])
    )
    print(f"| time per sequence (sum over workers) | {stages} |")
    print(
        f"| once per run | plan {summary['times'].get('plan', 0):.1f} s, pack {summary['times'].get('pack', 0):.1f} s |"
    )
    sizes = sorted(s["bytes"] for s in summary["shards"])
    print(f"| shards | {len(sizes)}, {shard_bytes / 1e6:.1f} MB ({sizes[0] / 1e6:.1f}-{sizes[-1] / 1e6:.1f} MB each) |")
    print(f"| bytes per frame per camera | {shard_bytes / max(1, images) / 1000:.1f} KB |")
    causes: dict[str, int] = {}
    for f in summary["failed"]:
        first = f["error"].split(" on sequence")[0].split(":", 1)[-1].strip()[:80]
        causes[first] = causes.get(first, 0) + 1
    print(f"| failures | {len(summary['failed'])}" + "".join(f"; {n} x {c}" for c, n in causes.items()) + " |")
    if rss_log and rss_log.is_file():
        print_rss(rss_samples(rss_log))
    for f in summary["failed"]:
        print(f"\n- {f['id']}: {f['error'].splitlines()[0][:300]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("monitor")
    m.add_argument("root", type=int)
    m.add_argument("out", type=Path)
    m.add_argument("log", type=Path)
    r = sub.add_parser("report")
    r.add_argument("out", type=Path)
    r.add_argument("--rss", type=Path, default=None)
    args = ap.parse_args()
    if args.cmd == "monitor":
        monitor(args.root, args.out, args.log)
    else:
        report(args.out, args.rss)


if __name__ == "__main__":
    main()
