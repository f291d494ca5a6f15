"""Deterministic, atomic tar files (the WebDataset container)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from synth.errors import SynthError
from synth.io import atomic_path

Member = tuple[str, bytes]


def write_tar(path: str | Path, members: Iterable[Member]) -> int:
    """Write members in the given order with pinned headers (mtime 0, root owner, mode 0644);
    the tar appears under `path` only when complete. Returns its size in bytes."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tf.addfile(info, io.BytesIO(data))
        size = tmp.stat().st_size
    return size


def read_tar(path: str | Path) -> Iterator[Member]:
    """Members of a tar in order, as (name, bytes)."""
    try:
        with tarfile.open(path, "r") as tf:
            for info in tf:
                if info.isfile():
                    fh = tf.extractfile(info)
                    yield info.name, fh.read() if fh else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SynthError(f"unreadable tar ({exc})", path=path, fix="delete it and re-run with --resume") from exc


def split_key(name: str) -> tuple[str, str]:
    """WebDataset's grouping rule: the key is the name up to the first dot of its basename."""
    base = name.rsplit("/", 1)[-1]
    key, _, ext = base.partition(".")
    prefix = name[: len(name) - len(base)]
    return prefix + key, ext


def group_samples(members: Iterable[Member]) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Consecutive members with the same key form one sample: yields (key, {ext: bytes})."""
    key, sample = None, {}
    for name, data in members:
        k, ext = split_key(name)
        if k != key and sample:
            yield key, sample
            sample = {}
        key = k
        sample[ext] = data
    if sample:
        yield key, sample
