"""Mocap readers on the real shared CMU clips and on small files written here."""

import numpy as np
import pytest

from synth.errors import SynthError
from synth.mocap import load_amass, load_clip
from synth.mocap.builtin import BUILTIN_MOTIONS, builtin_motion
from synth.mocap.clip import CMU_CANONICAL, canonical_names, detect_naming
from synth.mocap.kinematics import euler_to_matrix
from synth.paths import shared_assets_dir

CMU = (shared_assets_dir() or __import__("pathlib").Path("/nonexistent")) / "motion" / "cmu_bvh"
needs_cmu = pytest.mark.skipif(not CMU.is_dir(), reason="shared CMU BVH clips not present")


def _bone(clip, a, b):
    names = canonical_names(clip.joint_names)
    ia, ib = names.index(a), names.index(b)
    return np.linalg.norm(clip.positions[:, ib] - clip.positions[:, ia], axis=-1)


@needs_cmu
@pytest.mark.parametrize("name,naming", [("02_01_walk", "motionbuilder"), ("131_01", "3dsmax")])
def test_real_bvh_both_namings(name, naming):
    clip = load_clip(CMU / f"{name}.bvh")
    assert detect_naming(clip.joint_names) == naming
    assert sorted(n for n in canonical_names(clip.joint_names)) == sorted(CMU_CANONICAL)
    assert clip.positions.shape[1:] == (31, 3) and clip.fps == 120.0
    for a, b in [("lfemur", "ltibia"), ("rtibia", "rfoot"), ("lhumerus", "lradius")]:
        length = _bone(clip, a, b)
        assert 0.22 < length.mean() < 0.5, (a, b, length.mean())
        assert length.std() < 1e-6  # rigid bones
    head = canonical_names(clip.joint_names).index("head")
    toe = canonical_names(clip.joint_names).index("ltoes")
    height = clip.positions[:, head, 1] - clip.positions[:, toe, 1]
    assert 1.2 < np.median(height) < 1.8  # Y up, metres
    assert abs(np.percentile(clip.positions[:, toe, 1], 5)) < 0.1  # feet near the floor


BVH = """HIERARCHY
ROOT Hips
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition {order}
  JOINT LeftUpLeg
  {{
    OFFSET 10 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {{
      OFFSET 0 -40 0
    }}
  }}
  JOINT Chest
  {{
    OFFSET 0 50 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT Head
    {{
      OFFSET 0 60 0
      CHANNELS 3 Zrotation Yrotation Xrotation
    }}
  }}
}}
MOTION
Frames: {frames}
Frame Time: 0.04
{rows}"""


def _bvh(tmp_path, rows, order="Xrotation Yrotation Zrotation", frames=None, name="t.bvh"):
    path = tmp_path / name
    text = BVH.format(order=order, frames=len(rows) if frames is None else frames, rows="\n".join(rows))
    path.write_text(text + "\n")
    return path


def test_bvh_channel_order_and_units(tmp_path):
    rows = ["0 100 0 30 20 10 0 0 0 0 0 0 0 0 0", "5 100 0 0 0 0 0 0 0 0 0 0 0 0 0"]
    clip = load_clip(_bvh(tmp_path, rows))
    assert clip.fps == 25.0
    R = euler_to_matrix(np.deg2rad([30, 20, 10]), "xyz")  # listed order X, Y, Z
    scale = 0.01  # a 110-unit-tall body is read as centimetres
    np.testing.assert_allclose(clip.positions[0, 1], (R @ [10, 0, 0] + [0, 100, 0]) * scale, atol=1e-9)
    np.testing.assert_allclose(clip.positions[1, 0], [0.05, 1.0, 0], atol=1e-9)


@pytest.mark.parametrize(
    "rows,frames,match",
    [
        (
            ["0 1 0 0 0 0 0 0 0 0 0 0 0 0 0", "0 1 0 0 0 0 0 0 0 0 0 0 0 0"],
            None,
            r"line 30: expected 15 channel values",
        ),
        (["0 1 0 0 0 0 0 0 0 0 0 0 0 0 0"], 3, r"line 29: file is truncated"),
        (["0 1 0 0 0 0 0 0 0 0 0 0 0 0 0", "0 1 nan 0 0 0 0 0 0 0 0 0 0 0 0"], None, r"line 30: non-finite"),
        ([], 0, r"line 27: Frames is 0"),
    ],
)
def test_bvh_bad_input_names_file_and_line(tmp_path, rows, frames, match):
    path = _bvh(tmp_path, rows, frames=frames, name="bad.bvh")
    with pytest.raises(SynthError, match=match) as info:
        load_clip(path)
    assert "bad.bvh" in str(info.value)


