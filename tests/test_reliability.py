"""A run that is wrong fails loudly and early (issue 16): non-finite shards, two runs in one folder,
corrupt assets, bad motion files, absurd MoSh fits, orphaned children, file modes, previews."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import alive, wait_gone

from synth.cli import main
from synth.errors import SynthError
from synth.paths import shared_assets_dir

ROOT = Path(__file__).resolve().parent.parent
CMU_WALK = "motion/cmu_bvh/02_01_walk.bvh"


def _assets() -> Path:
    root = shared_assets_dir()
    if root is None:
        pytest.skip("../shared/assets not present")
    return root


def _no_traceback(capsys, *words: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(w in err for w in words), err
    return err


# ---------------------------------------------------------------- 1. validate checks every value


@pytest.fixture(scope="module")
def toy_shard(tmp_path_factory, body) -> Path:
    """One contract-exact sample (real body model and annotation code), 3 frames at 32 px."""
    from train.toydata import write_toy_shards

    out = tmp_path_factory.mktemp("toy")
    (path,) = write_toy_shards(out, body, sequences=1, cameras=1, frames=3, size=32, test_sequences=0)
    return path


def _edit_sample(src: Path, dst: Path, member: str, **changes) -> Path:
    """Copy shard `src` to `dst` with arrays of one npz member replaced (None deletes the member)."""
    from synth.shards.encode import load_npz_bytes, npz_bytes
    from synth.shards.tario import read_tar, write_tar

    members = []
    for name, data in read_tar(src):
        if name.endswith("." + member):
            if changes.get("_delete"):
                continue
            arrays = dict(load_npz_bytes(data))
            for k, fn in changes.items():
                arrays[k] = fn(arrays[k].copy())
            data = npz_bytes(**arrays)
        members.append((name, data))
    write_tar(dst, members)
    return dst


def _set(index, value):
    def fn(a):
        a[index] = value
        return a

    return fn


@pytest.mark.parametrize(
    "member,change,words",
    [
        ("smpl.npz", {"poses_cam": _set(1, np.nan)}, ("poses_cam", "non-finite", "index (1, 0)")),
        ("joints.npz", {"j3d_cam": _set((2, 5, 1), np.inf)}, ("j3d_cam", "non-finite")),
        ("smpl.npz", {"betas": _set((0, 3), 1e3)}, ("betas", "plausible")),
        ("smpl.npz", {"poses": _set((0, 9), 1e30), "poses_cam": _set((0, 9), 1e30)}, ("poses", "joint rotation")),
    ],
    ids=["nan-poses_cam", "inf-j3d_cam", "huge-beta", "huge-pose"],
)
def test_validate_refuses_non_finite_and_implausible_values(toy_shard, tmp_path, member, change, words):
    from synth.shards.validate import validate_dir

    assert validate_dir(toy_shard).ok, validate_dir(toy_shard).errors
    bad = _edit_sample(toy_shard, tmp_path / "train-000000.tar", member, **change)
    rep = validate_dir(bad)
    assert not rep.ok
    assert any(all(w in e for w in words) for e in rep.errors), rep.errors


# ---------------------------------------------------------------- 2. one run per output folder


_HOLD = (
    "import sys, time; from synth.pipeline.lock import output_lock\nwith output_lock(sys.argv[1]):\n"
    "    print('held', flush=True); time.sleep(120)\n"
)


def test_second_run_into_a_locked_folder_is_refused_naming_the_holder(tmp_path, capsys):
    from synth.pipeline.lock import output_lock

    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["generate", "--out", str(out), "--config", "ci"]) == 2
        _no_traceback(capsys, str(out), f"pid {holder.pid}", "another run")
        assert not (out / "plan.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder died without releasing anything: its lock is gone with it
    with output_lock(out):
        assert json.loads((out / ".synth.lock").read_text())["pid"] == os.getpid()


def test_lock_is_released_when_the_run_fails(tmp_path):
    from synth.pipeline.config import PipelineConfig
    from synth.pipeline.lock import output_lock
    from synth.pipeline.runner import generate

    cfg = PipelineConfig()
    cfg.run.min_free_gb = 1e12  # fails inside the locked run
    with pytest.raises(SynthError, match="free on the output disk"):
        generate(tmp_path / "out", cfg)
    with output_lock(tmp_path / "out"):
        pass


# ---------------------------------------------------------------- 3. corrupt assets


def test_preflight_names_undecodable_assets_and_caches_the_result(tmp_path, capsys):
    from synth.scene.render_assets import undecodable

    assets = _assets()
    hdris, textures = tmp_path / "hdri", tmp_path / "tex"
    hdris.mkdir()
    textures.mkdir()
    (hdris / "good.exr").write_bytes((assets / "hdri" / "city.exr").read_bytes())
    (hdris / "noise.exr").write_bytes(np.random.default_rng(0).bytes(4096))
    jpg = (assets / "textures" / "Marble01_col.jpg").read_bytes()
    (textures / "cut_col.jpg").write_bytes(jpg[: len(jpg) // 3])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"render: {{hdri_dir: {hdris}, texture_dir: {textures}}}\n")
    out = tmp_path / "out"
    assert main(["generate", "--out", str(out), "--config", str(cfg)]) == 2
    _no_traceback(capsys, "noise.exr", "hdri_dir", "1 of 2")
    assert not (out / "plan.json").exists()
    (hdris / "noise.exr").unlink()
    assert main(["generate", "--out", str(out), "--config", str(cfg)]) == 2
    _no_traceback(capsys, "cut_col.jpg", "texture_dir")
    # cached by path, size and mtime: a file replaced in place is decoded again
    good = [str(hdris / "good.exr")]
    assert undecodable(good) == []
    (hdris / "good.exr").write_bytes(b"\x76\x2f\x31\x01" + b"\0" * 100)
    assert [p for p, _ in undecodable(good)] == [str((hdris / "good.exr").resolve())]


def test_magenta_placeholder_signature():
    from PIL import Image

    from synth.scene.runner import MAGENTA_MAX_SHARE, PLACEHOLDER_GARMENT_SHARE, magenta_share

    for photo in sorted((_assets() / "backgrounds").iterdir()):  # natural photos: none
        assert magenta_share(np.asarray(Image.open(photo).convert("RGB"))) < MAGENTA_MAX_SHARE / 10, photo.name
    img = np.asarray(Image.open(_assets() / "backgrounds" / "skimage_coffee.png").convert("RGB")).copy()
    shade = np.linspace(0.3, 1.0, 100)[:, None, None]
    img[:100, :100] = np.clip(shade * np.array([255, 0, 255]) + 10 * shade, 0, 255).astype(np.uint8)
    patch = 100 * 100 / (img.shape[0] * img.shape[1])  # a shaded placeholder patch: 4 % of the frame
    assert magenta_share(img) >= 0.99 * patch > MAGENTA_MAX_SHARE
    # pixels of a placeholder fabric lit in a real render (specular light adds green), and of real fabrics
    placeholder = np.array(
        [[255, 131, 255], [255, 89, 255], [255, 51, 255], [255, 36, 255], [144, 20, 180], [215, 31, 231]]
    )
    assert magenta_share(placeholder, lit=True) > PLACEHOLDER_GARMENT_SHARE and magenta_share(placeholder) < 0.5
    for tex in ("Marble01_col.jpg", "Concrete07_col.jpg"):
        pixels = np.asarray(Image.open(_assets() / "textures" / tex).convert("RGB").resize((256, 256))).reshape(-1, 3)
        assert magenta_share(pixels, lit=True) < 0.01, tex


def test_rendered_frame_with_the_placeholder_fails(tmp_path):
    from PIL import Image

    from synth.scene.runner import check_frames

    frames = tmp_path / "frames" / "cam0"
    frames.mkdir(parents=True)
    ok = np.full((32, 32, 3), 120, np.uint8)
    Image.fromarray(ok).save(frames / "0000.png")
    bad = ok.copy()
    bad[8:24, 8:24] = (200, 0, 190)
    Image.fromarray(bad).save(frames / "0001.png")
    job = {"num_frames": 1, "job": {"cameras": [{}], "garments": []}}
    check_frames(tmp_path, job)
    with pytest.raises(SynthError, match="magenta") as err:
        check_frames(tmp_path, {**job, "num_frames": 2})
    assert "0001.png" in str(err.value)


@pytest.mark.slow
def test_blender_refuses_an_undecodable_hdri(tmp_path, body):
    from synth.scene import run_render, sample_scene, write_render_job
    from synth.scene.demo import demo_subject

    verts, _, faces, garments = demo_subject(body, "walk", [0])
    spec = sample_scene(0, {"resolution": 32, "samples": 1, "background": "hdri", "num_cameras": 1, "passes": []})
    noise = tmp_path / "noise.exr"
    noise.write_bytes(np.random.default_rng(1).bytes(4096))
    spec.background["path"] = str(noise)
    job = write_render_job(tmp_path / "job", spec, verts, faces, [])
    with pytest.raises(SynthError, match="cannot decode HDRI") as err:
        run_render(job)
    assert "noise.exr" in str(err.value)
    assert not (job / "frames" / "cam0" / "0000.png").exists()
    spec = sample_scene(0, {"resolution": 32, "samples": 1, "background": "hdri", "num_cameras": 1, "passes": []})
    (tmp_path / "cut.png").write_bytes((_assets() / "backgrounds" / "skimage_coffee.png").read_bytes()[:30000])
    spec.garment_materials[0] = {
        "kind": "image",
        "path": str(tmp_path / "cut.png"),
        "tint": [1, 1, 1],
        "scale": 2.0,
        "rotation": 0.0,
        "roughness": 0.8,
    }
    job = write_render_job(tmp_path / "job2", spec, verts, faces, garments[:1])
    with pytest.raises(SynthError, match="cannot decode fabric texture") as err:
        run_render(job)
    assert "cut.png" in str(err.value)


# ---------------------------------------------------------------- 5. one clear line instead of a traceback


def _amass(path: Path, **over) -> Path:
    data = {"poses": np.zeros((4, 72)), "trans": np.zeros((4, 3)), "betas": np.zeros(10), "mocap_framerate": 60.0}
    data.update(over)
    np.savez(path, **data)
    return path


@pytest.mark.parametrize(
    "over,words",
    [
        ({"poses": np.full((4, 72), np.nan)}, "non-finite value in poses"),
        ({"poses": np.full((4, 72), 1e30)}, "poses value 1e+30"),
        ({"betas": np.full(10, np.nan)}, "betas"),
        ({"betas": np.full(10, 1e3)}, "within +-5"),
        ({"mocap_framerate": np.array([30.0, 60.0])}, "mocap_framerate must be one number"),
        ({"mocap_framerate": "fast"}, "mocap_framerate must be one number"),
        ({"mocap_framerate": 0.0}, "is not a frame rate"),
    ],
    ids=["nan-poses", "huge-poses", "nan-betas", "huge-betas", "array-rate", "string-rate", "zero-rate"],
)
def test_bad_amass_npz_is_one_clear_error(tmp_path, over, words):
    from synth.mocap import load_amass

    path = _amass(tmp_path / "clip.npz", **over)
    with pytest.raises(SynthError, match=words.replace("+", r"\+")) as err:
        load_amass(path)
    assert "clip.npz" in str(err.value)


def test_npz_that_is_not_a_zip_and_cli_format(tmp_path, capsys):
    for name, data in (
        ("text.npz", b"hello, not a zip" * 8),
        ("pk.npz", b"PK\x03\x04" + b"x" * 64),
        ("empty.npz", b""),
    ):
        (tmp_path / name).write_bytes(data)
        assert main(["mosh", str(tmp_path / name), "--out", str(tmp_path / "o.npz")]) == 2
        _no_traceback(capsys, name, "not a readable .npz")


def test_mosh_out_directory_is_refused_before_the_fit(tmp_path, capsys):
    assert main(["mosh", str(_assets() / CMU_WALK), "--out", str(tmp_path)]) == 2
    _no_traceback(capsys, str(tmp_path), "--out is a folder")


def test_generate_out_that_cannot_be_a_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["generate", "--out", str(tmp_path / "file"), "--config", "ci"]) == 2
    _no_traceback(capsys, "existing file")
    assert main(["generate", "--out", str(tmp_path / "file" / "below"), "--config", "ci"]) == 2
    _no_traceback(capsys, "a parent of --out is a file")


def _as_user_without_rights(scratch: Path, *args: str) -> subprocess.CompletedProcess:
    """`synth ARGS` as an unprivileged user (root may write into any folder), or as ourselves when
    we are not root; numba caches its kernels in `scratch` (the checkout is not that user's)."""
    cmd = [sys.executable, "-m", "synth.cli", *args]
    if os.geteuid() == 0:
        import shutil

        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME="/nonexistent", NUMBA_CACHE_DIR=str(scratch))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_generate_out_read_only(tmp_path):
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="synth-ro-"))  # pytest's tmp_path is private to its user
    try:
        top.chmod(0o755)
        (top / "numba").mkdir(mode=0o777)
        (top / "numba").chmod(0o777)
        ro = top / "ro"
        ro.mkdir(mode=0o555)
        ro.chmod(0o555)
        for out, words in ((ro / "out", "cannot create the output folder"), (ro, "not writable")):
            r = _as_user_without_rights(top / "numba", "generate", "--out", str(out), "--config", "ci")
            assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        import shutil

        shutil.rmtree(top)


