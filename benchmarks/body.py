"""Body model numbers: forward-pass time (CPU/GPU), preview render time, model facts.

    python benchmarks/body.py [--threads 1]

Prints tables; the embedded model is built first if it is not cached yet.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from synth.body import load_body_model
from synth.body.build import default_model_path
from synth.viz import render_mesh_image


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    body = load_body_model()
    info = json.loads(default_model_path("neutral").with_suffix(".json").read_text())
    heights = {s: np.ptp(body.rest_vertices(np.eye(10)[0] * s)[:, 1]) for s in (-2, 0, 2)}
    print("model   vertices  faces   build_s  joint_err_mm(mean/max)  height_m(beta0 -2/0/+2)")
    print(
        f"{info['name']:<8}{body.num_verts:>8}{len(body.faces):>7}{info['build_s']:>9}"
        f"{info['joint_regressor_error_mm']['mean']:>12.1f}/{info['joint_regressor_error_mm']['max']:<10.1f}"
        f"{heights[-2]:>8.3f}/{heights[0]:.3f}/{heights[2]:.3f}"
    )
    print(f"\nforward pass ({args.threads} CPU thread(s){', GPU' if torch.cuda.is_available() else ''})")
    print("device  B     ms/call  ms/body")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rng = np.random.default_rng(0)
    for device in devices:
        model = body if device == "cpu" else load_body_model(device=device)
        for B in (1, 16, 64):
            betas = torch.tensor(rng.normal(size=(B, 10)), dtype=torch.float32, device=device)
            poses = torch.tensor(rng.normal(scale=0.3, size=(B, 72)), dtype=torch.float32, device=device)
            trans = torch.zeros(B, 3, device=device)

            def call():
                with torch.no_grad():
                    model(betas, poses, trans)  # noqa: B023 (called within this iteration)
                if device == "cuda":  # noqa: B023 (called within this iteration)
                    torch.cuda.synchronize()

            sec = _time(call, 5 if device == "cpu" else 20)
            print(f"{device:<8}{B:<6}{sec * 1000:>8.1f}{sec * 1000 / B:>9.2f}")
    print("\npreview render (numpy software renderer, supersample 2)")
    print("size  ms")
    for size in (128, 256, 512):
        sec = _time(lambda: render_mesh_image(body.v_template, body.faces, size=size), 3)  # noqa: B023 (called within this iteration)
        print(f"{size:<6}{sec * 1000:.0f}")


if __name__ == "__main__":
    main()
