"""The deterministic plan: everything random about a dataset, decided up front from one seed.

Sources (built-in motions and clips) are resolved and their subjects assigned to train/val/test
(so no subject's motion leaks across splits), sequences are allotted to splits, interpolation pairs
are selected within each split's pool (synth.motion.select_pairs: the most contrasting frames i, j),
and each sequence gets its own seed, outfit, materials and scene seed. The plan is written to
`plan.json` before any work starts; `--resume` reuses it, so a resumed run does exactly the same work.
"""

from __future__ import annotations

import dataclasses
import glob
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.pipeline.config import PipelineConfig, relative_to

PLAN_VERSION = 1
_CMU_STEM = re.compile(r"^(\d+)_(\d+)")
SPLITS = ("train", "val", "test")


@dataclass
class Source:
    id: str  # "builtin/walk", "cmu/02_01", "clip/<stem>"
    kind: str  # "builtin" | "clip"
    subject: str  # split unit: "builtin/walk", "cmu/02", "clip/<stem>"
    path: str = ""  # clip file (kind "clip")


@dataclass
class SequencePlan:
    index: int
    id: str  # "seq000012"
    split: str
    seed: int  # the sequence's own seed (cloth, anything stochastic downstream)
    source_a: str  # Source.id of X
    source_b: str  # Source.id of Y
    frame_i: int  # X's frame
    frame_j: int  # Y's frame
    distance: float  # max D
    outfit: list = field(default_factory=list)  # garment types
    materials: list = field(default_factory=list)  # one material per garment
    scene_seed: int = 0


@dataclass
class Plan:
    version: int
    seed: int
    n_seq: int
    config_digest: str
    sources: list[Source]
    splits: dict  # subject -> split
    sequences: list[SequencePlan]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        return cls(
            version=d["version"], seed=d["seed"], n_seq=d["n_seq"], config_digest=d["config_digest"],
            sources=[Source(**s) for s in d["sources"]], splits=dict(d["splits"]),
            sequences=[SequencePlan(**s) for s in d["sequences"]],
        )  # fmt: skip


def derived_seed(seed: int, *keys: int) -> int:
    """A 31-bit seed for a (purpose, index) key: independent streams from one master seed."""
    return int(np.random.SeedSequence([int(seed), *keys]).generate_state(1)[0] & 0x7FFFFFFF)


def _subject_of(stem: str) -> tuple[str, str]:
    m = _CMU_STEM.match(stem)
    if m:
        return f"cmu/{stem}", f"cmu/{int(m.group(1)):02d}"
    return f"clip/{stem}", f"clip/{stem}"


def resolve_sources(cfg: PipelineConfig, base_dir: str | Path | None = None) -> list[Source]:
    """Expand `motion.sources` into concrete sources (sorted, deduplicated)."""
    from synth.mocap.builtin import BUILTIN_MOTIONS
    from synth.paths import shared_assets_dir

    out: dict[str, Source] = {}
    for spec in cfg.motion.sources:
        spec = str(spec)
        if spec.startswith("builtin:"):
            name = spec.split(":", 1)[1]
            names = BUILTIN_MOTIONS if name in ("*", "") else [name]
            for n in names:
                if n not in BUILTIN_MOTIONS:
                    raise SynthError(f"unknown built-in motion {n!r} in motion.sources",
                                     fix=f"choose from {', '.join(BUILTIN_MOTIONS)}")  # fmt: skip
                out[f"builtin/{n}"] = Source(f"builtin/{n}", "builtin", f"builtin/{n}")
            continue
        if spec.startswith("shared:"):
            root = shared_assets_dir()
            if root is None:
                raise SynthError(f"motion source {spec!r} needs the shared assets",
                                 fix="set SYNTH_ASSETS to the assets folder (see assets_manifest/cmu_mocap.yaml)")  # fmt: skip
            pattern = str(root / spec.split(":", 1)[1])
        else:
            pattern = relative_to(spec, base_dir)
        files = sorted(f for f in glob.glob(pattern) if Path(f).suffix.lower() in (".bvh", ".amc", ".npz"))
        if not files:
            raise SynthError(f"motion source {spec!r} matches no .bvh/.amc/.npz file", path=pattern,
                             fix="fix motion.sources in the config, or see assets_manifest/cmu_mocap.yaml")  # fmt: skip
        for f in files:
            sid, subject = _subject_of(Path(f).stem)
            out[sid] = Source(sid, "clip", subject, str(Path(f).resolve()))
    if not out:
        raise SynthError("motion.sources is empty", fix="add 'builtin:*' or clip paths to motion.sources")
    return [out[k] for k in sorted(out)]