def test_bvh_bad_hierarchy(tmp_path):
    path = tmp_path / "h.bvh"
    path.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n  CHANNELS 3 Xrotation\n}\n")
    with pytest.raises(SynthError, match=r"h.bvh: line 5: expected a number"):
        load_clip(path)


ASF = """# test skeleton
:version 1.10
:name test
:units
  mass 1.0
  length 0.45
  angle deg
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name lfemur
    direction 0 -1 0
    length 7
    axis 0 0 0 XYZ
    dof rx ry rz
  end
  begin
    id 2
    name ltibia
    direction 0 -1 0
    length 7
    axis 0 0 90 XYZ
    dof rx
  end
:hierarchy
  begin
    root lfemur
    lfemur ltibia
  end
"""


def test_asf_amc_forward_kinematics_and_errors(tmp_path):
    (tmp_path / "01.asf").write_text(ASF)
    amc = tmp_path / "01_01.amc"
    amc.write_text(
        ":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 20 0 0 0 0\nlfemur 0 0 0\nltibia 0\n"
        "2\nroot 0 20 0 0 0 0\nlfemur -90 0 0\nltibia 0\n"
        "3\nroot 0 20 0 0 0 0\nlfemur 0 0 0\nltibia 90\n"
    )
    clip = load_clip(amc)
    unit = 0.0254 / 0.45
    assert clip.joint_names == ["root", "lfemur", "ltibia"] and clip.fps == 120.0
    np.testing.assert_allclose(clip.positions[0, 2], [0, 13 * unit, 0], atol=1e-9)  # knee below hip
    # rx = -90 deg swings the thigh forward (+z) with the knee
    np.testing.assert_allclose(clip.positions[1, 2], [0, 20 * unit, 7 * unit], atol=1e-9)
    # ltibia's dof rx is about its local x, which the axis (z = 90 deg) turns onto world y:
    # a bone along -y rotating about y stays put, so the ankle is not part of the clip; the
    # tibia start (knee) is unchanged too
    np.testing.assert_allclose(clip.positions[2, 2], clip.positions[0, 2], atol=1e-9)
    bad = tmp_path / "01_02.amc"
    bad.write_text("1\nroot 0 20 0 0 0 0\nlfemur 0 0\nltibia 0\n")
    with pytest.raises(SynthError, match=r"01_02.amc: line 3: expected 3 values, found 2"):
        load_clip(bad)
    bad.write_text("1\nroot 0 20 0 0 0 0\nlfemur 0 0 0\nltibia 0\n2\nroot 0 20 0 0 0 0\n")
    with pytest.raises(SynthError, match=r"line 5: frame 2 lacks bones"):
        load_clip(bad)
    bad.write_text(":DEGREES\n")
    with pytest.raises(SynthError, match="zero frame"):
        load_clip(bad)


def test_amass_npz_is_read_as_smpl_and_turned_y_up(tmp_path):
    T = 4
    poses = np.zeros((T, 156))
    poses[:, 66:] = 0.3  # SMPL-H finger values must not leak into SMPL's hand joints
    trans = np.stack([np.zeros(T), np.arange(T) * 0.1, np.ones(T)], 1)  # moving along +y, 1 m up (z)
    path = tmp_path / "a.npz"
    np.savez(path, poses=poses, trans=trans, betas=np.ones(16), mocap_framerate=60.0, gender="female")
    seq = load_amass(path)
    assert seq.fps == 60.0 and seq.gender == "female" and np.all(seq.betas == 1)
    assert np.all(seq.poses[:, 66:] == 0)
    up = seq.trans[:, 1] - seq.trans[0, 1]
    np.testing.assert_allclose(up, 0, atol=1e-6)  # Z up became Y up: height constant
    np.testing.assert_allclose(np.diff(seq.trans[:, 2]), -0.1, atol=1e-6)  # AMASS +y -> SMPL -z
    np.savez(path, poses=poses[:, :50], trans=trans, mocap_framerate=60.0)
    with pytest.raises(SynthError, match="a.npz: poses has shape"):
        load_amass(path)


