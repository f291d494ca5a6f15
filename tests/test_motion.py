"""Motion variation: contrasting pairs, interpolation, lead-in, plausibility guard, CLI.

Everything that needs a body (ground contact, lead-in height, the guard's capsules) runs on the
real body model (the `body` fixture): floors are the lowest mesh vertex.
"""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from synth.cli import main as synth_main
from synth.frames import heading
from synth.mocap.builtin import BUILTIN_MOTIONS, builtin_motion
from synth.motion.interpolate import (
    InterpolationConfig,
    add_lead_in,
    blend_poses,
    frame_count,
    interpolate_pair,
    rest_pose,
)
from synth.motion.pairs import PairChoice, most_contrasting_pair, pose_distance_matrix, select_pairs
from synth.motion.plausibility import plausibility, segment_distance
from synth.motion.rotations import lerp, slerp
from synth.motion.skeleton import Skeleton
from synth.motion.synthetic import random_poses, random_sequences
from synth.sequence import MoshedSequence


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(7)
    return [random_poses(int(rng.integers(15, 90)), rng) for _ in range(24)]


def rotation_angle_between(r0, r1):
    """Geodesic angle (radians) between rotations given as axis-angle (..., 3)."""
    return (Rotation.from_rotvec(np.asarray(r0, float)).inv() * Rotation.from_rotvec(np.asarray(r1, float))).magnitude()


def _brute_force(X, Y):
    D = np.linalg.norm(X.astype(float)[:, None] - Y.astype(float)[None], axis=-1)
    i, j = np.unravel_index(D.argmax(), D.shape)
    return int(i), int(j), float(D.max())


def test_argmax_matches_brute_force(corpus):
    for X, Y in zip(corpus[:-1], corpus[1:]):
        i, j, d = _brute_force(X, Y)
        for chunk in (256 * 2**20, 4 * 200):  # one block, and row chunks of a few frames
            c = most_contrasting_pair(X, Y, chunk_bytes=chunk)
            assert (c.i, c.j) == (i, j)
            assert c.distance == pytest.approx(d, rel=1e-12)
    np.testing.assert_allclose(pose_distance_matrix(corpus[0], corpus[1]).max(), _brute_force(corpus[0], corpus[1])[2])
    # without the root: only the 69 body-joint values count
    c = most_contrasting_pair(corpus[0], corpus[1], include_root=False)
    assert (c.i, c.j) == _brute_force(corpus[0][:, 3:], corpus[1][:, 3:])[:2]


def test_corpus_selection_chunked_equals_unchunked_and_brute_force(corpus):
    ref = {}
    for a in range(len(corpus)):
        for b in range(len(corpus)):
            if a != b:
                ref[a, b] = _brute_force(corpus[a], corpus[b])
    big = select_pairs(corpus, 60, seed=3)
    small = select_pairs(corpus, 60, seed=3, chunk_bytes=4 * 500)
    assert big == small
    assert len({(p.a, p.b) for p in big}) == 60 and all(p.a != p.b for p in big)
    for p in big:
        assert (p.i, p.j) == ref[p.a, p.b][:2] and p.distance == pytest.approx(ref[p.a, p.b][2])
    stats = {}
    top = select_pairs(corpus, 8, seed=0, mode="topk", stats=stats, core_size=4)
    best = sorted(((v[2], a, b) for (a, b), v in ref.items() if a < b), reverse=True)[:8]
    assert [(p.a, p.b) for p in top] == [(a, b) for _, a, b in best]
    assert [p.distance for p in top] == pytest.approx([d for d, _, _ in best])
    assert stats["scored_exactly"] <= stats["pairs_total"]
    assert select_pairs(corpus, 8, seed=0, mode="topk", chunk_bytes=4 * 300, core_size=4) == top


def test_selection_deterministic_given_seed(corpus):
    a = select_pairs(corpus, 20, seed=11)
    assert select_pairs(corpus, 20, seed=11) == a
    assert select_pairs(corpus, 20, seed=12) != a
    assert len(select_pairs(corpus, 10_000, seed=1)) == len(corpus) * (len(corpus) - 1)  # capped


