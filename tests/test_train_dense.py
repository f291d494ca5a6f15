"""train/: the dense bone-part supervision (labels, head, loss) and the 3D joint loss under the true root."""

import dataclasses

import numpy as np
import pytest
import roma
import torch

from synth.body.joints import MIRROR_PERM
from synth.errors import SynthError
from train.data import PART_CLASSES, bone_part_labels
from train.losses import LossWeights, Skeleton, body_frame_joints3d_loss, joints3d_loss, part_loss, total_loss
from train.models import HMR, MVIPER, ModelConfig, decode_phi, rotmat_to_6d

TINY = ModelConfig(
    backbone="resnet18", hidden=32, regressor_width=64, init_width=32, attention_dim=16, dropout=0.0, part_head=True
)


def test_bone_part_labels_nearest_bone_and_mirror():
    # every joint far up-left of the crop except the left shoulder (16) and elbow (18): the upper-arm bone 18
    # runs across the middle rows, so the pixels on it are labelled 18 and the background stays 0
    j2d = np.full((1, 24, 2), -5.0)
    j2d[0, 16], j2d[0, 18] = (-0.5, 0.0), (0.5, 0.0)
    person = np.zeros((1, 8, 8), bool)
    person[0, 3:5, 2:5] = True
    labels = bone_part_labels(person, j2d)
    assert labels.shape == (1, 8, 8) and labels.dtype == np.int64
    assert (labels[0, 3:5, 2:5] == 18).all() and (labels[~person] == 0).all()
    # mirrored crop with the flipped joints = mirrored labels with left/right swapped
    rng = np.random.default_rng(0)
    j2d = rng.uniform(-0.9, 0.9, (3, 24, 2))
    person = rng.random((3, 12, 12)) < 0.5
    labels = bone_part_labels(person, j2d)
    assert labels.max() < PART_CLASSES and len(np.unique(labels)) > 8
    mirrored = bone_part_labels(person[:, :, ::-1], j2d[:, MIRROR_PERM] * np.array([-1.0, 1.0]))
    assert (mirrored == MIRROR_PERM[labels[:, :, ::-1]]).all()


def test_part_head_logits_and_loss():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 3, 32, 32)
    hmr, mv = HMR(TINY).eval(), MVIPER(TINY).eval()
    with torch.no_grad():
        logits = hmr(x)["part_logits"]
        assert logits.shape == (2, 3, PART_CLASSES, 8, 8)
        assert mv(x)["part_logits"].shape == (2, 3, PART_CLASSES, 8, 8)
        assert "part_logits" not in HMR(dataclasses.replace(TINY, part_head=False)).eval()(x)
    labels = torch.randint(0, PART_CLASSES, (2, 3, 8, 8))
    uniform = part_loss(torch.zeros(2, 3, PART_CLASSES, 8, 8), labels)
    assert uniform.shape == (2, 3) and torch.allclose(uniform, torch.full((2, 3), float(np.log(PART_CLASSES))))
    perfect = 20.0 * torch.nn.functional.one_hot(labels, PART_CLASSES).permute(0, 1, 4, 2, 3).float()
    assert part_loss(perfect, labels).max() < 1e-6
    # the head's gradient reaches the backbone (the point of the dense signal)
    hmr.train()
    part_loss(hmr(x)["part_logits"], labels).mean().backward()
    assert hmr.encoder.layers[3][0].conv1.weight.grad.abs().sum() > 0


