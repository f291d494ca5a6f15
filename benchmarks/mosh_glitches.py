"""Mocap glitches in the shared CMU clips and the built-in motions: what `synth/mosh/glitches.py`
repairs, and the joint and body-vertex speeds of each fit without and with the repair.

    python benchmarks/mosh_glitches.py [CLIP.bvh ...]   (default: the shared CMU clips)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from synth.body import load_body_model
from synth.mocap import load_clip
from synth.mocap.builtin import BUILTIN_MOTIONS, builtin_motion
from synth.mosh.fit import mosh_clip
from synth.mosh.glitches import GlitchSettings, frame_ranges, repair_glitches
from synth.mosh.joints import JointModel
from synth.paths import shared_assets_dir


def speeds(body, seq) -> tuple[float, float]:
    """Largest joint and body-vertex speed of a motion, m/s."""
    verts, joints = body.evaluate(seq.betas, seq.poses, seq.trans)
    j = np.linalg.norm(np.diff(np.asarray(joints)[:, :24], axis=0), axis=-1) * seq.fps
    v = np.linalg.norm(np.diff(np.asarray(verts), axis=0), axis=-1) * seq.fps
    return float(j.max()), float(v.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path)
    args = ap.parse_args()
    root = shared_assets_dir()
    clips = args.clips or (sorted((root / "motion" / "cmu_bvh").glob("*.bvh")) if root else [])
    body = load_body_model()
    jm = JointModel.from_body(body)
    print("| motion | frames | repaired frames | joint max m/s before -> after | body vertex max m/s before -> after |")
    print("| --- | ---: | --- | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for path in clips:
            clip = load_clip(path, body=body)
            raw = mosh_clip(clip, body, fps=30.0, cache_dir=tmp, glitches=GlitchSettings(rounds=0))
            rows.append((clip.name, raw, mosh_clip(clip, body, fps=30.0, cache_dir=tmp)))
        for name in BUILTIN_MOTIONS:
            raw = builtin_motion(name, fps=30.0)
            rows.append((f"builtin/{name}", raw, repair_glitches(raw, jm)[0]))
        for name, raw, fixed in rows:
            (j0, v0), (j1, v1) = speeds(body, raw), speeds(body, fixed)
            ranges = ", ".join(f"[{a}:{b})" for a, b in frame_ranges(fixed.repaired)) or "none"
            print(f"| {name} | {raw.num_frames} | {ranges} | {j0:.1f} -> {j1:.1f} | {v0:.1f} -> {v1:.1f} |")


if __name__ == "__main__":
    main()
