"""Body model (synth/body) and the preview renderer (synth/viz) on the real embedded model.

The session fixture `body` builds the embedded open model on first use (anny, ~1.5 min on a
fresh machine, then cached under synth.paths.cache_dir()).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from synth.body import JOINT_NAMES, PARENTS, load_body_model, read_smpl_file
from synth.body.build import default_model_path
from synth.body.joints import LEFT_JOINTS, MIRROR_PERM, RIGHT_JOINTS, mirror_joints, mirror_pose
from synth.errors import SynthError
from synth.viz import render_mesh_image, tile_images


def _subtree(joint: int) -> set[int]:
    out = {joint}
    for k in range(len(PARENTS)):
        if PARENTS[k] in out:
            out.add(k)
    return out


def _pose(**angles_deg: tuple[float, float, float]) -> np.ndarray:
    pose = np.zeros(72, np.float32)
    for name, aa in angles_deg.items():
        pose[3 * JOINT_NAMES.index(name) : 3 * JOINT_NAMES.index(name) + 3] = np.deg2rad(aa)
    return pose


def test_shapes_and_dtypes(body):
    B = 3
    out = body(torch.zeros(B, 10), torch.zeros(B, 72), torch.zeros(B, 3))
    V = body.num_verts
    assert out.vertices.shape == (B, V, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (B, 24, 3) and out.joints.dtype == torch.float32
    assert len(JOINT_NAMES) == 24 and JOINT_NAMES[0] == "pelvis" and JOINT_NAMES[23] == "right_hand"
    assert body.faces.dtype == np.int64 and body.faces.shape[1] == 3 and body.faces.max() == V - 1
    assert body.parents.dtype == np.int64 and np.array_equal(body.parents, PARENTS)
    assert body.lbs_weights.shape == (V, 24) and np.allclose(body.lbs_weights.sum(1), 1.0)
    assert body.part_labels.shape == (V,) and set(np.unique(body.part_labels)) == set(range(24))
    assert body.v_template.shape == (V, 3)
    name, _, digest = body.identifier.partition(":")
    assert name and len(digest) == 64
    # numpy inputs, unbatched (72,) poses and broadcasting of B=1 against B=2 work too
    out2 = body(np.zeros(10), np.zeros((2, 72)), np.zeros(3))
    assert out2.vertices.shape == (2, V, 3)
    with pytest.raises(ValueError, match="poses"):
        body(np.zeros(10), np.zeros(69), np.zeros(3))


def test_embedded_model_is_an_smpl_like_t_pose(body):
    """Y up, facing +Z, body's left at +X, pelvis at the origin, arms horizontal, adult height."""
    out = body(np.zeros(10), np.zeros(72), np.zeros(3))
    v, j = out.vertices[0].numpy(), out.joints[0].numpy()
    J = {n: j[i] for i, n in enumerate(JOINT_NAMES)}
    assert np.linalg.norm(J["pelvis"]) < 0.01
    assert 1.55 < np.ptp(v[:, 1]) < 1.85
    assert J["head"][1] > J["neck"][1] > J["spine3"][1] > J["pelvis"][1] > J["left_knee"][1] > J["left_ankle"][1]
    assert J["left_hip"][0] > 0 > J["right_hip"][0] and J["left_wrist"][0] > 0.5
    for side in ("left", "right"):  # arms horizontal: wrist, elbow at shoulder height
        for part in ("elbow", "wrist", "hand"):
            assert abs(J[f"{side}_{part}"][1] - J[f"{side}_shoulder"][1]) < 0.02
    assert J["left_foot"][2] > J["left_ankle"][2] + 0.05  # toes point forward (+Z)
    assert np.allclose(body.rest_vertices(np.zeros(10)), v, atol=1e-5)
    # every joint lies inside the body's bounding box and the regressor is convex
    J_reg = body.smpl.J_regressor.numpy()
    assert np.all(J_reg >= 0) and np.allclose(J_reg.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "joint,angles",
    [
        ("left_elbow", (0, 60, 0)),
        ("right_knee", (70, 0, 0)),
        ("neck", (30, 0, 10)),
        ("left_shoulder", (0, 0, 50)),
        ("spine2", (20, 0, 0)),
    ],
)
def test_posing_one_joint_moves_only_its_subtree(body, joint, angles):
    rest = body(np.zeros(10), np.zeros(72), np.zeros(3))
    posed = body(np.zeros(10), _pose(**{joint: angles}), np.zeros(3))
    sub = sorted(_subtree(JOINT_NAMES.index(joint)))
    in_sub = body.lbs_weights[:, sub].sum(1)
    moved = np.linalg.norm((posed.vertices - rest.vertices)[0].numpy(), axis=1)
    assert moved[in_sub < 1e-6].max() < 1e-5  # untouched outside the subtree
    assert np.median(moved[in_sub > 0.99]) > 0.01  # and the subtree really moves
    jmoved = np.linalg.norm((posed.joints - rest.joints)[0].numpy(), axis=1)
    outside = [k for k in range(24) if k not in sub or k == JOINT_NAMES.index(joint)]
    assert jmoved[outside].max() < 1e-5


