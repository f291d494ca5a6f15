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
from pathlib import Path

import numpy as np

from synth.pipeline.config import PipelineConfig, config_from_dict
from synth.pipeline.plan import SequencePlan

STAGES = ("motion", "body", "cloth", "render", "annotate", "shard")
_BODY = None


def work_dir(out: Path) -> Path:
    return Path(out) / "work"


def source_path(out: Path, source_id: str) -> Path:
    return work_dir(out) / "sources" / (source_id.replace("/", "__") + ".npz")


def sample_tar_path(out: Path, seq_id: str) -> Path:
    return work_dir(out) / "samples" / f"{seq_id}.tar"


def done_path(out: Path, seq_id: str) -> Path:
    return work_dir(out) / "done" / f"{seq_id}.json"


def get_body():
    """The body model, loaded once per process."""
    global _BODY
    if _BODY is None:
        from synth.body import load_body_model

        _BODY = load_body_model()
    return _BODY


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


def body_forward(body, betas: np.ndarray, poses: np.ndarray, trans: np.ndarray, chunk: int = 64):
    """(T,V,3) vertices and (T,24,3) joints in the SMPL world."""
    import torch

    verts, joints = [], []
    with torch.no_grad():
        for s in range(0, len(poses), chunk):
            n = len(poses[s : s + chunk])
            out = body(
                torch.as_tensor(np.tile(np.asarray(betas, np.float32).reshape(1, 10), (n, 1))),
                torch.as_tensor(poses[s : s + chunk], dtype=torch.float32),
                torch.as_tensor(trans[s : s + chunk], dtype=torch.float32),
            )
            verts.append(out.vertices.cpu().numpy())
            joints.append(out.joints[:, :24].cpu().numpy())
    return np.concatenate(verts).astype(np.float64), np.concatenate(joints).astype(np.float64)


def make_motion(out: Path, sp: SequencePlan, cfg: PipelineConfig, body):
    """The interpolated sequence with its lead-in (MoshedSequence)."""
    from synth.mosh.sequence import MoshedSequence
    from synth.motion.interpolate import InterpolationConfig, add_lead_in, interpolate_pair
    from synth.motion.pairs import PairChoice

    X = MoshedSequence.load(source_path(out, sp.source_a))
    Y = MoshedSequence.load(source_path(out, sp.source_b))
    m = cfg.motion
    icfg = InterpolationConfig(frames_per_unit=m.frames_per_unit, min_frames=m.min_frames,
                               max_frames=m.max_frames, method=m.method)  # fmt: skip
    seq = interpolate_pair(X, Y, PairChoice(sp.frame_i, sp.frame_j, sp.distance), icfg, skeleton=body)
    return add_lead_in(seq, m.lead_in_frames, m.lead_in_pose, skeleton=body)


def cloth_substeps(cfg: PipelineConfig, attempt: int) -> int:
    """Solver substeps of an attempt: doubled on every retry, since a deterministic run that
    diverged once (fast motion, stiff fabric) would diverge again with the same settings."""
    return int(cfg.cloth.substeps) * 2 ** max(0, attempt - 1)


def simulate(seq, body, sp: SequencePlan, cfg: PipelineConfig, substeps: int) -> list:
    if not cfg.cloth.enabled or not sp.outfit:
        return []
    from synth.cloth import simulate_sequence

    return simulate_sequence(seq, body, list(sp.outfit), list(sp.materials), sp.seed,
                             substeps=substeps, **cfg.cloth.options)  # fmt: skip


def scene_settings(cfg: PipelineConfig) -> dict:
    r = cfg.render
    d = {k: getattr(r, k) for k in ("resolution", "num_cameras", "focal_mm", "sensor_mm", "engine", "samples",
                                      "device", "background", "hdri_dir", "photo_dir", "texture_dir", "passes")}  # fmt: skip
    d.update(r.options)
    return d


def render(job: Path, sp: SequencePlan, cfg: PipelineConfig, verts: np.ndarray, body, pelvis: np.ndarray,
           garments: list) -> dict:  # fmt: skip
    """Write the render job (cameras track the SMPL pelvis joint) and run Blender; returns the
    SceneSpec as a dict (for meta.json)."""
    import dataclasses

    from synth.scene import run_render, sample_scene, write_render_job

    spec = sample_scene(sp.scene_seed, scene_settings(cfg))
    write_render_job(job, spec, verts, np.asarray(body.faces), garments, track=pelvis,
                     part_labels=np.asarray(body.part_labels))  # fmt: skip
    run_render(job)
    return dataclasses.asdict(spec)


