"""The dataset card (`dataset_card.json` + `dataset_card.md`): what is in the shards and where it
came from: counts per split, config, seeds, sources, asset provenance and licences, code version."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np

from synth.io import atomic_path, save_json_atomic
from synth.paths import PROJECT_ROOT
from synth.scene.lighting import LIGHT_RATIO, MAX_RAISE_STOPS


def code_version() -> dict:
    """The package version always; the git commit only when the package runs from a checkout (an installed
    wheel inside some other repository must not report that repository's commit)."""
    import synth

    info = {"synth": synth.__version__, "commit": None, "dirty": None, "source": "installed package"}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != PROJECT_ROOT:
            return info
        info["commit"] = git("rev-parse", "HEAD")
        info["dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
        info["source"] = "git checkout"
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def build_card(out: Path, plan, cfg, shards: list, missing: list[str], repairs: dict | None = None) -> dict:
    """The card's content; `repairs` = {source id: repaired [start, stop) frame ranges} (mocap glitches
    re-interpolated by synth/mosh/glitches.py)."""
    from synth.pipeline.asset_manifests import assets_used
    from synth.shards.reader import iter_samples

    per_split = {s: {"sequences": 0, "samples": 0, "frames": 0, "shards": 0} for s in ("train", "val", "test")}
    body_models: Counter = Counter()
    garments: Counter = Counter()
    kinds: Counter = Counter()
    segments: dict = {}
    legends: dict = {}
    passes: dict = {}
    scenes: list[dict] = []
    for info in shards:
        per_split[info.split]["shards"] += 1
    seen = set()
    if shards:
        for _key, files in iter_samples(out, decode=False):
            meta = json.loads(files["meta.json"])
            sp = per_split[meta["split"]]
            sp["samples"] += 1
            sp["frames"] += int(meta["num_frames"])
            if meta["sequence"] not in seen:
                seen.add(meta["sequence"])
                sp["sequences"] += 1
                body_models[meta.get("body_model", "")] += 1
                kinds[meta.get("kind", "transition")] += 1
                segments[meta["sequence"]] = meta.get("segments", [])
                for label, name in (meta.get("seg_legend") or {}).items():
                    legends.setdefault(name, label)
                passes.update(meta.get("passes") or {})
                scenes.append(meta.get("scene", {}))
                for g in meta.get("garments", []):
                    garments[f"{g['type']}/{g['material']}"] += 1
    subjects = {s: sorted(k for k, v in plan.splits.items() if v == s) for s in ("train", "val", "test")}
    return {
        "name": out.name,
        "format": "WebDataset tar shards; sample contract in docs/ARCHITECTURE.md",
        "shards": [{"name": i.name, "split": i.split, "samples": i.samples, "bytes": i.bytes} for i in shards],
        "counts": per_split,
        "total": {k: sum(v[k] for v in per_split.values()) for k in ("sequences", "samples", "frames", "shards")},
        "planned_sequences": len(plan.sequences),
        "missing_sequences": missing,
        "seed": plan.seed,
        "config_digest": plan.config_digest,
        "config": cfg.to_dict(),
        "split_subjects": subjects,
        "sources": [s.__dict__ for s in plan.sources],
        "mocap_repairs": repairs or {},
        "sequences": [
            {
                "id": s.id,
                "split": s.split,
                "kind": s.kind,
                "seed": s.seed,
                "scene_seed": s.scene_seed,
                "source_windows": _windows(s),
                "segments": segments.get(s.id, []),
                "pair": [s.source_a, s.frame_i, s.source_b, s.frame_j, round(s.distance, 4)]
                if s.kind == "transition"
                else None,
                "outfit": s.outfit,
                "materials": s.materials,
            }
            for s in plan.sequences
        ],
        "kinds": dict(kinds),
        "passes": passes,
        "seg_labels": {name: int(label) for name, label in sorted(legends.items(), key=lambda kv: int(kv[1]))},
        "body_models": dict(body_models),
        "garments": dict(garments),
        "people": people_distribution(scenes),
        "backgrounds": background_distribution(scenes),
        "lighting": lighting_distribution(scenes),
        "assets": assets_used(cfg, plan),
        "code": code_version(),
        "units": "metres, seconds, radians; annotations in the SMPL world (Y up) and OpenCV camera frames",
    }


def _windows(s) -> list[dict]:
    """The source frames a planned sequence shows: [{"source", "frames": [start, stop)}]."""
    out = [{"source": s.source_a, "frames": list(s.window_a)}] if s.window_a else []
    if s.kind == "transition" and s.window_b:
        out.append({"source": s.source_b, "frames": list(s.window_b)})
    return out


def _bins(
    values: list[float], edges=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), sep: str = "-", fmt: str = ".1f"
) -> dict[str, int]:
    """Counts of `values` per bin between `edges` (the outer bins take what lies beyond)."""
    out = {f"{a:{fmt}}{sep}{b:{fmt}}": 0 for a, b in zip(edges[:-1], edges[1:])}
    for v in values:
        k = min(max(int(np.searchsorted(edges, v, side="right")) - 1, 0), len(out) - 1)
        out[list(out)[k]] += 1
    return out


def _parting(x: float) -> str:
    return "centre" if abs(x) < 1e-3 else ("right" if x > 0 else "left")


def people_distribution(scenes: list[dict]) -> dict[str, dict[str, int]]:
    """Per sequence counts of the scene's people choices (meta.json `scene`): hair style, parting,
    facial hair, shoes, and bins of skin tone (0 light .. 1 dark), hair melanin and iris tone."""
    hair = [s["hair"] for s in scenes if s.get("hair")]
    return {
        "hair style": dict(Counter(h["style"] for h in hair)),
        "hair parting": dict(Counter(_parting(h.get("parting", 0.0)) for h in hair)),
        "facial hair": dict(Counter(h.get("facial", "none") for h in hair)),
        "shoes": dict(Counter(s["shoes"]["type"] for s in scenes if s.get("shoes"))),
        "skin tone": _bins([s["skin"]["tone"] for s in scenes if "tone" in s.get("skin", {})]),
        "hair melanin": _bins([h["melanin"] for h in hair]),
        "iris tone": _bins([s["eyes"]["iris_tone"] for s in scenes if s.get("eyes")]),
    }


STRENGTH_EDGES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, float("inf"))
EXPOSURE_EDGES = (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5)  # sampling.EXPOSURE_STOPS in fifths