def _height(body, betas):
    v = body.rest_vertices(betas)
    return np.ptp(v[:, 1])


def _waist_girth(body, betas, ring):
    """Perimeter of the convex hull of a fixed ring of waist vertices (x-z plane)."""
    from scipy.spatial import ConvexHull

    pts = body.rest_vertices(betas)[ring][:, [0, 2]]
    return ConvexHull(pts).area  # in 2D, `area` is the perimeter


def test_shape_components_change_height_and_girth_smoothly(body):
    steps = np.linspace(-2, 2, 9)
    heights = np.array([_height(body, np.eye(10)[0] * s) for s in steps])
    d = np.diff(heights)
    assert np.all(d > 0.01)  # beta0: monotone height
    assert d.max() < 1.5 * d.min()  # no jumps
    assert 1.4 < heights[0] < 1.65 and 1.8 < heights[-1] < 2.0
    v0 = body.v_template
    j0 = body.rest_joints(np.zeros(10))
    waist = 0.5 * (j0[JOINT_NAMES.index("spine1")] + j0[JOINT_NAMES.index("spine2")])
    ring = np.flatnonzero((np.abs(v0[:, 1] - waist[1]) < 0.015) & (np.abs(v0[:, 0]) < 0.25))
    girth_change = []
    for k in range(4):
        girths = np.array([_waist_girth(body, np.eye(10)[k] * s, ring) for s in steps])
        dg = np.diff(girths)
        assert np.all(dg > 0) or np.all(dg < 0), f"beta{k} girth not monotone: {girths}"
        assert np.abs(dg).max() < 2.0 * np.abs(dg).min() + 1e-3
        girth_change.append(abs(girths[-1] - girths[0]))
    assert max(girth_change[1:]) > 0.03  # some non-height component changes girth by > 3 cm


def test_mirrored_pose_poses_the_mirrored_body(body):
    """The flip augmentation's premise (train/data.py): the body of mirror_pose(theta) is the mirror image
    of the body of theta, joints and mesh, for any root, pose and shape; a sign or a side swap wrong is
    metres off."""
    from scipy.spatial import cKDTree
    from scipy.spatial.transform import Rotation

    assert (MIRROR_PERM[MIRROR_PERM] == np.arange(24)).all() and len(LEFT_JOINTS) == len(RIGHT_JOINTS) == 9
    for j in LEFT_JOINTS:
        assert JOINT_NAMES[MIRROR_PERM[j]] == JOINT_NAMES[j].replace("left_", "right_")
    centre = sorted(set(range(24)) - LEFT_JOINTS - RIGHT_JOINTS)
    assert (MIRROR_PERM[centre] == centre).all() and JOINT_NAMES[centre[-1]] == "head"
    n = 6
    theta = (Rotation.random(n * 24, random_state=1).as_rotvec() * 0.5).reshape(n, 72)  # root included
    beta = np.random.default_rng(0).normal(0, 1.5, (n, 10))
    np.testing.assert_array_equal(mirror_pose(mirror_pose(theta)), theta)
    out, mirrored = body(beta, theta, np.zeros(3)), body(beta, mirror_pose(theta), np.zeros(3))
    J, Jm = out.joints[:, :24].double().numpy(), mirrored.joints[:, :24].double().numpy()
    np.testing.assert_array_equal(mirror_joints(mirror_joints(J)), J)
    assert np.abs(Jm - mirror_joints(J)).max() < 5e-4  # measured 0.07 mm (float32)
    assert np.abs(Jm - J).max() > 0.1  # the mirror is a different body
    for k in range(n):  # the mesh as a point set (vertex order is not mirrored): measured <= 0.15 mm
        d, _ = cKDTree(out.vertices[k].double().numpy() * [-1.0, 1.0, 1.0]).query(mirrored.vertices[k].double().numpy())
        assert d.max() < 1e-3


