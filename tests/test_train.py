"""train/: metrics on hand-computed cases, loss terms, model shapes, the shard loader, the CLI round trip."""

import json
import logging
import math

import numpy as np
import pytest
import torch

from synth.shards.tario import group_samples, read_tar, write_tar
from train import metrics as M
from train.data import MIRRORED_PART, DataConfig, ShardWindows, collate, crop_pass, make_window, window_starts
from train.losses import LossWeights, Skeleton, model_joints, projection_loss, shape_smoothness, total_loss
from train.models import HMR, MVIPER, PHI_DIM, ModelConfig, decode_phi, mean_phi

TINY = ModelConfig(backbone="resnet18", hidden=32, regressor_width=64, init_width=32, attention_dim=16, dropout=0.0)


@pytest.fixture(scope="module")
def toy(tmp_path_factory, body):
    from train.toydata import write_toy_shards

    out = tmp_path_factory.mktemp("toy")
    write_toy_shards(
        out, body, sequences=3, cameras=2, frames=6, size=64, seed=1, test_sequences=1, samples_per_shard=2
    )
    return out


# ------------------------------------------------------------------ metrics


def test_mpjpe_and_pa_mpjpe_hand_computed():
    gt = np.array([[[0, 0, 0], [0, 1, 0]]], float)
    pred = np.array([[[5, 5, 5], [5, 6.003, 5]]], float)  # pelvis-aligned: joint 1 off by 3 mm
    assert M.mpjpe(pred, gt) == pytest.approx(1.5)
    d = 0.003  # middle of three collinear points lifted by d: residuals d/3, 2d/3, d/3 after alignment
    gt = np.array([[[0, 0, 0], [1, 0, 0], [2, 0, 0]]], float)
    pred = np.array([[[0, 0, 0], [1, d, 0], [2, 0, 0]]], float)
    assert M.pa_mpjpe(pred, gt) == pytest.approx(4 * d / 9 * 1000, rel=1e-3)
    rng = np.random.default_rng(0)
    g = rng.normal(size=(4, 24, 3))
    from scipy.spatial.transform import Rotation

    R = Rotation.random(4, random_state=2).as_matrix()
    p = 1.7 * np.einsum("tij,tnj->tni", R, g) + rng.normal(size=(4, 1, 3))
    assert M.pa_mpjpe(p, g) < 1e-6 and M.mpjpe(p, g) > 100


def test_temporal_metrics_hand_computed():
    root = np.array([[0, 0, 0], [1, 2, 3], [-1, 0, 4]], float)  # shared root motion cancels
    pred_v = np.array([[[0, 0, 0]], [[0.001, 0, 0]], [[0.004, 0, 0]]]) + root[:, None]
    gt_v = np.zeros((3, 1, 3)) + root[:, None]
    assert M.mrvpv(pred_v, gt_v, root, root, 1) == pytest.approx(2.0)  # |1 mm| and |3 mm|
    assert M.mrvpv(pred_v, gt_v, root, root, 2) == pytest.approx(2.0)  # 4 - 2*1 + 0
    assert M.mpvpe(pred_v, gt_v, root, root) == pytest.approx(5 / 3)
    assert M.mrsv(pred_v, gt_v, root, root, 1) == pytest.approx(2.0)
    joints = np.zeros((3, 2, 3))
    pj = joints.copy()
    pj[2, 1, 0] = 0.003
    assert M.accel_error(pj, joints) == pytest.approx(1.5)  # joint 1: 3 mm, joint 0: 0
    assert math.isnan(M.variation_error(pj[:2], joints[:2], 2))
    rows = [{k: 1.0 for k in M.METRICS}, {k: (4.0 if k != "Accel" else float("nan")) for k in M.METRICS}]
    avg = M.average(rows, [1, 3])
    assert avg["MPJPE"] == pytest.approx(3.25) and avg["Accel"] == pytest.approx(1.0)


def test_sequence_metrics_with_the_body_model(body):
    rng = np.random.default_rng(0)
    T = 4
    theta = rng.normal(0, 0.2, (T, 72)).astype(np.float32)
    beta = np.tile(rng.normal(0, 1, 10), (T, 1)).astype(np.float32)
    same = M.sequence_metrics(body, theta, beta, theta, beta)
    assert all(abs(v) < 1e-3 for v in same.values())
    jitter = beta + rng.normal(0, 0.5, beta.shape).astype(np.float32)
    r = M.sequence_metrics(body, theta, jitter, theta, beta)
    assert r["MRSV_1"] > 1 and r["MRSV_2"] > 1 and r["MPVPE"] > 1
    shifted = M.sequence_metrics(body, theta, beta + 0.5, theta, beta)  # constant shape error: no variation
    assert shifted["MRSV_1"] < 1e-3 and shifted["MPVPE"] > 1


# ------------------------------------------------------------------ losses