def background_distribution(scenes: list[dict]) -> dict[str, dict[str, int]]:
    """Per sequence counts of the background draw (meta.json `scene.background`): its kind (an HDRI,
    a photo plate or a scene photo as a backdrop), which HDRI lights the scene, the seeded exposure
    (stops from the HDRI's normalised level) and the resulting world strength, and the photos used."""
    bgs = [s["background"] for s in scenes if s.get("background")]
    envs = [b if b.get("kind") == "hdri" else b.get("light", {}) for b in bgs]
    envs = [e for e in envs if e.get("path")]
    photos = [b for b in bgs if b.get("kind") == "photo"]

    def stem(path: str) -> str:
        return Path(path).stem if not path.startswith("builtin:") else path[len("builtin:") :].rsplit(".", 1)[0]

    def kind(b: dict) -> str:
        return "hdri" if b.get("kind") == "hdri" else f"photo {b.get('layout', 'backdrop')}"

    return {
        "background": dict(Counter(kind(b) for b in bgs)),
        "lighting HDRI": dict(Counter(stem(e["path"]) for e in envs)),
        "exposure (stops)": _bins([e.get("exposure", 0.0) for e in envs], EXPOSURE_EDGES, sep=" to "),
        "HDRI strength": _bins([float(e["strength"]) for e in envs], STRENGTH_EDGES, fmt="g"),
        "photo": dict(Counter(stem(b["path"]) for b in photos)),
        "plate ground": dict(Counter(stem(b["plate"]["ground"]) for b in photos if b.get("plate"))),
    }


RATIO_EDGES = tuple(np.linspace(*LIGHT_RATIO, 5))  # the drawn range in quarters
SHARE_EDGES = (0.0, 0.25, 0.5, 0.75, 1.0)
CARD_EDGES = (0.0, 80.0, 120.0, 160.0, 200.0, 255.0)  # display x 255; HDRI scenes hold the brightest card at 200
# stops; an HDRI scene is raised by at most MAX_RAISE_STOPS, a photo scene goes to the photo's own level
RAISE_EDGES = (-np.inf, -1.0, -0.5, 0.0, 0.5, MAX_RAISE_STOPS + 1e-6, np.inf)  # the cap itself in "0.5 to 1.0"


def lighting_distribution(scenes: list[dict]) -> dict[str, dict[str, int]]:
    """Per sequence counts of the lighting draw (meta.json `scene.lighting`, `lighting.balance`): the
    lights' drawn ratio to the HDRI's light on the subject, the HDRI's share of that light, the exposure
    applied to HDRI and lights together, and the predicted grey card's display level (camera mean)."""
    lit = [s["lighting"] for s in scenes if s.get("lighting")]
    return {
        "lights / HDRI ratio": _bins([r["ratio"] for r in lit], RATIO_EDGES, sep=" to ", fmt=".2f"),
        "HDRI share of the subject's light": _bins([r["hdri_share"] for r in lit], SHARE_EDGES, sep=" to ", fmt=".2f"),
        "exposure applied (stops)": _bins([r["scale_stops"] for r in lit], RAISE_EDGES, sep=" to "),
        "grey card /255 (camera mean)": _bins([r["card_mean"] for r in lit], CARD_EDGES, sep=" to ", fmt=".0f"),
        "lights filled in (boost > 1)": dict(Counter("yes" if r.get("fill_boost", 1) > 1 else "no" for r in lit)),
    }


def _distribution_table(title: str, dists: dict[str, dict], intro: str = "", sort: bool = False) -> list[str]:
    """A card section: a `choice | distribution` row per drawn choice, its bins in order (or sorted)."""
    lines = ["", f"## {title}", ""] + ([intro, ""] if intro else []) + ["| choice | distribution |", "| --- | --- |"]
    for name, counts in dists.items():
        items = sorted(counts.items()) if sort else counts.items()
        lines.append(f"| {name} | {', '.join(f'{k}: {v}' for k, v in items) or '-'} |")
    return lines


