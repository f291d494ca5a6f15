"""Training losses, per frame (B, T) so that the total follows the issue:

    L = sum_t lambda (L_proj,t + delta_t (L_3D,t + L_smpl,t)) + lambda_shape L_shape,
    L_shape = sum_t ||beta_{t+1} - beta_t||^2,

averaged over the batch. delta_t = 0 for frames without 3D ground truth (has_3d). The projection is
orthographic in crop coordinates: x_2d = s * X[:, :2] + (t_x, t_y), X the model-space joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch


@dataclass
class LossWeights:
    proj: float = 1.0  # lambda on the masked L1 2D joint loss
    joints3d: float = 1.0  # on the pelvis-relative 3D joint MSE (m^2, summed over xyz)
    pose: float = 1.0  # on the rotation-matrix MSE
    beta: float = 0.001
    shape: float = 1.0  # on L_shape (video model only)


def project(joints: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """(..., J, 3) joints, (..., 3) [s, tx, ty] -> (..., J, 2) orthographic projection."""
    return cam[..., None, :1] * joints[..., :2] + cam[..., None, 1:]


def projection_loss(pred_j2d: torch.Tensor, gt_j2d: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Masked L1 over visible joints, mean over them per frame: (B,T,J,2), (B,T,J) -> (B,T)."""
    err = (pred_j2d - gt_j2d).abs().sum(-1) * vis
    return err.sum(-1) / vis.sum(-1).clamp(min=1.0)


def joints3d_loss(pred_j3d: torch.Tensor, gt_j3d: torch.Tensor) -> torch.Tensor:
    """Pelvis-relative squared error, mean over joints: (B,T,J,3) -> (B,T)."""
    p = pred_j3d - pred_j3d[..., :1, :]
    g = gt_j3d - gt_j3d[..., :1, :]
    return ((p - g) ** 2).sum(-1).mean(-1)


def smpl_loss(pred_rotmat: torch.Tensor, gt_theta: torch.Tensor, pred_beta: torch.Tensor, gt_beta: torch.Tensor, w: LossWeights) -> torch.Tensor:
    """Rotation-matrix MSE (unique, unlike axis-angle) plus a small beta MSE: -> (B,T)."""
    gt_R = roma.rotvec_to_rotmat(gt_theta.reshape(*gt_theta.shape[:-1], 24, 3))
    pose = ((pred_rotmat - gt_R) ** 2).sum((-1, -2)).mean(-1)
    beta = ((pred_beta - gt_beta) ** 2).mean(-1)
    return w.pose * pose + w.beta * beta


def shape_smoothness(beta: torch.Tensor) -> torch.Tensor:
    """L_shape = sum_t ||beta_{t+1} - beta_t||^2: (B,T,10) -> (B,)."""
    return ((beta[:, 1:] - beta[:, :-1]) ** 2).sum((-1, -2))


def model_joints(body, rotmat_theta: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Body-model joints (B,T,24,3) of axis-angle theta (B,T,72) and beta (B,T,10), zero translation."""
    B, T = beta.shape[:2]
    out = body(beta.reshape(B * T, -1).float(), rotmat_theta.reshape(B * T, -1).float(), beta.new_zeros(B * T, 3).float())
    return out.joints[:, :24].reshape(B, T, 24, 3)


def total_loss(pred: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], body, w: LossWeights, use_shape: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """The training objective and its parts (batch means of the per-sequence sums over t)."""
    joints = model_joints(body, pred["theta"], pred["beta"])
    l_proj = projection_loss(project(joints, pred["cam"]), batch["j2d"], batch["vis"])
    delta = batch["has_3d"]
    l_3d = joints3d_loss(joints, batch["j3d"])
    l_smpl = smpl_loss(pred["rotmat"], batch["theta"], pred["beta"], batch["beta"], w)
    per_frame = w.proj * l_proj + delta * (w.joints3d * l_3d + l_smpl)
    l_shape = shape_smoothness(pred["beta"]) if use_shape else per_frame.new_zeros(len(per_frame))
    total = (per_frame.sum(1) + w.shape * l_shape).mean()
    parts = {
        "loss": float(total.detach()),
        "proj": float(l_proj.detach().mean()),
        "joints3d": float((l_3d * delta).detach().sum() / delta.sum().clamp(min=1)),
        "smpl": float((l_smpl * delta).detach().sum() / delta.sum().clamp(min=1)),
        "shape": float(l_shape.detach().mean()),
    }
    return total, parts
