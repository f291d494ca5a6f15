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
from synth.mosh.fit import FitSettings, clip_rotation_targets, clip_targets, fit_joints, mosh_clip
from synth.mosh.limits import limit_excess_deg
from synth.paths import shared_assets_dir
from synth.sequence import MoshedSequence

CMU = (shared_assets_dir() or Path("/nonexistent")) / "motion" / "cmu_bvh"
needs_cmu = pytest.mark.skipif(not CMU.is_dir(), reason="shared CMU BVH clips not present")


def _body_joints(body, betas, poses, trans) -> np.ndarray:
    """(T,24,3) joints of the real body model (float64)."""
    T = len(poses)
    with torch.no_grad():
        out = body(
            torch.as_tensor(np.asarray(betas, np.float32)).reshape(1, 10).expand(T, 10),
            torch.as_tensor(np.asarray(poses, np.float32)),
            torch.as_tensor(np.asarray(trans, np.float32)),
        )
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
    clip.positions, clip.rotations = clip.positions[:240], clip.rotations[:240]  # 2 s at 120 Hz
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


def _global(joint_model, betas, poses, trans):
    import roma

    R = roma.rotvec_to_rotmat(torch.as_tensor(np.asarray(poses, np.float64)).reshape(len(poses), 24, 3))
    _, G = joint_model.torch_fk(dtype=torch.float64)(
        torch.as_tensor(np.asarray(betas, np.float64)), R, torch.as_tensor(np.asarray(trans, np.float64))
    )
    return G.numpy()


def test_orientation_term_recovers_known_rest_offsets(body, joint_model):
    """A clip whose skeleton rests in other frames than SMPL's (a known random offset per segment
    group; hinges share theirs, as do the segments whose roll nothing observes) and that moves
    what positions cannot see (head nod, hand roll, upper-arm twist): the fit recovers the
    offsets and follows every segment's rotation, leaves included; positions alone do not."""
    from scipy.spatial.transform import Rotation

    from synth.mosh.orientation import ClipRotations

    truth = builtin_motion("run", fps=30.0, seconds=2.0)
    T = truth.num_frames
    wave = np.sin(np.linspace(0, 4 * np.pi, T))[:, None]
    poses = truth.poses.reshape(T, 24, 3).astype(np.float64)
    extra = {15: [0.35, 0, 0], 20: [0.6, 0, 0], 21: [-0.6, 0, 0], 16: [0.4, 0, 0], 17: [0.4, 0, 0], 12: [0.2, 0, 0.1]}
    for j, v in extra.items():  # local rotation times a wave about the joint's own axes
        poses[:, j] = (Rotation.from_rotvec(poses[:, j]) * Rotation.from_rotvec(wave * np.array(v))).as_rotvec()
    poses = poses.reshape(T, 72)
    betas = np.array([0.5, -0.3, 0, 0, 0, 0, 0, 0, 0, 0])
    joints = _body_joints(body, betas, poses, truth.trans)
    G_true = _global(joint_model, betas, poses, truth.trans)
    Q = Rotation.random(24, random_state=7).as_matrix()
    same = {4: 1, 5: 2, 7: 4, 8: 5, 10: 7, 11: 8, 12: 9, 15: 12, 18: 16, 19: 17, 20: 18, 21: 19, 22: 20, 23: 21}
    for j, k in same.items():  # in SMPL order, so chains share one offset
        Q[j] = Q[k]
    segs = np.arange(24)
    rot = ClipRotations(segs, np.ones(24), G_true @ np.swapaxes(Q, -1, -2), np.ones((T, 24), bool))
    clip = MocapClip("test/run", list(SMPL_JOINT_NAMES), joint_model.parents, joints, 30.0)
    idx, w, seg, Y = clip_targets(clip, 30.0, joint_model.parents)
    fit = fit_joints(joint_model, idx, seg, w, Y, rotations=rot)
    pos = fit_joints(joint_model, idx, seg, w, Y)

    def angle(A, B):
        return np.degrees(Rotation.from_matrix((np.swapaxes(A, -1, -2) @ B).reshape(-1, 3, 3)).magnitude()).reshape(
            A.shape[:-2]
        )

    # under a degree, but the ankles' ~2.4: the run's ankle flexion about x is partly a roll about
    # the sloping foot bone, which the points cannot see and the rest-pose roll rule zeroes
    assert angle(fit.rest_offsets, Q).max() < 4.0, angle(fit.rest_offsets, Q).round(1)
    err_fit = np.median(angle(_global(joint_model, fit.betas, fit.poses, fit.trans), G_true), 0)
    err_pos = np.median(angle(_global(joint_model, pos.betas, pos.poses, pos.trans), G_true), 0)
    assert err_fit.max() < 4.0, err_fit.round(1)
    unseen = [15, 20, 21, 22, 23]  # head and hands: leaves or rolls no point observes
    assert err_pos[unseen].min() > 8.0, err_pos.round(1)
    assert fit.error_mm.mean() < 5.0
    assert clip_rotation_targets(clip, 30.0, joint_model.parents) is None  # SMPL-named: positions only


