"""The compiled implicit step (synth/cloth/solver_kernels.py) against a dense numpy build of the same
system, its independence of the thread count, and strain limiting's contract."""

from __future__ import annotations

import numba
import numpy as np

from synth.cloth.materials import get_material
from synth.cloth.solver import Contacts, ImplicitCloth, SolverSettings

H = 1.0 / 120.0


def sheet(n: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Square n x n grid in the xz plane."""
    g = np.linspace(0.0, size, n)
    X, Z = np.meshgrid(g, g, indexing="ij")
    verts = np.stack([X.ravel(), np.zeros(n * n), Z.ravel()], 1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    return verts, np.concatenate([np.stack([a, c, b], 1), np.stack([a, d, c], 1)])


def disturbed_cloth(
    settings: SolverSettings, seed: int = 0, n: int = 8, size: float = 0.3, noise: float = 0.004
) -> tuple[ImplicitCloth, Contacts, np.ndarray]:
    """A denim n x n sheet with one pinned edge, randomly displaced and moving (springs both stretched and
    compressed), a third of the free vertices in contact; returns the cloth, contacts, pin targets."""
    verts, faces = sheet(n, size)
    pinned = verts[:, 2] == 0.0
    cloth = ImplicitCloth(verts, faces, [get_material("denim")], pinned=pinned, settings=settings)
    rng = np.random.default_rng(seed)
    cloth.x = verts + rng.normal(scale=noise, size=verts.shape)
    cloth.v = rng.normal(scale=0.3, size=verts.shape)
    idx = np.nonzero(~pinned)[0][::3]
    normal = rng.normal(size=(len(idx), 3))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return cloth, Contacts(idx, normal, rng.uniform(-0.2, 0.2, len(idx))), cloth.x[pinned] + [0.0, 0.003, 0.001]


def dense_system(cloth: ImplicitCloth, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M - h dF/dv - h^2 dF/dx) and h (F0 + h dF/dx v0) as dense numpy arrays, spring by spring from
    the Baraff-Witkin formulas (compressive transverse term dropped), and each spring's stretch ratio."""
    x, v, sp = cloth.x, cloth.v, cloth.springs
    V = len(x)
    A = np.zeros((V, 3, V, 3))
    f = cloth.mass[:, None] * np.asarray(cloth.settings.gravity) - cloth.drag[:, None] * v
    for a in range(V):
        A[a, :, a, :] = (cloth.mass[a] + h * cloth.drag[a]) * np.eye(3)
    ratios = []
    for i, j, L, k, c in zip(sp.i, sp.j, sp.rest, cloth.k, cloth.c):
        d = x[j] - x[i]
        length = np.linalg.norm(d)
        u = d / length
        uu = np.outer(u, u)
        ratio = max(0.0, 1.0 - L / length)
        ratios.append(length / L)
        Ks = k * (uu + ratio * (np.eye(3) - uu))
        dv = v[j] - v[i]
        fi = (k * (length - L) + c * u @ dv) * u + h * Ks @ dv
        f[i] += fi
        f[j] -= fi
        B = h * h * Ks + h * c * uu
        A[i, :, i, :] += B
        A[j, :, j, :] += B
        A[i, :, j, :] -= B
        A[j, :, i, :] -= B
    return A.reshape(3 * V, 3 * V), h * f.ravel(), np.array(ratios)


def test_step_solves_the_filtered_system_exactly_when_converged():
    """Converged CG: dv is the exact solution of the dense system on the free components, takes the
    prescribed values on the pinned and contact ones, and contact_force is the residual's normal part."""
    cloth, contacts, targets = disturbed_cloth(SolverSettings(cg_tol=1e-12, cg_max_iter=5000))
    A, b, ratios = dense_system(cloth, H)
    assert (ratios > 1.0).any() and (ratios < 1.0).any()  # both branches of the stretch Jacobian
    x0, v0 = cloth.x.copy(), cloth.v.copy()
    V = len(x0)
    # the filter S (0 pinned, I - n n^T contact, I free) and the prescribed part z
    S = np.tile(np.eye(3), (V, 1, 1))
    S[cloth.pinned] = 0.0
    S[contacts.idx] -= contacts.normal[:, :, None] * contacts.normal[:, None, :]
    z = np.zeros((V, 3))
    z[cloth.pinned] = (targets - x0[cloth.pinned]) / H - v0[cloth.pinned]
    z[contacts.idx] = (contacts.normal_velocity - np.einsum("ni,ni->n", v0[contacts.idx], contacts.normal))[:, None]
    z[contacts.idx] *= contacts.normal
    Sd = np.zeros((3 * V, 3 * V))
    for a in range(V):
        Sd[3 * a : 3 * a + 3, 3 * a : 3 * a + 3] = S[a]
    y = np.linalg.solve(Sd @ A @ Sd + np.eye(3 * V) - Sd, Sd @ (b - A @ z.ravel()))
    dv_ref = z.ravel() + y

    iters = cloth.step(H, targets, limit_strain=False, contacts=contacts)
    assert 0 < iters < 5000
    dv = (cloth.v - v0).ravel()
    assert np.abs(dv_ref).max() > 0.1  # a real velocity change
    np.testing.assert_allclose(dv, dv_ref, atol=1e-9)
    free = ~cloth.pinned
    np.testing.assert_array_equal(cloth.x[free], (x0 + H * cloth.v)[free])
    np.testing.assert_array_equal(cloth.x[cloth.pinned], targets)
    res = (A @ dv_ref - b).reshape(V, 3)[contacts.idx]
    force = np.einsum("ni,ni->n", res, contacts.normal) / H
    assert np.abs(force).max() > 1e-3
    np.testing.assert_allclose(cloth.contact_force[contacts.idx], force, atol=1e-8)
    assert not np.delete(cloth.contact_force, contacts.idx).any()


def test_step_is_bit_identical_for_any_thread_count_and_stops_at_the_cap():
    results = []
    threads = numba.get_num_threads()
    try:
        for n in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n)
            cloth, contacts, targets = disturbed_cloth(SolverSettings(cg_max_iter=2))
            for _ in range(3):
                assert cloth.step(H, targets, contacts=contacts) == 2  # truncated at cg_max_iter
            results.append((cloth.x.copy(), cloth.v.copy(), cloth.contact_force.copy()))
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert cloth.cg_iterations == 6 and cloth.steps == 3


