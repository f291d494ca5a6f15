"""The implicit step and strain limiting on CUDA (numba.cuda), for several cloth systems in one launch.

The math is solver_kernels.py's element functions compiled as CUDA device functions; only the drivers
differ from the CPU's. Every kernel runs one thread per vertex or per spring, and gathers where the CPU
scatters: a vertex sums its springs' forces and blocks over its incident springs in spring order (the
CPU's summation order, so assembly and strain limiting give the CPU's numbers up to FMA contraction).
The CPU's SSOR sweeps are sequential, so CG here is preconditioned with the same filtered block
inverses as block-Jacobi (more iterations, each fully parallel).

Batching: the systems' vertex and spring arrays are concatenated with offsets (`CudaBatch`); the CG
scalars (dot products, step lengths, convergence) are kept per system, each reduced by one thread block
in a fixed order, so a system solved in a batch gives exactly what it gives alone. Systems that have
converged stop updating while the others iterate.
"""

from __future__ import annotations

import numpy as np
from numba import config, cuda

from synth.cloth.solver_kernels import make_elements
from synth.errors import SynthError

_filt, _row, _apply, _vertex_terms, _spring_terms, _block_inverse, _contact_push, _strain_terms, _ = make_elements(
    cuda.jit(device=True)
)

# Block sizes: threads per block of the per-element kernels (no result depends on it), and of the one block
# that reduces each system's dot products (it fixes their summation order). numba's CUDA simulator runs
# every thread as a Python thread, so it gets small blocks (4 s instead of 70 s for a 25-vertex solve).
THREADS = 16 if config.ENABLE_CUDASIM else 128
REDUCE = 4 if config.ENABLE_CUDASIM else 128
CHECK_EVERY = 4  # CG iterations between reads of the convergence flags (each read waits for the device)


def require() -> None:
    """Raise a SynthError naming the fix when no CUDA device can be used."""
    if not cuda.is_available():
        raise SynthError(
            "cloth device 'cuda' requested but numba finds no usable CUDA GPU/driver",
            fix="run on a machine with an NVIDIA GPU and driver, or set the cloth option device: cpu",
        )


def _blocks(n: int) -> int:
    return max(1, (n + THREADS - 1) // THREADS)


def incidence(si: np.ndarray, sj: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each vertex's springs in spring order as CSR: ptr (V+1,), spring (2S,), sign (2S,) +1 where the
    vertex is the spring's first end, -1 where its second (the gathers' order is the CPU scatter's)."""
    S = len(si)
    owner = np.concatenate([si, sj])
    spring = np.concatenate([np.arange(S), np.arange(S)])
    sign = np.concatenate([np.ones(S), -np.ones(S)])
    order = np.lexsort((spring, owner))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=V))]).astype(np.int64)
    return ptr, spring[order].astype(np.int64), sign[order]


@cuda.jit(cache=True)
def _k_springs(x, v, si, sj, rest, k, c, h, ssys, entry, force, coef):
    s = cuda.grid(1)
    if s >= si.shape[0]:
        return
    f0, f1, f2, p0, p1, p2, be = _spring_terms(s, x, v, si, sj, rest, k, c, h[ssys[s]])
    force[s, 0], force[s, 1], force[s, 2] = f0, f1, f2
    for m in range(2):
        e = entry[s, m]
        coef[e, 0], coef[e, 1], coef[e, 2], coef[e, 3] = p0, p1, p2, be


@cuda.jit(cache=True)
def _k_vertices(v, mass, drag, gravity, h, vsys, iptr, ispring, isign, entry, force, coef, b, diag):
    """b and the diagonal blocks, gathered over each vertex's springs in spring order."""
    a = cuda.grid(1)
    if a >= v.shape[0]:
        return
    g = vsys[a]
    b0, b1, b2 = _vertex_terms(a, v, mass, drag, gravity[g, 0], gravity[g, 1], gravity[g, 2])
    iso = mass[a] + h[g] * drag[a]
    d00, d11, d22, d01, d02, d12 = iso, iso, iso, 0.0, 0.0, 0.0
    for q in range(iptr[a], iptr[a + 1]):
        s = ispring[q]
        if isign[q] > 0:
            b0, b1, b2 = b0 + force[s, 0], b1 + force[s, 1], b2 + force[s, 2]
        else:
            b0, b1, b2 = b0 - force[s, 0], b1 - force[s, 1], b2 - force[s, 2]
        e = entry[s, 0]
        p0, p1, p2, be = coef[e, 0], coef[e, 1], coef[e, 2], coef[e, 3]
        d00 += p0 * p0 + be
        d11 += p1 * p1 + be
        d22 += p2 * p2 + be
        d01 += p0 * p1
        d02 += p0 * p2
        d12 += p1 * p2
    b[a, 0], b[a, 1], b[a, 2] = h[g] * b0, h[g] * b1, h[g] * b2
    diag[a, 0, 0], diag[a, 1, 1], diag[a, 2, 2] = d00, d11, d22
    diag[a, 0, 1], diag[a, 1, 0], diag[a, 0, 2], diag[a, 2, 0] = d01, d01, d02, d02
    diag[a, 1, 2], diag[a, 2, 1] = d12, d12


