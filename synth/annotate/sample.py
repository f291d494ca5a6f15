"""Per-camera annotation of one rendered sequence: the arrays that go into a shard sample."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from synth.annotate.cameras import CameraTrack
from synth.annotate.project import bbox_from_mask, bbox_from_points, project, to_camera, visibility


@dataclass
class CameraAnnotation:
    smpl: dict  # poses, poses_cam, betas, trans, trans_cam
    joints: dict  # j3d_world, j3d_cam, j2d, visibility, bbox
    camera: dict  # camera.json
    verts: dict = field(default_factory=dict)  # body, cloth_{name} (camera frame, float16)


def root_to_camera(poses: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(T,72) world poses -> poses whose global orientation is expressed in the camera frame."""
    out = np.array(poses, np.float64, copy=True)
    root = Rotation.from_rotvec(out[:, :3]).as_matrix()
    out[:, :3] = Rotation.from_matrix(R @ root).as_rotvec()
    return out


def annotate_camera(
    cam: CameraTrack,
    poses: np.ndarray,
    betas: np.ndarray,
    trans: np.ndarray,
    joints_world: np.ndarray,
    verts_world: dict[str, np.ndarray] | None = None,
    depth_maps: np.ndarray | None = None,
    seg_maps: np.ndarray | None = None,
    margin: float = 0.15,
    window: int = 1,
) -> CameraAnnotation:
    """Annotate T frames seen by `cam` (all inputs in the SMPL world, frames aligned with cam's).

    trans_cam is defined so that the body model evaluated with (betas, poses_cam, trans_cam) gives
    the camera-frame mesh: the pelvis joint moves to j3d_cam[:, 0] and the rest-pose pelvis offset
    j0 = j3d_world[:, 0] - trans is subtracted, as SMPL rotates about the pelvis, not the origin.
    `verts_world`: {"body": (T,V,3), "cloth_<name>": ...}; the bbox uses the segmentation when
    present, else the projected vertices (else the joints).
    """
    T = len(poses)
    R, t = cam.R[:T], cam.t[:T]
    if len(R) != T:
        raise ValueError(f"camera {cam.name} has {len(cam.R)} frames, the sequence {T}")
    j3d_cam = to_camera(joints_world, R, t)
    j2d = project(j3d_cam, cam.K)
    vis = visibility(j2d, j3d_cam[..., 2], cam.resolution, depth_maps, seg_maps, margin, window)
    verts_cam = {k: to_camera(v, R, t) for k, v in (verts_world or {}).items()}
    if seg_maps is not None:
        bbox = bbox_from_mask(seg_maps > 0)
    else:
        pts = np.concatenate([project(v, cam.K) for v in verts_cam.values()], 1) if verts_cam else j2d
        bbox = bbox_from_points(pts, cam.resolution)
    j0 = joints_world[:, 0] - trans
    smpl = {
        "poses": poses.astype(np.float32),
        "poses_cam": root_to_camera(poses, R).astype(np.float32),
        "betas": np.broadcast_to(np.asarray(betas, np.float32).reshape(-1, 10), (T, 10)).copy(),
        "trans": trans.astype(np.float32),
        "trans_cam": (j3d_cam[:, 0] - j0).astype(np.float32),
    }
    joints = {
        "j3d_world": joints_world.astype(np.float32),
        "j3d_cam": j3d_cam.astype(np.float32),
        "j2d": np.nan_to_num(j2d, nan=-1.0).astype(np.float32),
        "visibility": vis.astype(bool),
        "bbox": bbox.astype(np.float32),
    }
    camera = CameraTrack(cam.name, cam.K, R, t, cam.resolution).to_json()
    return CameraAnnotation(smpl, joints, camera, {k: v.astype(np.float16) for k, v in verts_cam.items()})
