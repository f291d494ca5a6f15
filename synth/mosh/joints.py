"""Joints-only SMPL: the 24 joints as a function of shape and pose, without skinning vertices.

SMPL's joints are J(beta) = J_regressor (v_template + shapedirs beta), linear in beta, chained
through the pose's rotations. So J0 (24,3) and Jdirs (24,3,10) probed once from any body model
give exact joints at a tiny fraction of a full forward pass; that is what makes the MoSh fit fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from synth.mocap.kinematics import depth_levels


@dataclass
class JointModel:
    parents: np.ndarray  # (24,) int, -1 for the pelvis
    J0: np.ndarray  # (24,3) rest joints at beta = 0
    Jdirs: np.ndarray  # (24,3,10) d joints / d beta
    identifier: str = ""  # body model "name:sha256"

    @classmethod
    def from_body(cls, body) -> JointModel:
        """Probe a body model (synth.body API) at zero pose with beta = 0 and unit betas."""
        betas = torch.cat([torch.zeros(1, 10), torch.eye(10)]).float()
        zeros = torch.zeros(11, 72)
        with torch.no_grad():
            joints = body(betas, zeros, torch.zeros(11, 3)).joints[:, :24].double().cpu().numpy()
        J0 = joints[0]
        Jdirs = np.moveaxis(joints[1:] - J0, 0, -1)
        return cls(np.asarray(body.parents, int).copy(), J0, Jdirs, getattr(body, "identifier", ""))

    def rest_joints(self, betas: np.ndarray) -> np.ndarray:
        return self.J0 + self.Jdirs @ np.asarray(betas, float)

    def torch_fk(self, device: str | torch.device = "cpu", dtype=torch.float32) -> TorchJointFK:
        return TorchJointFK(self, device, dtype)


class TorchJointFK:
    """Batched joint forward kinematics in torch, processed by tree depth (9 levels for SMPL)."""

    def __init__(self, model: JointModel, device="cpu", dtype=torch.float32):
        self.parents = np.asarray(model.parents)
        self.levels = depth_levels(self.parents)
        order = np.concatenate(self.levels)
        self.inverse_order = torch.as_tensor(np.argsort(order), device=device)
        pos_in_level = np.empty(len(order), int)
        for lv in self.levels:
            pos_in_level[lv] = np.arange(len(lv))
        self.level_idx = [torch.as_tensor(lv, device=device) for lv in self.levels]
        self.level_parent = [
            torch.as_tensor(pos_in_level[np.maximum(self.parents[lv], 0)], device=device) for lv in self.levels
        ]
        self.J0 = torch.as_tensor(model.J0, dtype=dtype, device=device)
        self.Jdirs = torch.as_tensor(model.Jdirs, dtype=dtype, device=device)
        self.parent_t = torch.as_tensor(np.maximum(self.parents, 0), device=device)

    def rest(self, betas: torch.Tensor) -> torch.Tensor:
        """(10,) or (B,10) -> rest joints (24,3) or (B,24,3)."""
        return self.J0 + torch.einsum("jck,...k->...jc", self.Jdirs, betas)

    def __call__(self, betas: torch.Tensor, rotmats: torch.Tensor, trans: torch.Tensor):
        """betas (10,) shared or (T,10); rotmats (T,24,3,3) local; trans (T,3).

        Returns joints (T,24,3) and global rotations (T,24,3,3), SMPL world frame.
        """
        T = rotmats.shape[0]
        rest = self.rest(betas)
        bones = (rest - rest[..., self.parent_t, :]).expand(T, -1, -1)
        G = [rotmats[:, self.level_idx[0]]]
        P = [rest[..., self.level_idx[0], :].expand(T, -1, -1) + trans[:, None]]
        for idx, par in zip(self.level_idx[1:], self.level_parent[1:]):
            Gp = G[-1][:, par]  # a joint's parent is always on the previous level
            G.append(Gp @ rotmats[:, idx])
            P.append(P[-1][:, par] + (Gp @ bones[:, idx, :, None])[..., 0])
        return torch.cat(P, 1)[:, self.inverse_order], torch.cat(G, 1)[:, self.inverse_order]