@cuda.jit(cache=True)
def _k_init(b, z, diag, ptr, other, coef, free, normal, P, dv, r, c, part_r, part_b):
    """P, dv = z, r = S (b - A z), c = P r, and the per-vertex terms of r.P r and (S b).P (S b)."""
    a = cuda.grid(1)
    if a >= b.shape[0]:
        return
    _block_inverse(a, diag, free, normal, P)
    y0, y1, y2 = _row(a, z, diag, ptr, other, coef)
    r0, r1, r2 = _filt(a, b[a, 0] - y0, b[a, 1] - y1, b[a, 2] - y2, free, normal)
    c0, c1, c2 = _apply(P, a, r0, r1, r2)
    f0, f1, f2 = _filt(a, b[a, 0], b[a, 1], b[a, 2], free, normal)
    g0, g1, g2 = _apply(P, a, f0, f1, f2)
    dv[a, 0], dv[a, 1], dv[a, 2] = z[a, 0], z[a, 1], z[a, 2]
    r[a, 0], r[a, 1], r[a, 2] = r0, r1, r2
    c[a, 0], c[a, 1], c[a, 2] = c0, c1, c2
    part_r[a] = r0 * c0 + r1 * c1 + r2 * c2
    part_b[a] = f0 * g0 + f1 * g1 + f2 * g2


@cuda.jit(cache=True)
def _k_matvec(c, q, diag, ptr, other, coef, free, normal, vsys, active, part):
    """q = S A c and the per-vertex terms of c.q, for the systems still iterating."""
    a = cuda.grid(1)
    if a >= c.shape[0]:
        return
    if not active[vsys[a]]:
        part[a] = 0.0
        return
    y0, y1, y2 = _row(a, c, diag, ptr, other, coef)
    q0, q1, q2 = _filt(a, y0, y1, y2, free, normal)
    q[a, 0], q[a, 1], q[a, 2] = q0, q1, q2
    part[a] = c[a, 0] * q0 + c[a, 1] * q1 + c[a, 2] * q2


@cuda.jit(cache=True)
def _k_update(dv, r, sr, c, q, P, vsys, active, delta, cq, part):
    """dv += alpha c, r -= alpha q, s = P r and the per-vertex terms of r.s (alpha = delta / c.q)."""
    a = cuda.grid(1)
    if a >= dv.shape[0]:
        return
    g = vsys[a]
    if not active[g]:
        part[a] = 0.0
        return
    alpha = delta[g] / cq[g]
    for m in range(3):
        dv[a, m] += alpha * c[a, m]
        r[a, m] -= alpha * q[a, m]
    s0, s1, s2 = _apply(P, a, r[a, 0], r[a, 1], r[a, 2])
    sr[a, 0], sr[a, 1], sr[a, 2] = s0, s1, s2
    part[a] = r[a, 0] * s0 + r[a, 1] * s1 + r[a, 2] * s2


@cuda.jit(cache=True)
def _k_direction(c, sr, vsys, active, delta, new):
    """c = s + (new / delta) c (both filtered already: P maps into the free directions)."""
    a = cuda.grid(1)
    if a >= c.shape[0]:
        return
    g = vsys[a]
    if not active[g]:
        return
    beta = new[g] / delta[g]
    for m in range(3):
        c[a, m] = sr[a, m] + beta * c[a, m]


@cuda.jit(cache=True)
def _k_reduce(part, vptr, out):
    """out[g] = sum of part over system g's vertices: one block per system, strided then a tree."""
    g = cuda.blockIdx.x
    t = cuda.threadIdx.x
    buf = cuda.shared.array(REDUCE, dtype=np.float64)
    acc = 0.0
    for a in range(vptr[g] + t, vptr[g + 1], REDUCE):
        acc += part[a]
    buf[t] = acc
    cuda.syncthreads()
    width = REDUCE // 2
    while width > 0:
        if t < width:
            buf[t] += buf[t + width]
        cuda.syncthreads()
        width //= 2
    if t == 0:
        out[g] = buf[0]