def test_endpoints_equal_chosen_poses(body):
    X, Y = builtin_motion("walk"), builtin_motion("squat")
    c = most_contrasting_pair(X, Y)
    raw = interpolate_pair(X, Y, c, InterpolationConfig(root="raw"), body)
    np.testing.assert_array_equal(raw.poses[0], X.poses[c.i])
    np.testing.assert_array_equal(raw.poses[-1], Y.poses[c.j])
    np.testing.assert_array_equal(raw.trans[0], X.trans[c.i])
    seq = interpolate_pair(X, Y, c, skeleton=body)  # default: Y's root takes X's heading
    np.testing.assert_array_equal(seq.poses[0], X.poses[c.i])
    np.testing.assert_array_equal(seq.poses[-1, 3:], Y.poses[c.j, 3:])
    assert heading(seq.poses[-1, :3].astype(float)) == pytest.approx(heading(X.poses[c.i, :3].astype(float)), abs=1e-5)
    assert seq.source == f"interp:builtin/walk@{c.i}->builtin/squat@{c.j}:d={c.distance:.4f}"
    np.testing.assert_array_equal(seq.betas, X.betas)
    assert not seq.lead_in.any() and seq.num_frames == frame_count(c.distance, InterpolationConfig())


def test_heading_alignment_keeps_tilt(body):
    X, Y = builtin_motion("walk"), builtin_motion("turn")
    seq = interpolate_pair(X, Y, PairChoice(0, 20, 3.0), skeleton=body)
    rY, rOut = Y.poses[20, :3].astype(float), seq.poses[-1, :3].astype(float)
    # same tilt: the two root rotations differ only by a rotation about the up axis
    rel = Rotation.from_rotvec(rOut).as_matrix() @ Rotation.from_rotvec(rY).as_matrix().T
    np.testing.assert_allclose(rel @ [0, 1, 0], [0, 1, 0], atol=1e-6)


def test_frame_count_monotone_in_distance(body):
    cfg = InterpolationConfig(frames_per_unit=10, min_frames=12, max_frames=80)
    d = np.linspace(0, 12, 400)
    n = np.array([frame_count(x, cfg) for x in d])
    assert (np.diff(n) >= 0).all() and n[0] == 12 and n[-1] == 80 and len(set(n)) > 50
    X = builtin_motion("walk")
    lengths = [
        interpolate_pair(X, X, PairChoice(0, 5, dist), cfg, body).num_frames for dist in (0.5, 2.0, 4.0, 6.0, 9.0)
    ]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]


@pytest.mark.parametrize("kind", ["t", "a"])
def test_lead_in_starts_exactly_at_rest_pose(kind, body):
    seq = builtin_motion("dance", seconds=1.0)
    out = add_lead_in(seq, 15, kind, skeleton=body)
    assert out.num_frames == seq.num_frames + 15
    assert out.lead_in[:15].all() and not out.lead_in[15:].any()
    np.testing.assert_array_equal(out.poses[0, 3:], rest_pose(kind)[1:].reshape(-1).astype(np.float32))
    # root upright with the first frame's heading
    np.testing.assert_allclose(out.poses[0, [0, 2]], 0.0, atol=1e-7)
    assert out.poses[0, 1] == pytest.approx(heading(seq.poses[0, :3].astype(float)), abs=1e-6)
    np.testing.assert_array_equal(out.poses[15:], seq.poses)
    np.testing.assert_array_equal(out.trans[15:], seq.trans)
    # the lead-in stands on the sequence's floor and blends smoothly into frame 0
    sk = Skeleton.resolve(body)
    floor = sk.lowest(seq.poses, seq.betas, seq.trans).min()
    assert sk.lowest(out.poses[:1], out.betas, out.trans[:1])[0] == pytest.approx(floor, abs=1e-5)
    step = np.abs(np.diff(out.poses[:16], axis=0)).max()
    assert step < np.abs(out.poses[15] - out.poses[0]).max() / 15 * 1.01 + 1e-6