def test_builtin_motions():
    assert len(BUILTIN_MOTIONS) >= 8
    for name in BUILTIN_MOTIONS:
        seq = builtin_motion(name, fps=30.0, seconds=2.0)
        assert seq.num_frames == 60 and seq.source == f"builtin/{name}"
        assert np.isfinite(seq.poses).all() and np.abs(seq.poses).max() < np.pi
        assert np.abs(np.diff(seq.poses, axis=0)).max() < 0.6  # smooth at 30 fps
    walk = builtin_motion("walk", seconds=3.0)
    assert 3.0 < np.linalg.norm(walk.trans[-1] - walk.trans[0]) < 4.5  # ~1.25 m/s
    jump = builtin_motion("jump")
    assert np.ptp(jump.trans[:, 1]) > 0.3
    with pytest.raises(SynthError, match="unknown built-in motion"):
        builtin_motion("moonwalk")


def test_bvh_rotations_are_the_joints_global_rotations(tmp_path):
    """Rotations carried by the clip: each joint's global rotation, which turns its children's
    rest offsets into the observed bone vectors; slerped by resampled_rotations."""
    rows = ["0 100 0 30 20 10 0 0 40 0 0 0 0 0 0", "5 100 0 0 0 0 0 0 0 0 0 0 0 0 0"]
    clip = load_clip(_bvh(tmp_path, rows))
    R = euler_to_matrix(np.deg2rad([30, 20, 10]), "xyz")
    assert clip.rotations.shape == (2, 4, 3, 3)
    np.testing.assert_allclose(clip.rotations[0, 0], R, atol=1e-12)
    np.testing.assert_allclose(clip.rotations[0, 1], R @ euler_to_matrix(np.deg2rad([0, 0, 40]), "zyx"), atol=1e-12)
    bone = clip.positions[0, 2] - clip.positions[0, 0]  # Chest's OFFSET (0, 50, 0) cm, turned by the root
    np.testing.assert_allclose(bone, clip.rotations[0, 0] @ [0, 0.5, 0], atol=1e-12)
    mid = clip.resampled_rotations(50.0)[1]  # halfway between the two frames
    from scipy.spatial.transform import Rotation

    half = Rotation.from_matrix(R).magnitude() / 2
    assert abs(Rotation.from_matrix(mid[0]).magnitude() - half) < 1e-9
    assert clip.resampled(50.0).shape[0] == clip.resampled_rotations(50.0).shape[0] == 3


def test_asf_amc_rotations(tmp_path):
    (tmp_path / "01.asf").write_text(ASF)
    amc = tmp_path / "01_01.amc"
    amc.write_text(":DEGREES\n1\nroot 0 20 0 0 0 0\nlfemur -90 0 0\nltibia 90\n")
    clip = load_clip(amc)
    thigh = clip.rotations[0, 1]
    np.testing.assert_allclose(thigh @ [0, -1, 0], [0, 0, 1], atol=1e-12)  # swung forward, as the positions
    # ltibia's rx turns about its axis frame's x, which the ASF axis (z = 90) puts onto world y
    np.testing.assert_allclose(thigh.T @ clip.rotations[0, 2], euler_to_matrix(np.deg2rad([90.0]), "y"), atol=1e-12)


@needs_cmu
def test_real_bvh_rotations_resampled_with_positions():
    clip = load_clip(CMU / "131_01.bvh")
    R = clip.resampled_rotations(30.0)
    assert R.shape[:2] == clip.resampled(30.0).shape[:2]
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)


def test_builtin_keyframe_file_names_its_joints(tmp_path):
    """A misspelt joint in the keyframe file is an error naming the file, not a KeyError at render time."""
    from synth.mocap.builtin import KEYFRAMES, _load

    bad = tmp_path / "motions.yaml"
    bad.write_text(KEYFRAMES.read_text().replace("left_knee: [5, 0, 0]", "left_kne: [5, 0, 0]", 1))
    with pytest.raises(SynthError, match=r"motions.yaml: unknown joints \['left_kne'\]"):
        _load(bad)
