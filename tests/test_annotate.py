"""Annotation: projection with the render's cameras, visibility from depth/seg passes, boxes."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from synth.annotate import (
    CameraTrack,
    annotate_camera,
    bbox_from_mask,
    bbox_from_points,
    load_render_cameras,
    project,
    to_camera,
    visibility,
)
from synth.errors import SynthError
from synth.frames import blender_to_smpl, smpl_to_blender


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV extrinsics (x right, y down, z forward) of a camera at eye looking at target."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ eye


def intrinsics(W=128, H=96, f_mm=180.0, sensor_mm=32.0):
    f = f_mm / sensor_mm * W
    return np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])


def test_projection_conventions():
    K = intrinsics()
    R, t = look_at(np.array([0.0, 1.0, 10.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    pts = np.array([[[0.0, 1.0, 0.0], [0.1, 1.0, 0.0], [0.0, 1.1, 0.0], [0.0, 1.0, 20.0]]])
    cam = to_camera(pts, R[None], t[None])
    uv = project(cam, K)
    np.testing.assert_allclose(uv[0, 0], [64, 48])  # optical axis -> image centre (pixel-edge coords)
    # Camera at +z looking down -z: world +x appears on the right, world up appears up (smaller v).
    assert abs(uv[0, 1, 0] - (64 + K[0, 0] * 0.1 / 10)) < 1e-9
    assert uv[0, 2, 1] < 48
    assert np.isnan(uv[0, 3]).all()  # behind the camera


def test_render_cameras_json_blender_world_round_trip(tmp_path):
    """cameras.json in the Blender world + SMPL-world points == Blender points + raw extrinsics."""
    rng = np.random.default_rng(0)
    K = intrinsics(250, 250)
    pts_smpl = rng.normal(size=(3, 24, 3)) * 0.1 + [0, 1, 0]
    pts_bl = smpl_to_blender(pts_smpl)
    eyes = [np.array([12.0, 0.0, 1.0]), np.array([0.0, -12.0, 1.2])]
    frames = []
    cams = []
    for c, eye in enumerate(eyes):
        fr = []
        for t in range(3):
            R, tt = look_at(eye + [0, 0.1 * t, 0], np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]))
            fr.append({"R": R.tolist(), "t": tt.tolist()})
        frames.append(fr)
        cams.append({"name": ["east", "south"][c], "K": K.tolist(), "frames": fr})
    path = tmp_path / "cameras.json"
    path.write_text(
        json.dumps({"convention": "opencv", "world_frame": "blender_z_up", "resolution": [250, 250], "cameras": cams})
    )
    tracks = load_render_cameras(path)
    assert [c.name for c in tracks] == ["east", "south"] and tracks[0].resolution == (250, 250)
    for c, track in enumerate(tracks):
        Rb = np.array([f["R"] for f in frames[c]])
        tb = np.array([f["t"] for f in frames[c]])
        expect = project(to_camera(pts_bl, Rb, tb), K)
        got = project(to_camera(pts_smpl, track.R, track.t), track.K)
        np.testing.assert_allclose(got, expect, atol=1e-9)
        # The body (at the origin, ~1 m up) is in view of both cameras.
        assert (np.abs(got - 125) < 125).all()
    np.testing.assert_allclose(blender_to_smpl(pts_bl), pts_smpl)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SynthError, match="bad.json"):
        load_render_cameras(bad)


def test_visibility_from_depth_and_segmentation():
    W = H = 20
    depth = np.full((1, H, W), np.inf)
    seg = np.zeros((1, H, W), np.uint8)
    depth[0, :, :10] = 3.0  # person surface at 3 m on the left half
    seg[0, :, :10] = 1
    depth[0, :5, :10] = 1.0  # an occluder (other limb) 2 m nearer in the top-left
    seg[0, :5, :10] = 2
    j2d = np.array([[[5.5, 10.5], [5.5, 2.5], [15.5, 10.5], [-3.0, 4.0], [5.5, 12.5]]])
    zj = np.array([[3.08, 3.08, 3.08, 3.0, -1.0]])
    vis = visibility(j2d, zj, (W, H), depth, seg, margin=0.15, window=1)
    # own surface 8 cm in front -> visible; occluded by a nearer surface; over background; outside; behind.
    assert vis.tolist() == [[True, False, False, False, False]]
    # Without passes only the geometric tests remain.
    assert visibility(j2d, zj, (W, H)).tolist() == [[True, True, True, False, False]]
    # A joint at the silhouette edge still finds its surface in the window.
    assert visibility(np.array([[[10.5, 10.5]]]), np.array([[3.05]]), (W, H), depth, seg, window=1)[0, 0]
    assert not visibility(np.array([[[10.5, 10.5]]]), np.array([[3.05]]), (W, H), depth, seg, window=0)[0, 0]


def test_bounding_boxes():
    m = np.zeros((2, 10, 12), bool)
    m[0, 2:5, 3:7] = True
    np.testing.assert_array_equal(bbox_from_mask(m), [[3, 2, 7, 5], [0, 0, 0, 0]])
    pts = np.array([[[1.5, 2.0], [20.0, 4.0], [3.0, -1.0]], [[np.nan, np.nan], [-5.0, -5.0], [-1.0, -2.0]]])
    np.testing.assert_allclose(bbox_from_points(pts, (12, 10)), [[1.5, 0, 12, 4], [0, 0, 0, 0]])


def toy_body(poses: np.ndarray, trans: np.ndarray, rel: np.ndarray, j0: np.ndarray) -> np.ndarray:
    """A rigid SMPL-like body: joints = R_root (rest - j0) + j0 + trans (SMPL rotates about the pelvis)."""
    R = Rotation.from_rotvec(poses[:, :3]).as_matrix()
    return np.einsum("tij,nj->tni", R, rel) + j0 + trans[:, None]


def test_camera_frame_smpl_parameters_reproduce_camera_joints():
    rng = np.random.default_rng(3)
    T = 4
    j0 = np.array([0.0, -0.22, 0.03])
    rel = rng.normal(size=(24, 3)) * 0.4
    rel[0] = 0
    poses = np.zeros((T, 72))
    poses[:, :3] = rng.normal(size=(T, 3))
    trans = rng.normal(size=(T, 3))
    joints = toy_body(poses, trans, rel, j0)
    R = Rotation.from_rotvec(rng.normal(size=(T, 3))).as_matrix()
    t = rng.normal(size=(T, 3)) + [0, 0, 8]
    cam = CameraTrack("east", intrinsics(64, 64), R, t, (64, 64))
    verts = {"body": joints + 0.01}
    ann = annotate_camera(cam, poses, np.zeros(10), trans, joints, verts)
    again = toy_body(ann.smpl["poses_cam"].astype(float), ann.smpl["trans_cam"].astype(float), rel, j0)
    np.testing.assert_allclose(again, ann.joints["j3d_cam"], atol=1e-4)
    np.testing.assert_allclose(ann.joints["j3d_cam"], to_camera(joints, R, t), atol=1e-5)
    assert ann.smpl["betas"].shape == (T, 10) and ann.joints["visibility"].dtype == bool
    assert ann.verts["body"].dtype == np.float16 and ann.verts["body"].shape == (T, 24, 3)
    assert np.asarray(ann.camera["R"]).shape == (T, 3, 3) and ann.camera["world_frame"] == "smpl_y_up"
