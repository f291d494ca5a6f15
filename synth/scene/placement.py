"""Where the cameras and lights go, computed from the vertex caches (Blender world, Z up).

Each camera sits on a fixed direction (east/west/south/north, small elevation) from the tracked
point (the pelvis) and follows it frame by frame; its distance is the smallest that keeps every body
and garment vertex of the whole sequence within `fill` of the half frame, so the body fills the view
without ever leaving it.
"""

from __future__ import annotations

import numpy as np

WORLD_UP = np.array([0.0, 0.0, 1.0])


def camera_direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector from the subject to the camera (azimuth from +X towards +Y)."""
    ce = np.cos(elevation)
    return np.array([np.cos(azimuth) * ce, np.sin(azimuth) * ce, np.sin(elevation)])


def view_axes(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image right and up axes of a camera looking along -direction with the world's Z up."""
    right = np.cross(-direction, WORLD_UP)
    right /= np.linalg.norm(right)
    return right, np.cross(right, -direction)


def fit_distance(points: np.ndarray, targets: np.ndarray, direction: np.ndarray, tan_half: float, fill: float) -> float:
    """Smallest distance along `direction` at which all points (T,N,3) project within fill*tan_half.

    A point p (relative to the target) at depth d - p.dir is inside when |p.axis| / (d - p.dir) <= k,
    i.e. d >= |p.axis| / k + p.dir, for the right and the up axis alike.
    """
    rel = points - targets[:, None, :]
    right, up = view_axes(direction)
    k = tan_half * fill
    along = rel @ direction
    need = np.maximum(np.abs(rel @ right), np.abs(rel @ up)) / k + along
    return float(need.max())


def track_points(body_verts: np.ndarray) -> np.ndarray:
    """(T,3) tracked point per frame: the body's vertex centroid, which sits at the pelvis for SMPL."""
    return body_verts.mean(axis=1)


def camera_tracks(
    spec_cameras: list[dict], points: np.ndarray, targets: np.ndarray, focal_mm: float, sensor_mm: float, fill: float
) -> list[dict]:
    """Per camera: name, distance, and per-frame locations and look-at targets (Blender world)."""
    tan_half = 0.5 * sensor_mm / focal_mm
    tracks = []
    for cam in spec_cameras:
        direction = camera_direction(cam["azimuth"], cam["elevation"])
        dist = fit_distance(points, targets, direction, tan_half, fill)
        tracks.append(
            {
                "name": cam["name"],
                "distance": dist,
                "locations": (targets + dist * direction).tolist(),
                "targets": targets.tolist(),
            }
        )
    return tracks


def light_positions(spec_lights: list[dict], center: np.ndarray, radius: float) -> list[dict]:
    """Area lights around the sequence's mean tracked point, aimed at it; distance grows with the body."""
    out = []
    for light in spec_lights:
        direction = camera_direction(light["azimuth"], light["elevation"])
        dist = light["distance"] + radius
        out.append({"location": (center + dist * direction).tolist(), "target": center.tolist()})
    return out
