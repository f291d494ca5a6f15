"""Batched torch cloth (synth/cloth/batched.py) against the scipy solver it ports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from synth.cloth.batched import BatchedImplicitCloth, TorchCollider, simulate_garments_batched, substep_t
from synth.cloth.materials import get_material
from synth.cloth.simulate import simulate_garments
from synth.cloth.solver import Contacts, ImplicitCloth, SolverSettings

H = 1.0 / 120.0


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small tensors: intra-op threads only add synchronisation (and on a shared 2-core CI box spin-wait,
    10-80x slower here), so these tests run torch on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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


# CG run to convergence: then both solvers give the exact step and agree to rounding. With the default
# truncated CG (60 iterations, tol 1e-3) rounding differences in the Krylov vectors are amplified by the
# condition number, about 1e4 per step here, so over many steps they agree only to ~1e-5 m.
CONVERGED = SolverSettings(cg_tol=1e-10, cg_max_iter=2000)


def test_hanging_cloth_matches_scipy_solver_float64():
    verts, faces = grid(9, 0.4)
    mat, pinned = get_material("cotton"), pinned_edge(verts)
    for settings, steps, atol in ((SolverSettings(), 5, 1e-12), (CONVERGED, 50, 1e-10), (SolverSettings(), 50, 3e-5)):
        batched = BatchedImplicitCloth([verts], [faces], [mat], [pinned], settings=settings, dtype=torch.float64)
        ref = ImplicitCloth(verts, faces, [mat], pinned=pinned, settings=settings)
        np.testing.assert_array_equal(batched.mass.numpy(), ref.mass)  # the scipy construction
        for _ in range(steps):
            ref.step(H)
            batched.step(H)
        np.testing.assert_allclose(batched.x.numpy(), ref.x, atol=atol)
        np.testing.assert_allclose(batched.v.numpy(), ref.v, atol=atol * 100)
        assert abs(int(batched.cg_iterations[0]) - ref.cg_iterations) <= 0.005 * ref.cg_iterations
    assert ref.x[:, 1].min() < -0.3  # it really fell and swung


def test_contacts_pins_and_weighted_strain_limiting_match_scipy_float64():
    """The step's other inputs: moving pin targets, contact constraints (normal velocity prescribed
    through the I - n n^T filter, and the force they push with), no strain limiting inside the step,
    then limit_strain with contact weights, as simulate.substep calls them."""
    verts, faces = grid(9, 0.4)
    mat, pinned = get_material("denim"), pinned_edge(verts)
    rng = np.random.default_rng(0)
    idx = np.nonzero(~pinned)[0][::4]
    normal = rng.normal(size=(len(idx), 3))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    batched = BatchedImplicitCloth([verts], [faces], [mat], [pinned], settings=CONVERGED, dtype=torch.float64)
    ref = ImplicitCloth(verts, faces, [mat], pinned=pinned, settings=CONVERGED)
    weights = np.ones(len(verts))
    weights[idx] = 0.1
    for step in range(20):
        target = verts[pinned] + [0.0, 0.004 * step, 0.002 * step]
        contacts = Contacts(idx, normal, rng.uniform(-0.2, 0.2, len(idx)))
        ref.step(H, target, limit_strain=False, contacts=contacts)
        batched.step(H, torch.as_tensor(target), limit_strain=False, contacts=contacts)
        vn = np.einsum("ni,ni->n", ref.v[idx], normal)
        np.testing.assert_allclose(vn, contacts.normal_velocity, atol=1e-12)  # the constraint held
        np.testing.assert_allclose(batched.contact_force.numpy(), ref.contact_force, atol=1e-9)
        ref.limit_strain(H, weights)
        batched.limit_strain(H, torch.as_tensor(weights))
        np.testing.assert_allclose(batched.x.numpy(), ref.x, atol=1e-10)
    assert np.abs(ref.contact_force[idx]).max() > 1e-3  # the constraints really pushed
    np.testing.assert_allclose(batched.v.numpy(), ref.v, atol=1e-8)


def test_batch_of_different_garments_equals_separate_runs():
    meshes = [grid(7, 0.3), grid(10, 0.5, y=1.0), grid(5, 0.2, shift=(2.0, 0.0))]
    mats = [get_material(m) for m in ("cotton", "silk", "denim")]
    pins = [pinned_edge(v) for v, _ in meshes]
    batched = BatchedImplicitCloth([v for v, _ in meshes], [f for _, f in meshes], mats, pins, dtype=torch.float64)
    for _ in range(30):
        batched.step(H)
    for g, ((v, f), m, p) in enumerate(zip(meshes, mats, pins)):
        alone = BatchedImplicitCloth([v], [f], [m], [p], dtype=torch.float64)
        for _ in range(30):
            alone.step(H)
        sl = slice(batched.offsets[g], batched.offsets[g + 1])
        np.testing.assert_allclose(batched.x[sl].numpy(), alone.x.numpy(), atol=1e-12)
        assert int(batched.cg_iterations[g]) == int(alone.cg_iterations[0])  # per-garment convergence
        x, iters = run_scipy(v, f, m, p, 30)
        np.testing.assert_allclose(batched.x[sl].numpy(), x, atol=3e-5)  # truncated CG, see CONVERGED


def test_pinned_targets_are_followed():
    verts, faces = grid(6, 0.3)
    pinned = pinned_edge(verts)
    cloth = BatchedImplicitCloth([verts], [faces], [get_material("cotton")], [pinned], dtype=torch.float64)
    target = torch.as_tensor(verts[pinned] + [0.0, 0.01, 0.0])
    cloth.step(H, target)
    np.testing.assert_allclose(cloth.x[torch.as_tensor(pinned)].numpy(), target.numpy(), atol=1e-12)


def drop_on_sphere(device: str, dtype: torch.dtype, steps: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A free cloth dropped on a static sphere (radius 0.2 at the origin) with substep_t's contacts:
    distances to the centre after each step (steps, V) and the final positions."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    verts, faces = grid(12, 0.5, y=0.25, shift=(-0.25, -0.25))
    mat = get_material("cotton")
    cloth = BatchedImplicitCloth([verts], [faces], [mat], settings=SolverSettings(), device=device, dtype=dtype)
    col = TorchCollider(sphere.faces, len(sphere.vertices), device, dtype)
    body = torch.as_tensor(np.asarray(sphere.vertices)[None], dtype=dtype, device=device)
    thick = torch.full((len(verts),), mat.thickness, dtype=dtype, device=device)
    fric = torch.full((len(verts),), mat.friction, dtype=dtype, device=device)
    radius = []
    for _ in range(steps):
        substep_t(cloth, col, body, body, H, None, thick, fric)
        radius.append(cloth.x.norm(dim=1).cpu().numpy())
    return np.array(radius), cloth.x.cpu().numpy()


def test_cloth_dropped_on_sphere_never_ends_inside():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    tri = np.asarray(sphere.vertices)[np.asarray(sphere.faces)]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inscribed = np.abs(np.einsum("fi,fi->f", n / np.linalg.norm(n, axis=1, keepdims=True), tri[:, 0])).min()
    radius, x = drop_on_sphere("cpu", torch.float32)
    assert radius.min() >= inscribed - 1e-5  # never inside the mesh (float32 rounding aside)
    # it draped: the centre rests on the sphere's top, the corners fell below the equator
    top = x[np.argmin(np.linalg.norm(x[:, [0, 2]], axis=1))]
    assert 0.2 < top[1] < 0.2 + 0.02
    assert x[:, 1].min() < 0.0


def test_walk_matches_simulate_garments_float64(body):
    """simulate_garments_batched against simulate_garments (same contacts, parts, reach) on a T-shirt
    over the first 4 frames (12 substeps) of the built-in walk's T-pose lead-in, both in float64."""
    from synth.cloth.garments import DEFAULT_EASE, build_garment
    from synth.cloth.simulate import body_vertices
    from synth.mocap.builtin import builtin_motion
    from synth.motion.interpolate import add_lead_in

    seq = add_lead_in(builtin_motion("walk", fps=30, seconds=0.3), 8, "t", skeleton=body)
    frames = body_vertices(body, seq)[:4]
    rest = body.rest_vertices(seq.betas)
    faces = np.asarray(body.faces, np.int64)
    shirt = build_garment("tshirt", rest, faces, body.part_labels, body.rest_joints(seq.betas), DEFAULT_EASE["tshirt"])
    args = ([shirt], [get_material("cotton")], rest, frames, faces, 30.0, 4, None, "walk", False, body.part_labels,
            body.parents)  # fmt: skip
    ref = simulate_garments(*args)
    got = simulate_garments_batched(*args, device="cpu", dtype=torch.float64)
    moved = np.linalg.norm(ref.verts[-1] - ref.verts[0], axis=1).max()
    assert moved > 0.01  # the cloth really moved
    err = np.linalg.norm(got.verts - ref.verts, axis=2)
    assert err.max() < 1e-4, err.max(axis=1)  # 2.5e-7 m measured (float32 output): the same contacts
    assert got.stats[0]["steps"] == ref.stats[0]["steps"] == 12
    assert abs(got.stats[0]["max_penetration_mm"] - ref.stats[0]["max_penetration_mm"]) < 3.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda_like_cpu():
    r_gpu, x_gpu = drop_on_sphere("cuda", torch.float64, steps=30)
    r_cpu, x_cpu = drop_on_sphere("cpu", torch.float64, steps=30)
    np.testing.assert_allclose(x_gpu, x_cpu, atol=1e-6)
