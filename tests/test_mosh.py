"""MoSh fit against the real body model (the `body` fixture): joints-only model vs the body's own
joints, round trip on known SMPL poses, real CMU clips, joint limits, cache, CLI preview."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.cli import main as synth_main
from synth.mocap import load_clip
from synth.mocap.builtin import builtin_motion
from synth.mocap.clip import MocapClip
from synth.mosh.correspondence import SMPL_JOINT_NAMES
from synth.mosh.fit import FitSettings, clip_targets, fit_joints, mosh_clip
from synth.mosh.joints import JointModel
from synth.mosh.limits import limit_excess_deg
from synth.mosh.sequence import MoshedSequence
from synth.paths import shared_assets_dir

CMU = (shared_assets_dir() or Path("/nonexistent")) / "motion" / "cmu_bvh"
needs_cmu = pytest.mark.skipif(not CMU.is_dir(), reason="shared CMU BVH clips not present")


@pytest.fixture(scope="module")
def joint_model(body):
    torch.set_num_threads(1)
    return JointModel.from_body(body)


def _body_joints(body, betas, poses, trans) -> np.ndarray:
    """(T,24,3) joints of the real body model (float64)."""
    T = len(poses)
    with torch.no_grad():
        out = body(torch.as_tensor(np.asarray(betas, np.float32)).reshape(1, 10).expand(T, 10),
                   torch.as_tensor(np.asarray(poses, np.float32)), torch.as_tensor(np.asarray(trans, np.float32)))  # fmt: skip
    return out.joints[:, :24].double().numpy()


def _angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import roma

    Ra = roma.rotvec_to_rotmat(torch.as_tensor(a, dtype=torch.float64).reshape(-1, 24, 3))
    Rb = roma.rotvec_to_rotmat(torch.as_tensor(b, dtype=torch.float64).reshape(-1, 24, 3))
    return np.degrees(roma.rotmat_geodesic_distance(Ra, Rb).numpy())


def test_joint_model_matches_body_joints(body, joint_model):
    """The joints-only FK the fit runs on equals the body model's own joints (any beta, pose)."""
    import roma

    seq = builtin_motion("dance", seconds=0.5)
    betas = np.linspace(-1.5, 1.5, 10)
    ref = _body_joints(body, betas, seq.poses, seq.trans)
    fk = joint_model.torch_fk(dtype=torch.float64)
    R = roma.rotvec_to_rotmat(torch.as_tensor(seq.poses, dtype=torch.float64).reshape(-1, 24, 3))
    P, _ = fk(torch.as_tensor(betas), R, torch.as_tensor(seq.trans, dtype=torch.float64))
    np.testing.assert_allclose(P.numpy(), ref, atol=2e-5)  # float32 body vs float64 FK


def test_round_trip_known_poses(body, joint_model, tmp_path):
    """Known SMPL poses -> the body's joints -> fit -> poses: joints within 5 mm (with offsets)
    and 20 mm (SMPL's own joints), beta recovered, median rotation error of the fully observed
    joints under 6 degrees (twists no joint observes are excluded)."""
    truth = builtin_motion("run", fps=30.0, seconds=2.0)
    betas = np.array([0.8, -0.5, 0.3, 0, 0, 0, 0, 0, 0, 0])
    joints = _body_joints(body, betas, truth.poses, truth.trans)
    clip = MocapClip("test/run", list(SMPL_JOINT_NAMES), joint_model.parents, joints, 30.0)
    seq = mosh_clip(clip, body, fps=30.0, cache_dir=tmp_path)
    assert seq.num_frames == truth.num_frames and seq.body_model == body.identifier
    assert seq.fit_error_mm.mean() < 5.0
    fitted = _body_joints(body, seq.betas, seq.poses, seq.trans)
    assert np.linalg.norm(fitted - joints, axis=-1).mean() < 0.02
    assert np.abs(seq.betas[:3] - betas[:3]).max() < 0.5
    angle = _angles_deg(truth.poses, seq.poses)
    observed = [0, 1, 2, 3, 4, 5, 6, 9, 12]  # pelvis, hips, spine, knees, neck
    assert np.median(angle[:, observed]) < 6.0, np.median(angle[:, observed], 0)


@needs_cmu
def test_mosh_real_clip_and_cache(body, tmp_path):
    clip = load_clip(CMU / "02_01_walk.bvh")
    clip.positions = clip.positions[:240]  # 2 s at 120 Hz
    seq = mosh_clip(clip, body, fps=30.0, cache_dir=tmp_path)
    assert seq.num_frames == 60 and seq.fps == 30.0
    assert seq.fit_error_mm.mean() < 20.0 and np.percentile(seq.fit_error_mm, 95) < 30.0
    assert np.isfinite(seq.poses).all() and np.abs(seq.betas).max() <= 4
    assert len(list(tmp_path.glob("*.npz"))) == 1
    t = time.perf_counter()
    again = mosh_clip(clip, body, fps=30.0, cache_dir=tmp_path)
    assert time.perf_counter() - t < 0.5  # a cache read, no fit
    np.testing.assert_array_equal(again.poses, seq.poses)
    mosh_clip(clip, body, fps=24.0, cache_dir=tmp_path)  # other settings: new entry
    assert len(list(tmp_path.glob("*.npz"))) == 2


@needs_cmu
def test_joint_limits_soft_penalty_on_real_clip(joint_model):
    """The soft limits (synth/mosh/limits.py) cut how far fitted CMU poses go beyond the project's
    joint limits, at almost no cost in joint error."""
    clip = load_clip(CMU / "131_03.bvh")
    idx, w, seg, Y = clip_targets(clip, 30.0, joint_model.parents)
    on = fit_joints(joint_model, idx, seg, w, Y)
    off = fit_joints(joint_model, idx, seg, w, Y, FitSettings(w_limit=0.0))
    excess_on = limit_excess_deg(on.poses.reshape(-1, 24, 3)).sum(1).mean()
    excess_off = limit_excess_deg(off.poses.reshape(-1, 24, 3)).sum(1).mean()
    assert excess_off > 0.1 and excess_on < 0.2 * excess_off, (excess_on, excess_off)
    assert on.error_mm.mean() < min(20.0, 1.05 * off.error_mm.mean())


@needs_cmu
def test_cli_mosh_with_preview(tmp_path):
    out, png = tmp_path / "walk.npz", tmp_path / "walk.png"
    rc = synth_main(["mosh", str(CMU / "02_01_walk.bvh"), "--out", str(out), "--preview", str(png)])
    assert rc == 0 and png.stat().st_size > 10_000
    seq = MoshedSequence.load(out)
    assert seq.num_frames == 86 and seq.fit_error_mm.mean() < 20.0  # 343 frames at 120 Hz -> 30 fps
