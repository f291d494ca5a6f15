"""One sequence, end to end: motion -> body -> cloth -> render -> annotate -> sample tar.

`run_sequence` is what a worker process (or a Ray task) executes; it only reads the plan entry,
the config and the prepared sources, and writes `work/samples/{id}.tar` atomically, so any number
of them can run in parallel and a killed one leaves nothing that looks finished.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from synth.pipeline.config import PipelineConfig, config_from_dict
from synth.pipeline.plan import SequencePlan

STAGES = ("motion", "body", "cloth", "render", "annotate", "shard")


def work_dir(out: Path) -> Path:
    return Path(out) / "work"


def source_path(out: Path, source_id: str) -> Path:
    return work_dir(out) / "sources" / (source_id.replace("/", "__") + ".npz")


def sample_tar_path(out: Path, seq_id: str) -> Path:
    return work_dir(out) / "samples" / f"{seq_id}.tar"


def done_path(out: Path, seq_id: str) -> Path:
    return work_dir(out) / "done" / f"{seq_id}.json"


@cache
def get_body():
    """The body model, loaded once per process."""
    from synth.body import load_body_model

    return load_body_model()


@dataclass
class SequenceResult:
    id: str
    ok: bool
    times: dict = field(default_factory=dict)  # stage -> seconds (last attempt)
    frames: int = 0
    samples: int = 0
    attempts: int = 1
    error: str = ""
    traceback: str = ""
    fatal: bool = False  # stop the whole run (disk full)


class _Timer:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0


def make_motion(out: Path, sp: SequencePlan, cfg: PipelineConfig, body):
    """The sequence's motion with its lead-in (MoshedSequence) and its segments (synth.motion.compose;
    frame ranges counted after the lead-in, i.e. in the frames rendered by default)."""
    from synth.motion.compose import clip_window, embedded_transition
    from synth.motion.interpolate import InterpolationConfig, add_lead_in
    from synth.motion.pairs import PairChoice
    from synth.sequence import MoshedSequence

    m = cfg.motion
    X = MoshedSequence.load(source_path(out, sp.source_a))
    X.source = sp.source_a  # segments and meta.json name sources by their plan ids
    if sp.kind == "original":
        seq, segments = clip_window(X, *sp.window_a)
    else:
        Y = MoshedSequence.load(source_path(out, sp.source_b))
        Y.source = sp.source_b
        icfg = InterpolationConfig(
            frames_per_unit=m.frames_per_unit, min_frames=m.min_frames, max_frames=m.max_frames, method=m.method
        )
        wa = sp.window_a or [sp.frame_i, sp.frame_i + 1]  # version-1 plans: the transition alone
        wb = sp.window_b or [sp.frame_j, sp.frame_j + 1]
        seq, segments = embedded_transition(
            X, Y, PairChoice(sp.frame_i, sp.frame_j, sp.distance), wa, wb, icfg, skeleton=body
        )
    return add_lead_in(seq, m.lead_in_frames, m.lead_in_pose, skeleton=body), segments


def cloth_substeps(cfg: PipelineConfig, attempt: int) -> int:
    """Solver substeps of an attempt: doubled on every retry, since a deterministic run that
    diverged once (fast motion, stiff fabric) would diverge again with the same settings."""
    return int(cfg.cloth.substeps) * 2 ** max(0, attempt - 1)


def simulate(seq, body, sp: SequencePlan, cfg: PipelineConfig, substeps: int) -> list:
    if not cfg.cloth.enabled or not sp.outfit:
        return []
    from synth.cloth import simulate_sequence

    return simulate_sequence(
        seq, body, list(sp.outfit), list(sp.materials), sp.seed, substeps=substeps, **cfg.cloth.options
    )


def scene_settings(cfg: PipelineConfig) -> dict:
    r = cfg.render
    d = {
        k: getattr(r, k)
        for k in (
            "resolution",
            "num_cameras",
            "focal_mm",
            "sensor_mm",
            "engine",
            "samples",
            "device",
            "background",
            "hdri_dir",
            "photo_dir",
            "texture_dir",
        )
    }
    d["passes"] = render_passes(cfg)
    d.update(r.options)
    return d


def render_passes(cfg: PipelineConfig) -> list[str]:
    """render.passes plus the passes the shards store (shards.passes), in synth.shards.passes order."""
    from synth.shards.passes import PASSES, check_pass_names

    check_pass_names(list(cfg.shards.passes))
    wanted = set(cfg.render.passes) | set(cfg.shards.passes)
    return [p for p in PASSES if p in wanted] + sorted(wanted - set(PASSES))


def render(
    job: Path, sp: SequencePlan, cfg: PipelineConfig, verts: np.ndarray, body, pelvis: np.ndarray, garments: list
) -> dict:
    """Write the render job (cameras track the SMPL pelvis joint) and run Blender; returns the
    SceneSpec as a dict (for meta.json)."""
    import dataclasses

    from synth.scene import run_render, sample_scene, write_render_job
    from synth.scene.people import people_rig

    spec = sample_scene(sp.scene_seed, scene_settings(cfg))
    write_render_job(
        job,
        spec,
        verts,
        np.asarray(body.faces),
        garments,
        track=pelvis,
        part_labels=np.asarray(body.part_labels),
        rig=people_rig(body),
    )
    run_render(job)
    return dataclasses.asdict(spec)


def read_render(job: Path, c: int, T: int, names: list[str]) -> tuple[list, dict[str, np.ndarray]]:
    """Camera c's frames and the passes `names` of a rendered job, as the shards store them before
    encoding: depth (T,H,W) float32 metres (inf background), seg/parts (T,H,W) uint8,
    normals (T,H,W,3), flow (T-1,H,W,2) float16. A pass whose files are absent is left out."""
    from PIL import Image

    def files(name: str, ext: str, n: int) -> list[Path]:
        return [job / name / f"cam{c}" / f"{t:04d}.{ext}" for t in range(n)]

    frames = [np.asarray(Image.open(p).convert("RGB")) for p in files("frames", "png", T)]
    passes: dict[str, np.ndarray] = {}
    for name in names:
        ext, n = ("png", T) if name in ("seg", "parts") else ("npy", T - 1 if name == "flow" else T)
        paths = files(name, ext, n)
        if not paths or not all(p.is_file() for p in paths):
            continue
        if ext == "png":
            arr = np.stack([np.asarray(Image.open(p)) for p in paths])
            passes[name] = arr[..., 0] if arr.ndim == 4 else arr
        else:
            passes[name] = np.stack([np.load(p) for p in paths])
    if "depth" in passes:
        passes["depth"] = passes["depth"].astype(np.float32)
    return frames, passes


def annotate_and_encode(
    job: Path,
    sp: SequencePlan,
    cfg: PipelineConfig,
    seq,
    frames_sel: np.ndarray,
    verts: np.ndarray,
    joints: np.ndarray,
    garments: list,
    segments: list,
    scene: dict,
    body_id: str,
    substeps: int,
    timer: _Timer,
) -> list:
    """Shard members of all cameras of this sequence."""
    import json

    from synth.annotate import annotate_camera, load_render_cameras
    from synth.motion.compose import shift_segments
    from synth.scene.labels import part_legend
    from synth.shards.passes import PASS_ENCODING, PASSES
    from synth.shards.sample import encode_sample, sample_key
    from synth.shards.verts import encode_world_verts

    T = int(frames_sel.sum())
    poses, trans = seq.poses[frames_sel].astype(np.float64), seq.trans[frames_sel].astype(np.float64)
    world = {"body": verts}
    for g in garments:
        world[f"cloth_{g.garment_type}"] = g.verts[frames_sel].astype(np.float64)
    stored = [p for p in PASSES if p in cfg.shards.passes]
    seg_legend = json.loads((job / "job.json").read_text())["job"]["seg_legend"]
    lead = int(seq.lead_in.sum()) if cfg.motion.render_lead_in else 0
    members = []
    with timer("annotate"):
        cams = load_render_cameras(job / "cameras.json")
        anns = []
        for c, cam in enumerate(cams):
            images, passes = read_render(job, c, T, render_passes(cfg))
            boxes_from = None if "seg" in passes else world  # the box comes from seg, else projected vertices
            ann = annotate_camera(
                cam,
                poses,
                seq.betas,
                trans,
                joints,
                boxes_from,
                passes.get("depth"),
                passes.get("seg"),
                cfg.annotate.occlusion_margin_m,
                cfg.annotate.window_px,
            )
            missing = [p for p in stored if p not in passes]
            if missing:
                raise RuntimeError(f"render job {job} has no {missing} pass files for camera {c}")
            anns.append((c, cam, images, ann, {p: passes[p] for p in stored}))
    with timer("shard"):
        verts_npz = None
        if cfg.shards.include_verts:
            verts_npz = encode_world_verts(
                trans,
                {g.garment_type: world[f"cloth_{g.garment_type}"] for g in garments},
                {g.garment_type: g.faces for g in garments},
                np.stack([a[3].camera["R"] for a in anns]),
                np.stack([a[3].camera["t"] for a in anns]),
            )
        for c, cam, images, ann, passes in anns:
            meta = {
                "sequence": sp.id,
                "camera": c,
                "camera_name": cam.name,
                "fps": float(seq.fps),
                "num_frames": T,
                "lead_in": seq.lead_in[frames_sel].tolist(),
                "split": sp.split,
                "kind": sp.kind,
                "sources": [s for s in (sp.source_a, sp.source_b) if s],
                "motion": seq.source,
                "segments": shift_segments(segments, lead),
                "pair": {"i": sp.frame_i, "j": sp.frame_j, "distance": sp.distance}
                if sp.kind == "transition"
                else None,
                "garments": [{"type": t, "material": m} for t, m in zip(sp.outfit, sp.materials)],
                "cloth_substeps": substeps,
                "cloth_stats": {g.garment_type: _deterministic(g.stats) for g in garments},
                "implausible": seq.implausible[frames_sel].tolist(),
                "repaired": seq.repaired[frames_sel].tolist(),
                "scene": scene,
                "seed": sp.seed,
                "scene_seed": sp.scene_seed,
                "body_model": body_id,
                "world_frame": "smpl_y_up",
                "config_digest": cfg.digest(),
                "passes": {p: PASS_ENCODING[p] for p in stored},
                "seg_legend": seg_legend,
                "verts_in": sample_key(sp.id, 0) if verts_npz is not None else None,
            }
            if "parts" in stored:
                meta["part_legend"] = part_legend()
            members += encode_sample(
                sample_key(sp.id, c),
                images,
                ann.smpl,
                ann.joints,
                ann.camera,
                meta,
                verts_npz if c == 0 else None,
                cfg.shards.image_format,
                cfg.shards.jpeg_quality,
                passes,
            )
    return members


def _deterministic(stats: dict) -> dict:
    """Solver stats without wall-clock timings, so a resumed run writes the same bytes."""
    return {k: v for k, v in stats.items() if "seconds" not in k}


def run_sequence(out: str | Path, plan_entry: dict, cfg_dict: dict, attempt: int = 1) -> SequenceResult:
    """Generate one sequence (one attempt, numbered from 1). Raises on failure; the caller retries
    and records."""
    from synth.io import save_json_atomic
    from synth.shards.tario import write_tar

    out = Path(out)
    sp = SequencePlan(**plan_entry)
    cfg = config_from_dict(cfg_dict)
    if sp.id in cfg.run.fail_sequences:
        raise RuntimeError(f"{sp.id} is listed in run.fail_sequences (deliberate failure)")
    timer = _Timer()
    job = work_dir(out) / "tmp" / f"{sp.id}.{uuid.uuid4().hex[:8]}"
    try:
        with timer("body"):
            body = get_body()
        with timer("motion"):
            seq, segments = make_motion(out, sp, cfg, body)
        with timer("body"):
            verts_all, joints_all = body.evaluate(seq.betas, seq.poses, seq.trans)
        with timer("cloth"):
            substeps = cloth_substeps(cfg, attempt)
            garments = simulate(seq, body, sp, cfg, substeps)
        sel = np.ones(seq.num_frames, bool) if cfg.motion.render_lead_in else ~seq.lead_in
        with timer("render"):
            shown = [g.select_frames(sel) for g in garments]
            scene = render(job, sp, cfg, verts_all[sel], body, joints_all[sel, 0], shown)
        members = annotate_and_encode(
            job,
            sp,
            cfg,
            seq,
            sel,
            verts_all[sel],
            joints_all[sel],
            garments,
            segments,
            scene,
            getattr(body, "identifier", ""),
            substeps,
            timer,
        )
        with timer("shard"):
            write_tar(sample_tar_path(out, sp.id), members)
        result = SequenceResult(
            sp.id, True, timer.times, frames=int(sel.sum()), samples=len({m[0].split(".")[0] for m in members})
        )
        save_json_atomic(
            done_path(out, sp.id),
            {"id": sp.id, "frames": result.frames, "samples": result.samples, "times": result.times},
        )
        return result
    finally:
        if not cfg.run.keep_work:
            shutil.rmtree(job, ignore_errors=True)


def set_threads(n: int) -> None:
    """Pin torch/OpenMP threads in a worker (Blender reads SYNTH_RENDER_THREADS)."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "SYNTH_RENDER_THREADS"):
        os.environ[var] = str(n)
    try:
        import torch

        torch.set_num_threads(n)
    except Exception:  # noqa: BLE001 - torch is optional for thread pinning
        pass
