"""MocapClip: a skeleton's per-frame joint positions (and, where the file records them, its
joints' global rotations), the readers' common output.

Joint names are kept as the file spells them; `canonical_names` maps them to CMU's ASF bone
names (lfemur, ltibia, ...) so the MoSh fit needs one correspondence table only. A BVH joint
sits at the start of the ASF bone of the same meaning (MotionBuilder "LeftUpLeg" = 3ds Max
"LeftHip" = ASF "lfemur": the hip joint centre).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# CMU's 31 ASF segments in the cgspeed BVH order.
CMU_CANONICAL = (
    "root",
    "lhipjoint",
    "lfemur",
    "ltibia",
    "lfoot",
    "ltoes",
    "rhipjoint",
    "rfemur",
    "rtibia",
    "rfoot",
    "rtoes",
    "lowerback",
    "upperback",
    "thorax",
    "lowerneck",
    "upperneck",
    "head",
    "lclavicle",
    "lhumerus",
    "lradius",
    "lwrist",
    "lhand",
    "lfingers",
    "lthumb",
    "rclavicle",
    "rhumerus",
    "rradius",
    "rwrist",
    "rhand",
    "rfingers",
    "rthumb",
)

# The two namings of the cgspeed BVH conversion, in CMU_CANONICAL order.
MOTIONBUILDER_NAMES = (
    "Hips",
    "LHipJoint",
    "LeftUpLeg",
    "LeftLeg",
    "LeftFoot",
    "LeftToeBase",
    "RHipJoint",
    "RightUpLeg",
    "RightLeg",
    "RightFoot",
    "RightToeBase",
    "LowerBack",
    "Spine",
    "Spine1",
    "Neck",
    "Neck1",
    "Head",
    "LeftShoulder",
    "LeftArm",
    "LeftForeArm",
    "LeftHand",
    "LeftFingerBase",
    "LeftHandIndex1",
    "LThumb",
    "RightShoulder",
    "RightArm",
    "RightForeArm",
    "RightHand",
    "RightFingerBase",
    "RightHandIndex1",
    "RThumb",
)
MAX_NAMES = (
    "Hips",
    "LHipJoint",
    "LeftHip",
    "LeftKnee",
    "LeftAnkle",
    "LeftToe",
    "RHipJoint",
    "RightHip",
    "RightKnee",
    "RightAnkle",
    "RightToe",
    "lowerback",
    "Chest",
    "Chest2",
    "lowerneck",
    "Neck",
    "Head",
    "LeftCollar",
    "LeftShoulder",
    "LeftElbow",
    "LeftWrist",
    "lhand",
    "LFingers",
    "LThumb",
    "RightCollar",
    "RightShoulder",
    "RightElbow",
    "RightWrist",
    "rhand",
    "RFingers",
    "RThumb",
)

# The same words mean different joints in the two namings ("Neck", "LeftShoulder"), so the
# naming is recognised first by names only one of them uses.
_NAMINGS = {
    "cmu_asf": (("lfemur", "rfemur"), CMU_CANONICAL),
    "motionbuilder": (("leftupleg", "rightupleg"), MOTIONBUILDER_NAMES),
    "3dsmax": (("lefthip", "righthip"), MAX_NAMES),
}


def detect_naming(joint_names: list[str] | tuple[str, ...]) -> str | None:
    lower = {n.lower() for n in joint_names}
    for naming, (keys, _) in _NAMINGS.items():
        if all(k in lower for k in keys):
            return naming
    return None


def canonical_names(joint_names: list[str] | tuple[str, ...]) -> list[str | None]:
    """CMU ASF name for every joint (None where unknown); SMPL-named clips map to themselves."""
    naming = detect_naming(joint_names)
    if naming is None:
        return [None] * len(joint_names)
    table = {a.lower(): c for a, c in zip(_NAMINGS[naming][1], CMU_CANONICAL)}
    return [table.get(n.lower()) for n in joint_names]


@dataclass
class MocapClip:
    """Joint positions of one take. World frame: SMPL (Y up), metres; fps in frames/second.

    `rotations`, where the file records joint rotations (BVH, ASF/AMC), are the global rotations
    of each joint's segment (the bone starting at the joint) relative to the file's rest pose,
    in the same world frame: the segment's rest-pose directions d map to rotations[t, j] @ d.
    Position-only clips (AMASS joints) have None.
    """

    name: str  # clip id, e.g. "cmu/02_01_walk"
    joint_names: list[str]
    parents: np.ndarray  # (J,) int, -1 for the root; parent index < child index
    positions: np.ndarray  # (T, J, 3) float64 metres, SMPL world frame (Y up)
    fps: float
    source: str = ""  # path of the file(s) read
    checksum: str = ""  # sha256 of the source bytes: the MoSh cache key
    rotations: np.ndarray | None = None  # (T, J, 3, 3) float64 global segment rotations, or None

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def _sample_at(self, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Source frames i0, i1 (T',) and blend weights w (T',) of the frames at `fps`."""
        t_in = np.arange(self.num_frames) / self.fps
        n_out = max(1, int(np.floor(t_in[-1] * fps + 1e-6)) + 1)
        x = np.arange(n_out) / fps * self.fps
        i0 = np.clip(np.floor(x).astype(int), 0, self.num_frames - 1)
        i1 = np.minimum(i0 + 1, self.num_frames - 1)
        return i0, i1, x - i0

    def resampled(self, fps: float) -> np.ndarray:
        """Joint positions linearly interpolated at `fps` over the clip's duration: (T', J, 3)."""
        if abs(fps - self.fps) < 1e-6:
            return self.positions
        i0, i1, w = self._sample_at(fps)
        w = w[:, None, None]
        return self.positions[i0] * (1 - w) + self.positions[i1] * w

    def resampled_rotations(self, fps: float) -> np.ndarray | None:
        """Global rotations slerped at `fps` (the frames of `resampled`): (T', J, 3, 3), or None."""
        if self.rotations is None or abs(fps - self.fps) < 1e-6:
            return self.rotations
        from scipy.spatial.transform import Rotation

        i0, i1, w = self._sample_at(fps)
        J = self.rotations.shape[1]
        r0 = Rotation.from_matrix(self.rotations[i0].reshape(-1, 3, 3))
        step = (r0.inv() * Rotation.from_matrix(self.rotations[i1].reshape(-1, 3, 3))).as_rotvec()
        out = r0 * Rotation.from_rotvec(step * np.repeat(w, J)[:, None])
        return out.as_matrix().reshape(len(i0), J, 3, 3)


def file_checksum(*paths: str | Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()
