"""Round trips of the on-disk contracts shared by every stage."""

import numpy as np
import pytest

from synth.cloth.cache import GarmentCache
from synth.errors import SynthError
from synth.frames import blender_to_smpl, extrinsics_blender_to_smpl, smpl_to_blender
from synth.sequence import MoshedSequence


def test_moshed_sequence_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    seq = MoshedSequence(
        poses=rng.normal(size=(5, 72)),
        betas=rng.normal(size=10),
        trans=rng.normal(size=(5, 3)),
        fps=30.0,
        gender="female",
        source="cmu/02_01",
        body_model="default:abc",
    )
    seq.save(tmp_path / "s.npz")
    back = MoshedSequence.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.poses, seq.poses)
    assert back.fps == 30.0 and back.gender == "female" and back.source == "cmu/02_01"
    assert back.lead_in.shape == (5,) and not back.lead_in.any()


def test_moshed_sequence_bad_file_names_path(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SynthError, match="bad.npz"):
        MoshedSequence.load(bad)


def test_garment_cache_round_trip_and_validation(tmp_path):
    rest = np.zeros((4, 3))
    cache = GarmentCache(
        "tshirt",
        faces=[[0, 1, 2], [1, 2, 3]],
        uv=np.zeros((4, 2)),
        rest=rest,
        verts=np.zeros((3, 4, 3)),
        material={"name": "cotton"},
        stats={"steps": 9},
    )
    cache.save(tmp_path / "g.npz")
    back = GarmentCache.load(tmp_path / "g.npz")
    assert back.material == {"name": "cotton"} and back.stats["steps"] == 9
    with pytest.raises(ValueError):
        GarmentCache("tshirt", faces=[[0, 1, 2]], uv=np.zeros((4, 2)), rest=rest, verts=np.zeros((3, 5, 3)))


def test_frames_are_inverse_rotations():
    p = np.random.default_rng(1).normal(size=(7, 3))
    np.testing.assert_allclose(blender_to_smpl(smpl_to_blender(p)), p, atol=1e-12)
    # SMPL's up (+Y) is Blender's up (+Z).
    np.testing.assert_allclose(smpl_to_blender(np.array([0.0, 1.0, 0.0])), [0, 0, 1])
    R = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    t = np.array([0.1, 0.2, 3.0])
    Rs, ts = extrinsics_blender_to_smpl(R, t)
    np.testing.assert_allclose(Rs @ p.T + ts[:, None], R @ smpl_to_blender(p).T + t[:, None])
