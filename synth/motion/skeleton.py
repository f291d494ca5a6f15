"""Joints and ground contact for the motion stage, from whatever body is at hand.

`Skeleton.resolve(x)` accepts a body model (synth.body API: callable, `.faces`), a
`synth.mosh.joints.JointModel`, or None (the default body model, loaded once per process).
With a body model the lowest point is the lowest mesh vertex (the sole); with joints only it is
the lowest joint (ankle/toe), which is consistent within one skeleton, and consistency is all
grounding needs (heights are measured against the same skeleton's floor).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.spatial.transform import Rotation

from synth.mocap.kinematics import forward_kinematics
from synth.mosh.joints import JointModel

_CHUNK = 256  # frames per body-model forward pass


@cache
def _default_skeleton() -> Skeleton:
    from synth.body import load_body_model

    return Skeleton(body=load_body_model())


class Skeleton:
    def __init__(self, body=None, joint_model: JointModel | None = None):
        if body is None and joint_model is None:
            raise ValueError("a Skeleton needs a body model or a JointModel")
        self.body = body
        self.model = joint_model or JointModel.from_body(body)

    @classmethod
    def resolve(cls, x) -> Skeleton:
        if isinstance(x, Skeleton):
            return x
        if x is None:
            return _default_skeleton()
        if isinstance(x, JointModel):
            return cls(joint_model=x)
        return cls(body=x)

    @property
    def identifier(self) -> str:
        return getattr(self.body, "identifier", "") or self.model.identifier

    def _body_pass(self, poses, betas, trans):
        J, low, V = [], [], []
        for out in self.body.sequence_forward(betas, poses, trans, _CHUNK):
            J.append(out.joints[:, :24].double().cpu().numpy())
            v = out.vertices.double().cpu().numpy()
            low.append(v[..., 1].min(1))
            V.append(v)
        return np.concatenate(J), np.concatenate(low), V

    def joints(self, poses: np.ndarray, betas: np.ndarray, trans: np.ndarray) -> np.ndarray:
        """(T,24,3) world joints, SMPL frame."""
        poses = np.asarray(poses, float).reshape(-1, 24, 3)
        trans = np.asarray(trans, float).reshape(-1, 3)
        if self.body is not None:
            return self._body_pass(poses.reshape(-1, 72), betas, trans)[0]
        rest = self.model.rest_joints(np.asarray(betas, float))
        offsets = rest - rest[np.maximum(self.model.parents, 0)]
        offsets[0] = rest[0]
        return forward_kinematics(self.model.parents, offsets, Rotation.from_rotvec(poses).as_matrix(), trans)[0]

    def lowest(self, poses: np.ndarray, betas: np.ndarray, trans: np.ndarray) -> np.ndarray:
        """(T,) height (Y) of the lowest point of the body: mesh vertex if a body model, else joint."""
        if self.body is not None:
            return self._body_pass(np.asarray(poses).reshape(-1, 72), betas, np.asarray(trans).reshape(-1, 3))[1]
        return self.joints(poses, betas, trans)[..., 1].min(1)

    def vertices(self, poses: np.ndarray, betas: np.ndarray, trans: np.ndarray) -> np.ndarray | None:
        """(T,V,3) mesh vertices, or None without a body model."""
        if self.body is None:
            return None
        return np.concatenate(
            self._body_pass(np.asarray(poses).reshape(-1, 72), betas, np.asarray(trans).reshape(-1, 3))[2]
        )