def test_projection_loss_masks_invisible_joints():
    gt = torch.zeros(1, 1, 24, 2)
    pred = gt.clone()
    pred[0, 0, 5] = torch.tensor([0.3, -0.1])
    vis = torch.ones(1, 1, 24)
    assert projection_loss(pred, gt, vis).item() == pytest.approx(0.4 / 24)
    vis[0, 0, 5] = 0
    assert projection_loss(pred, gt, vis).item() == 0.0
    assert projection_loss(pred, gt, torch.zeros(1, 1, 24)).item() == 0.0


def test_shape_smoothness_hand_computed():
    beta = torch.zeros(2, 3, 10)
    beta[0, :, 0] = torch.tensor([0.0, 1.0, 3.0])
    assert shape_smoothness(beta).tolist() == [5.0, 0.0]


def test_total_loss_delta_mask_and_shape_term(body):
    torch.manual_seed(0)
    B, T = 2, 3
    theta = torch.randn(B, T, 72) * 0.2
    beta = torch.randn(B, T, 10)
    j3d = model_joints(body, theta, beta)
    batch = {
        "theta": theta,
        "beta": beta,
        "j3d": j3d,
        "j2d": j3d[..., :2] * 0.9,
        "vis": torch.ones(B, T, 24),
        "has_3d": torch.ones(B, T),
    }
    phi = mean_phi().repeat(B, T, 1) + 0.05 * torch.randn(B, T, PHI_DIM)
    pred = decode_phi(phi)
    w = LossWeights()
    body = Skeleton(body)
    full, parts = total_loss(pred, batch, body, w, use_shape=False)
    assert parts["joints3d"] > 0 and parts["smpl"] > 0
    no3d = dict(batch, has_3d=torch.zeros(B, T))
    garbage = dict(no3d, theta=torch.randn(B, T, 72), j3d=torch.randn(B, T, 24, 3))
    a, _ = total_loss(pred, no3d, body, w, use_shape=False)
    b, _ = total_loss(pred, garbage, body, w, use_shape=False)
    assert a.item() == pytest.approx(b.item()) and a.item() < full.item()
    with_shape, parts = total_loss(pred, batch, body, w, use_shape=True)
    assert with_shape.item() == pytest.approx(full.item() + shape_smoothness(pred["beta"]).mean().item(), rel=1e-5)
    # perfect 3D prediction: the 3D and SMPL terms vanish
    import roma

    from train.models import rotmat_to_6d

    R = roma.rotvec_to_rotmat(theta.reshape(B, T, 24, 3))
    perfect = decode_phi(
        torch.cat([rotmat_to_6d(R).reshape(B, T, -1), beta, torch.tensor([0.9, 0, 0]).repeat(B, T, 1)], -1)
    )
    _, parts = total_loss(perfect, batch, body, w, use_shape=False)
    assert parts["joints3d"] < 1e-8 and parts["smpl"] < 1e-6 and parts["proj"] < 1e-5


def test_skeleton_gives_the_body_models_joints(body):
    """The loss's joints-only path (rest joints + kinematic chain) equals the full mesh path's 24 joints."""
    import roma

    torch.manual_seed(3)
    theta = torch.randn(2, 3, 72) * 0.5
    beta = torch.randn(2, 3, 10)
    R = roma.rotvec_to_rotmat(theta.reshape(2, 3, 24, 3))
    fast = Skeleton(body)(R, beta)
    assert fast.shape == (2, 3, 24, 3)
    torch.testing.assert_close(fast, model_joints(body, theta, beta), atol=2e-5, rtol=0)
    R.requires_grad_(True)
    Skeleton(body)(R, beta).sum().backward()
    assert torch.isfinite(R.grad).all() and R.grad.abs().sum() > 0


def test_learning_rate_warm_up_and_cosine_decay():
    from train.config import TrainConfig, lr_at

    cfg = TrainConfig(lr=1e-3, warmup_steps=4, lr_schedule="cosine", min_lr_ratio=0.1)
    lrs = [lr_at(s, 20, cfg) for s in range(20)]
    assert lrs[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert lrs[4] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))  # monotone decay after the warm-up
    assert lr_at(11, 20, cfg) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi * 7 / 15)))
    const = TrainConfig(lr=1e-3, warmup_steps=0, lr_schedule="constant")
    assert {lr_at(s, 20, const) for s in range(20)} == {1e-3}
    from train.config import load_train_config

    assert load_train_config("tiny").warmup_steps > 0
    proof = load_train_config("cpu_proof")  # scripts/cpu_proof.sh's config: the tiny architecture, tuned to learn
    # the tiny architecture plus the dense bone-part head (docs/TRAINING.md, "Levers on the 200-sequence proof data")
    # and the joint heatmaps fed to the regressor ("2D joint heatmaps fed to the regressor")
    import dataclasses

    assert proof.model.part_head and proof.model.joint_head
    assert dataclasses.replace(proof.model, part_head=False, joint_head=False) == load_train_config("tiny").model
    assert proof.data.shuffle_buffer >= 32