def card_markdown(card: dict) -> str:
    c = card["counts"]
    lines = [
        f"# Dataset card: {card['name']}",
        "",
        f"{card['format']}. Seed {card['seed']}, config `{card['config_digest']}`, "
        f"code synth {card['code']['synth']} ({card['code']['commit'] or card['code']['source']}"
        f"{', uncommitted changes' if card['code']['dirty'] else ''}).",
        "",
        "| split | sequences | samples | frames | shards | source subjects |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in ("train", "val", "test"):
        subj = ", ".join(card["split_subjects"][s]) or "-"
        lines.append(
            f"| {s} | {c[s]['sequences']} | {c[s]['samples']} | {c[s]['frames']} | {c[s]['shards']} | {subj} |"
        )
    t = card["total"]
    lines.append(f"| **total** | {t['sequences']} | {t['samples']} | {t['frames']} | {t['shards']} | |")
    lines += [
        "",
        f"Planned sequences: {card['planned_sequences']}; missing (failed or unfinished): "
        f"{', '.join(card['missing_sequences']) or 'none'}.",
        "",
    ]
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(card.get("kinds", {}).items())) or "none"
    lines += [
        "Splits are by source subject: no subject's motion appears in two splits.",
        "",
        f"Sequences in the shards by kind: {kinds} (original: a window of a source's own motion; transition: "
        "X's motion up to frame i, the interpolated frames, then Y's motion from frame j).",
        "",
    ]
    if card.get("passes"):
        lines += [
            f"Render passes in every sample: {', '.join(card['passes'])} (encodings in docs/ARCHITECTURE.md "
            "and each meta.json `passes`). Seg labels: "
            + ", ".join(f"{v} {k}" for k, v in card.get("seg_labels", {}).items())
            + ".",
            "",
        ]
    repairs = card.get("mocap_repairs") or {}
    lines += [
        "Mocap glitches repaired (a joint jumping for a frame or two and back, re-interpolated before use; "
        "meta.json `repaired` marks the frames): "
        + (
            "; ".join(f"{src} frames " + ", ".join(f"[{a}:{b})" for a, b in r) for src, r in repairs.items())
            if repairs
            else "none"
        )
        + ".",
        "",
    ]
    lines += [
        "## Sequences",
        "",
        "| id | split | kind | source frames [start, stop) | frames shown | pair (i -> j, max D) | outfit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in card["sequences"]:
        windows = " + ".join(f"{w['source']}[{w['frames'][0]}:{w['frames'][1]}]" for w in s.get("source_windows", []))
        pair = "-"
        if s.get("pair"):
            a, i, b, j, d = s["pair"]
            pair = f"{a}@{i} -> {b}@{j}, {d:.2f}"
        outfit = ", ".join(f"{g} ({m})" for g, m in zip(s["outfit"], s["materials"])) or "none"
        shown = ", ".join(f"{g['frames'][0]}:{g['frames'][1]} {g['kind']}" for g in s.get("segments", [])) or "-"
        lines.append(
            f"| {s['id']} | {s['split']} | {s.get('kind', 'transition')} | {windows or '-'} | {shown} | {pair} | {outfit} |"
        )
    lines += ["", "## Assets and licences", "", "| asset | used | licence | source |", "| --- | --- | --- | --- |"]
    for a in card["assets"]:
        lines.append(f"| {a['name']} | {a['used']} | {a['licence']} | {a['source']} |")
    lines += _distribution_table("People (per sequence)", card.get("people", {}), sort=True)
    lines += _distribution_table(
        "Backgrounds and exposure (per sequence)",
        card.get("backgrounds", {}),
        "HDRI strength: each HDRI's normalised level (its view band's median at the target, its darkest and "
        "brightest tenth held in a window, its light on the subject capped) times 2^exposure; a photo scene "
        "is lit by its HDRI, unseen.",
    )
    lines += _distribution_table(
        "Lighting (per sequence)",
        card.get("lighting", {}),
        "The four lights' power is a drawn ratio of the light the HDRI itself puts on the subject (the key "
        "turned to the HDRI's brightest side); one exposure scales both so that an 18 % grey card displays "
        "at >= 128 where at most 1 stop allows, and the brightest card stays under 200 (docs/ARCHITECTURE.md, "
        "`scene.lighting`).",
    )
    lines += ["", "## Body models", ""] + [f"- `{k}`: {v} sequences" for k, v in card["body_models"].items()]
    lines += [
        "",
        f"Units: {card['units']}.",
        "",
        "Full configuration: `dataset_card.json` (`config`) and `config.yaml`.",
    ]
    return "\n".join(lines) + "\n"


def write_dataset_card(
    out: str | Path, plan, cfg, shards: list, missing: list[str], repairs: dict | None = None
) -> dict:
    out = Path(out)
    card = build_card(out, plan, cfg, shards, missing, repairs)
    save_json_atomic(out / "dataset_card.json", card)
    with atomic_path(out / "dataset_card.md") as tmp:
        tmp.write_text(card_markdown(card))
    return card