@cuda.jit(cache=True)
def _k_start(delta, target, scale, tol, active, iters, max_iter):
    """Per system: the stopping threshold tol^2 (S b).P (S b), and whether it needs any iteration."""
    g = cuda.grid(1)
    if g >= delta.shape[0]:
        return
    scale[g] = max(target[g], 1e-300)
    target[g] = target[g] * tol * tol
    iters[g] = 0
    active[g] = max_iter > 0 and delta[g] > target[g]


@cuda.jit(cache=True)
def _k_status(delta, new, target, active, iters, max_iter):
    """Per system after an iteration: delta = new, count it, stop at tol or at the cap."""
    g = cuda.grid(1)
    if g >= delta.shape[0] or not active[g]:
        return
    delta[g] = new[g]
    iters[g] += 1
    active[g] = iters[g] < max_iter and delta[g] > target[g]


@cuda.jit(cache=True)
def _k_push(dv, b, diag, ptr, other, coef, normal, push):
    a = cuda.grid(1)
    if a >= dv.shape[0]:
        return
    push[a] = _contact_push(a, dv, b, diag, ptr, other, coef, normal)


@cuda.jit(cache=True)
def _k_strain(x, out, si, sj, limit, w, iptr, ispring, isign):
    """One Jacobi pass of strain limiting: out[a] = x[a] + vertex a's averaged corrections, gathered over
    its stretch springs in spring order (the CPU's scatter order)."""
    a = cuda.grid(1)
    if a >= x.shape[0]:
        return
    p0, p1, p2, m0, m1, m2, cnt = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for q in range(iptr[a], iptr[a + 1]):
        hit, g0, g1, g2, wa, wb = _strain_terms(ispring[q], x, si, sj, limit, w)
        if not hit:
            continue
        if isign[q] > 0:
            p0, p1, p2 = p0 + wa * g0, p1 + wa * g1, p2 + wa * g2
            cnt += 1.0 if wa > 0 else 0.0
        else:
            m0, m1, m2 = m0 + wb * g0, m1 + wb * g1, m2 + wb * g2
            cnt += 1.0 if wb > 0 else 0.0
    n = max(cnt, 1.0)
    out[a, 0] = x[a, 0] + (p0 - m0) / n
    out[a, 1] = x[a, 1] + (p1 - m1) / n
    out[a, 2] = x[a, 2] + (p2 - m2) / n