def _read_passes(job: Path, c: int, T: int):
    from PIL import Image

    frames = [np.asarray(Image.open(job / "frames" / f"cam{c}" / f"{t:04d}.png").convert("RGB")) for t in range(T)]
    depth = seg = None
    dfiles = [job / "depth" / f"cam{c}" / f"{t:04d}.npy" for t in range(T)]
    if all(p.is_file() for p in dfiles):
        depth = np.stack([np.load(p) for p in dfiles]).astype(np.float32)
    sfiles = [job / "seg" / f"cam{c}" / f"{t:04d}.png" for t in range(T)]
    if all(p.is_file() for p in sfiles):
        seg = np.stack([np.asarray(Image.open(p)) for p in sfiles])
        if seg.ndim == 4:
            seg = seg[..., 0]
    return frames, depth, seg


def annotate_and_encode(job: Path, sp: SequencePlan, cfg: PipelineConfig, seq, frames_sel: np.ndarray,
                        verts: np.ndarray, joints: np.ndarray, garments: list, faces: np.ndarray,
                        scene: dict, body_id: str, substeps: int, timer: _Timer) -> list:  # fmt: skip
    """Shard members of all cameras of this sequence."""
    from synth.annotate import annotate_camera, load_render_cameras
    from synth.shards.sample import encode_sample, sample_key

    T = int(frames_sel.sum())
    poses, trans = seq.poses[frames_sel].astype(np.float64), seq.trans[frames_sel].astype(np.float64)
    world = {"body": verts}
    for g in garments:
        world[f"cloth_{g.garment_type}"] = g.verts[frames_sel].astype(np.float64)
    members = []
    with timer("annotate"):
        cams = load_render_cameras(job / "cameras.json")
        anns = []
        for c, cam in enumerate(cams):
            images, depth, seg = _read_passes(job, c, T)
            ann = annotate_camera(cam, poses, seq.betas, trans, joints, world if cfg.shards.include_verts else None,
                                  depth, seg, cfg.annotate.occlusion_margin_m, cfg.annotate.window_px)  # fmt: skip
            anns.append((c, cam, images, ann))
    with timer("shard"):
        for c, cam, images, ann in anns:
            meta = {
                "sequence": sp.id, "camera": c, "camera_name": cam.name, "fps": float(seq.fps), "num_frames": T,
                "lead_in": seq.lead_in[frames_sel].tolist(), "split": sp.split,
                "sources": [sp.source_a, sp.source_b], "motion": seq.source,
                "pair": {"i": sp.frame_i, "j": sp.frame_j, "distance": sp.distance},
                "garments": [{"type": t, "material": m} for t, m in zip(sp.outfit, sp.materials)],
                "cloth_substeps": substeps, "cloth_stats": {g.garment_type: _deterministic(g.stats) for g in garments},
                "implausible": seq.implausible[frames_sel].tolist(),
                "scene": scene, "seed": sp.seed, "scene_seed": sp.scene_seed, "body_model": body_id,
                "world_frame": "smpl_y_up", "config_digest": cfg.digest(),
            }  # fmt: skip
            verts_npz = None
            if cfg.shards.include_verts:
                verts_npz = dict(ann.verts)
                verts_npz["faces_body"] = np.asarray(faces, np.int32)
                for g in garments:
                    verts_npz[f"faces_cloth_{g.garment_type}"] = np.asarray(g.faces, np.int32)
            members += encode_sample(sample_key(sp.id, c), images, ann.smpl, ann.joints, ann.camera, meta,
                                     verts_npz, cfg.shards.image_format, cfg.shards.jpeg_quality)  # fmt: skip
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
            seq = make_motion(out, sp, cfg, body)
        with timer("body"):
            verts_all, joints_all = body_forward(body, seq.betas, seq.poses, seq.trans)
        with timer("cloth"):
            substeps = cloth_substeps(cfg, attempt)
            garments = simulate(seq, body, sp, cfg, substeps)
        sel = np.ones(seq.num_frames, bool) if cfg.motion.render_lead_in else ~seq.lead_in
        with timer("render"):
            from synth.cloth.cache import GarmentCache

            shown = [GarmentCache(g.garment_type, g.faces, g.uv, g.rest, g.verts[sel], g.material, g.stats)
                     for g in garments]  # fmt: skip
            scene = render(job, sp, cfg, verts_all[sel], body, joints_all[sel, 0], shown)
        members = annotate_and_encode(job, sp, cfg, seq, sel, verts_all[sel], joints_all[sel], garments,
                                      np.asarray(body.faces), scene, getattr(body, "identifier", ""), substeps, timer)  # fmt: skip
        with timer("shard"):
            write_tar(sample_tar_path(out, sp.id), members)
        result = SequenceResult(sp.id, True, timer.times, frames=int(sel.sum()), samples=len({m[0].split(".")[0] for m in members}))
        save_json_atomic(done_path(out, sp.id), {"id": sp.id, "frames": result.frames, "samples": result.samples,
                                                 "times": result.times})  # fmt: skip
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