def test_hinge_offsets_make_smpl_hinges_bend_about_their_axis():
    """Clip knee bending about an arbitrary axis a of its thigh frame, SMPL segments known only
    up to a rolled-by-40-degree twist: the hinge offsets map a onto SMPL's knee axis (+x), so the
    SMPL knee's local rotation O_p^T L O_h is a pure flexion about +x."""
    from scipy.spatial.transform import Rotation

    from synth.mosh.orientation import hinge_offsets

    rng = np.random.default_rng(3)
    T = 50
    O_true = Rotation.random(random_state=4).as_matrix()
    a = O_true @ [1.0, 0, 0]
    R_thigh = Rotation.random(T, random_state=5).as_matrix()
    L = Rotation.from_rotvec(rng.uniform(0.1, 1.8, (T, 1)) * a).as_matrix()
    R_clip = np.stack([R_thigh, R_thigh @ L], 1)
    roll = Rotation.from_rotvec([0, -0.7, 0]).as_matrix()  # a wrong roll about the thigh's bone axis (-y)
    G = R_clip @ (O_true @ roll)
    O = np.stack([O_true @ roll] * 2)
    hinge_offsets(O, np.array([1, 4]), R_clip, G, np.ones((T, 2), bool))
    np.testing.assert_allclose(O[0] @ [1.0, 0, 0], a, atol=1e-9)
    knee = Rotation.from_matrix(O[0].T @ L @ O[1]).as_rotvec()
    assert np.abs(knee[:, 1:]).max() < 1e-6 and (knee[:, 0] > 0).all()
    straight = np.stack([R_thigh, R_thigh @ Rotation.from_rotvec(0.02 * rng.normal(size=(T, 3))).as_matrix()], 1)
    O2 = np.stack([O_true @ roll] * 2)
    hinge_offsets(O2, np.array([1, 4]), straight, straight @ O2[0], np.ones((T, 2), bool))
    np.testing.assert_array_equal(O2[0], O_true @ roll)  # a hinge that never bends: its axis is noise


@needs_cmu
def test_clip_rotations_flag_sole_up_feet(joint_model):
    """The dance clip's feet are rolled sole-up against the shin in most frames: those frames are
    not valid targets (nor are the toes below them); the walk's all are."""
    dance = clip_rotation_targets(load_clip(CMU / "05_06_dance.bvh"), 30.0, joint_model.parents)
    walk = clip_rotation_targets(load_clip(CMU / "02_01_walk.bvh"), 30.0, joint_model.parents)
    feet = [list(dance.segs).index(SMPL_JOINT_NAMES.index(n)) for n in ("left_ankle", "right_ankle", "left_foot")]
    assert (dance.valid[:, feet].mean(0) < 0.5).all() and walk.valid.all()
    toes = list(dance.segs).index(SMPL_JOINT_NAMES.index("left_foot"))
    assert not (dance.valid[:, toes] & ~dance.valid[:, feet[0]]).any()


@needs_cmu
def test_clip_rotations_keep_dance_knees_and_elbows_hinged(joint_model):
    """On the dance clip, positions alone let legs and arms flip (thigh rolled, knee bent
    backwards); with the clip's rotations no knee or elbow breaks its hinge rules, and the joint
    error stays close."""
    from synth.mosh.limits import L_ELBOW, L_KNEE, R_ELBOW, R_KNEE

    clip = load_clip(CMU / "05_06_dance.bvh")
    idx, w, seg, Y = clip_targets(clip, 30.0, joint_model.parents)
    rot = clip_rotation_targets(clip, 30.0, joint_model.parents)
    hinges = [L_KNEE, R_KNEE, L_ELBOW, R_ELBOW]
    pos = fit_joints(joint_model, idx, seg, w, Y)
    fit = fit_joints(joint_model, idx, seg, w, Y, rotations=rot)
    broken_pos = (limit_excess_deg(pos.poses.reshape(-1, 24, 3))[:, hinges] > 0).any(1).sum()
    broken_fit = (limit_excess_deg(fit.poses.reshape(-1, 24, 3))[:, hinges] > 0).any(1).sum()
    assert broken_pos > 5 and broken_fit == 0, (broken_pos, broken_fit)
    assert fit.error_mm.mean() < pos.error_mm.mean() + 4.0


def test_segment_alignment_is_the_svd_kabsch():
    """The analytic pose's per-joint alignment (roma) is the textbook SVD Kabsch the fit had by hand:
    the same proper rotation, also for mirrored targets (where the best orthogonal map is a reflection)."""
    import roma

    from synth.mosh.fit import _kabsch

    rng = np.random.default_rng(5)
    r = rng.normal(size=(3, 3))
    R = roma.random_rotmat(40, dtype=torch.float64).numpy()
    for mirror in (1.0, -1.0):
        d = np.einsum("tab,hb->tha", R, r) + 0.05 * rng.normal(size=(40, 3, 3))
        d[..., 0] *= mirror
        U, _, Vt = np.linalg.svd(np.einsum("ha,thb->tab", r, d))  # H = sum_h r_h d_h^T, G = V D U^T
        D = np.ones((40, 3))
        D[:, 2] = np.sign(np.linalg.det(Vt.transpose(0, 2, 1) @ U.transpose(0, 2, 1)))
        ref = (Vt.transpose(0, 2, 1) * D[:, None, :]) @ U.transpose(0, 2, 1)
        G = _kabsch(r, d)
        np.testing.assert_allclose(G, ref, atol=1e-10)
        np.testing.assert_allclose(np.linalg.det(G), 1.0, atol=1e-12)
