"""Packing per-sequence sample tars into split shards `{split}-{index:06d}.tar`.

The generator writes one tar per finished sequence (its four camera samples); shards are packed
from those in sequence order only after every sequence is done, so the shards do not depend on
which worker finished first, on interruptions, or on resumes.

A shard holds whole sequences, camera 0 first: its boundaries fall only between sequences, so a
reader streaming a shard meets a sequence's `verts.npz` (camera 0's sample only) before the other
cameras' samples and can hand it to them before it shuffles samples (synth.shards.reader).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from synth.shards.tario import group_samples, read_tar, write_tar

SHARD_RE = re.compile(r"^(train|val|test)-(\d{6})\.tar$")


@dataclass
class ShardInfo:
    name: str
    split: str
    samples: int
    bytes: int


def shard_paths(out_dir: str | Path, split: str | None = None) -> list[Path]:
    out = Path(out_dir)
    return sorted(
        p for p in out.glob("*.tar") if SHARD_RE.match(p.name) and (split is None or p.name.startswith(split + "-"))
    )


def _camera_order(key: str) -> tuple[int, str]:
    """Sort key of a sample key `{seq}_c{camera}`: by camera number (camera 0 first)."""
    head, _, cam = key.rpartition("_c")
    return (int(cam), head) if head and cam.isdigit() else (1 << 30, key)


def pack_shards(
    out_dir: str | Path,
    sequences: list[tuple[str, str, Path]],
    samples_per_shard: int = 64,
    max_bytes: int = 512 << 20,
) -> list[ShardInfo]:
    """sequences: (sequence_id, split, per-sequence tar) in plan order. Returns the shards written;
    shards left over from an earlier packing with other counts are removed. The limits are met by
    whole sequences: a new shard starts before a sequence that would take this one past
    `samples_per_shard` or `max_bytes` (a sequence larger than the limits alone gets its own shard)."""
    out = Path(out_dir)
    written: list[ShardInfo] = []
    for split in ("train", "val", "test"):
        members: list = []
        count = size = 0
        index = 0

        def flush() -> None:
            nonlocal members, count, size, index
            if count:
                name = f"{split}-{index:06d}.tar"  # noqa: B023 (called within this iteration)
                nbytes = write_tar(out / name, members)
                written.append(ShardInfo(name, split, count, nbytes))  # noqa: B023 (called within this iteration)
                index += 1
            members, count, size = [], 0, 0

        for _, s, tar in sequences:
            if s != split:
                continue
            samples = sorted(group_samples(read_tar(tar)), key=lambda ks: _camera_order(ks[0]))
            seq = [(f"{key}.{ext}", data) for key, files in samples for ext, data in files.items()]
            nbytes = sum(len(d) + 1024 for _, d in seq)
            if count and (count + len(samples) > samples_per_shard or size + nbytes > max_bytes):
                flush()
            members += seq
            count += len(samples)
            size += nbytes
        flush()
    keep = {w.name for w in written}
    for p in shard_paths(out):
        if p.name not in keep:
            p.unlink()
    return written
