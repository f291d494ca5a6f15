"""CMU -> SMPL joint correspondence used by the MoSh fit.

CMU joints are the starts of CMU's ASF segments (the cgspeed BVH joints, either naming).
Where the two skeletons define a joint differently (CMU's root sits between the hip joints
and higher than SMPL's pelvis; its torso and neck points are lower than SMPL's; its "fingers"
point is 4 cm past the wrist, SMPL's hand joint about 9 cm), the fit learns one constant
offset per joint and subject, expressed in the frame of the SMPL joint's parent segment
(pelvis for the pelvis), as MoSh does for markers. Offsets have a weak prior towards zero.

SMPL joints without a CMU point (spine3, collars) or whose rotation no point observes (feet,
head, hands: leaves of the tree) are placed by the chain and the pose prior, unless the clip
records rotations: then each SMPL segment listed in CMU_SEGMENT_FOR_SMPL follows the
global rotation of its CMU segment (synth/mosh/orientation.py).
"""

from __future__ import annotations

import numpy as np

from synth.body.joints import JOINT_NAMES

SMPL_JOINT_NAMES = JOINT_NAMES  # the SMPL skeleton's one home is synth/body/joints.py

# SMPL joint -> (CMU canonical joint, weight, segment). A CMU joint is the start of a CMU
# segment and rides rigidly on CMU's parent segment; "parent" attaches it (with its offset) to
# the SMPL joint's parent segment, "own" to the SMPL joint's own segment. CMU's neck bends about
# its lower-neck joint, 15-20 cm below SMPL's neck joint, so its neck and head points ride on
# SMPL's neck segment. Hands/fingers are weighted down: CMU's hand segments are short and noisy.
CMU_TO_SMPL: dict[str, tuple[str, float, str]] = {
    "pelvis": ("root", 1.0, "own"),
    "left_hip": ("lfemur", 1.0, "parent"),
    "right_hip": ("rfemur", 1.0, "parent"),
    "spine1": ("upperback", 0.5, "parent"),
    "left_knee": ("ltibia", 1.0, "parent"),
    "right_knee": ("rtibia", 1.0, "parent"),
    "spine2": ("thorax", 0.5, "parent"),
    "left_ankle": ("lfoot", 1.0, "parent"),
    "right_ankle": ("rfoot", 1.0, "parent"),
    "left_foot": ("ltoes", 0.7, "parent"),
    "right_foot": ("rtoes", 0.7, "parent"),
    "neck": ("upperneck", 0.7, "own"),
    "head": ("head", 0.7, "parent"),
    "left_shoulder": ("lhumerus", 1.0, "parent"),
    "right_shoulder": ("rhumerus", 1.0, "parent"),
    "left_elbow": ("lradius", 1.0, "parent"),
    "right_elbow": ("rradius", 1.0, "parent"),
    "left_wrist": ("lwrist", 1.0, "parent"),
    "right_wrist": ("rwrist", 1.0, "parent"),
    "left_hand": ("lfingers", 0.3, "parent"),
    "right_hand": ("rfingers", 0.3, "parent"),
}

# SMPL segment (the bone starting at the SMPL joint) -> (CMU segment whose global rotation it
# follows, weight). CMU's forearm (radius) is a pure hinge and its pronation sits in the short
# "wrist" segment, so SMPL's hand (wrist joint) follows CMU's "hand", which carries both. CMU's
# thorax spans SMPL's spine2 and spine3 (the clavicles hang on it), so both follow it.
CMU_SEGMENT_FOR_SMPL: dict[str, tuple[str, float]] = {
    "pelvis": ("root", 1.0),
    "left_hip": ("lfemur", 1.0),
    "right_hip": ("rfemur", 1.0),
    "left_knee": ("ltibia", 1.0),
    "right_knee": ("rtibia", 1.0),
    "left_ankle": ("lfoot", 1.0),
    "right_ankle": ("rfoot", 1.0),
    "left_foot": ("ltoes", 1.0),
    "right_foot": ("rtoes", 1.0),
    "spine1": ("upperback", 1.0),
    "spine2": ("thorax", 1.0),
    "spine3": ("thorax", 1.0),
    "neck": ("upperneck", 1.0),
    "head": ("head", 1.0),
    "left_collar": ("lclavicle", 1.0),
    "right_collar": ("rclavicle", 1.0),
    "left_shoulder": ("lhumerus", 1.0),
    "right_shoulder": ("rhumerus", 1.0),
    "left_elbow": ("lradius", 1.0),
    "right_elbow": ("rradius", 1.0),
    "left_wrist": ("lhand", 0.5),
    "right_wrist": ("rhand", 0.5),
    "left_hand": ("lfingers", 1.0),
    "right_hand": ("rfingers", 1.0),
}

# Limb segments whose length is defined alike in both skeletons: used to initialise beta.
LENGTH_PAIRS = (
    ("left_hip", "left_knee"),
    ("right_hip", "right_knee"),
    ("left_knee", "left_ankle"),
    ("right_knee", "right_ankle"),
    ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "right_shoulder"),
)


def smpl_targets(canonical: list[str | None], positions: np.ndarray, parents: np.ndarray):
    """Target points for the corresponded SMPL joints.

    canonical: CMU name per clip joint; positions (T,J,3); parents: SMPL's (24,). Returns
    smpl_idx (K,), weights (K,), segments (K,) (SMPL joint whose frame carries the point and
    its offset) and targets (T,K,3). SMPL-named clips (e.g. AMASS) correspond one to one.
    """
    lookup = {n: i for i, n in enumerate(canonical) if n is not None}
    if all(n in lookup for n in SMPL_JOINT_NAMES):  # already SMPL joints
        idx = np.arange(24)
        seg = np.where(parents < 0, idx, parents)
        return idx, np.ones(24), seg, positions[:, [lookup[n] for n in SMPL_JOINT_NAMES]]
    idx, w, seg, cols = [], [], [], []
    for k, name in enumerate(SMPL_JOINT_NAMES):
        if name in CMU_TO_SMPL and CMU_TO_SMPL[name][0] in lookup:
            cmu, weight, where = CMU_TO_SMPL[name]
            idx.append(k)
            w.append(weight)
            seg.append(k if where == "own" or parents[k] < 0 else int(parents[k]))
            cols.append(lookup[cmu])
    return np.array(idx), np.array(w), np.array(seg), positions[:, cols]


def smpl_segments(canonical: list[str | None]):
    """SMPL segments of CMU_SEGMENT_FOR_SMPL the clip names: segment indices (S,), weights (S,)
    and the clip joint carrying each (S,). SMPL-named clips have none (positions only)."""
    lookup = {n: i for i, n in enumerate(canonical) if n is not None}
    seg, w, cols = [], [], []
    for k, name in enumerate(SMPL_JOINT_NAMES):
        if name in CMU_SEGMENT_FOR_SMPL and CMU_SEGMENT_FOR_SMPL[name][0] in lookup:
            cmu, weight = CMU_SEGMENT_FOR_SMPL[name]
            seg.append(k)
            w.append(weight)
            cols.append(lookup[cmu])
    return np.array(seg, int), np.array(w, float), np.array(cols, int)