def test_flip_near_pi_and_linear_vs_slerp():
    z = np.array([0.0, 0.0, 1.0])
    r0 = np.deg2rad(170) * z
    r1 = -np.deg2rad(170) * z  # 20 degrees from r0 across pi
    alphas = np.linspace(0, 1, 21)
    fixed = lerp(r0[None], r1[None], alphas)[:, 0]
    naive = lerp(r0[None], r1[None], alphas, fix_flip=False)[:, 0]
    sl = slerp(r0[None], r1[None], alphas)[:, 0]
    total = lambda path: rotation_angle_between(path[:-1], path[1:]).sum()  # noqa: E731
    assert np.rad2deg(total(fixed)) == pytest.approx(20, abs=1e-6)
    assert np.rad2deg(total(naive)) == pytest.approx(340, abs=1e-4)  # the long way round
    np.testing.assert_allclose(rotation_angle_between(fixed, sl), 0, atol=1e-7)  # same axis: lerp == slerp
    assert np.rad2deg(rotation_angle_between(naive, sl).max()) > 150
    # endpoints are the exact inputs after blending whole poses
    p0, p1 = np.zeros((24, 3)), np.zeros((24, 3))
    p0[16], p1[16] = r0, r1
    out = blend_poses(p0, p1, alphas)
    np.testing.assert_array_equal(out[0], p0.reshape(-1))
    np.testing.assert_array_equal(out[-1], p1.reshape(-1))
    # general rotations: the paper's linear rule stays within a few degrees of slerp for
    # joint changes up to 90 degrees, and is exact at the endpoints
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3))
    a *= rng.uniform(0, np.pi / 2, (500, 1)) / np.linalg.norm(a, axis=1, keepdims=True)
    b = rng.normal(size=(500, 3))
    b *= rng.uniform(0, np.pi / 2, (500, 1)) / np.linalg.norm(b, axis=1, keepdims=True)
    dev = np.rad2deg(rotation_angle_between(lerp(a, b, alphas), slerp(a, b, alphas)))
    assert dev[[0, -1]].max() < 1e-6
    assert 0.5 < dev.max() < 25.0


def test_ground_contact_and_velocity(body):
    X, Y = builtin_motion("walk"), builtin_motion("jump")
    c = most_contrasting_pair(X, Y)
    seq = interpolate_pair(X, Y, c, skeleton=body)
    sk = Skeleton.resolve(body)
    low = sk.lowest(seq.poses, seq.betas, seq.trans)
    floor = sk.lowest(X.poses, X.betas, X.trans).min()
    assert low.min() >= floor - 1e-5  # never below the floor (lowest mesh vertex)
    assert low.max() < floor + 0.3
    # horizontal motion starts at the walk's speed
    v0 = np.linalg.norm((seq.trans[1] - seq.trans[0])[[0, 2]]) * seq.fps
    assert v0 == pytest.approx(1.25, rel=0.15)
    held = interpolate_pair(X, Y, c, InterpolationConfig(translation="hold"), body)
    np.testing.assert_allclose(held.trans[:, [0, 2]], np.repeat(held.trans[:1, [0, 2]], held.num_frames, 0))


def test_plausibility_guard(body):
    for name in BUILTIN_MOTIONS:  # authored motions are plausible
        assert plausibility(builtin_motion(name, seconds=1.0).poses, body).rate == 0.0
    pose = np.zeros((3, 72))
    pose[1, 4 * 3] = np.deg2rad(-60)  # left knee bent backwards
    pose[2, 18 * 3 + 1] = np.deg2rad(80)  # left elbow hyperextended
    flags = plausibility(pose, body)
    assert flags.joint_limit.tolist() == [False, True, True]
    assert flags.joints_over_limit[1, 4] and flags.joints_over_limit[2, 18]
    # limits apply to the rotation, not to one axis-angle representative of it
    equiv = np.zeros((1, 72))
    equiv[0, :3] = [0, 4.0, 0]  # root turned 229 deg: free
    equiv[0, 4 * 3] = -(2 * np.pi - 1.0)  # = 57 deg of knee flexion
    assert not plausibility(equiv, body).implausible.any()
    # left forearm driven through the chest: left shoulder swung forward and across
    sk = Skeleton.resolve(body)
    cross = np.zeros((2, 72))
    cross[1, 16 * 3 + 1] = np.deg2rad(-100)  # upper arm swings forward and across
    cross[1, 18 * 3 + 1] = np.deg2rad(-150)  # and the forearm folds back into the torso
    J = sk.joints(cross, np.zeros(10), np.zeros((2, 3)))
    assert plausibility(cross, J).penetration.tolist() == [False, True]
    # segment distance helper on a known case: two skew lines 1 m apart
    d = segment_distance(np.array([-1.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0, -1.0, 1]), np.array([0, 1.0, 1]))
    assert d == pytest.approx(1.0)


