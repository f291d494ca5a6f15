"""run_render: run blender_scripts/render.py on a job directory, in the bpy module (default) or a
Blender binary ($SYNTH_BLENDER), and turn any failure into a SynthError with the log's tail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synth.errors import SynthError
from synth.paths import PROJECT_ROOT
from synth.scene.job import load_job

RENDER_SCRIPT = PROJECT_ROOT / "blender_scripts" / "render.py"
ERROR_TAG = "render.py: error: "


def render_command(job_dir: Path) -> list[str]:
    """`blender -b -P render.py -- --job DIR` when $SYNTH_BLENDER names a binary, else the bpy module."""
    blender = os.environ.get("SYNTH_BLENDER", "")
    if blender:
        return [blender, "-b", "--factory-startup", "--python-exit-code", "2", "-P", str(RENDER_SCRIPT),
                "--", "--job", str(job_dir)]  # fmt: skip
    return [sys.executable, str(RENDER_SCRIPT), "--job", str(job_dir)]


def run_render(job_dir: str | Path, timeout: float | None = None) -> Path:
    """Render every frame and camera of the job; returns job_dir. Log: job_dir/render.log."""
    job_dir = Path(job_dir).resolve()
    job = load_job(job_dir)
    log_path = job_dir / "render.log"
    try:
        with open(log_path, "w") as log:
            proc = subprocess.run(render_command(job_dir), stdout=log, stderr=subprocess.STDOUT,
                                  timeout=timeout, cwd=PROJECT_ROOT)  # fmt: skip
    except FileNotFoundError as exc:
        raise SynthError(f"cannot start Blender ({exc})", os.environ.get("SYNTH_BLENDER") or sys.executable,
                         "set SYNTH_BLENDER to a Blender binary or install bpy==5.0.1") from exc  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise SynthError(f"render timed out after {timeout} s", log_path, "lower samples/resolution") from exc
    text = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        for line in text.splitlines():
            if line.startswith(ERROR_TAG):
                raise SynthError(line[len(ERROR_TAG) :] + f"\n--- {log_path} (tail) ---\n{tail}")
        raise SynthError(f"Blender exited with code {proc.returncode}:\n{tail}", log_path, "see the log")
    missing = [
        f"frames/cam{c}/{t:04d}.png"
        for c in range(len(job["job"]["cameras"]))
        for t in range(int(job["num_frames"]))
        if not (job_dir / "frames" / f"cam{c}" / f"{t:04d}.png").is_file()
    ]
    if missing or not (job_dir / "cameras.json").is_file():
        raise SynthError(f"render finished without {missing[:3] or ['cameras.json']}", log_path, "see the log")
    return job_dir
