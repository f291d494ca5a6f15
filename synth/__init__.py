"""Synthetic clothed-human action videos from motion capture.

Stages (each runnable alone, decoupled through files on disk): mocap -> mosh -> motion ->
cloth -> render (blender_scripts/) -> annotate -> shards. See docs/ARCHITECTURE.md.

The public API below is imported lazily, so that `import synth` stays cheap (no torch, numba or bpy until a
stage is used)::

    import synth

    body = synth.load_body_model()                        # embedded open body, or SMPL given by path
    seq = synth.mosh_clip(synth.load_clip("02_01.bvh"), body)
    cfg = synth.load_config("ci")                          # or a YAML path; synth.PipelineConfig() for defaults
    synth.generate("out/ci", cfg)                          # plan -> motion -> cloth -> render -> shards
    for key, sample in synth.iter_samples("out/ci"):           # decoded: frames (T,H,W,3), joints, smpl, ...
        print(key, sample["frames"].shape, sample["joints"]["j3d_cam"].shape)
"""

from __future__ import annotations

from synth.lazy import lazy_exports

__version__ = "0.1.0"

# module -> the public names it defines (the one home of each)
_API, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "synth.body.model": ("load_body_model",),
        "synth.mocap": ("load_clip",),
        "synth.mosh.fit": ("mosh_clip",),
        "synth.sequence": ("MoshedSequence",),
        "synth.motion.interpolate": ("interpolate_pair",),
        "synth.cloth.simulate": ("simulate_sequence",),
        "synth.scene.sampling": ("sample_scene",),
        "synth.scene.job": ("write_render_job",),
        "synth.scene.runner": ("run_render",),
        "synth.pipeline.config": ("PipelineConfig", "load_config"),
        "synth.pipeline.runner": ("generate",),
        "synth.shards.reader": ("iter_samples",),
        "synth.errors": ("SynthError",),
    },
)
__all__ = ["__version__", *_API]