def test_strain_limiting_pulls_edges_to_the_limit_and_leaves_pins():
    verts, faces = sheet(8, 0.3)
    pinned = verts[:, 2] == 0.0
    st = SolverSettings(strain_iterations=100)
    cloth = ImplicitCloth(verts, faces, [get_material("cotton")], pinned=pinned, settings=st)
    rng = np.random.default_rng(1)  # 10 % stretched along z, and crumpled (the pinned edge as it was)
    cloth.x = verts * [1.0, 1.0, 1.1] + rng.normal(scale=0.006, size=verts.shape) * ~pinned[:, None]
    x0, v0 = cloth.x.copy(), cloth.v.copy()
    stretch = cloth.springs.kind == 0
    before = (cloth.spring_lengths(cloth.x) / cloth.springs.rest)[stretch]
    weights = np.where(np.arange(len(verts)) % 5 == 0, 0.1, 1.0)
    cloth.limit_strain(H, weights)
    after = (cloth.spring_lengths(cloth.x) / cloth.springs.rest)[stretch]
    assert before.max() > 1.3
    assert after.max() < 1.0 + st.strain_limit + 0.01  # Jacobi averaging converges slowly
    np.testing.assert_array_equal(cloth.x[pinned], x0[pinned])
    np.testing.assert_allclose(cloth.v, v0 + (cloth.x - x0) / H, atol=1e-12)
    # a vertex with weight 0.1 moves less than its unit-weight neighbours on average
    moved = np.linalg.norm(cloth.x - x0, axis=1)
    light = (weights < 1) & ~pinned
    assert moved[light].mean() < moved[~light & ~pinned].mean()
