"""Training losses, per frame (B, T) so that the total follows the issue:

    L = sum_t lambda (L_proj,t + delta_t (L_3D,t + L_smpl,t)) + lambda_shape L_shape,
    L_shape = sum_t ||beta_{t+1} - beta_t||^2,

averaged over the batch. delta_t = 0 for frames without 3D ground truth (has_3d). The projection is
orthographic in crop coordinates: x_2d = s * X[:, :2] + (t_x, t_y), X the model-space joints.

The losses need the 24 joints only, never the mesh: `Skeleton` gives them from the predicted rotation
matrices through the body model's own kinematic chain (smplx's batch_rigid_transform) with the rest
joints precomputed as J_regressor @ (v_template + shapedirs beta), which is exactly what the full
model returns as its first 24 joints, at a tiny fraction of the cost of skinning all vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch

from synth.errors import SynthError


@dataclass
class LossWeights:
    proj: float = 1.0  # lambda on the masked L1 2D joint loss
    joints3d: float = 1.0  # on the pelvis-relative 3D joint MSE (m^2, summed over xyz)
    pose: float = 1.0  # on the rotation-matrix MSE
    beta: float = 0.001
    shape: float = 1.0  # on L_shape (video model only)
    parts: float = 1.0  # on the per-pixel bone-part cross-entropy (models with model.part_head only)
    joints3d_body: float = 0.0  # on the 3D joint MSE with the true root rotation (articulation only); 0: off
    joints2d_heat: float = 1.0  # on the masked L1 of the joint head's soft-argmax 2D joints (model.joint_head only)


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


def smpl_loss(
    pred_rotmat: torch.Tensor, gt_theta: torch.Tensor, pred_beta: torch.Tensor, gt_beta: torch.Tensor, w: LossWeights
) -> torch.Tensor:
    """Rotation-matrix MSE (unique, unlike axis-angle) plus a small beta MSE: -> (B,T)."""
    gt_R = roma.rotvec_to_rotmat(gt_theta.reshape(*gt_theta.shape[:-1], 24, 3))
    pose = ((pred_rotmat - gt_R) ** 2).sum((-1, -2)).mean(-1)
    beta = ((pred_beta - gt_beta) ** 2).mean(-1)
    return w.pose * pose + w.beta * beta


def part_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy, mean over the pixels of a frame: (B,T,C,h,w) logits, (B,T,h,w) labels -> (B,T)."""
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(0, 1), reduction="none")
    return ce.mean((-1, -2)).reshape(labels.shape[:2])


def body_frame_joints3d_loss(
    pred_rotmat: torch.Tensor, pred_beta: torch.Tensor, gt_theta: torch.Tensor, gt_j3d: torch.Tensor, skeleton
) -> torch.Tensor:
    """joints3d_loss of the predicted articulation under the TRUE root rotation: a wrong root (front and
    back confused) then cannot pull the limbs towards the body's centre. -> (B,T)."""
    gt_root = roma.rotvec_to_rotmat(gt_theta[..., :3])[..., None, :, :]
    joints = skeleton(torch.cat([gt_root, pred_rotmat[..., 1:, :, :]], -3), pred_beta)
    return joints3d_loss(joints, gt_j3d)


def shape_smoothness(beta: torch.Tensor) -> torch.Tensor:
    """L_shape = sum_t ||beta_{t+1} - beta_t||^2: (B,T,10) -> (B,)."""
    return ((beta[:, 1:] - beta[:, :-1]) ** 2).sum((-1, -2))


def model_joints(body, theta: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Body-model joints (B,T,24,3) of axis-angle theta (B,T,72) and beta (B,T,10), zero translation (full mesh path)."""
    B, T = beta.shape[:2]
    out = body(beta.reshape(B * T, -1).float(), theta.reshape(B * T, -1).float(), beta.new_zeros(B * T, 3).float())
    return out.joints[:, :24].reshape(B, T, 24, 3)


class Skeleton(torch.nn.Module):
    """The body model's 24 posed joints from rotation matrices and betas, without the mesh."""

    def __init__(self, body):
        super().__init__()
        smpl = body.smpl
        J_reg = smpl.J_regressor.float()
        self.register_buffer("J_template", J_reg @ smpl.v_template.float())  # (24, 3)
        self.register_buffer(
            "J_shapedirs", torch.einsum("jv,vcl->jcl", J_reg, smpl.shapedirs.float()[..., :10])
        )  # (24, 3, 10)
        self.register_buffer("parents", smpl.parents.clone())
        self.to(getattr(body, "device", "cpu"))

    def forward(self, rotmat: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """rotmat (..., 24, 3, 3), beta (..., 10) -> joints (..., 24, 3), zero translation."""
        from smplx.lbs import batch_rigid_transform

        lead = beta.shape[:-1]
        rest = self.J_template + torch.einsum("nl,jcl->njc", beta.reshape(-1, beta.shape[-1]).float(), self.J_shapedirs)
        posed, _ = batch_rigid_transform(rotmat.reshape(-1, 24, 3, 3).float(), rest, self.parents)
        return posed.reshape(*lead, 24, 3)


def total_loss(
    pred: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], skeleton: Skeleton, w: LossWeights, use_shape: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training objective and its parts (batch means of the per-sequence sums over t), the parts as
    detached 0-d tensors: reading them is the caller's choice (a GPU sync), not every step's."""
    joints = skeleton(pred["rotmat"], pred["beta"])
    l_proj = projection_loss(project(joints, pred["cam"]), batch["j2d"], batch["vis"])
    delta = batch["has_3d"]
    l_3d = joints3d_loss(joints, batch["j3d"])
    l_smpl = smpl_loss(pred["rotmat"], batch["theta"], pred["beta"], batch["beta"], w)
    per_frame = w.proj * l_proj + delta * (w.joints3d * l_3d + l_smpl)
    zero = per_frame.new_zeros(())
    l_body = zero
    if w.joints3d_body:
        l_body = body_frame_joints3d_loss(pred["rotmat"], pred["beta"], batch["theta"], batch["j3d"], skeleton)
        per_frame = per_frame + delta * w.joints3d_body * l_body
    l_parts = zero
    if "part_logits" in pred:
        if "part_labels" not in batch:
            raise SynthError(
                "the model has a part head (model.part_head) but the batch has no part_labels",
                fix="load the data with ShardWindows(..., part_labels=True) (needs the seg pass), or turn the head off",
            )
        l_parts = part_loss(pred["part_logits"], batch["part_labels"])
        per_frame = per_frame + w.parts * l_parts
    l_heat = zero
    if "j2d_heat" in pred:
        l_heat = projection_loss(pred["j2d_heat"], batch["j2d"], batch["vis"])
        per_frame = per_frame + w.joints2d_heat * l_heat
    l_shape = shape_smoothness(pred["beta"]) if use_shape else per_frame.new_zeros(len(per_frame))
    total = (per_frame.sum(1) + w.shape * l_shape).mean()
    n3d = delta.sum().clamp(min=1)
    parts = {
        "loss": total.detach(),
        "proj": l_proj.detach().mean(),
        "joints3d": (l_3d * delta).detach().sum() / n3d,
        "smpl": (l_smpl * delta).detach().sum() / n3d,
        "shape": l_shape.detach().mean(),
        "parts": l_parts.detach().mean(),
        "joints3d_body": (l_body * delta).detach().sum() / n3d,
        "joints2d_heat": l_heat.detach().mean(),
    }
    return total, parts
