"""The cloth solver on both devices: the CPU kernels' results are bit-identical to recorded ones (a change of
their arithmetic shows), and the CUDA path (run under numba's CUDA simulator, in a
subprocess, since the simulator must be switched on before numba.cuda is imported) agrees with the CPU:
one implicit step and one strain-limiting pass, and a batch of two garments equals each solved alone."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synth.cloth import solver_kernels as kernels
from synth.cloth.materials import get_material
from synth.cloth.solver import ClothBatch, ImplicitCloth, SolverSettings
from synth.errors import SynthError

sys.path.insert(0, str(Path(__file__).parent))
from test_cloth_solver import H, disturbed_cloth, sheet  # noqa: E402

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
RECORDED_QUERIES = ["4852751f825e2666", "9e06c9a742eddbfd", "8ce032f5bd879319", "a2faf4fd28b0c98f"]
in_simulator = pytest.mark.skipif(not SIM, reason="runs in test_cuda_path_under_the_simulator's subprocess")


def compiled_with_fma() -> bool | None:
    """Whether numba compiles the solver kernels with fused multiply-adds (`solver_kernels._JIT` allows them):
    the host CPU's FMA on the default target, none on NUMBA_CPU_NAME=generic, +fma/-fma in NUMBA_CPU_FEATURES
    deciding either; None for another named target."""
    import llvmlite.binding as llvm
    from numba.core import config

    features = config.CPU_FEATURES or ""
    if "+fma" in features or "-fma" in features:
        return "+fma" in features
    if config.CPU_NAME in (None, "host"):
        return bool(llvm.get_host_cpu_features().get("fma", False))
    return False if config.CPU_NAME == "generic" else None


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def kernel_inputs(cloth: ImplicitCloth, contacts, targets) -> tuple:
    """The implicit step's arguments as ImplicitCloth.step builds them (normal velocity summed explicitly)."""
    x, v, sp = cloth.x, cloth.v, cloth.springs
    z, normal = np.zeros_like(x), np.zeros_like(x)
    free = (~cloth.pinned).astype(np.float64)
    z[cloth.pinned] = (targets - x[cloth.pinned]) / H - v[cloth.pinned]
    n, c = contacts.normal, contacts.idx
    vn = v[c, 0] * n[:, 0] + v[c, 1] * n[:, 1] + v[c, 2] * n[:, 2]
    z[c] = (contacts.normal_velocity - vn)[:, None] * n
    normal[c] = n
    ptr, mid, other, entry = cloth._adj
    common = (x, v, sp.i, sp.j, sp.rest, cloth.k, cloth.c, cloth.mass, cloth.drag, cloth._gravity, H)
    return common + (ptr, mid, other, entry, z, free, normal), (z, free, normal)


@pytest.mark.skipif(SIM, reason="the CPU kernels, outside the simulator")
def test_cpu_kernels_are_bit_identical_to_the_recorded_results():
    """Hashes of dv, the contact push and strain-limited positions on the disturbed denim sheet, recorded
    with the kernels of branch solver-speed (the CPU's PCG in three fused passes per iteration, the backward
    sweep's rows summed in descending entry order: the iterations and residuals of main at 083aeb4, the last
    bits changed) and re-recorded with FMA contraction and the sweeps' split sums (branch cloth-f32: the same
    iterations, the residuals' last bits changed; one set for CPUs with FMA, one without), so any change of the CPU path's arithmetic shows."""
    cloth, contacts, targets = disturbed_cloth(SolverSettings())
    args, (_z, free, _normal) = kernel_inputs(cloth, contacts, targets)
    got = []
    for flip in (False, True):
        dv, it, res, push = kernels.implicit_step(*args, 1e-2, 100, flip)
        got.append((digest(dv, push), it, res.hex()))
    xs = cloth.x + H * (cloth.v + dv)
    sp = cloth.springs
    m = sp.kind == 0
    w = free.copy()
    w[contacts.idx] = 0.1
    before = xs.copy()
    kernels.limit_strain(xs, sp.i[m], sp.j[m], sp.rest[m] * 1.1, w, 4)
    assert np.abs(xs - before).max() > 1e-4  # strain limiting moved vertices: the hash covers its work
    got.append(digest(xs))
    fma = compiled_with_fma()
    if fma is None:
        pytest.skip("hashes are recorded for the host target and NUMBA_CPU_NAME=generic only")
    if fma:
        assert got == [
            ("263e545b209d5003", 4, "0x1.01ace708ec378p-7"),
            ("e816ec6e8c95c2ce", 5, "0x1.72c195ab7b061p-8"),
            "352c5171eb004fec",
        ]
    else:  # a CPU without FMA (recorded with NUMBA_CPU_NAME=generic): the same iterations, other last bits
        assert got == [
            ("129e4b222f678184", 4, "0x1.01ace708ec394p-7"),
            ("421c6053ea534cd4", 5, "0x1.72c195ab7b02bp-8"),
            "0cf452a8f46b07c9",
        ]