def test_bad_training_config_is_refused_naming_the_key(tmp_path):
    from synth.errors import SynthError
    from train.config import load_train_config

    for bad, key in (
        ("lr: -1", "lr"),
        ("lr_schedule: step", "lr_schedule"),
        ("batch_size: 0", "batch_size"),
        ("grad_clip: -2", "grad_clip"),
    ):
        (tmp_path / "c.yaml").write_text(bad + "\n")
        with pytest.raises(SynthError, match=key) as exc:
            load_train_config(str(tmp_path / "c.yaml"))
        assert "c.yaml" in str(exc.value)


def test_finite_guard_names_the_step_and_the_samples():
    from synth.errors import SynthError
    from train.trainer import FiniteGuard

    guard = FiniteGuard("hmr", every=3)
    guard.push(1, ["a_c0@0"], {"loss": torch.tensor(1.0), "grad_norm": torch.tensor(2.0)})
    guard.push(2, ["b_c1@4", "c_c0@0"], {"loss": torch.tensor(float("nan")), "grad_norm": torch.tensor(2.0)})
    with pytest.raises(SynthError, match=r"hmr step 2: non-finite loss; batch samples: b_c1@4, c_c0@0"):
        guard.push(3, ["d_c0@0"], {"loss": torch.tensor(1.0), "grad_norm": torch.tensor(float("inf"))})
    guard.push(4, ["e"], {"loss": torch.tensor(1.0), "grad_norm": torch.tensor(1.0)})
    guard.check()  # finite: nothing raised, nothing pending
    assert not guard.pending


# ------------------------------------------------------------------ models


def test_model_output_shapes_and_mviper_starts_at_hmr():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 3, 64, 64)
    hmr, mv = HMR(TINY).eval(), MVIPER(TINY).eval()
    with torch.no_grad():
        out = hmr(x)
        assert out["phi"].shape == (2, 3, PHI_DIM) and out["theta"].shape == (2, 3, 72)
        assert (
            out["rotmat"].shape == (2, 3, 24, 3, 3)
            and out["beta"].shape == (2, 3, 10)
            and out["cam"].shape == (2, 3, 3)
        )
        o2 = mv(x)
        assert o2["theta"].shape == (2, 3, 72) and o2["attention"].shape == (2, 3, 8, 8)
        assert torch.allclose(o2["attention"].sum((-1, -2)), torch.ones(2, 3))
        missing, unexpected = mv.load_state_dict(hmr.state_dict(), strict=False)
        assert not unexpected and missing
        assert torch.allclose(mv(x)["phi"], hmr(x)["phi"], atol=1e-5)
    R = out["rotmat"]
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand_as(R), atol=1e-5)


def test_encoder_weights_only_from_a_path(tmp_path):
    import torchvision

    from synth.errors import SynthError
    from train.models import Encoder

    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    enc = Encoder("resnet18", str(tmp_path / "r18.pth"))
    assert torch.equal(enc.stem[0].weight, ref.conv1.weight)
    with pytest.raises(SynthError, match="weights do not fit"):
        Encoder("resnet34", str(tmp_path / "r18.pth"))
    with pytest.raises(SynthError):
        Encoder("resnet18", str(tmp_path / "missing.pth"))


# ------------------------------------------------------------------ data


