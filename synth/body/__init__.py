"""Body model: a batched smplx.SMPL wrapper, real SMPL files or the embedded open default.

from synth.body import load_body_model, JOINT_NAMES
body = load_body_model()                 # $SYNTH_SMPL_MODEL or the embedded open model
out = body(betas, poses, trans)          # (B,10), (B,72), (B,3) -> out.vertices, out.joints

Names are imported on first use (synth.lazy): `synth.body.joints` needs no torch.
"""

from synth.lazy import lazy_exports

_API, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "synth.body.joints": ("JOINT_NAMES", "PARENTS"),
        "synth.body.model": ("BodyModel", "BodyOutput", "load_body_model", "read_smpl_file"),
    },
)
__all__ = list(_API)