def test_inspect_names_a_missing_member(toy_shard, tmp_path, capsys):
    bad = _edit_sample(toy_shard, tmp_path / "train-000000.tar", "joints.npz", _delete=True)
    assert main(["inspect", str(bad), "--out", str(tmp_path / "pics")]) == 2
    _no_traceback(capsys, "seq000000_c0.joints.npz", "train-000000.tar")


# ---------------------------------------------------------------- 6. absurd clips


def _bvh(tmp_path: Path, frames_line: int, rows: int, travel: float = 0.0) -> Path:
    """The shared CMU walk cut to `rows` data lines, header saying `frames_line`, the root's height
    moved by `travel` CMU units per frame."""
    lines = (_assets() / CMU_WALK).read_text().splitlines()
    start = lines.index("MOTION")
    data = []
    for k, row in enumerate(lines[start + 3 : start + 3 + rows]):
        v = row.split()
        v[1] = repr(float(v[1]) + travel * (k + 1))
        data.append(" ".join(v))
    path = tmp_path / "clip.bvh"
    path.write_text("\n".join(lines[: start + 1] + [f"Frames: {frames_line}", lines[start + 2]] + data) + "\n")
    return path


def test_bvh_header_and_data_frame_counts_must_agree(tmp_path):
    from synth.mocap import load_bvh

    with pytest.raises(SynthError, match="header says 10 frames, data has 40") as err:
        load_bvh(_bvh(tmp_path, 10, 40))
    assert "clip.bvh" in str(err.value)
    assert load_bvh(_bvh(tmp_path, 12, 12)).positions.shape[0] == 12


