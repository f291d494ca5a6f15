"""Mocap glitch repair (synth/mosh/glitches.py): synthetic spikes put into real-looking motion are
found, only they are re-interpolated, fast real motion is left alone, and the MoSh cache records
the repaired frames."""

from pathlib import Path

import numpy as np
import pytest

from synth.mocap import load_clip
from synth.mocap.builtin import BUILTIN_MOTIONS, builtin_motion
from synth.mocap.clip import MocapClip
from synth.mosh.correspondence import SMPL_JOINT_NAMES
from synth.mosh.fit import mosh_clip
from synth.mosh.glitches import find_glitches, frame_ranges, repair_glitches
from synth.mosh.joints import JointModel
from synth.motion.skeleton import Skeleton
from synth.paths import shared_assets_dir
from synth.sequence import MoshedSequence

R_HIP, R_KNEE, L_SHOULDER, L_ELBOW = 2, 5, 16, 18
CMU = (shared_assets_dir() or Path("/nonexistent")) / "motion" / "cmu_bvh"
needs_cmu = pytest.mark.skipif(not CMU.is_dir(), reason="shared CMU BVH clips not present")


def _speeds(seq: MoshedSequence, jm: JointModel) -> np.ndarray:
    """(T-1,24) joint speeds, m/s."""
    J = Skeleton(joint_model=jm).joints(seq.poses, seq.betas, seq.trans)
    return np.linalg.norm(np.diff(J, axis=0), axis=-1) * seq.fps


def _glitched(clean: MoshedSequence) -> MoshedSequence:
    """`clean` with three mocap-style glitches: the right thigh swung 60 deg about its own axis for
    frame 40 (the knee jumps out and back), the left upper arm 70 deg for frames 80-81, and the
    whole body 0.3 m sideways for frame 120."""
    from scipy.spatial.transform import Rotation

    poses = clean.poses.reshape(-1, 24, 3).astype(np.float64).copy()
    trans = clean.trans.astype(np.float64).copy()
    for frames, joint, rotvec in (([40], R_HIP, [0, 1.05, 0]), ([80, 81], L_SHOULDER, [0, 0, 1.22])):
        for t in frames:
            poses[t, joint] = (Rotation.from_rotvec(poses[t, joint]) * Rotation.from_rotvec(rotvec)).as_rotvec()
    trans[120, 0] += 0.3
    return MoshedSequence(poses.reshape(-1, 72), clean.betas, trans, clean.fps, source="test/glitched")


def test_built_in_motions_have_no_glitches(joint_model):
    """Kicks, jumps and runs reach 9-11 m/s at the feet over many frames: not glitches."""
    for name in BUILTIN_MOTIONS:
        seq = builtin_motion(name, fps=30.0)
        J = Skeleton(joint_model=joint_model).joints(seq.poses, seq.betas, seq.trans)
        assert find_glitches(J, seq.fps) == [], name
    assert _speeds(builtin_motion("kick", fps=30.0), joint_model).max() > 9.0  # the guard is not vacuous


def test_synthetic_spikes_are_found_and_slerped(joint_model):
    clean = builtin_motion("walk", fps=30.0, seconds=5.0)
    bad = _glitched(clean)
    assert _speeds(bad, joint_model).max() > 8.0  # the spikes are there
    fixed, found = repair_glitches(bad, joint_model)
    assert frame_ranges(fixed.repaired) == [[39, 42], [79, 83], [119, 122]]  # each glitch and a frame each side
    by_start = {g.start + 1: g for g in found}
    assert 0 in by_start[120].joints and L_ELBOW in by_start[80].joints
    # Only the frames and joints a glitch moved are touched: the twisted thigh, the swung upper arm,
    # the root translation
    assert np.flatnonzero(by_start[40].replaced).tolist() == [R_HIP]
    assert np.flatnonzero(by_start[80].replaced).tolist() == [L_SHOULDER]
    assert not by_start[120].replaced.any()
    moved = np.zeros((bad.num_frames, 24), bool)
    moved[39:42, R_HIP] = moved[79:83, L_SHOULDER] = True
    before, after = bad.poses.reshape(-1, 24, 3), fixed.poses.reshape(-1, 24, 3)
    np.testing.assert_array_equal(after[~moved], before[~moved])
    np.testing.assert_array_equal(np.delete(fixed.trans, [119, 120, 121], 0), np.delete(bad.trans, [119, 120, 121], 0))
    # ... and those come back close to the motion before the glitch (a walk is smooth over 2-3 frames)
    J = Skeleton(joint_model=joint_model)
    err = np.linalg.norm(
        J.joints(fixed.poses, fixed.betas, fixed.trans) - J.joints(clean.poses, clean.betas, clean.trans), axis=-1
    )
    assert err.max() < 0.03, err.max(1)[[40, 80, 81, 120]]
    assert _speeds(fixed, joint_model).max() < _speeds(clean, joint_model).max() + 0.5
    assert repair_glitches(fixed, joint_model)[1] == []  # nothing left to find


def test_a_jump_that_never_comes_back_is_spread(joint_model):
    """A joint that moves to a new track for good (no way to tell which side is right) is
    spread over enough frames to keep it under the jump speed."""
    seq = builtin_motion("squat", fps=30.0, seconds=4.0)
    trans = seq.trans.astype(np.float64).copy()
    trans[60:, 2] += 0.4  # 12 m/s for one frame, then on the new track
    step = MoshedSequence(seq.poses, seq.betas, trans, seq.fps)
    fixed, found = repair_glitches(step, joint_model)
    assert len(found) == 1 and found[0].start <= 60 <= found[0].stop
    assert 4 <= fixed.repaired.sum() <= 6
    assert _speeds(fixed, joint_model).max() < 4.5


def test_mosh_cache_records_the_repaired_frames(body, joint_model, tmp_path):
    """A clip whose knee jumps 0.45 m sideways for one frame (the fit follows it at about 8 m/s, the
    knee's own speed there is 1.5 m/s): the repair takes it out, and the cached fit says which frame
    it was."""
    truth = builtin_motion("walk", fps=30.0, seconds=3.0)
    joints = Skeleton(joint_model=joint_model).joints(truth.poses, truth.betas, truth.trans)
    joints[45, R_KNEE, 0] -= 0.45
    clip = MocapClip("test/knee_glitch", list(SMPL_JOINT_NAMES), joint_model.parents, joints, 30.0)
    seq = mosh_clip(clip, body, fps=30.0, cache_dir=tmp_path)
    assert frame_ranges(seq.repaired) == [[44, 47]]
    assert _speeds(seq, joint_model)[:, R_KNEE].max() < 4.0
    (cached,) = tmp_path.glob("*.npz")
    np.testing.assert_array_equal(MoshedSequence.load(cached).repaired, seq.repaired)


@needs_cmu
def test_shared_cmu_clips_only_the_dance_has_glitches(body, joint_model, tmp_path):
    """Real mocap: the dance's knee swaps (docs/BENCHMARKS.md) are found and taken out; the walk and
    the three 131 clips (fast arm and leg motion up to 9.5 m/s) are left as they are."""
    for path in sorted(CMU.glob("*.bvh")):
        seq = mosh_clip(load_clip(path, body=body), body, fps=30.0, cache_dir=tmp_path)
        ranges = frame_ranges(seq.repaired)
        if path.stem == "05_06_dance":
            assert len(ranges) == 4 and 28 <= ranges[0][0] and ranges[-1][1] <= 51, ranges
            assert _speeds(seq, joint_model)[25:55, R_KNEE].max() < 4.0
        else:
            assert ranges == [], (path.stem, ranges)
