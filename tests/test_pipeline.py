"""Pipeline: config, deterministic plan, assets, reliability (resume after SIGKILL, retries,
failures, disk/asset checks) and the end-to-end `synth generate` -> validate -> inspect."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from synth.cli import main
from synth.errors import SynthError
from synth.pipeline.config import CONFIG_DIR, PipelineConfig, config_from_dict, config_to_yaml, load_config
from synth.pipeline.plan import allot, assign_splits, make_plan, resolve_sources
from synth.pipeline.runner import generate, prepare_sources

ROOT = Path(__file__).resolve().parent.parent


def test_default_yaml_is_the_dataclass_defaults_and_documents_everything():
    text = (CONFIG_DIR / "default.yaml").read_text()
    assert text == config_to_yaml(PipelineConfig()), "regenerate: python -c 'from synth.pipeline.config import *; ...'"
    assert load_config("default") == PipelineConfig()
    # every leaf setting has a comment line above it
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if ":" in line and not line.lstrip().startswith("#") and not line.rstrip().endswith(":") and "# " not in line:
            assert lines[k - 1].lstrip().startswith("# "), line


def test_config_overrides_and_errors(tmp_path):
    cfg = load_config("ci")
    assert cfg.n_seq == 2 and cfg.render.resolution == 64 and cfg.render.num_cameras == 4
    assert cfg.motion.fps == 30.0  # untouched default
    bad = tmp_path / "bad.yaml"
    bad.write_text("render:\n  resolutoin: 10\n")
    with pytest.raises(SynthError, match="resolutoin") as e:
        load_config(bad)
    assert "bad.yaml" in str(e.value) and "resolution" in str(e.value)
    bad.write_text("render:\n  samples: lots\n")
    with pytest.raises(SynthError, match="should be int"):
        load_config(bad)
    assert config_from_dict({"render": {"focal_mm": 50}}).render.focal_mm == 50.0
    assert cfg.digest() != PipelineConfig().digest()
    c2 = load_config("ci")
    c2.run.workers = 7  # execution settings do not change the dataset
    assert c2.digest() == cfg.digest()


def test_split_assignment_and_allotment():
    subjects = [f"cmu/{k:02d}" for k in range(10)]
    s = assign_splits(subjects, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)
    assert sorted(s) == subjects and sorted(s.values()).count("train") == 8
    assert set(s.values()) == {"train", "val", "test"}
    assert assign_splits(subjects, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=0) == s
    assert assign_splits(subjects, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=1) != s
    assert assign_splits(["a"], {"train": 0.8, "val": 0.2}, 0) == {"a": "train"}
    assert allot(4, {"train": 0.8, "val": 0.1, "test": 0.1}) == {"train": 3, "val": 1, "test": 0}
    assert sum(allot(17, {"train": 0.7, "val": 0.2, "test": 0.1}).values()) == 17


def test_plan_is_deterministic_and_splits_by_subject(tmp_path):
    cfg = PipelineConfig(n_seq=10)
    sources = resolve_sources(cfg)
    seqs = prepare_sources(tmp_path, sources, cfg)
    plan = make_plan(cfg, sources, seqs)
    again = make_plan(cfg, sources, prepare_sources(tmp_path, sources, cfg))
    assert plan.to_dict() == again.to_dict()
    assert [s.id for s in plan.sequences] == [f"seq{k:06d}" for k in range(10)]
    for s in plan.sequences:
        subj = {plan.splits[f"{x}"] for x in (s.source_a, s.source_b)}
        assert subj == {s.split}  # both sources of a sequence come from its split's subjects
        assert 0 <= s.frame_i < seqs[s.source_a].num_frames and s.distance > 0
        assert len(s.outfit) == len(s.materials) >= 1
    assert len({s.seed for s in plan.sequences}) == 10 and len({s.scene_seed for s in plan.sequences}) == 10
    cfg2 = dataclasses.replace(cfg, seed=1)
    other = make_plan(cfg2, sources, seqs)
    assert [s.scene_seed for s in other.sequences] != [s.scene_seed for s in plan.sequences]
    # the plan's pair is the most contrasting one of the two sources
    from synth.motion.pairs import most_contrasting_pair

    s = plan.sequences[0]
    c = most_contrasting_pair(seqs[s.source_a], seqs[s.source_b])
    assert (c.i, c.j) == (s.frame_i, s.frame_j)


def test_clip_sources_resolve_with_subjects(tmp_path):
    from synth.paths import shared_assets_dir

    if shared_assets_dir() is None:
        pytest.skip("shared assets not present")
    cfg = config_from_dict({"motion": {"sources": ["shared:motion/cmu_bvh/*.bvh", "builtin:walk"]}})
    src = resolve_sources(cfg)
    assert {s.subject for s in src} == {"cmu/02", "cmu/05", "cmu/131", "builtin/walk"}
    assert [s.id for s in src if s.subject == "cmu/131"] == ["cmu/131_01", "cmu/131_02", "cmu/131_03"]
    with pytest.raises(SynthError, match="matches no"):
        resolve_sources(config_from_dict({"motion": {"sources": [str(tmp_path / "*.bvh")]}}))


def test_assets_manifests_and_check(tmp_path, capsys):
    from synth.pipeline.assets import MANIFEST_KEYS, load_manifests

    ms = {m["name"]: m for m in load_manifests()}
    for need in ("smpl", "cmu_mocap", "hdri_polyhaven", "places365", "dtd", "fabrics", "embedded_body",
                 "builtin_motions", "blender_hdris", "procedural_fabrics"):
        assert need in ms and all(k in ms[need] for k in MANIFEST_KEYS)
    assert main(["assets", "check"]) == 0
    assert "embedded_body" in capsys.readouterr().out
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"render:\n  hdri_dir: {tmp_path / 'nope'}\n")
    assert main(["assets", "check", "--config", str(cfg)]) == 1
    assert "MISSING" in capsys.readouterr().out


def test_generate_stops_early_with_clear_messages(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"render:\n  hdri_dir: {tmp_path / 'no_hdris'}\n")
    assert main(["generate", "--out", str(tmp_path / "o1"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no_hdris" in err and "hdri_polyhaven.yaml" in err
    cfg.write_text("run:\n  min_free_gb: 1000000000.0\n")
    assert main(["generate", "--out", str(tmp_path / "o2"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "free on the output disk" in err and "--resume" in err
    with pytest.raises(SynthError, match="already holds"):
        (tmp_path / "o3").mkdir()
        (tmp_path / "o3" / "plan.json").write_text(json.dumps({"version": 1, "seed": 0, "n_seq": 2, "config_digest": "x",
                                                               "sources": [], "splits": {}, "sequences": []}))
        generate(tmp_path / "o3", PipelineConfig())
    with pytest.raises(SynthError, match="different settings"):
        generate(tmp_path / "o3", PipelineConfig(), resume=True)