def test_absurd_mosh_fit_is_refused_naming_the_clip(tmp_path, body):
    from synth.mocap import load_clip
    from synth.mosh.fit import MAX_MEAN_FIT_ERROR_MM, mosh_clip, require_good_fit

    path = _bvh(tmp_path, 12, 12, travel=1e20)  # the root jumps by ~6e18 m a frame
    seq = mosh_clip(load_clip(path), body, cache_dir=tmp_path / "mosh")
    assert seq.fit_error_mm.mean() > MAX_MEAN_FIT_ERROR_MM
    with pytest.raises(SynthError, match="MoSh fit of .* is off by") as err:
        require_good_fit(seq, path)
    assert "clip.bvh" in str(err.value) and "50 mm" in str(err.value)
    good = mosh_clip(load_clip(_bvh(tmp_path, 12, 12)), body, cache_dir=tmp_path / "mosh")
    assert require_good_fit(good, path) is good


def test_lone_asf_says_its_amc_is_missing(tmp_path):
    from synth.mocap import load_clip

    asf = tmp_path / "07.asf"
    asf.write_text(":version 1.10\n:name VICON\n")
    with pytest.raises(SynthError, match=r"\.amc motion is missing") as err:
        load_clip(asf)
    assert "07.asf" in str(err.value) and "07_NN.amc" in str(err.value)


