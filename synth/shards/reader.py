"""Reading shards back (plain tarfile; the `webdataset` package reads the same files).

A sequence's mesh vertices (`verts.npz`) are stored once, in camera 0's sample; every shard holds
whole sequences, camera 0 first (synth.shards.writer). `SequenceVerts` is the streaming step that
hands them to the other cameras' samples: run it on a shard's samples in order, before any
per-sample shuffle (with webdataset: shuffle shards, decode, `.map(SequenceVerts())`, then
`.shuffle(n)`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synth.errors import SynthError
from synth.shards.sample import decode_sample
from synth.shards.tario import group_samples, read_tar
from synth.shards.writer import shard_paths


class SequenceVerts:
    """Gives each decoded sample its sequence's `verts` (the same dict for all the sequence's
    cameras; none where meta.json `verts_in` is null), called on a shard's samples in order. A
    sample whose `verts_in` sample did not come just before it raises a SynthError naming both
    (samples were shuffled before this step, or the shard splits a sequence). Stateful: one per
    stream (webdataset: `.map(SequenceVerts())` after decoding, before `.shuffle(n)`)."""

    def __init__(self, where: str = "") -> None:
        self.where = where
        self.held: tuple[str, dict] | None = None  # (holder key, verts) of the current sequence

    def __call__(self, s: dict[str, Any]) -> dict[str, Any]:
        meta = s.get("meta") or {}
        holder = meta.get("verts_in")
        if not holder:
            return s
        if "verts" in s:
            self.held = (holder, s["verts"])
        elif self.held is not None and self.held[0] == holder:
            s["verts"] = self.held[1]
        else:
            raise SynthError(
                f"sample {meta.get('sequence', '?')}_c{meta.get('camera', '?')} keeps its sequence's vertices "
                f"in {holder}, which was not read before it",
                path=self.where or None,
                fix="read each shard's samples in order and shuffle after SequenceVerts; shards "
                "packed before sequences were kept whole: re-pack them with `synth shard DIR`",
            )
        return s


def webdataset_samples(urls: list[str], shuffle: int = 1000, seed: int = 0):
    """The per-sample shuffled WebDataset stream of decoded samples, each with its sequence's `verts`:
    shards shuffled, each shard's samples decoded and given their verts in order (`SequenceVerts`), and
    only then samples shuffled in a buffer of `shuffle`. Imports webdataset (and so torch) on call."""
    import random

    import webdataset as wds

    def decode(raw: dict) -> dict[str, Any]:
        return decode_sample({k: v for k, v in raw.items() if not k.startswith("__")})

    return (
        wds.WebDataset(list(urls), shardshuffle=len(urls), seed=seed, empty_check=False)
        .map(decode)
        .map(SequenceVerts())
        .shuffle(shuffle, rng=random.Random(seed))
    )


def iter_samples(
    path: str | Path, decode: bool = True, passes: list[str] | str | None = None, verts: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, sample) for every sample of a shard file or of every shard in a directory; `passes`
    ("all" or names) also decodes render passes (decode_sample); `verts` gives every decoded sample
    its sequence's `verts` (SequenceVerts)."""
    path = Path(path)
    if not path.exists():
        raise SynthError(
            "no such shard or directory", path=path, fix="give a shard or the output directory of `synth generate`"
        )
    paths = shard_paths(path) if path.is_dir() else [path]
    if not paths:
        raise SynthError("no shards found ({split}-NNNNNN.tar)", path=path, fix="run `synth generate --out DIR` first")
    for p in paths:
        resolve = SequenceVerts(str(p)) if verts and decode else None
        for key, files in group_samples(read_tar(p)):
            if not decode:
                yield key, files
                continue
            sample = decode_sample(files, passes)
            yield key, resolve(sample) if resolve else sample


def find_sample(path: str | Path, key: str | None = None) -> tuple[str, dict[str, Any]]:
    """The sample with this key (or the first one)."""
    for k, files in iter_samples(path, decode=False):
        if key is None or k == key:
            return k, decode_sample(files)
    raise SynthError(f"no sample with key {key!r}", path=path, fix="list keys with `synth validate DIR --list`")