class CudaBatch:
    """The constant arrays of several cloth systems (solver.ImplicitCloth) on the device, concatenated
    with vertex and spring offsets; `implicit_step` and `limit_strain` take and return per-system lists."""

    def __init__(self, systems: list) -> None:
        require()
        sizes = [len(s.rest) for s in systems]
        nspr = [len(s.springs) for s in systems]
        self.vptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        sptr = np.concatenate([[0], np.cumsum(nspr)]).astype(np.int64)
        B, V, S = len(systems), int(self.vptr[-1]), int(sptr[-1])
        self.B, self.V = B, V
        si = np.concatenate([s.springs.i + o for s, o in zip(systems, self.vptr)]).astype(np.int64)
        sj = np.concatenate([s.springs.j + o for s, o in zip(systems, self.vptr)]).astype(np.int64)
        ptr, other, entry = [np.zeros(1, np.int64)], [], []
        for s, vo, so in zip(systems, self.vptr, sptr):
            p, _mid, oth, ent = s._adj  # CSR entries are 2 per spring: the entry offset is 2 x the spring's
            ptr.append(p[1:] + 2 * so)
            other.append(oth + vo)
            entry.append(ent + 2 * so)
        kind = np.concatenate([s.springs.kind for s in systems])
        stretch = np.nonzero(kind == 0)[0]
        limit = np.concatenate([s.springs.rest * (1 + s.settings.strain_limit) for s in systems])
        self.strain_iterations = int(systems[0].settings.strain_iterations)  # equal in all: ClothBatch
        d = cuda.to_device
        self.si, self.sj = d(si), d(sj)
        self.rest = d(np.concatenate([s.springs.rest for s in systems]))
        self.k, self.c = d(np.concatenate([s.k for s in systems])), d(np.concatenate([s.c for s in systems]))
        self.mass = d(np.concatenate([s.mass for s in systems]))
        self.drag = d(np.concatenate([s.drag for s in systems]))
        self.gravity = d(np.array([s.settings.gravity for s in systems], np.float64))
        self.ptr, self.other, self.entry = d(np.concatenate(ptr)), d(np.concatenate(other)), d(np.concatenate(entry))
        self.vsys = d(np.repeat(np.arange(B), sizes))
        self.ssys = d(np.repeat(np.arange(B), nspr))
        self.iptr, self.ispring, self.isign = (d(a) for a in incidence(si, sj, V))
        self.str_i, self.str_j, self.limit = d(si[stretch]), d(sj[stretch]), d(limit[stretch])
        self.str_ptr, self.str_spring, self.str_sign = (d(a) for a in incidence(si[stretch], sj[stretch], V))
        self.dvptr = d(self.vptr)
        self.S = S
        # work arrays, allocated once per batch (a step only copies x, v and the constraints in, dv out)
        e = cuda.device_array
        self.force, self.coef = e((S, 3)), e((2 * S, 4))
        self.b, self.diag, self.P = e((V, 3)), e((V, 3, 3)), e((V, 3, 3))
        self.dv, self.r, self.cdir, self.q, self.sr, self.strain_out = (e((V, 3)) for _ in range(6))
        self.part, self.part_b, self.push = e(V), e(V), e(V)
        self.delta, self.target, self.scale, self.cq, self.new = (e(B) for _ in range(5))
        self.active, self.iters = e(B, np.bool_), e(B, np.int64)

    def _split(self, arr: np.ndarray) -> list[np.ndarray]:
        return [arr[a:b] for a, b in zip(self.vptr[:-1], self.vptr[1:])]

    def implicit_step(self, x, v, h, z, free, normal, tol: float, max_iter: int) -> list[tuple]:
        """Per system (lists of its arrays, h one step per system): (dv, CG iterations, final relative
        residual in the block-Jacobi norm, contact push), as solver_kernels.implicit_step returns them."""
        d, V, S, B = cuda.to_device, self.V, self.S, self.B
        force, coef, b, diag, P = self.force, self.coef, self.b, self.diag, self.P
        dv, r, c, q, sr, part, part_b = self.dv, self.r, self.cdir, self.q, self.sr, self.part, self.part_b
        delta, target, scale, cq, new = self.delta, self.target, self.scale, self.cq, self.new
        active, iters, push = self.active, self.iters, self.push
        dx, dvel = d(np.concatenate(x)), d(np.concatenate(v))
        dz, dfree, dnormal = d(np.concatenate(z)), d(np.concatenate(free)), d(np.concatenate(normal))
        dh = d(np.asarray(h, np.float64))
        _k_springs[_blocks(S), THREADS](
            dx, dvel, self.si, self.sj, self.rest, self.k, self.c, dh, self.ssys, self.entry, force, coef
        )
        _k_vertices[_blocks(V), THREADS](
            dvel, self.mass, self.drag, self.gravity, dh, self.vsys, self.iptr, self.ispring, self.isign,
            self.entry, force, coef, b, diag,
        )  # fmt: skip
        _k_init[_blocks(V), THREADS](b, dz, diag, self.ptr, self.other, coef, dfree, dnormal, P, dv, r, c, part, part_b)
        _k_reduce[B, REDUCE](part, self.dvptr, delta)
        _k_reduce[B, REDUCE](part_b, self.dvptr, target)
        _k_start[_blocks(B), THREADS](delta, target, scale, float(tol), active, iters, int(max_iter))
        for it in range(int(max_iter)):
            if it % CHECK_EVERY == 0 and not active.copy_to_host().any():
                break
            _k_matvec[_blocks(V), THREADS](
                c, q, diag, self.ptr, self.other, coef, dfree, dnormal, self.vsys, active, part
            )
            _k_reduce[B, REDUCE](part, self.dvptr, cq)
            _k_update[_blocks(V), THREADS](dv, r, sr, c, q, P, self.vsys, active, delta, cq, part)
            _k_reduce[B, REDUCE](part, self.dvptr, new)
            _k_direction[_blocks(V), THREADS](c, sr, self.vsys, active, delta, new)
            _k_status[_blocks(B), THREADS](delta, new, target, active, iters, int(max_iter))
        _k_push[_blocks(V), THREADS](dv, b, diag, self.ptr, self.other, coef, dnormal, push)
        res = np.sqrt(np.maximum(delta.copy_to_host(), 0.0) / scale.copy_to_host())
        its = iters.copy_to_host()
        return list(
            zip(
                self._split(dv.copy_to_host()),
                (int(i) for i in its),
                (float(e) for e in res),
                self._split(push.copy_to_host()),
            )
        )

    def limit_strain(self, x: list[np.ndarray], w: list[np.ndarray]) -> list[np.ndarray]:
        """Per system: positions after the strain-limiting passes (Jacobi, as the CPU's)."""
        cur, out = cuda.to_device(np.concatenate(x)), self.strain_out
        dw = cuda.to_device(np.concatenate(w))
        for _ in range(self.strain_iterations):
            _k_strain[_blocks(self.V), THREADS](
                cur, out, self.str_i, self.str_j, self.limit, dw, self.str_ptr, self.str_spring, self.str_sign
            )
            cur, out = out, cur
        return self._split(cur.copy_to_host())