def test_interpolation_is_deterministic(body):
    seqs = random_sequences(6, 40, seed=5)
    picks = select_pairs(seqs, 3, seed=2)
    a = [interpolate_pair(seqs[p.a], seqs[p.b], p, skeleton=body).poses for p in picks]
    b = [interpolate_pair(seqs[p.a], seqs[p.b], p, skeleton=body).poses for p in select_pairs(seqs, 3, seed=2)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_cli_interpolate(tmp_path):
    builtin_motion("wave").save(tmp_path / "a.npz")
    builtin_motion("squat").save(tmp_path / "b.npz")
    out, png = tmp_path / "out.npz", tmp_path / "strip.png"
    rc = synth_main(
        [
            "interpolate",
            str(tmp_path / "a.npz"),
            str(tmp_path / "b.npz"),
            "--out",
            str(out),
            "--lead-in",
            "6",
            "--preview",
            str(png),
        ]
    )
    assert rc == 0 and png.stat().st_size > 5000
    seq = MoshedSequence.load(out)
    assert seq.lead_in.sum() == 6 and seq.source.startswith("interp:builtin/wave@")
    np.testing.assert_array_equal(seq.poses[0, 3:], 0.0)
    assert synth_main(["interpolate", str(tmp_path / "a.npz"), str(tmp_path / "missing.npz"), "--out", str(out)]) == 2


def test_guard_flags_saved_per_frame(tmp_path, body):
    """interpolate_pair and add_lead_in store the guard's flags as `implausible` (T,), saved and loaded."""
    X, Y = builtin_motion("walk"), builtin_motion("dance")
    Xb = MoshedSequence(X.poses.copy(), X.betas, X.trans, X.fps, source="bent")
    Xb.poses[:, 4 * 3] = np.deg2rad(-70)  # left knee bent backwards in every frame of X
    seq = interpolate_pair(Xb, Y, most_contrasting_pair(Xb, Y), skeleton=body)
    expected = plausibility(seq.poses, body, seq.betas).implausible
    np.testing.assert_array_equal(seq.implausible, expected)
    assert seq.implausible[0] and not seq.implausible[-1]  # starts hyperextended, ends in Y's pose
    out = add_lead_in(seq, 8, skeleton=body)
    assert not out.implausible[0]  # the T-pose is plausible
    np.testing.assert_array_equal(out.implausible[8:], seq.implausible)
    np.testing.assert_array_equal(out.implausible[:8], plausibility(out.poses[:8], body, out.betas).implausible)
    out.save(tmp_path / "s.npz")
    np.testing.assert_array_equal(MoshedSequence.load(tmp_path / "s.npz").implausible, out.implausible)
    assert not builtin_motion("walk").implausible.any()  # default: all False


def test_special_procrustes_recovers_a_rotation_and_never_reflects():
    """The shared Kabsch (MoSh's per-frame fit, the collar pins) equals roma's SVD path, recovers the rotation
    that made noisy targets, and returns a rotation where the best orthogonal fit is a reflection."""
    import roma

    from synth.motion.rotations import special_procrustes

    rng = np.random.default_rng(3)
    R_true = Rotation.random(8, random_state=4).as_matrix()
    rest = rng.normal(size=(8, 5, 3))
    target = np.einsum("tij,thj->thi", R_true, rest) + rng.normal(scale=1e-3, size=rest.shape)
    M = np.einsum("thi,thj->tij", target, rest)  # sum_h d_h r_h^T
    R = special_procrustes(M)
    assert np.abs(R - R_true).max() < 5e-3
    assert np.abs(R - roma.special_procrustes(torch.as_tensor(M), method="svd").numpy()).max() < 1e-12
    mirror = special_procrustes(np.diag([1.0, 1.0, -1.0]))  # best orthogonal fit: the reflection itself
    assert np.isclose(np.linalg.det(mirror), 1.0) and np.allclose(mirror @ mirror.T, np.eye(3))
