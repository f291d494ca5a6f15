"""MoSh fit: round trip on known SMPL poses, real CMU clips, cache.

Uses the real body model (synth.body) when it is importable; otherwise a stand-in joints-only
model (SMPL-like rest joints with a linear shape space), which exercises the same fit code:
the fit only consumes the body's joints J(beta) and parents.
"""

import time

import numpy as np
import pytest
import torch

from synth.mocap import load_clip
from synth.mocap.builtin import builtin_motion
from synth.mocap.clip import MocapClip
from synth.mocap.kinematics import forward_kinematics, rotvec_to_matrix
from synth.mosh.correspondence import SMPL_JOINT_NAMES
from synth.mosh.fit import mosh_clip
from synth.mosh.joints import JointModel
from synth.paths import shared_assets_dir

CMU = (shared_assets_dir() or __import__("pathlib").Path("/nonexistent")) / "motion" / "cmu_bvh"


@pytest.fixture(scope="module")
def joint_model():
    torch.set_num_threads(1)
    try:
        from synth.body import load_body_model
    except ImportError:
        return JointModel.stand_in()
    return JointModel.from_body(load_body_model())


def _smpl_joints(model, betas, poses, trans):
    rest = model.rest_joints(betas)
    offsets = rest - rest[np.maximum(model.parents, 0)]
    offsets[0] = rest[0]
    R = rotvec_to_matrix(poses.reshape(len(poses), 24, 3).astype(float))
    return forward_kinematics(model.parents, offsets, R, trans.astype(float))[0]


def test_torch_fk_matches_numpy(joint_model):
    seq = builtin_motion("dance", seconds=0.5)
    betas = np.linspace(-1, 1, 10)
    ref = _smpl_joints(joint_model, betas, seq.poses, seq.trans)
    import roma

    fk = joint_model.torch_fk(dtype=torch.float64)
    R = roma.rotvec_to_rotmat(torch.as_tensor(seq.poses, dtype=torch.float64).reshape(-1, 24, 3))
    P, _ = fk(torch.as_tensor(betas), R, torch.as_tensor(seq.trans, dtype=torch.float64))
    np.testing.assert_allclose(P.numpy(), ref, atol=1e-9)


def test_round_trip_known_poses(joint_model, tmp_path):
    """Known SMPL poses -> SMPL joints -> fit: joints within 5 mm, non-leaf joint rotations
    within 6 degrees median (limb twists that no joint observes are excluded)."""
    truth = builtin_motion("run", fps=30.0, seconds=2.0)
    betas = np.array([0.8, -0.5, 0.3, 0, 0, 0, 0, 0, 0, 0])
    joints = _smpl_joints(joint_model, betas, truth.poses, truth.trans)
    clip = MocapClip("test/run", list(SMPL_JOINT_NAMES), joint_model.parents, joints, 30.0)
    seq = mosh_clip(clip, joint_model, fps=30.0, cache_dir=tmp_path)
    assert seq.num_frames == truth.num_frames
    assert seq.fit_error_mm.mean() < 5.0
    fitted = _smpl_joints(joint_model, seq.betas, seq.poses, seq.trans)
    assert np.linalg.norm(fitted - joints, axis=-1).mean() < 0.02  # raw joints, offsets off
    # global orientation of each segment: compare directions of bones (robust to twist)
    a = rotvec_to_matrix(truth.poses.reshape(-1, 24, 3).astype(float))
    b = rotvec_to_matrix(seq.poses.reshape(-1, 24, 3).astype(float))
    cos = np.clip((np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    angle = np.degrees(np.arccos(cos))
    body = [0, 1, 2, 3, 4, 5, 6, 9, 12]  # pelvis, hips, spine, knees, neck: fully observed
    assert np.median(angle[:, body]) < 6.0, np.median(angle[:, body], 0)


@pytest.mark.skipif(not CMU.is_dir(), reason="shared CMU BVH clips not present")
def test_mosh_real_clip_and_cache(joint_model, tmp_path):
    clip = load_clip(CMU / "02_01_walk.bvh")
    clip.positions = clip.positions[:240]  # 2 s
    seq = mosh_clip(clip, joint_model, fps=30.0, cache_dir=tmp_path)
    assert seq.num_frames == 60 and seq.fps == 30.0
    assert seq.fit_error_mm.mean() < 20.0 and np.percentile(seq.fit_error_mm, 95) < 30.0
    assert np.isfinite(seq.poses).all() and np.abs(seq.betas).max() <= 4
    assert len(list(tmp_path.glob("*.npz"))) == 1
    t = time.perf_counter()
    again = mosh_clip(clip, joint_model, fps=30.0, cache_dir=tmp_path)
    assert time.perf_counter() - t < 0.5  # a cache read, no fit
    np.testing.assert_array_equal(again.poses, seq.poses)
    mosh_clip(clip, joint_model, fps=24.0, cache_dir=tmp_path)  # other settings: new entry
    assert len(list(tmp_path.glob("*.npz"))) == 2
