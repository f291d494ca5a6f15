"""Motion capture readers -> MocapClip (joint positions, metres, SMPL world frame, Y up).

load_clip dispatches on the file type: .bvh (any naming/units), .asf + .amc (CMU's original
format; give either file, the partner is found beside it), .npz (AMASS-style SMPL parameters, or
a MoshedSequence such as `train.mviper predict` writes for motion transfer, turned into SMPL joint
positions with the body model). load_amass reads an AMASS .npz directly as a MoshedSequence. Built-in synthetic motions: synth.mocap.builtin.
"""

from __future__ import annotations

from pathlib import Path

from synth.errors import SynthError
from synth.mocap.amass import load_amass
from synth.mocap.asf_amc import load_asf_amc
from synth.mocap.bvh import load_bvh
from synth.mocap.clip import MocapClip

__all__ = ["MocapClip", "load_clip", "load_amass", "load_bvh", "load_asf_amc"]


def _asf_partner(amc: Path) -> Path:
    """CMU names motions SUBJECT_TRIAL.amc beside SUBJECT.asf."""
    candidates = [amc.with_suffix(".asf"), amc.with_name(amc.stem.split("_")[0] + ".asf")]
    candidates += sorted(amc.parent.glob("*.asf"))
    for c in candidates:
        if c.is_file():
            return c
    raise SynthError("no .asf skeleton found beside the .amc motion", path=amc, fix="put SUBJECT.asf next to it")


def load_clip(path: str | Path, body=None, fps: float | None = None) -> MocapClip:
    """Read any supported motion file as a MocapClip.

    `body` is used only for .npz (SMPL parameters -> joint positions; default body model if
    None); `fps` only for AMC, which does not store its rate (CMU: 120).
    """
    path = Path(path)
    if not path.exists():
        raise SynthError("file not found", path=path, fix="check the path")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        return load_bvh(path)
    if suffix == ".amc":
        return load_asf_amc(_asf_partner(path), path, fps=fps or 120.0)
    if suffix == ".asf":
        amcs = sorted(path.parent.glob(path.stem + "*.amc"))
        if not amcs:
            raise SynthError(
                "this .asf is a skeleton only: its .amc motion is missing",
                path=path,
                fix=f"put the motion ({path.stem}_NN.amc) beside it and pass the .amc",
            )
        if len(amcs) != 1:
            raise SynthError(
                f"found {len(amcs)} .amc files for this skeleton", path=path, fix="pass the .amc file itself"
            )
        return load_asf_amc(path, amcs[0], fps=fps or 120.0)
    if suffix == ".npz":
        return _smpl_clip(path, body)
    raise SynthError(f"unsupported motion file type {suffix!r}", path=path, fix="use .bvh, .asf/.amc or an AMASS .npz")


def _moshed_or_amass(path: Path, body):
    """A MoshedSequence .npz (SMPL world, Y up: `synth mosh`, `train.mviper predict` motion.npz) as it is;
    anything else as AMASS (Z up)."""
    import numpy as np

    from synth.sequence import MoshedSequence

    try:
        with np.load(path, allow_pickle=False) as z:
            moshed = {"fps", "fit_error_mm", "poses", "betas", "trans"} <= set(
                z.files
            ) and "mocap_framerate" not in z.files
    except Exception:  # noqa: BLE001 - not a zip, empty, truncated: load_amass names the unreadable file
        moshed = False
    return MoshedSequence.load(path) if moshed else load_amass(path, body=body)


def _smpl_clip(path: Path, body) -> MocapClip:
    import numpy as np

    from synth.body.joints import JOINT_NAMES as SMPL_JOINT_NAMES
    from synth.mocap.clip import file_checksum

    if body is None:
        from synth.body import load_body_model

        body = load_body_model()
    seq = _moshed_or_amass(path, body)
    return MocapClip(
        name=seq.source,
        joint_names=list(SMPL_JOINT_NAMES),
        parents=np.asarray(body.parents),
        positions=body.sequence_joints(seq.betas, seq.poses, seq.trans),
        fps=seq.fps,
        source=str(path),
        checksum=file_checksum(path),
    )