@pytest.mark.skipif(SIM, reason="checks the error without a GPU")
def test_cuda_requested_without_a_gpu_names_the_fix():
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    verts, faces = sheet(4, 0.1)
    with pytest.raises(SynthError, match="device: cpu"):
        ImplicitCloth(verts, faces, [get_material("cotton")], settings=SolverSettings(device="cuda"))
    with pytest.raises(SynthError, match="unknown cloth device"):
        ImplicitCloth(verts, faces, [get_material("cotton")], settings=SolverSettings(device="tpu"))


@pytest.mark.slow
@pytest.mark.skipif(SIM, reason="starts the simulator's subprocess")
def test_cuda_path_under_the_simulator():
    """Runs this file's in_simulator tests with NUMBA_ENABLE_CUDASIM=1 (about 40 s on two loaded cores: the
    simulator runs every GPU thread as a Python thread)."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "sim_"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "5 passed" in out.stdout, out.stdout[-2000:]


def small_patch(seed: int, n: int = 5, tol: float = 1e-11, device: str = "cpu"):
    """disturbed_cloth at n x n on 12 cm: pinned edge, random contacts, both spring branches."""
    settings = SolverSettings(cg_tol=tol, cg_max_iter=2000, device=device)
    return disturbed_cloth(settings, seed, n=n, size=0.12, noise=0.003)


@in_simulator
def test_sim_assembly_and_strain_limiting_give_the_cpu_numbers():
    """The gathered assembly and strain limiting sum in the CPU's order: under the simulator the same
    numbers up to the last bits (the CPU kernels fuse multiply-adds, the simulator does not)."""
    from numba import cuda

    from synth.cloth import solver_cuda as sc

    cloth, contacts, targets = small_patch(0)
    args, _ = kernel_inputs(cloth, contacts, targets)
    b, diag, coef = kernels._assemble(*args[:11], args[14])
    batch = sc.CudaBatch([cloth])
    S, V = batch.S, batch.V
    force, gcoef = cuda.device_array((S, 3)), cuda.device_array((2 * S, 4))
    gb, gdiag = cuda.device_array((V, 3)), cuda.device_array((V, 3, 3))
    h = cuda.to_device(np.array([H]))
    sc._k_springs[sc._blocks(S), sc.THREADS](
        cuda.to_device(cloth.x), cuda.to_device(cloth.v), batch.si, batch.sj, batch.rest, batch.k, batch.c, h,
        batch.ssys, batch.entry, force, gcoef,
    )  # fmt: skip
    sc._k_vertices[sc._blocks(V), sc.THREADS](
        cuda.to_device(cloth.v), batch.mass, batch.drag, batch.gravity, h, batch.vsys, batch.iptr, batch.ispring,
        batch.isign, batch.entry, force, gcoef, gb, gdiag,
    )  # fmt: skip
    for got, want in ((gb, b), (gdiag, diag), (gcoef, coef)):
        assert np.allclose(got.copy_to_host(), want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
    # one strain-limiting pass
    sp = cloth.springs
    m = sp.kind == 0
    w = np.where(cloth.pinned, 0.0, np.where(np.isin(np.arange(V), contacts.idx), 0.1, 1.0))
    x = cloth.x + 0.01 * np.random.default_rng(1).normal(size=cloth.x.shape)
    cpu = x.copy()
    kernels.limit_strain(cpu, sp.i[m], sp.j[m], sp.rest[m] * (1 + cloth.settings.strain_limit), w, 1)
    assert np.abs(cpu - x).max() > 1e-4
    batch.strain_iterations = 1
    gpu = batch.limit_strain([x], [w])[0]
    assert np.abs(gpu - cpu).max() <= 1e-15


@in_simulator
def test_sim_implicit_step_matches_the_cpu_when_converged():
    """SSOR-PCG (CPU) and block-Jacobi PCG (CUDA) both run to a 1e-11 residual: the same dv, push and
    strain-limited state after a full ImplicitCloth.step on each device."""
    cpu, contacts, targets = small_patch(2)
    gpu, _, _ = small_patch(2, device="cuda")
    it_cpu = cpu.step(H, targets, contacts=contacts)
    it_gpu = gpu.step(H, targets, contacts=contacts)
    assert it_gpu > it_cpu > 0  # block-Jacobi needs more iterations than SSOR: another preconditioner ran
    assert gpu.cg_residual <= 1e-11
    scale = np.abs(cpu.v).max()
    assert np.abs(gpu.v - cpu.v).max() <= 1e-8 * scale
    assert np.abs(gpu.x - cpu.x).max() <= 1e-10
    assert np.abs(gpu.contact_force - cpu.contact_force).max() <= 1e-7 * max(np.abs(cpu.contact_force).max(), 1.0)


@in_simulator
def test_sim_a_batch_of_two_garments_equals_each_alone():
    """Two different patches (sizes, motion, contacts) in one launch give exactly what each gives alone,
    though they converge after different iteration counts."""
    a, ca, ta = small_patch(3, n=4, tol=1e-3, device="cuda")
    b, cb, tb = small_patch(4, n=3, tol=1e-3, device="cuda")
    a1, _, _ = small_patch(3, n=4, tol=1e-3, device="cuda")
    b1, _, _ = small_patch(4, n=3, tol=1e-3, device="cuda")
    its = ClothBatch([a, b]).step(H, [ta, tb], [ca, cb])
    alone = [a1.step(H, ta, contacts=ca), b1.step(H, tb, contacts=cb)]
    assert its == alone and its[0] != its[1]  # the batch ran on after one system had converged
    for batched, single in ((a, a1), (b, b1)):
        assert np.array_equal(batched.x, single.x)
        assert np.array_equal(batched.v, single.v)
        assert np.array_equal(batched.contact_force, single.contact_force)


def sphere_case(subdivisions: int, n: int) -> tuple:
    """A lumpy sphere (radius 0.2 +- 3 %), n points around it inside and out (one not finite), four "parts"
    by quadrant and each point's home part: (verts, faces, points, labels, parents, home)."""
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    rng = np.random.default_rng(7)
    unit = np.asarray(s.vertices)
    verts = unit * (0.2 * (1.0 + rng.uniform(-0.03, 0.03, len(unit))))[:, None]
    dirs = rng.normal(size=(n, 3))
    points = dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * rng.uniform(0.1, 0.4, (n, 1))
    points[7] = np.nan
    labels = (verts[:, 1] > 0).astype(np.int64) + 2 * (verts[:, 0] > 0)
    home = labels[np.argmin(np.linalg.norm(points[:, None] - verts[None], axis=2), axis=1)]
    return verts, np.asarray(s.faces, np.int64), points, labels, np.array([-1, 0, 0, 2]), home


