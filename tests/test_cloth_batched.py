"""Batched torch cloth (synth/cloth/batched.py) against the scipy solver it ports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from synth.cloth.batched import BatchedImplicitCloth, TorchCollider, respond_t, vertex_normals_t
from synth.cloth.materials import get_material
from synth.cloth.solver import ImplicitCloth, SolverSettings

H = 1.0 / 120.0


def grid(n: int, size: float, y: float = 0.0, shift=(0.0, 0.0)):
    """A horizontal n x n grid (XZ plane at height y) with its faces."""
    u = np.linspace(0, size, n)
    X, Z = np.meshgrid(u + shift[0], u + shift[1], indexing="ij")
    verts = np.stack([X.ravel(), np.full(n * n, y), Z.ravel()], 1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    faces = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return verts, faces


def pinned_edge(verts: np.ndarray) -> np.ndarray:
    return verts[:, 2] == verts[:, 2].min()


def run_scipy(verts, faces, mat, pinned, steps):
    cloth = ImplicitCloth(verts, faces, [mat], pinned=pinned)
    for _ in range(steps):
        cloth.step(H)
    return cloth.x, cloth.cg_iterations


def test_hanging_cloth_matches_scipy_solver_float64():
    verts, faces = grid(9, 0.4)
    mat, pinned = get_material("cotton"), pinned_edge(verts)
    batched = BatchedImplicitCloth([verts], [faces], [mat], [pinned], dtype=torch.float64)
    ref = ImplicitCloth(verts, faces, [mat], pinned=pinned)
    for step in range(50):
        ref.step(H)
        batched.step(H)
        if step == 0:
            np.testing.assert_allclose(batched.x.numpy(), ref.x, atol=1e-10)
    assert ref.x[:, 1].min() < -0.05  # it really fell and swung
    np.testing.assert_allclose(batched.x.numpy(), ref.x, atol=1e-8)
    np.testing.assert_allclose(batched.v.numpy(), ref.v, atol=1e-6)
    assert int(batched.cg_iterations[0]) == ref.cg_iterations


def test_batch_of_different_garments_equals_separate_runs():
    meshes = [grid(7, 0.3), grid(10, 0.5, y=1.0), grid(5, 0.2, shift=(2.0, 0.0))]
    mats = [get_material(m) for m in ("cotton", "silk", "denim")]
    pins = [pinned_edge(v) for v, _ in meshes]
    batched = BatchedImplicitCloth([v for v, _ in meshes], [f for _, f in meshes], mats, pins, dtype=torch.float64)
    for _ in range(30):
        batched.step(H)
    for g, ((v, f), m, p) in enumerate(zip(meshes, mats, pins)):
        x, iters = run_scipy(v, f, m, p, 30)
        sl = slice(batched.offsets[g], batched.offsets[g + 1])
        np.testing.assert_allclose(batched.x[sl].numpy(), x, atol=1e-6)  # float64 rounding only
        assert int(batched.cg_iterations[g]) == iters  # per-garment convergence, not the batch's


def test_pinned_targets_are_followed():
    verts, faces = grid(6, 0.3)
    pinned = pinned_edge(verts)
    cloth = BatchedImplicitCloth([verts], [faces], [get_material("cotton")], [pinned], dtype=torch.float64)
    target = torch.as_tensor(verts[pinned] + [0.0, 0.01, 0.0])
    cloth.step(H, target)
    np.testing.assert_allclose(cloth.x[torch.as_tensor(pinned)].numpy(), target.numpy(), atol=1e-12)


def drop_on_sphere(device: str, dtype: torch.dtype, steps: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A free cloth dropped on a static sphere (radius 0.2 at the origin): signed distances (steps, V)."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    verts, faces = grid(12, 0.5, y=0.25, shift=(-0.25, -0.25))
    mat = get_material("cotton")
    cloth = BatchedImplicitCloth([verts], [faces], [mat], settings=SolverSettings(), device=device, dtype=dtype)
    col = TorchCollider(sphere.faces, len(sphere.vertices), device, dtype)
    body = torch.as_tensor(np.asarray(sphere.vertices)[None], dtype=dtype, device=device)
    normals = vertex_normals_t(body, col.faces)
    zero = torch.zeros_like(body)
    which = torch.zeros(len(verts), dtype=torch.int64, device=device)
    thick = torch.full((len(verts),), mat.thickness, dtype=dtype, device=device)
    fric = torch.full((len(verts),), mat.friction, dtype=dtype, device=device)
    free = torch.ones(len(verts), dtype=torch.bool, device=device)
    dist = []
    for _ in range(steps):
        cloth.step(H)
        q = col.query(cloth.x, body, normals, which, col.nearest(cloth.x, body[0]))
        cloth.x, cloth.v = respond_t(cloth.x, cloth.v, *q, col.faces, zero, which, thick, fric, free)
        dist.append(col.query(cloth.x, body, normals, which, col.nearest(cloth.x, body[0]))[0].cpu().numpy())
    return np.array(dist), cloth.x.cpu().numpy()


def test_cloth_dropped_on_sphere_never_ends_inside():
    dist, x = drop_on_sphere("cpu", torch.float32)
    assert dist.min() > -1e-4  # never inside (float32 rounding aside)
    # it draped: the centre rests on the sphere's top, the corners fell below it
    assert x[:, 1].min() < 0.1
    assert np.abs(np.linalg.norm(x, axis=1) - 0.2).min() < 0.006


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda_like_cpu():
    d_gpu, x_gpu = drop_on_sphere("cuda", torch.float64, steps=30)
    d_cpu, x_cpu = drop_on_sphere("cpu", torch.float64, steps=30)
    assert d_gpu.min() > -1e-6
    np.testing.assert_allclose(x_gpu, x_cpu, atol=1e-6)
