"""Every pipeline setting is checked against its range when the config is loaded, before any work,
with an error naming the file, the key and the allowed values (issue 16, item 4)."""

from __future__ import annotations

import pytest

from synth.cli import main
from synth.errors import SynthError
from synth.pipeline.config import PipelineConfig, config_from_dict, load_config, validate_config

# (YAML text, key the error must name, a word of the allowed range it must state)
BAD = [
    ("render: {resolution: 0}", "render.resolution", "16..4096"),
    ("render: {resolution: -64}", "render.resolution", "16..4096"),
    ("render: {resolution: 10000}", "render.resolution", "16..4096"),
    ("render: {samples: -1}", "render.samples", "1..65536"),
    ("render: {options: {fill: 5}}", "render.options", "fill (> 0 and <= 1)"),
    ("render: {options: {denoise: 3}}", "render.options", "denoise (a bool)"),
    ("render: {options: {zoom: 2}}", "render.options", "unknown key"),
    ("shards: {jpeg_quality: 0}", "shards.jpeg_quality", "1..100"),
    ("shards: {jpeg_quality: 500}", "shards.jpeg_quality", "1..100"),
    ("motion: {lead_in_frames: -3}", "motion.lead_in_frames", "0..10000"),
    ("shards: {splits: {train: 0, val: 0, test: 0}}", "shards.splits", "at least one fraction > 0"),
    ("shards: {splits: {train: 1.5}}", "shards.splits", "0..1"),
    ("shards: {splits: {holdout: 0.5}}", "shards.splits", "train, val, test"),
    ("render: {focal_mm: 0}", "render.focal_mm", "1..5000"),
    ("cloth: {substeps: 0}", "cloth.substeps", "1..1024"),
    ("shards: {image_format: bmp}", "shards.image_format", "jpg, png"),
    ("motion: {method: cubic}", "motion.method", "linear, slerp"),
    ("motion: {lead_in_pose: x}", "motion.lead_in_pose", "t, a"),
    ("motion: {min_frames: 30, max_frames: 10}", "motion.min_frames", "min_frames <= max_frames"),
    ("cloth: {options: {stiffness: 2}}", "cloth.options", "max_stretch"),
    ("run: {retries: -1}", "run.retries", "0..10"),
    ("motion: {fps: 0}", "motion.fps", "> 0"),
    ("cloth: {materials: []}", "cloth.materials", "at least 1 item"),
    ("cloth: {materials: [cotton, tweed]}", "cloth.materials", "jersey"),
    ("cloth: {outfits: [[tshirt, cape]]}", "cloth.outfits", "trousers"),
    ("cloth: {outfits: [[]]}", "cloth.outfits", "at least 1 item"),
    ("n_seq: null", "n_seq", "1..10000000"),
    ("n_seq: 0", "n_seq", "1..10000000"),
    ("n_seq: true", "n_seq", "1..10000000"),
    ("motion: {pair_mode: best}", "motion.pair_mode", "random, topk"),
    ("seed: -1", "seed", "0..4294967295"),
    ("render: {num_cameras: 5}", "render.num_cameras", "1..4"),
    ("render: {engine: luxcore}", "render.engine", "cycles, eevee"),
    ("render: {passes: [depth, albedo]}", "render.passes", "normals"),
    ("run: {workers: 0}", "run.workers", "1..1024"),
    ("motion: {sources: []}", "motion.sources", "at least 1 item"),
    ("motion: {sources: [3]}", "motion.sources", "a str"),
]


@pytest.mark.parametrize("text,key,allowed", BAD, ids=[b[0] for b in BAD])
def test_bad_setting_is_refused_with_file_key_and_range(tmp_path, text, key, allowed):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text + "\n")
    with pytest.raises(SynthError) as err:
        load_config(cfg)
    msg = str(err.value)
    assert str(cfg) in msg and f"'{key}'" in msg and allowed in msg, msg


def test_every_packaged_config_and_the_defaults_pass():
    validate_config(PipelineConfig())
    for name in ("default", "ci"):
        validate_config(load_config(name))
    # limits are inclusive, ints are accepted for floats
    assert (
        config_from_dict(
            {"render": {"resolution": 16, "focal_mm": 50}, "shards": {"jpeg_quality": 100}}
        ).render.focal_mm
        == 50.0
    )


def test_a_config_built_in_code_is_checked_before_the_run(tmp_path):
    from synth.pipeline.runner import generate

    cfg = PipelineConfig()
    cfg.cloth.substeps = 0
    with pytest.raises(SynthError, match="cloth.substeps"):
        generate(tmp_path / "out", cfg)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_generate_refuses_before_any_work(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("render: {resolution: 0}\n")
    out = tmp_path / "out"
    assert main(["generate", "--out", str(out), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "c.yaml" in err and "render.resolution" in err and "16..4096" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("flag,value", [("--seed", "-1"), ("--n-seq", "0"), ("--workers", "0"), ("--seed", "x")])
def test_cli_numbers_are_checked_by_the_parser(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as e:
        main(["generate", "--out", str(tmp_path / "o"), flag, value])
    assert e.value.code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_non_utf8_yaml_is_one_clear_error(tmp_path):
    cfg = tmp_path / "latin1.yaml"
    cfg.write_bytes("# caf\xe9\nn_seq: 2\n".encode("latin-1"))
    with pytest.raises(SynthError, match="not UTF-8") as err:
        load_config(cfg)
    assert "latin1.yaml" in str(err.value) and "0xe9" in str(err.value)


def test_asset_folders_resolve_against_the_config_file_like_motion_sources(tmp_path, monkeypatch):
    from synth.pipeline.plan import resolve_sources

    (tmp_path / "cfgs" / "hdris").mkdir(parents=True)
    (tmp_path / "cfgs" / "clips").mkdir()
    (tmp_path / "cfgs" / "clips" / "01_01.bvh").write_text("")  # resolved, not read
    cfg_file = tmp_path / "cfgs" / "c.yaml"
    cfg_file.write_text("render: {hdri_dir: hdris, photo_dir: ~/photos}\nmotion: {sources: [clips/*.bvh]}\n")
    monkeypatch.chdir(tmp_path)  # a different working directory must not matter
    cfg = load_config(cfg_file)
    assert cfg.render.hdri_dir == str(tmp_path / "cfgs" / "hdris")
    assert not cfg.render.photo_dir.startswith("~") and cfg.render.photo_dir.endswith("photos")
    assert [s.path for s in resolve_sources(cfg, cfg._source_dir)] == [str(tmp_path / "cfgs" / "clips" / "01_01.bvh")]
    # a config built in code keeps the working directory's meaning
    assert config_from_dict({"render": {"hdri_dir": "hdris"}}).render.hdri_dir == "hdris"