def test_embedded_file_round_trips_through_smplx(body, tmp_path):
    import smplx
    from smplx.utils import Struct

    path = default_model_path("neutral")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert arrays["posedirs"].shape == (body.num_verts, 3, 207) and not arrays["posedirs"].any()
    assert arrays["shapedirs"].shape == (body.num_verts, 3, 10)
    assert "CC0" in str(arrays["licence"]) and "anny" in str(arrays["provenance"])
    pkl = tmp_path / "open_body.pkl"  # SMPL's own pickle layout: plain smplx.SMPL reads it
    with open(pkl, "wb") as fh:
        pickle.dump(
            {
                k: arrays[k]
                for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
            },
            fh,
        )
    rng = np.random.default_rng(0)
    betas = torch.tensor(rng.normal(size=(2, 10)), dtype=torch.float32)
    poses = torch.tensor(rng.normal(scale=0.3, size=(2, 72)), dtype=torch.float32)
    trans = torch.tensor(rng.normal(size=(2, 3)), dtype=torch.float32)
    ours = body(betas, poses, trans)
    for smpl in (smplx.SMPL(str(pkl), num_betas=10), smplx.SMPL(str(path), data_struct=Struct(**arrays), num_betas=10)):
        ref = smpl(betas=betas, global_orient=poses[:, :3], body_pose=poses[:, 3:], transl=trans)
        assert torch.allclose(ref.vertices, ours.vertices, atol=1e-5)
        assert torch.allclose(ref.joints[:, :24], ours.joints, atol=1e-5)


def test_real_smpl_files_by_path_directory_and_environment(tmp_path, monkeypatch):
    """A user-supplied SMPL_<GENDER>.npz is found by file, by directory and via $SYNTH_SMPL_MODEL."""
    with np.load(default_model_path("neutral")) as npz:
        arrays = {
            k: npz[k] for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
        }
    np.savez(tmp_path / "SMPL_FEMALE.npz", **arrays)
    by_dir = load_body_model(tmp_path, gender="female")
    assert by_dir.identifier.startswith("SMPL_FEMALE:")
    monkeypatch.setenv("SYNTH_SMPL_MODEL", str(tmp_path / "SMPL_FEMALE.npz"))
    by_env = load_body_model()
    assert by_env.identifier == by_dir.identifier and by_env.num_verts == len(arrays["v_template"])
    monkeypatch.setenv("SYNTH_SMPL_MODEL", str(tmp_path / "nope.pkl"))
    with pytest.raises(SynthError, match="smpl.is.tue.mpg.de"):
        load_body_model()
    with pytest.raises(SynthError, match="SMPL_MALE"):
        load_body_model(tmp_path, gender="male")


