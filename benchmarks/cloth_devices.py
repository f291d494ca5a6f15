"""Cloth solver on the CPU and on CUDA: CPU time of an implicit step and of a simulated sequence (optionally
against another checkout, interleaved), and solver throughput in garment-frames/s at batch sizes.

    python benchmarks/cloth_devices.py [--garment tshirt] [--frames 12] [--substeps 4] [--repeats 3]
                                       [--compare DIR] [--batches 1,4,16] [--solver-frames 8] [--skip cpu,batch]
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/cloth_devices.py --agreement   # without a GPU: the simulator

CPU rows (always): process CPU time (time.process_time, min over --repeats) of one ImplicitCloth.step of the
garment dressed on the rest body (collar or waistband pinned, no contacts), and of simulate_garments over the
built-in walk (--frames, lead-in included; contacts, strain limiting and refinement all in), per frame.
With --compare DIR (a checkout of another commit, e.g. `git worktree add /tmp/base main`), each repeat runs
both checkouts in fresh processes, alternating, and the table gives the ratio of the minima and whether the
simulated vertices are bit-identical.

Batch rows: B copies of the garment stepped through --solver-frames frames of the walk with their pins
following the body (implicit step and strain limiting only: body contacts are queried on the CPU in both
paths and are left out here), in garment-frames/s: on the CPU one garment after another, on CUDA one
`ClothBatch` (one launch per kernel for all B). When numba finds no CUDA device the CUDA rows say so.

--agreement: simulate_garments end to end (contacts, friction, strain limiting, pins) on both devices on a
tiny scene (a 4 x 4 sheet resting on a ball that rises into it), both solved to a 1e-10 residual: the largest
difference of the outputs, and the CG iterations of each preconditioner.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def setup(garment_kind: str, frames: int):
    """The body, the built-in walk's posed vertices and the garment dressed on the rest body."""
    sys.path.insert(0, str(HERE.parent))
    from cloth import load_motion

    from synth.body import load_body_model
    from synth.cloth.garments import DEFAULT_EASE, build_garment
    from synth.cloth.simulate import body_vertices

    body = load_body_model()
    seq = load_motion("builtin:walk", body, frames)
    rest_body = body.rest_vertices(seq.betas)
    garment = build_garment(
        garment_kind, rest_body, body.faces, body.part_labels, body.rest_joints(seq.betas), DEFAULT_EASE[garment_kind]
    )
    return body, seq, rest_body, body_vertices(body, seq), garment


def worker(garment_kind: str, frames: int, substeps: int) -> dict:
    """One repeat in this process: CPU seconds of a step and of the sequence per frame, and the output hash.
    Uses only ImplicitCloth.step and simulate_garments, so it runs on older checkouts too."""
    from synth.cloth.materials import get_material
    from synth.cloth.simulate import simulate_garments
    from synth.cloth.solver import ImplicitCloth

    body, seq, rest_body, frames_v, garment = setup(garment_kind, frames)
    mat = get_material("cotton")
    h = 1.0 / (seq.fps * substeps)
    cloth = ImplicitCloth(garment.verts, garment.faces, [mat], pinned=garment.pinned)
    for _ in range(3):  # compile or load the kernels, and leave the rest state (CG from a sagging cloth)
        cloth.step(h)
    steps = 20
    t0 = time.process_time()
    for _ in range(steps):
        cloth.step(h)
    step_s = (time.process_time() - t0) / steps
    args = (rest_body, frames_v, body.faces, seq.fps, substeps, None, "bench", False, body.part_labels, body.parents)
    simulate_garments([garment], [mat], rest_body, frames_v[:2], *args[2:])  # the collider's kernels too
    t0 = time.process_time()
    res = simulate_garments([garment], [mat], *args)
    sim_s = (time.process_time() - t0) / (len(frames_v) - 1)
    digest = hashlib.sha256(np.ascontiguousarray(res.verts).tobytes()).hexdigest()[:16]
    return {"step_s": step_s, "sim_s": sim_s, "digest": digest, "iters": res.stats[0]["cg_iterations_per_step"]}