def test_body_frame_joint_loss_ignores_a_wrong_root(body):
    torch.manual_seed(1)
    B, T = 2, 2
    sk = Skeleton(body)
    theta = torch.randn(B, T, 72) * 0.3
    beta = torch.randn(B, T, 10) * 0.5
    R = roma.rotvec_to_rotmat(theta.reshape(B, T, 24, 3))
    gt = sk(R, beta)
    gt = gt - gt[..., :1, :]
    turned = R.clone()
    turned[..., 0, :, :] = roma.rotvec_to_rotmat(torch.tensor([0.0, np.pi, 0.0])) @ R[..., 0, :, :]  # back for front
    assert joints3d_loss(sk(turned, beta), gt).min() > 0.01
    assert body_frame_joints3d_loss(turned, beta, theta, gt, sk).max() < 1e-10
    bent = turned.clone()
    bent[..., 18, :, :] = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, 1.0])) @ R[..., 18, :, :]  # left elbow
    assert body_frame_joints3d_loss(bent, beta, theta, gt, sk).min() > 1e-4
    # total_loss adds it with its weight
    batch = {"theta": theta, "beta": beta, "j3d": gt, "j2d": gt[..., :2], "vis": torch.ones(B, T, 24)}
    batch["has_3d"] = torch.ones(B, T)
    cam = torch.tensor([1.0, 0, 0]).repeat(B, T, 1)
    pred = decode_phi(torch.cat([rotmat_to_6d(bent).reshape(B, T, -1), beta, cam], -1))
    w0, w1 = LossWeights(), LossWeights(joints3d_body=2.0)
    l0, _ = total_loss(pred, batch, sk, w0, use_shape=False)
    l1, parts = total_loss(pred, batch, sk, w1, use_shape=False)
    assert l1.item() == pytest.approx(l0.item() + 2.0 * T * parts["joints3d_body"].item(), rel=1e-5)
    # a part head's logits need their labels: a clear error without them, the cross-entropy with them
    with_head = dict(pred, part_logits=torch.zeros(B, T, PART_CLASSES, 2, 2))
    with pytest.raises(SynthError, match="part_labels"):
        total_loss(with_head, batch, sk, w0, use_shape=False)
    batch["part_labels"] = torch.zeros(B, T, 2, 2, dtype=torch.long)
    l2, parts = total_loss(with_head, batch, sk, w0, use_shape=False)
    assert parts["parts"].item() == pytest.approx(np.log(PART_CLASSES), rel=1e-5)
    assert l2.item() == pytest.approx(l0.item() + T * np.log(PART_CLASSES), rel=1e-5)


def test_architecture_check_treats_a_missing_setting_as_its_default():
    from train.checkpoint import check_architecture
    from train.config import TrainConfig

    cfg = TrainConfig()
    old = {"config": {"model": {k: v for k, v in dataclasses.asdict(cfg.model).items() if k != "part_head"}}}
    check_architecture(old, cfg, None, "--resume")  # a checkpoint from before the setting: no head
    cfg.model.part_head = True
    with pytest.raises(SynthError, match="part_head"):
        check_architecture(old, cfg, None, "--resume")


def test_soft_argmax_finds_the_peak_in_crop_units():
    from train.models import soft_argmax

    logits = torch.zeros(2, 24, 8, 4)
    assert soft_argmax(logits).abs().max() < 1e-6  # uniform: the crop's centre
    logits[0, 3, 6, 1] = 50.0  # row 6 of 8, column 1 of 4: pixel centre x = 3/4 - 1, y = 13/8 - 1
    xy = soft_argmax(logits)
    assert xy.shape == (2, 24, 2)
    assert torch.allclose(xy[0, 3], torch.tensor([-0.25, 0.625]), atol=1e-5)


def test_joint_head_feeds_the_regressor_and_its_loss_trains_the_backbone(body):
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, part_head=False, joint_head=True)
    x = torch.randn(2, 3, 3, 32, 32)
    hmr, mv = HMR(cfg).eval(), MVIPER(cfg).eval()
    with torch.no_grad():
        out = hmr(x)
        assert out["j2d_heat"].shape == (2, 3, 24, 2) and mv(x)["j2d_heat"].shape == (2, 3, 24, 2)
        assert "j2d_heat" not in HMR(TINY).eval()(x)
        # the regressor reads the coordinates: sharper heatmaps move the joints, and the joints move phi
        for conv in hmr.joint_head.convs:
            conv.weight.mul_(20.0)
        moved = hmr(x)
        assert (moved["j2d_heat"] - out["j2d_heat"]).abs().max() > 1e-2
        assert (moved["phi"] - out["phi"]).abs().max() > 1e-5
    # total_loss adds the masked L1 of the soft-argmax joints with its weight
    B, T = 2, 3
    pred = {k: v for k, v in out.items()}
    batch = {
        "theta": torch.zeros(B, T, 72),
        "beta": torch.zeros(B, T, 10),
        "j3d": torch.zeros(B, T, 24, 3),
        "j2d": out["j2d_heat"] + 0.5,
        "vis": torch.ones(B, T, 24),
        "has_3d": torch.ones(B, T),
    }
    batch["vis"][..., 0] = 0.0
    l0, _ = total_loss(pred, batch, Skeleton(body), LossWeights(joints2d_heat=0.0), use_shape=False)
    l1, parts = total_loss(pred, batch, Skeleton(body), LossWeights(joints2d_heat=2.0), use_shape=False)
    assert parts["joints2d_heat"].item() == pytest.approx(1.0, rel=1e-5)  # |0.5| + |0.5| per visible joint
    assert l1.item() == pytest.approx(l0.item() + 2.0 * T, rel=1e-5)
    # the heatmap loss alone reaches the backbone
    hmr.train()
    p = hmr(x)
    (p["j2d_heat"] - 0.3).abs().mean().backward()
    assert hmr.encoder.layers[1][0].conv1.weight.grad.abs().sum() > 0