def assign_splits(subjects: list[str], fractions: dict, seed: int) -> dict[str, str]:
    """Shuffle subjects with the seed and cut by fractions; every split with a positive fraction
    gets at least one subject when there are enough subjects (train gets the rest)."""
    subjects = sorted(set(subjects))
    for k in fractions:
        if k not in SPLITS:
            raise SynthError(f"unknown split {k!r} in shards.splits", fix="use train, val and test")
    rng = np.random.default_rng(derived_seed(seed, 1))
    order = [subjects[k] for k in rng.permutation(len(subjects))]
    n = len(order)
    active = [s for s in SPLITS if fractions.get(s, 0) > 0] or ["train"]
    counts = {s: int(np.floor(fractions.get(s, 0) * n)) for s in active}
    if n >= len(active):
        for s in active:
            counts[s] = max(counts[s], 1)
    while sum(counts.values()) > n:
        big = max(active, key=lambda s: counts[s])
        counts[big] -= 1
    counts[active[0]] += n - sum(counts.values())
    out, k = {}, 0
    for s in active:
        for subj in order[k : k + counts[s]]:
            out[subj] = s
        k += counts[s]
    return out


def allot(n: int, weights: dict[str, float]) -> dict[str, int]:
    """Largest-remainder allocation of n items over weighted keys (ties: key order)."""
    keys = [k for k, w in weights.items() if w > 0]
    if not keys:
        return {}
    total = sum(weights[k] for k in keys)
    raw = {k: n * weights[k] / total for k in keys}
    out = {k: int(np.floor(v)) for k, v in raw.items()}
    rest = sorted(keys, key=lambda k: (-(raw[k] - out[k]), keys.index(k)))
    for k in rest[: n - sum(out.values())]:
        out[k] += 1
    return out


def make_plan(cfg: PipelineConfig, sources: list[Source], sequences: dict[str, "object"]) -> Plan:
    """The plan for cfg.n_seq sequences. `sequences` maps Source.id -> MoshedSequence (for pairs)."""
    from synth.motion.pairs import most_contrasting_pair, select_pairs

    if cfg.n_seq < 1:
        raise SynthError("n_seq must be at least 1", fix="pass --n-seq N with N >= 1")
    seed = int(cfg.seed)
    splits = assign_splits([s.subject for s in sources], cfg.shards.splits, seed)
    pools = {sp: [s for s in sources if splits[s.subject] == sp] for sp in SPLITS}
    weights = {sp: float(cfg.shards.splits.get(sp, 0)) for sp in SPLITS if pools[sp]}
    counts = allot(cfg.n_seq, weights)
    if not cfg.cloth.outfits and cfg.cloth.enabled:
        raise SynthError("cloth.outfits is empty", fix="list at least one garment set, or set cloth.enabled: false")

    plans: list[SequencePlan] = []
    for sp_index, sp in enumerate(SPLITS):
        n = counts.get(sp, 0)
        if n == 0:
            continue
        pool = pools[sp]
        seqs = [sequences[s.id] for s in pool]
        if len(pool) >= 2:
            choices = select_pairs(seqs, n, derived_seed(seed, 2, sp_index), cfg.motion.pair_mode,
                                   include_root=cfg.motion.include_root)  # fmt: skip
        else:  # a lone subject: its own most contrasting frames
            c = most_contrasting_pair(seqs[0], seqs[0], include_root=cfg.motion.include_root)
            choices = [dataclasses.replace(c, a=0, b=0)]
        while len(choices) < n:  # fewer distinct pairs than sequences: reuse them (new scenes, clothes)
            choices = choices + choices[: n - len(choices)]
        for c in choices[:n]:
            plans.append(SequencePlan(
                index=-1, id="", split=sp, seed=0, source_a=pool[int(c.a)].id, source_b=pool[int(c.b)].id,
                frame_i=int(c.i), frame_j=int(c.j), distance=float(c.distance),
            ))  # fmt: skip
    for k, p in enumerate(plans):
        p.index, p.id = k, f"seq{k:06d}"
        p.seed = derived_seed(seed, 3, k)
        rng = np.random.default_rng(derived_seed(seed, 4, k))
        if cfg.cloth.enabled:
            p.outfit = list(cfg.cloth.outfits[int(rng.integers(len(cfg.cloth.outfits)))])
            p.materials = [str(cfg.cloth.materials[int(rng.integers(len(cfg.cloth.materials)))]) for _ in p.outfit]
        p.scene_seed = derived_seed(seed, 5, k)
    return Plan(PLAN_VERSION, seed, cfg.n_seq, cfg.digest(), sources, splits, plans)
