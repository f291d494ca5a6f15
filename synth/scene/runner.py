"""run_render: run blender_scripts/render.py on a job directory, in the bpy module (default) or a
Blender binary ($SYNTH_BLENDER), and turn any failure into a SynthError with the log's tail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.paths import package_data_dir
from synth.process import child_preexec
from synth.scene.job import load_job

RENDER_SCRIPT = package_data_dir("blender_scripts") / "render.py"
ERROR_TAG = "render.py: error: "


def render_command(job_dir: Path) -> list[str]:
    """`blender -b -P render.py -- --job DIR` when $SYNTH_BLENDER names a binary, else the bpy module."""
    blender = os.environ.get("SYNTH_BLENDER", "")
    if blender:
        return [
            blender,
            "-b",
            "--factory-startup",
            "--python-exit-code",
            "2",
            "-P",
            str(RENDER_SCRIPT),
            "--",
            "--job",
            str(job_dir),
        ]
    return [sys.executable, str(RENDER_SCRIPT), "--job", str(job_dir)]


def run_render(job_dir: str | Path, timeout: float | None = None) -> Path:
    """Render every frame and camera of the job; returns job_dir. Log: job_dir/render.log."""
    job_dir = Path(job_dir).resolve()
    job = load_job(job_dir)
    log_path = job_dir / "render.log"
    try:
        with open(log_path, "w") as log:
            proc = subprocess.run(
                render_command(job_dir),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                cwd=job_dir,
                preexec_fn=child_preexec(),
            )
    except FileNotFoundError as exc:
        raise SynthError(
            f"cannot start Blender ({exc})",
            path=os.environ.get("SYNTH_BLENDER") or sys.executable,
            fix="set SYNTH_BLENDER to a Blender binary or install bpy==5.0.1",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SynthError(f"render timed out after {timeout} s", path=log_path, fix="lower samples/resolution") from exc
    text = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        for line in text.splitlines():
            if line.startswith(ERROR_TAG):
                raise SynthError(line[len(ERROR_TAG) :] + f"\n--- {log_path} (tail) ---\n{tail}")
        raise SynthError(f"Blender exited with code {proc.returncode}:\n{tail}", path=log_path, fix="see the log")
    missing = [
        f"frames/cam{c}/{t:04d}.png"
        for c in range(len(job["job"]["cameras"]))
        for t in range(int(job["num_frames"]))
        if not (job_dir / "frames" / f"cam{c}" / f"{t:04d}.png").is_file()
    ]
    if missing or not (job_dir / "cameras.json").is_file():
        raise SynthError(f"render finished without {missing[:3] or ['cameras.json']}", path=log_path, fix="see the log")
    check_frames(job_dir, job)
    return job_dir


# Blender renders an image it could not decode as magenta (1, 0, 1). Seen directly (an HDRI
# background) the pixels are R = B with no green at all: nothing natural looks like that, so 1 % of
# such pixels fails a frame. Lit on a garment (an image fabric) specular light adds some green
# (measured: G/R 0.13-0.5, R/B 0.92-1); that is tested on the garment's own pixels (seg pass) and
# only for image fabrics, since a procedural fabric may legitimately be drawn magenta.
MAGENTA_MAX_SHARE = 0.01
PLACEHOLDER_GARMENT_SHARE = 0.5


def magenta_share(rgb: np.ndarray, lit: bool = False) -> float:
    """Fraction of the pixels of an (H, W, 3) uint8 image (or (N, 3) pixels) that look like Blender's
    missing-image magenta: unlit (no green), or `lit` (some green from specular light)."""
    x = np.asarray(rgb, np.float32)[..., :3]
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    lo, hi = np.minimum(r, b), np.maximum(r, b)
    hit = (lo > 60) & (lo > 0.9 * hi) & (g < 0.6 * lo) if lit else (lo > 40) & (lo > 0.75 * hi) & (g < 0.05 * lo)
    return float(hit.mean()) if hit.size else 0.0


def check_frames(job_dir: Path, job: dict) -> None:
    """Fail the render when a frame shows the magenta placeholder (an asset Blender could not decode)."""
    from PIL import Image

    image_garments = [g["label"] for g in job["job"]["garments"] if g["material"].get("kind") == "image"]
    for c in range(len(job["job"]["cameras"])):
        for t in range(int(job["num_frames"])):
            path = job_dir / "frames" / f"cam{c}" / f"{t:04d}.png"
            rgb = np.asarray(Image.open(path).convert("RGB"))
            share = magenta_share(rgb)
            seg_path = job_dir / "seg" / f"cam{c}" / f"{t:04d}.png"
            if share <= MAGENTA_MAX_SHARE and image_garments and seg_path.is_file():
                seg = np.asarray(Image.open(seg_path))
                for label in image_garments:
                    if (seg == label).sum() >= 16 and magenta_share(
                        rgb[seg == label], lit=True
                    ) > PLACEHOLDER_GARMENT_SHARE:
                        share = float((seg == label).mean())
            if share > MAGENTA_MAX_SHARE:
                raise SynthError(
                    f"{100 * share:.0f}% of the frame is Blender's missing-image magenta",
                    path=path,
                    fix="an HDRI, photo or fabric image named in job.json did not decode: replace it",
                )