def test_loader_windows_crops_and_flip(toy, body):
    cfg = DataConfig(window=4, stride=2, crop_size=32)
    assert window_starts(6, 4, 2) == [0, 2] and window_starts(3, 4, 2) == []
    items = list(ShardWindows(toy, "train", cfg, train=False))
    assert len(items) == 4 * 2  # 2 train sequences x 2 cameras x windows at 0 and 2
    assert [(it["key"], it["start"]) for it in items[:2]] == [("seq000000_c0", 0), ("seq000000_c0", 2)]
    it = items[0]
    assert it["images"].shape == (4, 3, 32, 32) and it["j2d"].shape == (4, 24, 2) and it["j3d"].shape == (4, 24, 3)
    assert it["vis"].sum() > 0 and (it["j2d"][it["vis"] > 0].abs() <= 1).all() and it["has_3d"].all()
    assert torch.allclose(it["j3d"][:, 0], torch.zeros(4, 3))
    # Targets agree with the body model: joints of (theta, beta) are the 3D joints.
    J = model_joints(body, it["theta"][None], it["beta"][None])[0]
    assert torch.allclose(J - J[:, :1], it["j3d"], atol=1e-4)
    whole = list(ShardWindows(toy, "train", cfg, train=False, window=0))
    assert len(whole) == 4 and whole[0]["images"].shape[0] == 6
    # Flip: mirrored image, mirrored + swapped joints, flipped pose that the body model agrees with.
    from synth.shards.reader import find_sample

    key, s = find_sample(toy, "seq000000_c0")
    s["key"] = key
    plain = make_window(s, 0, 4, cfg, None)
    flip_cfg = DataConfig(window=4, crop_size=32, scale_jitter=0, trans_jitter=0, color_jitter=0, flip_prob=1.0)
    flipped = make_window(s, 0, 4, flip_cfg, np.random.default_rng(0))
    assert flipped["flip"] and torch.allclose(flipped["images"], plain["images"].flip(-1))
    assert torch.allclose(flipped["j2d"][:, 1, 0], -plain["j2d"][:, 2, 0]) and torch.allclose(
        flipped["j2d"][:, 1, 1], plain["j2d"][:, 2, 1]
    )
    J = model_joints(body, flipped["theta"][None], flipped["beta"][None])[0]
    assert torch.allclose(J - J[:, :1], flipped["j3d"], atol=5e-4)  # the body is left/right symmetric (test_body)
    # Passes flip with the image; the parts labels (1 + SMPL joint) swap sides, the seg labels (materials) do not.
    rng = np.random.default_rng(3)
    labels = {"parts": rng.integers(0, 25, (2, 20, 20)), "seg": rng.integers(0, 11, (2, 20, 20))}
    boxes = np.array([[10.0, 10.0, 16.0], [9.0, 11.0, 18.0]])
    for name, lab in labels.items():
        same, mirrored = (crop_pass(name, lab, boxes, 16, flip) for flip in (False, True))
        assert same.max() > 20 if name == "parts" else same.max() > 8
        swap = MIRRORED_PART if name == "parts" else np.arange(11)
        np.testing.assert_array_equal(mirrored, swap[same[:, :, ::-1]])
    assert MIRRORED_PART[1 + 4] == 1 + 5  # left knee -> right knee
    # Augmented training stream: same windows, shuffled, deterministic per seed.
    a = [(x["key"], x["start"]) for x in ShardWindows(toy, "train", cfg, train=True, seed=4)]
    b = [(x["key"], x["start"]) for x in ShardWindows(toy, "train", cfg, train=True, seed=4)]
    assert a == b and sorted(a) == sorted((x["key"], x["start"]) for x in items)

    # Batches mix clips: windows come from `shuffle_buffer` clips held at once, not clip after clip.
    def clip_runs(buffer: int) -> int:
        mixed = DataConfig(window=4, stride=2, crop_size=32, shuffle_buffer=buffer)
        keys = [x["key"] for x in ShardWindows(toy, "train", mixed, train=True, seed=4)]
        return 1 + sum(k1 != k2 for k1, k2 in zip(keys, keys[1:]))

    assert clip_runs(1) == 4  # one clip at a time: each clip's windows in one run
    assert clip_runs(4) > 4
    assert collate(items[:3])["images"].shape == (3, 4, 3, 32, 32)


def test_corrupt_sample_is_logged_and_skipped(toy, tmp_path, caplog):
    import shutil

    for p in toy.glob("*.tar"):
        shutil.copy(p, tmp_path / p.name)
    shard = tmp_path / "train-000000.tar"
    members = list(read_tar(shard))
    members = [(n, b"not an npz" if n == "seq000000_c1.smpl.npz" else d) for n, d in members]
    write_tar(shard, members)
    truncated = tmp_path / "train-000001.tar"
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    ds = ShardWindows(tmp_path, "train", DataConfig(window=4, stride=2, crop_size=32), train=False)
    with caplog.at_level(logging.WARNING, logger="train.data"):
        keys = {it["key"] for it in ds}
    assert "seq000000_c0" in keys and "seq000000_c1" not in keys
    assert "train-000000.tar:seq000000_c1" in ds.skipped
    assert "seq000000_c1" in caplog.text and "train-000000.tar" in caplog.text
    assert len(keys) >= 1 and len(ds.skipped) >= 2  # the truncated shard was reported too, nothing raised
    assert [k for k, _ in group_samples(members)][:2] == ["seq000000_c0", "seq000000_c1"]


def _copy_shards(src, dst):
    import shutil

    dst.mkdir(parents=True, exist_ok=True)
    for p in src.glob("*.tar"):
        shutil.copy(p, dst / p.name)
    return dst


def _edit_npz(shard, key, member, **arrays):
    """Rewrite one npz member of a sample in a shard with some arrays replaced."""
    import io

    members = list(read_tar(shard))
    name = f"{key}.{member}"
    out = []
    for n, d in members:
        if n == name:
            z = dict(np.load(io.BytesIO(d)))
            z.update(arrays)
            buf = io.BytesIO()
            np.savez(buf, **z)
            d = buf.getvalue()
        out.append((n, d))
    write_tar(shard, out)


