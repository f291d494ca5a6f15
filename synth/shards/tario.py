"""Deterministic, atomic tar files (the WebDataset container).

Writing goes through webdataset's `TarWriter` with pinned headers. Reading stays on the standard
library's `tarfile`: `import webdataset` imports torch (seconds; docs/BENCHMARKS.md), and
`synth validate`, `synth inspect` and the dataset card read shards in processes that need no torch.
webdataset's own reader (`wds.WebDataset`, train/data.py) gives the same samples; tests/test_shards.py
checks that.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from synth.errors import SynthError
from synth.io import atomic_path

Member = tuple[str, bytes]


def write_tar(path: str | Path, members: Iterable[Member]) -> int:
    """Write members grouped into samples by WebDataset's key rule (within a sample in extension
    order, as `TarWriter` writes them) with pinned headers: mtime 0, uid/gid 0, no owner names,
    mode 0644. The same members give the same bytes whenever and wherever they are written (what
    makes a resumed run's shards equal to an uninterrupted run's); the tar appears under `path`
    only when complete. Returns its size in bytes."""
    import webdataset as wds  # imports torch: only here, so that the readers below stay light

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh, wds.TarWriter(fh, user="", group="", mode=0o644, mtime=0, encoder=False) as tw:
            for key, files in group_samples(members):
                tw.write({"__key__": key, **files})
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
    """Consecutive members with the same key form one sample: yields (key, {ext: bytes}). A name
    without an extension, or one twice in a sample, raises ValueError (webdataset's reader would
    drop the first and refuse the second)."""
    key, sample = None, {}
    for name, data in members:
        k, ext = split_key(name)
        if not ext:
            raise ValueError(f"tar member {name!r} has no extension: WebDataset names are key.ext")
        if k != key and sample:
            yield key, sample
            sample = {}
        if ext in sample:
            raise ValueError(f"tar member {name!r} appears twice in sample {k!r}")
        key = k
        sample[ext] = data
    if sample:
        yield key, sample
