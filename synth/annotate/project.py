"""Projection, visibility and bounding boxes: pure numpy on (T, N, 3) world points."""

from __future__ import annotations

import numpy as np

from synth.body.joints import PARENTS

# SMPL kinematic tree (parent of each of the 24 joints), for drawing skeletons.
SMPL_PARENTS = PARENTS  # synth/body/joints.py


def to_camera(points: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(T, N, 3) world points -> camera frame with per-frame (T,3,3) R and (T,3) t."""
    return np.einsum("tij,tnj->tni", R, points) + t[:, None, :]


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels (OpenCV pinhole, no distortion).

    Points at or behind the camera plane get NaN, so they can never look like valid pixels.
    """
    z = points_cam[..., 2:3]
    safe = np.where(z > 1e-9, z, np.nan)
    uv1 = points_cam / safe
    return uv1[..., :2] @ K[:2, :2].T + K[:2, 2]


def in_image(j2d: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    W, H = resolution
    u, v = j2d[..., 0], j2d[..., 1]
    with np.errstate(invalid="ignore"):
        return (u >= 0) & (u < W) & (v >= 0) & (v < H)


def visibility(
    j2d: np.ndarray,
    depth_j: np.ndarray,
    resolution: tuple[int, int],
    depth_maps: np.ndarray | None = None,
    seg_maps: np.ndarray | None = None,
    margin: float = 0.15,
    window: int = 1,
) -> np.ndarray:
    """(T, J) bool: the joint projects into the image, lies in front of the camera, and the
    rendered surface around its pixel belongs to the person and is not more than `margin` metres
    nearer than the joint (a joint sits inside the body, so its own surface is a few cm in front).

    depth_maps (T, H, W) metres along camera z (inf for background); seg_maps (T, H, W) labels with
    0 = background. Either may be None (that test is skipped).
    """
    T, J = depth_j.shape
    vis = in_image(j2d, resolution) & (depth_j > 0)
    if depth_maps is None and seg_maps is None:
        return vis
    W, H = resolution
    ui = np.floor(np.nan_to_num(j2d[..., 0], nan=-1)).astype(int)
    vi = np.floor(np.nan_to_num(j2d[..., 1], nan=-1)).astype(int)
    ok = np.zeros((T, J), bool)
    for dv in range(-window, window + 1):
        for du in range(-window, window + 1):
            u = np.clip(ui + du, 0, W - 1)
            v = np.clip(vi + dv, 0, H - 1)
            tt = np.arange(T)[:, None].repeat(J, 1)
            good = np.ones((T, J), bool)
            if seg_maps is not None:
                good &= seg_maps[tt, v, u] > 0
            if depth_maps is not None:
                d = depth_maps[tt, v, u]
                good &= np.isfinite(d) & (d > depth_j - margin)
            ok |= good
    return vis & ok


def bbox_from_points(pts2d: np.ndarray, resolution: tuple[int, int]) -> np.ndarray:
    """(T, N, 2) pixels -> (T, 4) xyxy clipped to the image; zeros where nothing is in view."""
    W, H = resolution
    with np.errstate(invalid="ignore"):
        x0 = np.nanmin(pts2d[..., 0], 1)
        y0 = np.nanmin(pts2d[..., 1], 1)
        x1 = np.nanmax(pts2d[..., 0], 1)
        y1 = np.nanmax(pts2d[..., 1], 1)
    box = np.stack([np.clip(x0, 0, W), np.clip(y0, 0, H), np.clip(x1, 0, W), np.clip(y1, 0, H)], 1)
    box = np.nan_to_num(box, nan=0.0)
    empty = (box[:, 2] <= box[:, 0]) | (box[:, 3] <= box[:, 1])
    box[empty] = 0.0
    return box


def bbox_from_mask(masks: np.ndarray) -> np.ndarray:
    """(T, H, W) bool person masks -> (T, 4) xyxy in pixel-edge coordinates; zeros when empty."""
    T = len(masks)
    box = np.zeros((T, 4))
    for k in range(T):
        ys, xs = np.nonzero(masks[k])
        if len(xs):
            box[k] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return box
