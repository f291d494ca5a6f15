"""The deterministic plan: everything random about a dataset, decided up front from one seed.

Sources (built-in motions and clips) are resolved and their subjects assigned to train/val/test
(so no subject's motion leaks across splits) and sequences are allotted to splits. A sequence is
one of two kinds (`motion.original_fraction` of them originals, which ones drawn from the seed):

- `original`: a window of one source's own motion (length drawn from `motion.original_seconds`;
  each clip is cut into consecutive windows from a seeded start, so windows never overlap);
- `transition`: the most contrasting pair of frames (i, j) of two sources of the split
  (synth.motion.select_pairs), embedded in real motion: X's frames up to i (the context), the
  interpolated frames, then Y's frames from j (`motion.context_seconds` each side).

Each sequence gets its own seed, outfit, materials and scene seed. The plan is written to
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

PLAN_VERSION = 2
KINDS = ("original", "transition")
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
    source_a: str  # Source.id of X (an original's only source)
    source_b: str = ""  # Source.id of Y ("" for an original)
    frame_i: int = -1  # X's frame (transition; -1 for an original)
    frame_j: int = -1  # Y's frame (transition; -1 for an original)
    distance: float = 0.0  # max D (transition; 0 for an original)
    outfit: list = field(default_factory=list)  # garment types
    materials: list = field(default_factory=list)  # one material per garment
    scene_seed: int = 0
    kind: str = "transition"  # "original" | "transition" (plans of version 1 hold transitions only)
    window_a: list = field(default_factory=list)  # [start, stop) of X's frames shown (original: the window)
    window_b: list = field(default_factory=list)  # [start, stop) of Y's frames shown (transition only)


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
    def from_dict(cls, d: dict) -> Plan:
        return cls(
            version=d["version"],
            seed=d["seed"],
            n_seq=d["n_seq"],
            config_digest=d["config_digest"],
            sources=[Source(**s) for s in d["sources"]],
            splits=dict(d["splits"]),
            sequences=[SequencePlan(**s) for s in d["sequences"]],
        )


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
                    raise SynthError(
                        f"unknown built-in motion {n!r} in motion.sources",
                        fix=f"choose from {', '.join(BUILTIN_MOTIONS)}",
                    )
                out[f"builtin/{n}"] = Source(f"builtin/{n}", "builtin", f"builtin/{n}")
            continue
        if spec.startswith("shared:"):
            root = shared_assets_dir()
            if root is None:
                raise SynthError(
                    f"motion source {spec!r} needs the shared assets",
                    fix="set SYNTH_ASSETS to the assets folder (see assets_manifest/cmu_mocap.yaml)",
                )
            pattern = str(root / spec.split(":", 1)[1])
        else:
            pattern = relative_to(spec, base_dir)
        files = sorted(f for f in glob.glob(pattern) if Path(f).suffix.lower() in (".bvh", ".amc", ".npz"))
        if not files:
            raise SynthError(
                f"motion source {spec!r} matches no .bvh/.amc/.npz file",
                path=pattern,
                fix="fix motion.sources in the config, or see assets_manifest/cmu_mocap.yaml",
            )
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


def clip_windows(n_frames: int, min_frames: int, max_frames: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Non-overlapping [start, stop) windows of a clip of n_frames: lengths drawn in
    [min_frames, max_frames], laid end to end from a drawn start; a clip shorter than
    min_frames gives one window of all its frames."""
    if n_frames <= min_frames:
        return [(0, int(n_frames))]
    lengths: list[int] = []
    while sum(lengths) + min_frames <= n_frames:
        lengths.append(int(rng.integers(min_frames, max_frames + 1)))
    while sum(lengths) > n_frames:  # the last draw overran: shorten it, or drop it below the minimum
        over = sum(lengths) - n_frames
        if lengths[-1] - over >= min_frames:
            lengths[-1] -= over
        else:
            lengths.pop()
    start = int(rng.integers(0, n_frames - sum(lengths) + 1))
    out = []
    for n in lengths:
        out.append((start, start + n))
        start += n
    return out


def transition_windows(i: int, j: int, len_a: int, len_b: int, context: int) -> tuple[list, list]:
    """X's frames [i - c, i + 1) and Y's [j, j + c + 1) around a transition (c = context, cut at
    the clips' ends); X_i and Y_j themselves are the interpolation's first and last frames."""
    return [max(0, i - context), i + 1], [j, min(len_b, j + context + 1)]


def _kinds(n: int, fraction: float, rng: np.random.Generator) -> list[str]:
    """round(fraction * n) originals among n sequences, in a seeded order."""
    if not 0.0 <= fraction <= 1.0:
        raise SynthError(f"motion.original_fraction must be within [0, 1], got {fraction}", fix="fix the config")
    n_orig = int(np.floor(fraction * n + 0.5))
    kinds = np.array(["original"] * n_orig + ["transition"] * (n - n_orig))
    return [str(k) for k in kinds[rng.permutation(n)]]