def run_worker(checkout: Path, a: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HERE), "--worker", "--garment", a.garment, "--frames", str(a.frames)]
    out = subprocess.run([*cmd, "--substeps", str(a.substeps)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_rows(a: argparse.Namespace) -> None:
    here = HERE.parents[1]
    checkouts = [("this checkout", here)] + ([("--compare", Path(a.compare).resolve())] if a.compare else [])
    runs: dict[str, list[dict]] = {name: [] for name, _ in checkouts}
    for r in range(a.repeats):
        for name, path in checkouts if r % 2 == 0 else checkouts[::-1]:  # interleaved, alternating order
            runs[name].append(run_worker(path, a))
    print(f"\nCPU, {a.garment}, built-in walk, {a.frames} frames, {a.substeps} substeps, min of {a.repeats} runs")
    print("checkout        step ms (CPU)  sequence s/frame (CPU)  CG it/step  output")
    best = {n: (min(x["step_s"] for x in rs), min(x["sim_s"] for x in rs)) for n, rs in runs.items()}
    for name, rs in runs.items():
        print(
            f"{name:<16}{1000 * best[name][0]:>13.2f}{best[name][1]:>24.3f}{rs[0]['iters']:>12.1f}  {rs[0]['digest']}"
        )
    if a.compare:
        (s1, q1), (s0, q0) = best["this checkout"], best["--compare"]
        same = {x["digest"] for rs in runs.values() for x in rs}
        print(
            f"ratio this / compare: step {s1 / s0:.3f}, sequence {q1 / q0:.3f}; outputs bit-identical: {len(same) == 1}"
        )


def advance(cloths: list, batch, targets: list[np.ndarray], f: int, substeps: int, h: float) -> None:
    """One frame of the batch rows: substeps with the pins moving linearly from frame f - 1 to f; one
    ClothBatch step for all garments on CUDA, else each garment's own step."""
    for s in range(substeps):
        w = (s + 1) / substeps
        t = (1 - w) * targets[f - 1] + w * targets[f]
        if batch is not None:
            batch.step(h, [t] * len(cloths))
        else:
            for c in cloths:
                c.step(h, t)


def batch_rows(a: argparse.Namespace) -> None:
    from numba import cuda

    from synth.cloth.collision import Embedding, MeshCollider
    from synth.cloth.materials import get_material
    from synth.cloth.simulate import Attachments
    from synth.cloth.solver import ClothBatch, ImplicitCloth, SolverSettings

    body, seq, rest_body, frames_v, garment = setup(a.garment, a.solver_frames + 1)
    faces = np.asarray(body.faces, np.int64)
    emb = Embedding.build(
        garment.verts, rest_body, faces, MeshCollider(faces, len(rest_body)).query(garment.verts, rest_body)
    )
    pins = Attachments.build([garment], rest_body, faces, emb)
    targets = [pins.evaluate(f) for f in frames_v]
    mat = get_material("cotton")
    h = 1.0 / (seq.fps * a.substeps)
    devices = ["cpu"] + (["cuda"] if cuda.is_available() else [])
    print(
        f"\nsolver only (implicit step + strain limiting, pins on the walk, no contacts), {a.garment}, {a.substeps} substeps"
    )
    print("device  batch  garment-frames/s  s/frame per garment  CG it/step")
    for device in devices:
        for B in [int(b) for b in a.batches.split(",")]:
            cloths = [
                ImplicitCloth(
                    garment.verts, garment.faces, [mat], pinned=garment.pinned, settings=SolverSettings(device=device)
                )
                for _ in range(B)
            ]
            batch = ClothBatch(cloths) if device == "cuda" else None
            advance(cloths, batch, targets, 1, a.substeps, h)  # compile or load the kernels
            t0 = time.perf_counter()
            for f in range(2, a.solver_frames + 1):
                advance(cloths, batch, targets, f, a.substeps, h)
            if device == "cuda":
                cuda.synchronize()
            dt = time.perf_counter() - t0
            n = B * (a.solver_frames - 1)
            it = sum(c.cg_iterations for c in cloths) / sum(c.steps for c in cloths)
            print(f"{device:<8}{B:>5}{n / dt:>18.2f}{dt / n:>21.4f}{it:>12.1f}")
    if "cuda" not in devices:
        print("cuda: not measured, numba.cuda.is_available() is False on this machine (no NVIDIA GPU/driver)")


def agreement() -> None:
    import trimesh
    from numba import cuda

    from synth.cloth.garments import Garment
    from synth.cloth.materials import get_material
    from synth.cloth.simulate import simulate_garments
    from synth.cloth.solver import SolverSettings

    if not cuda.is_available():
        print("cuda: not available; run with NUMBA_ENABLE_CUDASIM=1 for numba's CUDA simulator")
        return
    ball = trimesh.creation.icosphere(subdivisions=1, radius=0.1)
    bv, bf = np.asarray(ball.vertices), np.asarray(ball.faces, np.int64)
    g = np.linspace(-0.08, 0.08, 4)
    X, Z = np.meshgrid(g, g, indexing="ij")
    verts = np.stack([X.ravel(), np.full(16, 0.1045), Z.ravel()], 1)  # 4.5 mm above the ball's top
    idx = np.arange(16).reshape(4, 4)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, c, b], 1), np.stack([a, d, c], 1)])
    pinned = np.zeros(16, bool)
    pinned[0] = True
    garment = Garment("skirt", verts, faces, np.zeros((16, 2)), pinned, 0.01)
    frames = np.stack([bv + [0.0, 0.01 * f, 0.0] for f in range(3)])  # the ball rises 1 cm a frame
    runs = {}
    for device in ("cpu", "cuda"):
        settings = SolverSettings(device=device, cg_tol=1e-10, cg_max_iter=500)
        t0 = time.perf_counter()
        runs[device] = simulate_garments([garment], [get_material("cotton")], bv, frames, bf, 30.0, 2, settings)
        st = runs[device].stats[0]
        print(f"{device}: {time.perf_counter() - t0:.1f} s, {st['cg_iterations_per_step']:.1f} CG it/step")
    diff = np.abs(runs["cpu"].verts - runs["cuda"].verts).max()
    moved = np.abs(runs["cpu"].verts[-1] - runs["cpu"].verts[0]).max()
    print(f"largest |cpu - cuda| {diff:.3g} m (float32 output), the sheet moved {moved:.3g} m")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--garment", default="tshirt")
    ap.add_argument("--frames", type=int, default=12, help="frames of the simulated sequence, lead-in included")
    ap.add_argument("--substeps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", help="another checkout's root, run interleaved with this one")
    ap.add_argument("--batches", default="1,4,16", help="batch sizes of the garment-frames/s rows")
    ap.add_argument("--solver-frames", type=int, default=8, help="frames of the batch rows")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: cpu, batch")
    ap.add_argument("--agreement", action="store_true", help="only the end-to-end CPU vs CUDA comparison")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.agreement:
        agreement()
        return
    if a.worker:
        print(json.dumps(worker(a.garment, a.frames, a.substeps)))
        return
    if "cpu" not in a.skip:
        cpu_rows(a)
    if "batch" not in a.skip:
        batch_rows(a)


if __name__ == "__main__":
    main()