# ---------------------------------------------------------------- 8. children die with the parent


_PARENT = """
import multiprocessing as mp, os, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from synth.pipeline.runner import _worker_init
from synth.process import child_preexec

if __name__ == "__main__":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=child_preexec())
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(1, os.getpid())) as pool:
        futures = [pool.submit(time.sleep, 120) for _ in range(2)]
        time.sleep(1.0)
        print(" ".join(str(p) for p in [child.pid, *pool._processes]), flush=True)
        time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_workers_and_render_processes_die_with_a_killed_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(_PARENT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 3 and all(alive(p) for p in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert wait_gone(pids) == [], "children outlived their killed parent"


# ---------------------------------------------------------------- 10. file modes follow the umask


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode):
    from synth.io import save_json_atomic, save_npz_atomic
    from synth.shards.tario import write_tar

    old = os.umask(umask)
    try:
        save_json_atomic(tmp_path / "a.json", {"x": 1})
        save_npz_atomic(tmp_path / "b.npz", x=np.zeros(2))
        write_tar(tmp_path / "train-000000.tar", [("k.meta.json", b"{}")])
    finally:
        os.umask(old)
    for name in ("a.json", "b.npz", "train-000000.tar"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


# ---------------------------------------------------------------- 11. the preview follows the subject


def test_simulate_preview_shows_a_travelling_body_in_every_frame(tmp_path, body):
    from PIL import Image

    from synth.cloth.commands import write_preview

    T = 5
    rest = body.rest_vertices(np.zeros(10))
    frames = np.stack([rest + np.array([3.0 * t, 0.0, 0.5 * t]) for t in range(T)])  # 3 m a frame
    write_preview(tmp_path / "p.png", frames, np.asarray(body.faces), [], n=T)
    img = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).astype(int)
    pad, tile = 4, (img.shape[1] - 4) // T - 4
    for t in range(T):
        x = pad + t * (tile + pad)
        body_px = (np.abs(img[18:, x : x + tile] - 255).sum(-1) > 30).mean()
        assert body_px > 0.03, f"frame {t}: body covers {body_px:.1%} of its tile"