def test_loader_refuses_non_finite_and_misshapen_samples(toy, tmp_path, caplog):
    """A NaN row in poses_cam or j3d_cam, or a poses_cam of the wrong shape, is a corrupt sample: logged with its
    key and shard, skipped, never trained on."""
    from synth.shards.reader import find_sample

    data = _copy_shards(toy, tmp_path / "d")
    _, s = find_sample(data, "seq000000_c0")
    poses = s["smpl"]["poses_cam"].copy()
    poses[2] = np.nan
    _edit_npz(data / "train-000000.tar", "seq000000_c0", "smpl.npz", poses_cam=poses)
    j3d = s["joints"]["j3d_cam"].copy()
    j3d[4, 3] = np.inf
    _edit_npz(data / "train-000000.tar", "seq000000_c1", "joints.npz", j3d_cam=j3d)
    _edit_npz(data / "train-000001.tar", "seq000001_c0", "smpl.npz", poses_cam=poses[:, :69] * 0)
    ds = ShardWindows(data, "train", DataConfig(window=4, stride=2, crop_size=32), train=False)
    with caplog.at_level(logging.WARNING, logger="train.data"):
        items = list(ds)
    assert {it["key"] for it in items} == {"seq000001_c1"}
    assert all(torch.isfinite(it[k]).all() for it in items for k in ("theta", "beta", "j2d", "j3d"))
    assert ds.skipped == [
        "train-000000.tar:seq000000_c0",
        "train-000000.tar:seq000000_c1",
        "train-000001.tar:seq000001_c0",
    ]
    assert "poses_cam has non-finite values in frames [2]" in caplog.text
    assert "j3d_cam has non-finite values in frames [4]" in caplog.text
    assert (
        "poses_cam has shape (6, 69), the contract wants (6, 72)" in caplog.text and "train-000001.tar" in caplog.text
    )


def _cut_after_sample(shard, key):
    """Truncate a shard right after a sample's last member (a 512-byte boundary: tarfile reads it without an error)."""
    import tarfile

    with tarfile.open(shard) as tf:
        last = [m for m in tf.getmembers() if m.name.startswith(key + ".")][-1]
        cut = last.offset_data + (last.size + 511) // 512 * 512
    shard.write_bytes(shard.read_bytes()[:cut])


def test_truncated_shard_is_reported(toy, tmp_path, caplog):
    """A shard cut at a member boundary reads without any tar error; the missing end-of-archive marker is what tells."""
    from train.data import tar_complete

    data = _copy_shards(toy, tmp_path / "d")
    shard = data / "train-000001.tar"
    assert tar_complete(shard)
    _cut_after_sample(shard, "seq000001_c0")
    assert not tar_complete(shard)
    with caplog.at_level(logging.WARNING, logger="train.data"):
        ds = ShardWindows(data, "train", DataConfig(window=4, stride=2, crop_size=32), train=False)
        keys = {it["key"] for it in ds}
    assert "seq000001_c0" in keys and "seq000001_c1" not in keys
    assert "train-000001.tar:truncated" in ds.skipped and "train-000001.tar is truncated" in caplog.text


def test_procrustes_tolerates_non_finite_frames():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3, 24, 3))
    p = g.copy()
    p[1, 5] = np.nan
    aligned = M.procrustes_align(p, g)
    assert np.isnan(aligned[1]).all() and np.allclose(aligned[[0, 2]], g[[0, 2]])


def _umeyama_reference(pred, gt):
    """The textbook per-frame similarity alignment (Umeyama 1991, numpy SVD), as the metrics had it by hand."""
    mp, mg = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p, g = pred - mp, gt - mg
    U, S, Vt = np.linalg.svd(np.einsum("tni,tnj->tij", p, g))
    D = np.ones_like(S)
    D[:, -1] = np.sign(np.linalg.det(np.einsum("tki,tjk->tij", Vt, U)))
    R = np.einsum("tki,tk,tjk->tij", Vt, D, U)
    scale = (S * D).sum(1) / (p**2).sum((1, 2))
    return scale[:, None, None] * np.einsum("tij,tnj->tni", R, p) + mg


@pytest.mark.parametrize("case", ["noisy", "mirrored", "scaled", "planar"])
def test_pa_mpjpe_alignment_is_umeyamas(case):
    """roma's registration gives the textbook alignment: rotation (no reflection for a mirrored
    prediction), scale and translation, so PA-MPJPE keeps its values."""
    import roma

    rng = np.random.default_rng(3)
    g = rng.normal(size=(50, 24, 3))
    R = roma.random_rotmat(50, dtype=torch.float64).numpy()
    p = 1.3 * np.einsum("tab,tnb->tna", R, g) + rng.normal(size=(50, 1, 3)) + 0.03 * rng.normal(size=g.shape)
    if case == "mirrored":
        p[..., 0] *= -1
    elif case == "scaled":
        p *= 0.01
    elif case == "planar":
        g[..., 2], p[..., 2] = 0.0, 0.5
    ref = _umeyama_reference(p, g)
    np.testing.assert_allclose(M.procrustes_align(p, g), ref, atol=1e-9)
    assert M.pa_mpjpe(p, g) == pytest.approx(np.linalg.norm(ref - g, axis=-1).mean() * 1000, rel=1e-12)


# ------------------------------------------------------------------ CLI round trip