def sphere_queries(case: tuple, device: str) -> list:
    """Warm queries of the whole-mesh and the part collider: at rest, then moved (from the hint)."""
    from synth.cloth.collision import MeshCollider, PartCollider

    verts, faces, points, labels, parents, home = case
    out = []
    for col in (MeshCollider(faces, len(verts), device), PartCollider(faces, labels, parents, home, device=device)):
        for pts, mesh in ((points, verts), (points + 0.004, verts * 1.02 + 0.003)):
            out.append(col.query(pts, mesh, warm=True))
    return out


@pytest.mark.skipif(SIM, reason="the CPU kernels, outside the simulator")
def test_cpu_contact_queries_are_bit_identical_to_the_recorded_results():
    """Hashes of every Proximity field, recorded with collision.py of main at 083aeb4 (before the per-point
    element functions were shared with CUDA)."""
    got = [
        digest(p.signed, p.normal, p.point, p.face, p.bary, p.vertex)
        for p in sphere_queries(sphere_case(2, 300), "cpu")
    ]
    assert got == RECORDED_QUERIES


@in_simulator
def test_sim_contact_queries_give_the_cpu_answers():
    """Closest points on the lumpy sphere (whole mesh and part groups) from both devices: the same nearest
    vertices and triangles, cold, warm (the hint path) and for a non-finite point; distances, normals, points
    and barycentrics to rounding."""
    case = sphere_case(1, 40)
    for a, b in zip(sphere_queries(case, "cpu"), sphere_queries(case, "cuda")):
        assert np.array_equal(a.vertex, b.vertex)
        assert np.array_equal(a.face, b.face)
        for x, y in ((a.signed, b.signed), (a.normal, b.normal), (a.point, b.point), (a.bary, b.bary)):
            ok = np.isfinite(x)
            assert np.array_equal(ok, np.isfinite(y))
            assert np.abs(x[ok] - y[ok]).max() <= 1e-12
    assert (a.signed[np.isfinite(a.signed)] < 0).any() and (a.signed > 0).any()
    # the other parts' queries, unbounded and within a reach (points with none in reach: vertex -1, +inf)
    from synth.cloth.collision import PartCollider

    verts, faces, points, labels, parents, home = case
    cpu, gpu = (PartCollider(faces, labels, parents, home, device=d) for d in ("cpu", "cuda"))
    for reach in (np.inf, 0.1):
        a, b = cpu.query_others(points, verts, reach), gpu.query_others(points, verts, reach)
        assert np.array_equal(a.vertex, b.vertex) and np.array_equal(a.face, b.face)
        ok = np.isfinite(a.signed)
        assert np.array_equal(ok, np.isfinite(b.signed)) and np.abs(a.signed[ok] - b.signed[ok]).max() <= 1e-12
    assert (a.vertex == -1).any() and (a.vertex >= 0).any()


