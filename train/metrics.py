"""Evaluation metrics on one sequence (inputs in metres, results in millimetres).

Per frame:
- MPJPE: mean joint distance after aligning the pelvis (joint 0) of prediction and truth.
- PA-MPJPE: the same after the best similarity transform (rotation, scale, translation) per frame.
- MPVPE: mean vertex distance, both meshes made relative to their own pelvis joint.
Temporal (D^k = k-th finite difference over frames, k = 1 velocity, k = 2 acceleration):
- MRVPV_k (mean root-relative vertex position variation error): mean over t and vertices of
  ||D^k(V_pred - r_pred) - D^k(V_gt - r_gt)||, V the posed vertices, r the pelvis joint. mm/frame^k.
- MRSV_k (mean root-relative shape variation error): the same on the rest-pose (zero theta) mesh of
  each frame's beta, so it measures how much the body *shape* changes between frames, in mm of
  surface; with a constant ground-truth shape it is the predicted shape's own jitter.
- Accel error: mean over t and joints of ||D^2(J_pred - r_pred) - D^2(J_gt - r_gt)||, mm/frame^2.
"""

from __future__ import annotations

import numpy as np
import roma
import torch

MM = 1000.0


def _root_relative(points: np.ndarray, root: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) - np.asarray(root, np.float64)[:, None, :]


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """(T,J,3) joints, pelvis first."""
    return float(np.linalg.norm(_root_relative(pred, pred[:, 0]) - _root_relative(gt, gt[:, 0]), axis=-1).mean() * MM)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T,J,3): pred mapped by the per-frame similarity transform (rotation, never a reflection, scale,
    translation) that best fits gt (Umeyama, roma's). A frame with a non-finite number comes out all
    NaN (it would spoil the whole batch)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    ok = np.isfinite(pred).all((1, 2)) & np.isfinite(gt).all((1, 2))
    if not ok.all():
        out = np.full(pred.shape, np.nan)
        if ok.any():
            out[ok] = procrustes_align(pred[ok], gt[ok])
        return out
    R, t, scale = roma.rigid_points_registration(torch.as_tensor(pred), torch.as_tensor(gt), compute_scaling=True)
    return (scale[:, None, None] * torch.einsum("tij,tnj->tni", R, torch.as_tensor(pred)) + t[:, None]).numpy()


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(np.linalg.norm(procrustes_align(pred, gt) - np.asarray(gt, np.float64), axis=-1).mean() * MM)


def mpvpe(pred_v: np.ndarray, gt_v: np.ndarray, pred_root: np.ndarray, gt_root: np.ndarray) -> float:
    return float(np.linalg.norm(_root_relative(pred_v, pred_root) - _root_relative(gt_v, gt_root), axis=-1).mean() * MM)


def variation_error(pred: np.ndarray, gt: np.ndarray, order: int) -> float:
    """mean ||D^order pred - D^order gt|| over frames and points, mm per frame^order (needs T > order)."""
    if len(pred) <= order:
        return float("nan")
    dp = np.diff(np.asarray(pred, np.float64), n=order, axis=0)
    dg = np.diff(np.asarray(gt, np.float64), n=order, axis=0)
    return float(np.linalg.norm(dp - dg, axis=-1).mean() * MM)


def mrvpv(pred_v: np.ndarray, gt_v: np.ndarray, pred_root: np.ndarray, gt_root: np.ndarray, order: int) -> float:
    return variation_error(_root_relative(pred_v, pred_root), _root_relative(gt_v, gt_root), order)


def mrsv(
    pred_rest: np.ndarray, gt_rest: np.ndarray, pred_rest_root: np.ndarray, gt_rest_root: np.ndarray, order: int
) -> float:
    return variation_error(_root_relative(pred_rest, pred_rest_root), _root_relative(gt_rest, gt_rest_root), order)


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    return variation_error(_root_relative(pred, pred[:, 0]), _root_relative(gt, gt[:, 0]), 2)


METRICS = ("MPJPE", "PA-MPJPE", "MPVPE", "MRVPV_1", "MRVPV_2", "MRSV_1", "MRSV_2", "Accel")


@torch.no_grad()
def _mesh(body, theta: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    T = len(theta)
    out = body(
        torch.as_tensor(beta, dtype=torch.float32), torch.as_tensor(theta, dtype=torch.float32), torch.zeros(T, 3)
    )
    return out.vertices.double().cpu().numpy(), out.joints[:, :24].double().cpu().numpy()


def sequence_metrics(
    body, pred_theta: np.ndarray, pred_beta: np.ndarray, gt_theta: np.ndarray, gt_beta: np.ndarray
) -> dict[str, float]:
    """All metrics for one sequence of T frames: theta (T,72) camera-frame axis-angle, beta (T,10)."""
    pv, pj = _mesh(body, pred_theta, pred_beta)
    gv, gj = _mesh(body, gt_theta, gt_beta)
    zeros = np.zeros_like(np.asarray(gt_theta))
    prv, prj = _mesh(body, zeros, pred_beta)
    grv, grj = _mesh(body, zeros, gt_beta)
    return {
        "MPJPE": mpjpe(pj, gj),
        "PA-MPJPE": pa_mpjpe(pj, gj),
        "MPVPE": mpvpe(pv, gv, pj[:, 0], gj[:, 0]),
        "MRVPV_1": mrvpv(pv, gv, pj[:, 0], gj[:, 0], 1),
        "MRVPV_2": mrvpv(pv, gv, pj[:, 0], gj[:, 0], 2),
        "MRSV_1": mrsv(prv, grv, prj[:, 0], grj[:, 0], 1),
        "MRSV_2": mrsv(prv, grv, prj[:, 0], grj[:, 0], 2),
        "Accel": accel_error(pj, gj),
    }


def average(rows: list[dict[str, float]], weights: list[int]) -> dict[str, float]:
    """Frame-weighted mean of per-sequence metrics (NaNs, e.g. too-short clips, left out)."""
    out = {}
    for k in METRICS:
        vals = np.array([r[k] for r in rows], float)
        w = np.array(weights, float)
        ok = np.isfinite(vals)
        out[k] = float((vals[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")
    return out