def test_bad_model_files_give_clear_errors(tmp_path):
    good = read_smpl_file(default_model_path("neutral"))
    missing = tmp_path / "missing.pkl"
    with pytest.raises(SynthError) as err:
        load_body_model(missing)
    assert str(missing) in str(err.value) and "https://smpl.is.tue.mpg.de" in str(err.value)

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip file")
    with pytest.raises(SynthError, match="cannot read"):
        load_body_model(corrupt)
    corrupt_pkl = tmp_path / "corrupt.pkl"
    corrupt_pkl.write_bytes(b"\x80\x04garbage")
    with pytest.raises(SynthError, match="cannot read"):
        load_body_model(corrupt_pkl)

    no_regressor = tmp_path / "no_regressor.npz"
    np.savez(no_regressor, **{k: v for k, v in good.items() if k != "J_regressor"})
    with pytest.raises(SynthError, match="missing J_regressor") as err:
        load_body_model(no_regressor)
    assert "no_regressor.npz" in str(err.value) and "v_template" in str(err.value)

    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez(wrong_shape, **{**good, "weights": good["weights"][:, :20]})
    with pytest.raises(SynthError, match="wrong shapes weights"):
        load_body_model(wrong_shape)
    with pytest.raises(SynthError, match="gender"):
        load_body_model(gender="other")


def test_cli_reports_bad_model_without_traceback(tmp_path, capsys):
    from synth.cli import main

    assert main(["body", "preview", "--out", str(tmp_path), "--model", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "x.npz" in err and "Traceback" not in err


def test_preview_writes_pictures_of_a_human(body, tmp_path):
    from synth.body.preview import write_previews

    paths = write_previews(body, tmp_path, size=64)
    assert sorted(p.name for p in paths) == ["poses_front.png", "poses_side.png", "shapes_front.png", "shapes_side.png"]
    from PIL import Image

    img = np.asarray(Image.open(tmp_path / "poses_front.png"))
    assert img.shape[0] > 64 and (img < 200).mean() > 0.03  # not blank


def test_renderer_depth_order_framing_and_speed(body):
    import time

    quad = np.array([[0, 1, 2], [0, 2, 3]])
    square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    near, far = square * 0.5 + [0, 0, 1.0], square
    img = render_mesh_image(
        [far, near], [quad, quad], size=32, colours=[(1, 0, 0), (0, 0, 1)], light=(0, 0, 1), supersample=1
    )
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert img[16, 16, 2] > 200 and img[16, 16, 0] < 10  # nearer blue square in the middle
    assert img[3, 16, 0] > 200 and img[3, 16, 2] < 10  # red frame around it
    back = render_mesh_image(
        [far, near], [quad, quad], size=32, view="back", colours=[(1, 0, 0), (0, 0, 1)], light=(0, 0, -1), supersample=1
    )
    assert back[16, 16, 0] > 200  # seen from behind the red square hides the blue one
    t0 = time.perf_counter()
    pic = render_mesh_image(body.v_template, body.faces, size=256, view="side")
    assert time.perf_counter() - t0 < 5.0  # generous; benchmarks/body.py measures it
    assert (pic.min(axis=2) < 250).mean() > 0.02
    grid = tile_images([pic, pic, pic], cols=2, pad=2, titles=["a", "b", "c"])
    assert grid.shape == (2 * (256 + 2 + 14) + 2, 2 * (256 + 2) + 2, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_matches_cpu(body):
    gpu = load_body_model(device="cuda")
    rng = np.random.default_rng(1)
    betas, poses = rng.normal(size=(4, 10)), rng.normal(scale=0.3, size=(4, 72))
    a = body(betas, poses, np.zeros((4, 3))).vertices
    b = gpu(betas, poses, np.zeros((4, 3))).vertices.cpu()
    assert gpu.device.type == "cuda" and torch.allclose(a, b, atol=1e-4)


def test_model_file_writer_is_byte_reproducible(tmp_path):
    """Same arrays -> same bytes, so the identifier (sha256 of the file) is stable across builds."""
    from synth.body.build import save_npz_reproducible

    arrays = {"v_template": np.arange(12.0).reshape(4, 3), "f": np.array([[0, 1, 2]]), "licence": np.str_("CC0")}
    save_npz_reproducible(tmp_path / "a.npz", arrays)
    save_npz_reproducible(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as npz:
        assert np.array_equal(npz["v_template"], arrays["v_template"]) and str(npz["licence"]) == "CC0"