@in_simulator
def test_sim_cuda_batch_rejects_mixed_cg_settings():
    a, _, _ = small_patch(3, n=3, tol=1e-6, device="cuda")
    b, _, _ = small_patch(4, n=3, tol=1e-4, device="cuda")
    with pytest.raises(SynthError, match="different CG or strain-limiting settings"):
        ClothBatch([a, b])


def _nvvm_found() -> bool:
    if SIM:
        return False
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _nvvm_found(), reason="needs libnvvm (a CUDA toolkit) to compile PTX")
def test_cuda_kernels_compile_to_ptx_for_an_h100_class_gpu():
    """The simulator interprets Python, so it does not check that the kernels type and lower for the real
    target: compile every kernel of solver_cuda.py and collision_cuda.py to sm_90 PTX with NVVM (no GPU needed). numba 0.62 asks the
    current device for the compute capability when it compiles a device function; with no GPU, that query
    is answered with sm_90 (the compiler itself is the real one)."""
    import types
    from unittest import mock

    import numba.cuda.dispatcher as dispatcher
    from numba import boolean, cuda, float64, int64

    from synth.cloth import collision_cuda as cc
    from synth.cloth import solver_cuda as sc

    A1, A2, A3, I1, I2 = float64[:], float64[:, :], float64[:, :, :], int64[:], int64[:, :]
    B1, B2 = boolean[:], boolean[:, :]
    sigs = {
        sc._k_springs: (A2, A2, I1, I1, A1, A1, A1, A1, I1, I2, A2, A2),
        sc._k_vertices: (A2, A1, A1, A2, A1, I1, I1, I1, A1, I2, A2, A2, A2, A3),
        sc._k_init: (A2, A2, A3, I1, I1, A2, A1, A2, A3, A2, A2, A2, A1, A1),
        sc._k_matvec: (A2, A2, A3, I1, I1, A2, A1, A2, I1, B1, A1),
        sc._k_update: (A2, A2, A2, A2, A2, A3, I1, B1, A1, A1, A1),
        sc._k_direction: (A2, A2, I1, B1, A1, A1),
        sc._k_reduce: (A1, I1, A1),
        sc._k_start: (A1, A1, A1, float64, B1, I1, int64),
        sc._k_status: (A1, A1, A1, B1, I1, int64),
        sc._k_push: (A2, A2, A3, I1, I1, A2, A2, A1),
        sc._k_strain: (A2, A2, I1, I1, A1, A1, I1, I1, A1),
        cc._k_normals: (A2, I2, I2, I1, B1, A2),
        cc._k_nearest: (A2, A2, B2, I1, I1, I1, I1, A2, I1, A1, I1, float64, float64, I1),
        cc._k_closest: (A2, A2, I2, I2, I1, I1, B2, B2, I1, A2, A2),
    }
    sm90 = types.SimpleNamespace(compute_capability=(9, 0))
    with mock.patch.object(dispatcher, "get_current_device", lambda: sm90):
        for kernel, sig in sigs.items():
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
            assert ".entry" in ptx and ".target sm_90" in ptx, kernel.__name__
