"""Batched torch cloth throughput: garments x frames per second for batch 1, 4, 16 (torch, CPU and CUDA
when present) against the numba solver (simulate_garments) run one garment at a time.

    python benchmarks/cloth_batched.py [--frames 4] [--batches 1,4,16] [--garment tshirt] [--threads 1]

Every garment of a batch is the same template on the same built-in walk (T-pose lead-in) with a
different material preset in turn, so each runs its own solve (per-garment CG convergence).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from synth.body import load_body_model
from synth.cloth.batched import simulate_garments_batched
from synth.cloth.garments import DEFAULT_EASE, build_garment
from synth.cloth.materials import MATERIALS, get_material
from synth.cloth.simulate import body_vertices, simulate_garments


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4, help="frames per garment (lead-in included)")
    ap.add_argument("--batches", default="1,4,16")
    ap.add_argument("--garment", default="tshirt")
    ap.add_argument("--substeps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (numpy/scipy BLAS follow OMP_NUM_THREADS)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from synth.mocap.builtin import builtin_motion
    from synth.motion.interpolate import add_lead_in

    body = load_body_model()
    seq = add_lead_in(builtin_motion("walk"), 8, "t", skeleton=body)
    frames = body_vertices(body, seq)[: args.frames]
    rest = body.rest_vertices(seq.betas)
    joints = body.rest_joints(seq.betas)
    faces = np.asarray(body.faces, np.int64)
    garment = build_garment(args.garment, rest, faces, body.part_labels, joints, DEFAULT_EASE[args.garment])
    names = list(MATERIALS)
    common = (rest, frames, faces, seq.fps, args.substeps, None, "bench", False, body.part_labels, body.parents)
    print(f"{args.garment}: {len(garment.verts)} verts, {len(frames)} frames, {args.substeps} substeps, "
          f"{args.threads} CPU thread(s)")  # fmt: skip
    print("\nsolver                 device  dtype    batch  s/frame(batch)  garment-frames/s  x numba")
    simulate_garments([garment], [get_material(names[0])], rest, frames[:3], *common[2:])  # untimed: numba compile
    t0 = time.perf_counter()
    res = simulate_garments([garment], [get_material(names[0])], *common)
    base = 1.0 / res.seconds_per_frame
    print(f"{'numba (one by one)':<23}{'cpu':<8}{'float64':<9}{1:>5}{res.seconds_per_frame:>16.3f}{base:>18.2f}"
          f"{1.0:>9.2f}")  # fmt: skip
    devices = [("cpu", torch.float32), ("cpu", torch.float64)]
    if torch.cuda.is_available():
        devices += [("cuda", torch.float32), ("cuda", torch.float64)]
    for device, dtype in devices:
        for B in [int(b) for b in args.batches.split(",")] + ([64] if device == "cuda" else []):
            mats = [get_material(names[i % len(names)]) for i in range(B)]
            r = simulate_garments_batched([garment] * B, mats, *common, device=device, dtype=dtype)
            rate = B / r.seconds_per_frame
            print(f"{'torch batched':<23}{device:<8}{str(dtype)[6:]:<9}{B:>5}{r.seconds_per_frame:>16.3f}"
                  f"{rate:>18.2f}{rate / base:>9.2f}")  # fmt: skip
    if not torch.cuda.is_available():
        print("no GPU on this machine: the CUDA rows are missing")
    print(f"(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
