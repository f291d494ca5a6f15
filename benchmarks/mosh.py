"""MoSh accuracy and speed on every clip in the shared CMU BVH folder, fitted two ways in one run:
`pos` (joint positions only: the path of position-only clips such as AMASS) and `rot` (positions
and the clip's segment rotations, the default for BVH and ASF/AMC).

Table 1, per clip and path: frames (at the target fps), mean / p95 joint error in mm (SMPL joint
+ per-subject offset vs mocap joint; `raw` = without offsets), fitted frames per second (output
frames / fit time, after one warm-up fit of each path), share of frames with any joint beyond a
limit (synth/mosh/limits.py) and the mean excess in degrees per frame, `hinge`: frames where a
knee or elbow breaks its hinge rules (bent backwards beyond the hyperextension bound or off its
axis: the flips), `off-axis`: the largest p90 over knees and elbows of the local rotation's angle
away from the flexion axis (a pure hinge has 0), and the worst segment's median / p90
orientation residual.
Table 2, per segment and clip: orientation residual median/p90 and, in brackets, its twist about
the SMPL bone axis median/p90, degrees: the fitted segment's global rotation against the clip's,
after the best constant rest offset (chordal mean); frames where the clip's own rotation is not
physically valid (synth.mosh.orientation.valid_frames: e.g. the dance's sole-up feet) are left
out, and `valid` gives the share kept.
Usage: python benchmarks/mosh.py [--fps 30] [--threads 1] [--device cpu] [--segments pos]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from synth.mocap import load_clip
from synth.mosh.correspondence import SMPL_JOINT_NAMES
from synth.mosh.fit import clip_rotation_targets, clip_targets, fit_joints
from synth.mosh.joints import JointModel
from synth.mosh.limits import L_ELBOW, L_KNEE, R_ELBOW, R_KNEE, limit_excess_deg
from synth.mosh.orientation import HINGES, fit_residuals
from synth.paths import shared_assets_dir

HINGE_JOINTS = [L_KNEE, R_KNEE, L_ELBOW, R_ELBOW]


def off_axis_p90(poses: np.ndarray) -> float:
    """Largest p90 over the hinges of the angle (degrees) of the local rotation off the flexion axis."""
    theta = poses.reshape(-1, 24, 3).astype(float)
    worst = 0.0
    for _, h, d in HINGES:
        v = theta[:, h]
        off = np.linalg.norm(v - np.outer(v @ np.asarray(d), d), axis=1)
        worst = max(worst, float(np.degrees(np.percentile(off, 90))))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--segments", choices=("pos", "rot"), default="rot", help="path whose residuals table 2 shows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from synth.body import load_body_model

    model = JointModel.from_body(load_body_model())
    clips = sorted((shared_assets_dir() / "motion" / "cmu_bvh").glob("*.bvh"))
    print(f"body model {model.identifier}, {args.threads} threads, device {args.device}, {args.fps:g} fps")
    data = []
    for path in clips:
        clip = load_clip(path)
        idx, w, seg, Y = clip_targets(clip, args.fps, model.parents)
        data.append((path.stem, clip, (idx, seg, w, Y), clip_rotation_targets(clip, args.fps, model.parents)))
    for use_rot in (False, True):  # warm-up
        fit_joints(model, *data[0][2], device=args.device, rotations=data[0][3] if use_rot else None)
    print(
        f"{'clip':<14}{'path':>5}{'frames':>7}{'mean mm':>9}{'p95 mm':>8}{'raw mm':>8}{'fit s':>7}{'frames/s':>9}"
        f"{'over lim':>9}{'excess':>8}{'hinge':>6}{'off-axis':>9}{'worst med/p90':>15}"
    )
    totals = {p: {"f": 0, "t": 0.0, "e": [], "x": [], "h": 0} for p in ("pos", "rot")}
    residuals = {p: {} for p in ("pos", "rot")}
    for name, _clip, fit_args, rot in data:
        for label in ("pos", "rot"):
            t0 = time.perf_counter()
            res = fit_joints(model, *fit_args, device=args.device, rotations=rot if label == "rot" else None)
            dt = time.perf_counter() - t0
            n = len(res.error_mm)
            excess = limit_excess_deg(res.poses.reshape(-1, 24, 3))
            hinge = int((excess[:, HINGE_JOINTS] > 0).any(1).sum())
            tot = totals[label]
            tot["f"], tot["t"], tot["h"] = tot["f"] + n, tot["t"] + dt, tot["h"] + hinge
            tot["e"].append(res.error_mm)
            tot["x"].append(excess.sum(1))
            worst = ""
            if rot is not None:
                total, twist = fit_residuals(model.parents, model.rest_joints(res.betas), res.poses, rot)
                residuals[label][name] = (rot, total, twist)
                med, p90 = np.nanmedian(total, 0), np.nanpercentile(total, 90, axis=0)
                worst = f"{np.nanmax(med):.1f}/{np.nanmax(p90):.1f}"
            print(
                f"{name:<14}{label:>5}{n:>7}{res.error_mm.mean():>9.1f}{np.percentile(res.error_mm, 95):>8.1f}"
                f"{res.raw_error_mm.mean():>8.1f}{dt:>7.3f}{n / dt:>9.0f}{(excess.sum(1) > 0).mean():>9.1%}"
                f"{excess.sum(1).mean():>8.2f}{hinge:>6}{off_axis_p90(res.poses):>9.1f}{worst:>15}"
            )
    for label, tot in totals.items():
        e, x = np.concatenate(tot["e"]), np.concatenate(tot["x"])
        print(
            f"{'all':<14}{label:>5}{tot['f']:>7}{e.mean():>9.1f}{np.percentile(e, 95):>8.1f}{'':>8}{tot['t']:>7.3f}"
            f"{tot['f'] / tot['t']:>9.0f}{(x > 0).mean():>9.1%}{x.mean():>8.2f}{tot['h']:>6}"
        )
    print(f"speed ratio rot/pos: {totals['pos']['t'] / totals['rot']['t']:.2f}")
    _segment_table(residuals[args.segments], args.segments)


def _segment_table(residuals: dict, label: str) -> None:
    """Segment rows x clip columns: 'median/p90 (twist median/p90)' degrees, and the valid share."""
    names = list(residuals)
    if not names:
        return
    print(f"\norientation residual, path {label}: median/p90 (twist median/p90) degrees; valid = frames kept")
    print(f"{'segment':<15}" + "".join(f"{n:>24}" for n in names))
    segs = residuals[names[0]][0].segs
    for s in segs:
        cells = []
        for n in names:
            rot, total, twist = residuals[n]
            k = list(rot.segs).index(s) if s in rot.segs else None
            if k is None or not rot.valid[:, k].any():
                cells.append("-")
                continue
            t, w = total[:, k], twist[:, k]
            cell = f"{np.nanmedian(t):.1f}/{np.nanpercentile(t, 90):.1f} ({np.nanmedian(w):.1f}/{np.nanpercentile(w, 90):.1f})"
            share = rot.valid[:, k].mean()
            cells.append(cell + (f" {share:.0%}" if share < 1 else ""))
        print(f"{SMPL_JOINT_NAMES[s]:<15}" + "".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
