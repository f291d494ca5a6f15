"""Body model: a batched smplx.SMPL wrapper, real SMPL files or the embedded open default.

from synth.body import load_body_model, JOINT_NAMES
body = load_body_model()                 # $SYNTH_SMPL_MODEL or the embedded open model
out = body(betas, poses, trans)          # (B,10), (B,72), (B,3) -> out.vertices, out.joints
"""

from synth.body.joints import JOINT_NAMES, PARENTS
from synth.body.model import BodyModel, BodyOutput, load_body_model, read_smpl_file

__all__ = ["JOINT_NAMES", "PARENTS", "BodyModel", "BodyOutput", "load_body_model", "read_smpl_file"]
