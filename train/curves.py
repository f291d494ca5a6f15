"""`python -m train.curves RUN [RUN ...] --out curves.png`: learning curves (total loss and its parts
against the step) of every stage's log.csv in the given run directories, one panel per loss term.
The mviper stage is drawn after its run's hmr stage (x = total steps of the model), so a run and an
HMR control trained for as many steps line up."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from synth.errors import SynthError, run_command
from synth.io import atomic_path
from train.config import TRAINING_STAGES

TERMS = ("loss", "proj", "joints3d", "smpl", "shape")


def read_log(path: Path) -> dict[str, list[float]]:
    """Columns of a log.csv as floats (step, loss parts, lr, ...)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        k: [float(r[k]) for r in rows if r.get(k) not in (None, "")] for k in (rows[0] if rows else {}) if k != "stage"
    }


def plot_curves(runs: list[Path], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = []
    for run in runs:
        offset = 0.0
        for stage in TRAINING_STAGES:
            if (run / stage / "log.csv").exists():
                log = read_log(run / stage / "log.csv")
                log["step"] = [offset + s for s in log.get("step", [])]
                logs.append((f"{run.name}/{stage}", log))
                offset = log["step"][-1] if log["step"] else offset
    if not logs:
        raise SynthError(
            "no RUN/{hmr,mviper}/log.csv",
            path=runs[0],
            fix="pass run directories written by `python -m train.mviper train`",
        )
    fig, axes = plt.subplots(1, len(TERMS), figsize=(4 * len(TERMS), 3.2))
    for ax, term in zip(axes, TERMS):
        for name, log in logs:
            if log.get(term):
                ax.plot(log["step"], log[term], label=name, lw=1)
        ax.set_title(term)
        ax.set_xlabel("step")
        ax.set_yscale("log" if term != "shape" else "linear")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.curves", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    return run_command(lambda a: print(plot_curves(a.runs, a.out)), args, "train.curves")


if __name__ == "__main__":
    sys.exit(main())