def _original_choices(
    pool: list[Source], sequences: dict, cfg: PipelineConfig, seed: int, split_index: int, n: int
) -> list[tuple[int, tuple[int, int]]]:
    """n (pool index, window) picks: every window of every source of the pool in a seeded order
    (reused in that order, with new scenes and clothes, when the pool has fewer windows)."""
    lo, hi = (float(x) for x in cfg.motion.original_seconds)
    if not 0 < lo <= hi:
        raise SynthError(
            f"motion.original_seconds must be [min, max] with 0 < min <= max, got {[lo, hi]}", fix="fix the config"
        )
    windows = []
    for k, src in enumerate(pool):
        fps = float(sequences[src.id].fps)
        rng = np.random.default_rng(derived_seed(seed, 6, _stable_index(src.id)))
        w_lo, w_hi = max(2, int(round(lo * fps))), max(2, int(round(hi * fps)))
        windows += [(k, w) for w in clip_windows(sequences[src.id].num_frames, w_lo, w_hi, rng)]
    order = np.random.default_rng(derived_seed(seed, 8, split_index)).permutation(len(windows))
    return [windows[order[m % len(windows)]] for m in range(n)]


def _stable_index(source_id: str) -> int:
    """A number for a source id that does not depend on which other sources are configured."""
    import hashlib

    return int.from_bytes(hashlib.sha256(source_id.encode()).digest()[:4], "little")


def _transition_choices(
    pool: list[Source], sequences: dict, cfg: PipelineConfig, seed: int, split_index: int, n: int
) -> list:
    from synth.motion.pairs import most_contrasting_pair, select_pairs

    seqs = [sequences[s.id] for s in pool]
    if len(pool) >= 2:
        choices = select_pairs(
            seqs, n, derived_seed(seed, 2, split_index), cfg.motion.pair_mode, include_root=cfg.motion.include_root
        )
    else:  # a lone subject: its own most contrasting frames
        c = most_contrasting_pair(seqs[0], seqs[0], include_root=cfg.motion.include_root)
        choices = [dataclasses.replace(c, a=0, b=0)]
    while len(choices) < n:  # fewer distinct pairs than sequences: reuse them (new scenes, clothes)
        choices = choices + choices[: n - len(choices)]
    return choices[:n]


def draw_outfit(cloth, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """One of `cloth.outfits` and a material per garment from `cloth.materials`: a sequence's draw in the plan,
    and a person's on the people contact sheet (synth.scene.contact.draped_person)."""
    outfit = list(cloth.outfits[int(rng.integers(len(cloth.outfits)))])
    return outfit, [str(cloth.materials[int(rng.integers(len(cloth.materials)))]) for _ in outfit]


def make_plan(cfg: PipelineConfig, sources: list[Source], sequences: dict[str, object]) -> Plan:
    """The plan for cfg.n_seq sequences. `sequences` maps Source.id -> MoshedSequence (for pairs
    and windows)."""
    if cfg.n_seq < 1:
        raise SynthError("n_seq must be at least 1", fix="pass --n-seq N with N >= 1")
    seed = int(cfg.seed)
    splits = assign_splits([s.subject for s in sources], cfg.shards.splits, seed)
    pools = {sp: [s for s in sources if splits[s.subject] == sp] for sp in SPLITS}
    weights = {sp: float(cfg.shards.splits.get(sp, 0)) for sp in SPLITS if pools[sp]}
    counts = allot(cfg.n_seq, weights)
    if not cfg.cloth.outfits and cfg.cloth.enabled:
        raise SynthError("cloth.outfits is empty", fix="list at least one garment set, or set cloth.enabled: false")
    kinds = _kinds(cfg.n_seq, float(cfg.motion.original_fraction), np.random.default_rng(derived_seed(seed, 7)))
    context = max(0, int(round(float(cfg.motion.context_seconds) * float(cfg.motion.fps))))

    plans: list[SequencePlan] = []
    for sp_index, sp in enumerate(SPLITS):
        n = counts.get(sp, 0)
        if n == 0:
            continue
        pool = pools[sp]
        split_kinds = kinds[len(plans) : len(plans) + n]
        originals = iter(_original_choices(pool, sequences, cfg, seed, sp_index, split_kinds.count("original")))
        transitions = iter(_transition_choices(pool, sequences, cfg, seed, sp_index, split_kinds.count("transition")))
        for kind in split_kinds:
            if kind == "original":
                k, (start, stop) = next(originals)
                pick = {"source_a": pool[k].id, "window_a": [start, stop]}
            else:
                c = next(transitions)
                a, b = pool[int(c.a)], pool[int(c.b)]
                wa, wb = transition_windows(
                    int(c.i), int(c.j), sequences[a.id].num_frames, sequences[b.id].num_frames, context
                )
                pick = {
                    "source_a": a.id,
                    "source_b": b.id,
                    "frame_i": int(c.i),
                    "frame_j": int(c.j),
                    "distance": float(c.distance),
                    "window_a": wa,
                    "window_b": wb,
                }
            # index, id and seed are numbered below, once every split's sequences are in order
            plans.append(SequencePlan(index=-1, id="", split=sp, seed=0, kind=kind, **pick))
    for k, p in enumerate(plans):
        p.index, p.id = k, f"seq{k:06d}"
        p.seed = derived_seed(seed, 3, k)
        rng = np.random.default_rng(derived_seed(seed, 4, k))
        if cfg.cloth.enabled:
            p.outfit, p.materials = draw_outfit(cfg.cloth, rng)
        p.scene_seed = derived_seed(seed, 5, k)
    return Plan(PLAN_VERSION, seed, cfg.n_seq, cfg.digest(), sources, splits, plans)