def _config(tmp_path, name="c.yaml", **changes):
    """The tiny config with some top-level or dotted (model.backbone) settings changed, as a YAML path."""
    import yaml

    from train.config import load_train_config

    d = load_train_config("tiny").to_dict()
    for k, v in changes.items():
        section, _, key = k.rpartition("__")
        (d[section] if section else d)[key] = v
    path = tmp_path / name
    path.write_text(yaml.safe_dump(d))
    return str(path)


def _train_hmr(data, config: str, out, steps: int) -> int:
    """`python -m train.mviper train` of the hmr stage on the CPU."""
    from train.mviper import main

    args = ["--data", str(data), "--config", config, "--device", "cpu", "--out", str(out)]
    return main(["train", *args, "--stage", "hmr", "--hmr-steps", str(steps)])


@pytest.fixture(scope="module")
def hmr_run(toy, tmp_path_factory):
    """A run directory with only the hmr stage (2 steps)."""
    run = tmp_path_factory.mktemp("hmr_run") / "run"
    assert _train_hmr(toy, "tiny", run, 2) == 0
    return run


def test_train_refuses_to_overwrite_a_run_or_resume_another_architecture(toy, hmr_run, tmp_path, capsys):
    import shutil

    from train.mviper import main

    run = tmp_path / "run"
    shutil.copytree(hmr_run, run)
    final, config = (run / "hmr" / "final.pt").read_bytes(), (run / "config.json").read_bytes()
    common = ["--data", str(toy), "--device", "cpu", "--out", str(run), "--stage", "hmr", "--hmr-steps", "2"]
    capsys.readouterr()
    assert main(["train", *common, "--config", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "hmr stage already has final.pt, last.pt, log.csv" in err and "--resume" in err and "--force" in err
    assert (run / "hmr" / "final.pt").read_bytes() == final
    other = _config(tmp_path, model__backbone="resnet34")
    assert main(["train", *common, "--config", other, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "another architecture (model.backbone 'resnet18' here 'resnet34')" in err and "last.pt" in err
    assert (run / "config.json").read_bytes() == config, "a refused run must not rewrite config.json"
    assert main(["train", *common, "--config", other, "--stage", "mviper", "--mviper-steps", "1"]) == 2
    assert "mviper initialisation: the checkpoint has another architecture" in capsys.readouterr().err
    assert not (run / "mviper" / "final.pt").exists()
    assert main(["train", *common, "--config", "tiny", "--hmr-steps", "1", "--force"]) == 0
    assert len((run / "hmr" / "log.csv").read_text().splitlines()) == 2  # header + the new run's one row
    assert torch.load(run / "hmr" / "final.pt", weights_only=False)["step"] == 1


def test_non_finite_loss_stops_training_naming_step_and_samples(toy, tmp_path, capsys):

    cfg = _config(tmp_path, lr=1e30, grad_clip=0.0, warmup_steps=0, lr_schedule="constant")
    run = tmp_path / "run"
    capsys.readouterr()
    assert _train_hmr(toy, cfg, run, 6) == 2
    err = capsys.readouterr().err
    assert "hmr step " in err and "non-finite" in err and "batch samples: seq0000" in err
    assert not (run / "hmr" / "final.pt").exists()
    if (run / "hmr" / "last.pt").exists():  # a checkpoint written before the bad step holds finite weights only
        from train.checkpoint import nonfinite_tensors

        assert not nonfinite_tensors(torch.load(run / "hmr" / "last.pt", weights_only=False)["model"])


def _predict(run, src, out, *options: str) -> int:
    """`python -m train.mviper predict` on the CPU."""
    from train.mviper import main

    return main(["predict", "--run", str(run), "--input", str(src), "--out", str(out), "--device", "cpu", *options])


def _clip_frames(toy, folder, suffix=".png", frames=None, **save) -> tuple:
    """(folder, sample): the toy sample seq000002_c0's frames (the first `frames`) saved as images in `folder`."""
    from PIL import Image

    from synth.shards.reader import find_sample

    _, s = find_sample(toy, "seq000002_c0")
    folder.mkdir()
    for t, f in enumerate(s["frames"][:frames]):
        Image.fromarray(f).save(folder / f"{t:04d}{suffix}", **save)
    return folder, s


def test_predict_and_eval_name_the_way_out(toy, hmr_run, tmp_path, capsys, caplog):
    """After --stage hmr: predict suggests --model hmr, eval --models hmr; eval without --split names the
    splits that exist; a truncated JPEG is one error naming it; a truncated shard is a warning."""

    from train.mviper import main

    frames, _ = _clip_frames(toy, tmp_path / "frames", ".jpg", frames=3, quality=90)
    out = tmp_path / "pred"
    capsys.readouterr()
    assert _predict(hmr_run, frames, out) == 2
    assert "no mviper checkpoint" in (err := capsys.readouterr().err) and "pass --model hmr" in err
    assert main(["eval", "--data", str(toy), "--run", str(hmr_run), "--device", "cpu"]) == 2
    assert "pass --models hmr" in capsys.readouterr().err
    bad = frames / "0001.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    assert _predict(hmr_run, frames, out, "--model", "hmr") == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "cannot decode this frame" in err and "Traceback" not in err and not out.exists()
    only_train = _copy_shards(toy, tmp_path / "only_train")
    for p in only_train.glob("test-*.tar"):
        p.unlink()
    assert main(["eval", "--data", str(only_train), "--run", str(hmr_run), "--models", "hmr", "--device", "cpu"]) == 2
    assert "no --split given and no test-NNNNNN.tar shards; the splits here: train" in capsys.readouterr().err
    cut = _copy_shards(toy, tmp_path / "cut")
    _cut_after_sample(cut / "test-000000.tar", "seq000002_c0")
    with caplog.at_level(logging.WARNING, logger="train.data"):
        assert main(["eval", "--data", str(cut), "--run", str(hmr_run), "--models", "hmr", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "test-000000.tar is truncated" in caplog.text and "warning: eval test: skipped 1 " in captured.err
    assert "clips" in captured.out and json.loads((hmr_run / "eval_test.json").read_text())["hmr"]["sequences"] == 1


def test_non_finite_weights_are_refused_by_predict_and_eval(toy, hmr_run, tmp_path, capsys):
    import shutil

    from synth.shards.reader import find_sample
    from train.mviper import main

    run = tmp_path / "run"
    shutil.copytree(hmr_run, run)
    ck = torch.load(run / "hmr" / "final.pt", weights_only=False)
    ck["model"]["regressor.out.bias"][3] = float("nan")
    torch.save(ck, run / "hmr" / "final.pt")
    _, s = find_sample(toy, "seq000002_c0")
    import imageio.v3 as iio

    mp4 = tmp_path / "clip.mp4"
    iio.imwrite(mp4, s["frames"], fps=30, codec="libx264")
    capsys.readouterr()
    assert _predict(run, mp4, tmp_path / "p", "--model", "hmr") == 2
    assert "non-finite weights" in capsys.readouterr().err and not (tmp_path / "p" / "smpl.npz").exists()
    assert main(["eval", "--data", str(toy), "--run", str(run), "--models", "hmr", "--device", "cpu"]) == 2
    assert "non-finite weights" in capsys.readouterr().err


def test_motion_transfer_round_trip(toy, hmr_run, tmp_path, body):
    """predict on a clip the toolkit drew -> motion.npz, a MoshedSequence in the SMPL world that is the same
    body as the camera-frame prediction; `synth generate`'s source path (resolve_sources, load_clip, mosh_clip)
    takes it as a motion source and MoSh recovers it."""
    from scipy.spatial.transform import Rotation

    from synth.mocap import load_clip
    from synth.mosh.fit import mosh_clip
    from synth.pipeline.config import PipelineConfig
    from synth.pipeline.plan import resolve_sources
    from synth.sequence import MoshedSequence
    from train.predict import CAMERA_TO_WORLD

    frames, _ = _clip_frames(toy, tmp_path / "frames")
    out = tmp_path / "pred"
    assert _predict(hmr_run, frames, out, "--model", "hmr", "--fps", "25") == 0
    pred = np.load(out / "smpl.npz")
    seq = MoshedSequence.load(out / "motion.npz")
    assert seq.num_frames == 6 and seq.fps == 25.0 and seq.source == "predict/frames"
    R_cam = Rotation.from_rotvec(pred["poses_cam"][:, :3]).as_matrix()
    np.testing.assert_allclose(Rotation.from_rotvec(seq.poses[:, :3]).as_matrix(), CAMERA_TO_WORLD @ R_cam, atol=1e-5)
    np.testing.assert_allclose(seq.poses[:, 3:], pred["poses_cam"][:, 3:], atol=1e-6)
    # The same body: world joints = CAMERA_TO_WORLD (camera joints + t / s), up to the ground-plane shift.
    cam_j = body(np.tile(seq.betas, (6, 1)), pred["poses_cam"]).joints.numpy()
    cam_j[:, :, :2] += pred["cam"][:, None, 1:] / pred["cam"][:, None, :1]
    world_j = body(np.tile(seq.betas, (6, 1)), seq.poses, seq.trans).joints.numpy()
    shift = world_j - cam_j @ CAMERA_TO_WORLD.T
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:1, :1], shift.shape), atol=1e-4)
    # synth generate's motion-source path
    cfg = PipelineConfig()
    cfg.motion.sources = [str(out / "motion.npz")]
    (src,) = resolve_sources(cfg)
    assert src.kind == "clip" and src.path == str((out / "motion.npz").resolve())
    clip = load_clip(src.path, body=body)
    np.testing.assert_allclose(clip.positions, world_j, atol=1e-4)
    fitted = mosh_clip(clip, body, fps=25.0, cache_dir=tmp_path / "mosh")
    assert fitted.num_frames == 6 and float(np.mean(fitted.fit_error_mm)) < 20.0


@pytest.mark.slow
def test_cli_train_resume_eval_predict(toy, tmp_path, capsys):
    from train.mviper import main

    # constant LR after the warm-up: the schedule of a 2-step run resumed to 4 is then that of a straight 4-step run
    common = ["--data", str(toy), "--config", _config(tmp_path, lr_schedule="constant"), "--device", "cpu"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *common, "--out", str(straight), "--stage", "hmr", "--hmr-steps", "4"]) == 0
    assert main(["train", *common, "--out", str(resumed), "--stage", "hmr", "--hmr-steps", "2"]) == 0
    assert main(["train", *common, "--out", str(resumed), "--stage", "hmr", "--hmr-steps", "4", "--resume"]) == 0
    a = torch.load(straight / "hmr" / "final.pt", weights_only=False)["model"]
    b = torch.load(resumed / "hmr" / "final.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "resume must continue exactly where training stopped"
    assert main(["train", *common, "--out", str(resumed), "--stage", "mviper", "--mviper-steps", "3"]) == 0
    log = (resumed / "mviper" / "log.csv").read_text().splitlines()
    assert log[0].startswith("stage,step") and len(log) >= 2
    assert list((resumed / "hmr" / "tb").glob("events.*"))
    capsys.readouterr()
    assert (
        main(
            ["eval", "--data", str(toy), "--run", str(resumed), "--device", "cpu", "--preview", str(tmp_path / "p.png")]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "MRVPV_1" in table and "mviper" in table and "hmr" in table
    assert "mean pose" in table and "hmr no motion" in table and "mviper no motion" in table and "/ mean pose" in table
    from PIL import Image

    assert Image.open(tmp_path / "p.png").size[0] > 4 * 160  # crop + truth + two models per row
    res = json.loads((resumed / "eval_test.json").read_text())
    assert res["hmr"]["sequences"] == 2 and all(math.isfinite(res[m]["MPJPE"]) for m in ("hmr", "mviper", "mean pose"))
    held = res["hmr no motion"]
    assert held["MRSV_1"] == pytest.approx(0.0, abs=1e-6) and held["sequences"] == 2
    # predict: a folder of frames and an MP4
    import imageio.v3 as iio

    frames_dir, s = _clip_frames(toy, tmp_path / "frames")
    out = tmp_path / "pred"
    assert _predict(resumed, frames_dir, out, "--bbox", *map(str, s["joints"]["bbox"][0])) == 0
    z = np.load(out / "smpl.npz")
    assert (out / "motion.npz").exists()
    assert (
        z["poses_cam"].shape == (6, 72)
        and z["betas"].shape == (6, 10)
        and len(list((out / "meshes").glob("*.obj"))) == 6
    )
    mp4 = tmp_path / "clip.mp4"
    iio.imwrite(mp4, s["frames"], fps=30, codec="libx264")
    out2 = tmp_path / "pred_mp4"
    assert _predict(resumed, mp4, out2, "--model", "hmr") == 0
    assert np.load(out2 / "smpl.npz")["poses_cam"].shape[0] == 6
    assert _predict(tmp_path / "nope", mp4, out2) == 2


@pytest.mark.slow
def test_hmr_overfits_a_few_toy_clips(toy, tmp_path, body):
    """Capacity and consistency of the whole chain (crops, 2D/3D/pose targets, losses, trainer, eval mode):
    80 steps on the toy split's 4 training clips must take their PA-MPJPE far below the mean pose and the model's
    own first frame held ("no motion"), which only articulation that follows the pictures can do (PA removes the
    root orientation). A wrong target, frame or normalisation stays at ~1x (measured: loss 2.5 -> 0.17, PA-MPJPE
    0.31x the mean pose, no motion 1.4x; docs/TRAINING.md, "Why the CPU models do not articulate")."""
    import csv

    from train.evaluate import MEAN_POSE, evaluate

    # 32 px crops keep it ~20 s on one core; no jitter: the clips themselves are the training set
    config = _config(
        tmp_path,
        lr=1e-3,
        warmup_steps=5,
        log_every=10,
        ckpt_every=1000,
        data__crop_size=32,
        data__scale_jitter=0.0,
        data__trans_jitter=0.0,
        data__color_jitter=0.0,
    )
    run = tmp_path / "run"
    assert _train_hmr(toy, config, run, 80) == 0
    with open(run / "hmr" / "log.csv") as fh:
        losses = [float(r["loss"]) for r in csv.DictReader(fh)]
    assert losses[-1] < 0.4 * losses[0], losses
    res = evaluate(run, toy, "train", body, torch.device("cpu"), ("hmr",))
    pa = res["hmr"]["PA-MPJPE"]
    assert pa < 0.7 * res[MEAN_POSE]["PA-MPJPE"] and pa < 0.5 * res["hmr no motion"]["PA-MPJPE"], res
