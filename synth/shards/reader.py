"""Reading shards back (plain tarfile; the `webdataset` package reads the same files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synth.errors import SynthError
from synth.shards.sample import decode_sample
from synth.shards.tario import group_samples, read_tar
from synth.shards.writer import shard_paths


def iter_samples(
    path: str | Path, decode: bool = True, passes: list[str] | str | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, sample) for every sample of a shard file or of every shard in a directory; `passes`
    ("all" or names) also decodes render passes (decode_sample)."""
    path = Path(path)
    if not path.exists():
        raise SynthError(
            "no such shard or directory", path=path, fix="give a shard or the output directory of `synth generate`"
        )
    paths = shard_paths(path) if path.is_dir() else [path]
    if not paths:
        raise SynthError("no shards found ({split}-NNNNNN.tar)", path=path, fix="run `synth generate --out DIR` first")
    for p in paths:
        for key, files in group_samples(read_tar(p)):
            yield key, decode_sample(files, passes) if decode else files


def find_sample(path: str | Path, key: str | None = None) -> tuple[str, dict[str, Any]]:
    """The sample with this key (or the first one)."""
    for k, files in iter_samples(path, decode=False):
        if key is None or k == key:
            return k, decode_sample(files)
    raise SynthError(f"no sample with key {key!r}", path=path, fix="list keys with `synth validate DIR --list`")
