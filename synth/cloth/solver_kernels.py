"""Compiled (numba) kernels of one implicit cloth step and of strain limiting (solver.py) on the CPU, and
the element functions they share with the CUDA kernels (solver_cuda.py).

The per-vertex and per-spring math (`make_elements`: forces and Jacobian blocks of a spring, the constraint
filter, a row of A @ p, a vertex's filtered block inverse, a strain-limiting correction) is written once as
plain Python on scalars and array elements, and compiled per target: here by `numba.njit` (inlined into the
serial CPU drivers below), in solver_cuda.py by `numba.cuda.jit(device=True)` (called by one-thread-per-
vertex or per-spring kernels). Only the drivers differ: the sum order, and the preconditioner.

The system matrix is never built: each spring's block is -(w w^T + beta I), w = sqrt(alpha) u, so
A @ p is a gather over every vertex's springs (a CSR list with those 4 numbers per entry) and the
Baraff-Witkin filter is applied per vertex in the same pass. The CPU preconditioner is symmetric block
Gauss-Seidel (SSOR), whose sweeps are sequential by nature. All CPU loops are serial and sum in a fixed
order, so results do not depend on the thread count (prange over vertices was no faster on two shared
cores: docs/BENCHMARKS.md#cloth). The only fastmath is FMA contraction (`_JIT`). Few entry points
(`implicit_step`, `limit_strain`, `spring_lengths`) keep the compile time small; cache=True keeps the
machine code in __pycache__ after the first call. The element functions live in this file so that
numba's cache, keyed on this file, is invalidated when they change."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# fastmath for contraction only (a * b + c as one fused multiply-add): the sweeps' rows are bound by scalar
# floating-point throughput, and FMA takes 10-12 % off them (docs/BENCHMARKS.md#cloth). No reassociation, so
# sums keep their order and results stay the same run to run and on every CPU with FMA (x86-64 since 2013, all
# AArch64).
_JIT = {"cache": True, "fastmath": {"contract"}}


def adjacency(si: np.ndarray, sj: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each vertex's springs as CSR with neighbours sorted: ptr (V+1,), mid (V,) each row's first
    entry whose neighbour comes after the vertex (the Gauss-Seidel sweeps' split into lower and
    upper parts), other (per entry the other vertex), and entry (S, 2) the entries of spring s in the rows
    of its first and second vertex (where assembly writes its block)."""
    S = len(si)
    owner = np.concatenate([si, sj])
    other = np.concatenate([sj, si])
    order = np.lexsort((other, owner))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=V))]).astype(np.int64)
    entry = np.empty(2 * S, np.int64)
    entry[order] = np.arange(2 * S)
    owner, other = owner[order], other[order].astype(np.int64)
    mid = ptr[:-1] + np.bincount(owner[other < owner], minlength=V)
    return ptr, mid.astype(np.int64), other, np.ascontiguousarray(entry.reshape(2, S).T)


def make_elements(jit) -> tuple:
    """The shared element functions compiled by `jit` (numba.njit(inline="always") for the CPU,
    numba.cuda.jit(device=True) for CUDA): (filt, row, apply, vertex_terms, spring_terms, block_inverse,
    contact_push, strain_terms, spring_length); nested calls go to the same target's compiled versions."""

    @jit
    def filt(a, y0, y1, y2, free, normal):
        """The constraint filter of vertex a on (y0, y1, y2): free[a] (0 pinned, else 1) times I - n n^T,
        n its contact normal or 0; branch-free, as the mix of kinds defeats branch prediction."""
        n0, n1, n2 = normal[a, 0], normal[a, 1], normal[a, 2]
        y0, y1, y2 = y0 * free[a], y1 * free[a], y2 * free[a]
        d = y0 * n0 + y1 * n1 + y2 * n2
        return y0 - d * n0, y1 - d * n1, y2 - d * n2

    @jit
    def row(a, p, diag, ptr, other, coef):
        """(A @ p)[a]: the diagonal block minus each spring's w w^T + beta I applied to the neighbour."""
        y0 = diag[a, 0, 0] * p[a, 0] + diag[a, 0, 1] * p[a, 1] + diag[a, 0, 2] * p[a, 2]
        y1 = diag[a, 1, 0] * p[a, 0] + diag[a, 1, 1] * p[a, 1] + diag[a, 1, 2] * p[a, 2]
        y2 = diag[a, 2, 0] * p[a, 0] + diag[a, 2, 1] * p[a, 1] + diag[a, 2, 2] * p[a, 2]
        for e in range(ptr[a], ptr[a + 1]):
            o = other[e]
            w0, w1, w2, be = coef[e, 0], coef[e, 1], coef[e, 2], coef[e, 3]
            t = w0 * p[o, 0] + w1 * p[o, 1] + w2 * p[o, 2]
            y0 -= t * w0 + be * p[o, 0]
            y1 -= t * w1 + be * p[o, 1]
            y2 -= t * w2 + be * p[o, 2]
        return y0, y1, y2

    @jit
    def apply(P, a, r0, r1, r2):
        """P[a] @ r (3x3 times 3)."""
        return (
            P[a, 0, 0] * r0 + P[a, 0, 1] * r1 + P[a, 0, 2] * r2,
            P[a, 1, 0] * r0 + P[a, 1, 1] * r1 + P[a, 1, 2] * r2,
            P[a, 2, 0] * r0 + P[a, 2, 1] * r1 + P[a, 2, 2] * r2,
        )

    @jit
    def vertex_terms(a, v, mass, drag, g0, g1, g2):
        """Vertex a's own force: gravity (g0, g1, g2) minus air drag."""
        b0 = mass[a] * g0 - drag[a] * v[a, 0]
        b1 = mass[a] * g1 - drag[a] * v[a, 1]
        b2 = mass[a] * g2 - drag[a] * v[a, 2]
        return b0, b1, b2

    @jit
    def spring_terms(s, x, v, si, sj, rest, k, c, h):
        """Spring s's force on its first vertex (minus it on the second), damping and h dF/dx v0 included,
        and its Jacobian block h^2 Ks + h c u u^T = w w^T + beta I as (w0, w1, w2, beta)."""
        i, j = si[s], sj[s]
        d0, d1, d2 = x[j, 0] - x[i, 0], x[j, 1] - x[i, 1], x[j, 2] - x[i, 2]
        length = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        inv = 1.0 / max(length, 1e-12)
        u0, u1, u2 = d0 * inv, d1 * inv, d2 * inv
        # Ks = k (u u^T + ratio (I - u u^T)): the compressive transverse term dropped (Choi & Ko)
        ratio = max(0.0, 1.0 - rest[s] * inv)
        w0, w1, w2 = v[j, 0] - v[i, 0], v[j, 1] - v[i, 1], v[j, 2] - v[i, 2]
        ud = u0 * w0 + u1 * w1 + u2 * w2
        fmag = k[s] * (length - rest[s]) + c[s] * ud
        kpar, kiso = k[s] * (1.0 - ratio), k[s] * ratio
        f0 = fmag * u0 + h * (kpar * ud * u0 + kiso * w0)
        f1 = fmag * u1 + h * (kpar * ud * u1 + kiso * w1)
        f2 = fmag * u2 + h * (kpar * ud * u2 + kiso * w2)
        # alpha u u^T + beta I with alpha = h^2 kpar + h c >= 0: w = sqrt(alpha) u
        r = math.sqrt(h * h * kpar + h * c[s])
        return f0, f1, f2, r * u0, r * u1, r * u2, h * h * kiso

    @jit
    def block_entry(d, nm, nk, dnm, dnk, t):
        """One entry of S D S + n n^T (S = I - n n^T): d - n_m (D n)_k - (D n)_m n_k + (n.D n + 1) n_m n_k."""
        return d - nm * dnk - dnm * nk + t * nm * nk

    @jit
    def block_inverse(a, diag, free, normal, P):
        """P[a] = S (S D S + n n^T)^-1 S, S = free (I - n n^T), D vertex a's diagonal block: the exact
        inverse of the filtered block on the vertex's free directions (0 where pinned). Symmetric, so CG
        stays valid. As M = S D S + n n^T maps n to n, M^-1 = S M^-1 S + n n^T, so P = M^-1 - n n^T
        (n = 0 off contact: P = D^-1)."""
        if free[a] == 0.0:
            for m in range(3):
                for q in range(3):
                    P[a, m, q] = 0.0
            return
        n0, n1, n2 = normal[a, 0], normal[a, 1], normal[a, 2]
        dn0 = diag[a, 0, 0] * n0 + diag[a, 0, 1] * n1 + diag[a, 0, 2] * n2
        dn1 = diag[a, 1, 0] * n0 + diag[a, 1, 1] * n1 + diag[a, 1, 2] * n2
        dn2 = diag[a, 2, 0] * n0 + diag[a, 2, 1] * n1 + diag[a, 2, 2] * n2
        t = dn0 * n0 + dn1 * n1 + dn2 * n2 + 1.0
        m00 = block_entry(diag[a, 0, 0], n0, n0, dn0, dn0, t)
        m01 = block_entry(diag[a, 0, 1], n0, n1, dn0, dn1, t)
        m02 = block_entry(diag[a, 0, 2], n0, n2, dn0, dn2, t)
        m10 = block_entry(diag[a, 1, 0], n1, n0, dn1, dn0, t)
        m11 = block_entry(diag[a, 1, 1], n1, n1, dn1, dn1, t)
        m12 = block_entry(diag[a, 1, 2], n1, n2, dn1, dn2, t)
        m20 = block_entry(diag[a, 2, 0], n2, n0, dn2, dn0, t)
        m21 = block_entry(diag[a, 2, 1], n2, n1, dn2, dn1, t)
        m22 = block_entry(diag[a, 2, 2], n2, n2, dn2, dn2, t)
        c00 = m11 * m22 - m12 * m21
        c01 = m12 * m20 - m10 * m22
        c02 = m10 * m21 - m11 * m20
        inv_det = 1.0 / (m00 * c00 + m01 * c01 + m02 * c02)
        p01, p02 = c01 * inv_det, c02 * inv_det
        p12 = (m02 * m10 - m00 * m12) * inv_det
        P[a, 0, 0] = c00 * inv_det - n0 * n0
        P[a, 1, 1] = (m00 * m22 - m02 * m20) * inv_det - n1 * n1
        P[a, 2, 2] = (m00 * m11 - m01 * m10) * inv_det - n2 * n2
        P[a, 0, 1], P[a, 1, 0] = p01 - n0 * n1, p01 - n1 * n0  # M symmetric: so is M^-1
        P[a, 0, 2], P[a, 2, 0] = p02 - n0 * n2, p02 - n2 * n0
        P[a, 1, 2], P[a, 2, 1] = p12 - n1 * n2, p12 - n2 * n1

    @jit
    def contact_push(a, dv, b, diag, ptr, other, coef, normal):
        """The normal component of the residual (A dv - b)[a]: what vertex a's contact constraint pushed
        with, times h (0 off contact)."""
        n0, n1, n2 = normal[a, 0], normal[a, 1], normal[a, 2]
        if n0 == 0.0 and n1 == 0.0 and n2 == 0.0:
            return 0.0
        y0, y1, y2 = row(a, dv, diag, ptr, other, coef)
        return (y0 - b[a, 0]) * n0 + (y1 - b[a, 1]) * n1 + (y2 - b[a, 2]) * n2

    @jit
    def strain_terms(s, x, si, sj, limit, w):
        """Provot's correction of edge s: (over, f d, w_i, w_j), f d the edge vector times the share of its
        excess each end moves by (its weight times f d), over False (and zeros) for an edge within limit."""
        i, j = si[s], sj[s]
        d0, d1, d2 = x[j, 0] - x[i, 0], x[j, 1] - x[i, 1], x[j, 2] - x[i, 2]
        length = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        if not length > limit[s]:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0
        wa, wb = w[i], w[j]
        f = (length - limit[s]) / length / max(wa + wb, 1e-12)
        return True, f * d0, f * d1, f * d2, wa, wb

    @jit
    def spring_length(s, x, si, sj):
        """|x[sj[s]] - x[si[s]]|."""
        i, j = si[s], sj[s]
        d0, d1, d2 = x[j, 0] - x[i, 0], x[j, 1] - x[i, 1], x[j, 2] - x[i, 2]
        return math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)

    return filt, row, apply, vertex_terms, spring_terms, block_inverse, contact_push, strain_terms, spring_length


_filt, _row, _apply, _vertex_terms, _spring_terms, _block_inverse, _contact_push, _strain_terms, _spring_length = (
    make_elements(njit(inline="always", **_JIT))
)


@njit(**_JIT)
def _assemble(x, v, si, sj, rest, k, c, mass, drag, gravity, h, entry):
    """Right-hand side b = h (F0 + h dF/dx v0), the diagonal blocks of A = M - h dF/dv - h^2 dF/dx,
    and every CSR entry's off-diagonal block -(w w^T + beta I) as (w0, w1, w2, beta): one pass over
    the springs in spring order, each written to its two entries (`adjacency`'s entry map) and both
    diagonals."""
    V = len(x)
    b = np.empty((V, 3))
    diag = np.zeros((V, 3, 3))
    coef = np.empty((2 * len(si), 4))
    for a in range(V):
        b[a, 0], b[a, 1], b[a, 2] = _vertex_terms(a, v, mass, drag, gravity[0], gravity[1], gravity[2])
        iso = mass[a] + h * drag[a]
        diag[a, 0, 0], diag[a, 1, 1], diag[a, 2, 2] = iso, iso, iso
    for s in range(len(si)):
        i, j = si[s], sj[s]
        f0, f1, f2, p0, p1, p2, be = _spring_terms(s, x, v, si, sj, rest, k, c, h)
        b[i, 0], b[i, 1], b[i, 2] = b[i, 0] + f0, b[i, 1] + f1, b[i, 2] + f2
        b[j, 0], b[j, 1], b[j, 2] = b[j, 0] - f0, b[j, 1] - f1, b[j, 2] - f2
        for e in (entry[s, 0], entry[s, 1]):
            coef[e, 0], coef[e, 1], coef[e, 2], coef[e, 3] = p0, p1, p2, be
        o00, o11, o22 = p0 * p0 + be, p1 * p1 + be, p2 * p2 + be
        o01, o02, o12 = p0 * p1, p0 * p2, p1 * p2
        for a in (i, j):
            diag[a, 0, 0] += o00
            diag[a, 1, 1] += o11
            diag[a, 2, 2] += o22
            diag[a, 0, 1] += o01
            diag[a, 1, 0] += o01
            diag[a, 0, 2] += o02
            diag[a, 2, 0] += o02
            diag[a, 1, 2] += o12
            diag[a, 2, 1] += o12
    for a in range(V):
        b[a, 0], b[a, 1], b[a, 2] = h * b[a, 0], h * b[a, 1], h * b[a, 2]
    return b, diag, coef


@njit(**_JIT)
def _block_inverses(diag, free, normal):
    """The inverted filtered diagonal blocks (the SSOR sweeps' D^-1), `block_inverse` per vertex."""
    P = np.empty((len(diag), 3, 3))
    for a in range(len(diag)):
        _block_inverse(a, diag, free, normal, P)
    return P


@njit(inline="always", **_JIT)
def _span(first, stop, step, y, other, coef):
    """-(sum of A_ao y_o) over the CSR entries first, first + step, ... (before stop) of one row: the sums
    of w (w . y_o) and of beta y_o, in that order, added at the end (two accumulators per component: each
    entry is then 3 + 6 fused multiply-adds, against 12 operations summed into one, 7 % faster sweeps)."""
    s0, s1, s2 = 0.0, 0.0, 0.0
    u0, u1, u2 = 0.0, 0.0, 0.0
    for e in range(first, stop, step):
        o = other[e]
        w0, w1, w2, be = coef[e, 0], coef[e, 1], coef[e, 2], coef[e, 3]
        y0, y1, y2 = y[o, 0], y[o, 1], y[o, 2]
        t = w0 * y0 + w1 * y1 + w2 * y2
        s0 += t * w0
        s1 += t * w1
        s2 += t * w2
        u0 += be * y0
        u1 += be * y1
        u2 += be * y2
    return s0 + u0, s1 + u1, s2 + u2


@njit(inline="always", **_JIT)
def _dmul(diag, a, y, free, normal):
    """The filtered diagonal block of vertex a times y[a] (y filtered already): S D y."""
    y0 = diag[a, 0, 0] * y[a, 0] + diag[a, 0, 1] * y[a, 1] + diag[a, 0, 2] * y[a, 2]
    y1 = diag[a, 1, 0] * y[a, 0] + diag[a, 1, 1] * y[a, 1] + diag[a, 1, 2] * y[a, 2]
    y2 = diag[a, 2, 0] * y[a, 0] + diag[a, 2, 1] * y[a, 1] + diag[a, 2, 2] * y[a, 2]
    return _filt(a, y0, y1, y2, free, normal)


@njit(inline="always", **_JIT)
def _solve_row(a, v, out, P, ptr, mid, other, coef, forward):
    """out[a] = D_a^-1 (v[a] - the row's already swept half applied to out): one row of a sweep."""
    if forward:  # the entries with o < a, ascending
        s0, s1, s2 = _span(ptr[a], mid[a], 1, out, other, coef)
    else:  # those with o > a, descending: the backward sweep then reads the CSR arrays as one descending
        # stream (ascending within each row, it ran about 1.3x slower than the forward sweep)
        s0, s1, s2 = _span(ptr[a + 1] - 1, mid[a] - 1, -1, out, other, coef)
    out[a, 0], out[a, 1], out[a, 2] = _apply(P, a, v[a, 0] + s0, v[a, 1] + s1, v[a, 2] + s2)


@njit(**_JIT)
def _sweep(v, out, P, ptr, mid, other, coef, forward):
    """out = L^-1 v (forward) or U^-1 v (backward), L the filtered lower block triangle of A, U = L^T,
    diagonal blocks inverted by P. In place (out is v) is allowed: a row reads only rows swept before it."""
    V = len(v)
    for k in range(V):
        _solve_row(k if forward else V - 1 - k, v, out, P, ptr, mid, other, coef, forward)


@njit(**_JIT)
def _first_pass(c, zh, beta, t, q, P, diag, ptr, mid, other, coef, free, normal, forward):
    """One CG iteration's first sweep, with the vector work around it fused into the same pass over the
    rows: the search direction c = zh + beta c, t = (sweep) c, q = c - S D t."""
    V = len(c)
    for k in range(V):
        a = k if forward else V - 1 - k
        for m in range(3):
            c[a, m] = zh[a, m] + beta * c[a, m]
        _solve_row(a, c, t, P, ptr, mid, other, coef, forward)
        d0, d1, d2 = _dmul(diag, a, t, free, normal)
        q[a, 0], q[a, 1], q[a, 2] = c[a, 0] - d0, c[a, 1] - d1, c[a, 2] - d2


@njit(**_JIT)
def _second_pass(c, t, q, P, ptr, mid, other, coef, forward):
    """The iteration's second sweep, in place on q, fused with the product's last term and its dot with c:
    (L^-1 A U^-1) c = (sweep) q + t; returns c . that (summed in sweep order)."""
    V = len(c)
    cq = 0.0
    for k in range(V):
        a = k if forward else V - 1 - k
        _solve_row(a, q, q, P, ptr, mid, other, coef, forward)
        cq += c[a, 0] * (q[a, 0] + t[a, 0]) + c[a, 1] * (q[a, 1] + t[a, 1]) + c[a, 2] * (q[a, 2] + t[a, 2])
    return cq


@njit(**_JIT)
def _pcg(b, z, diag, ptr, mid, other, coef, free, normal, tol, max_iter, flip):
    """Baraff-Witkin modified PCG with a symmetric block Gauss-Seidel (SSOR, omega 1) preconditioner
    in Eisenstat's form: CG on L^-1 A U^-1 (A filtered, U = L^T) with the diagonal blocks D as its
    preconditioner is SSOR-PCG on A, and one product with L^-1 A U^-1 = U^-1 + L^-1 (I - D U^-1) is
    a backward and a forward sweep, each over half the entries: an iteration costs about one product
    with A, and needs half the iterations of block-Jacobi. An iteration is three passes over the
    vertices: the two sweeps (the vector updates that need no reduction fused in) and the update of the
    solution and residual. A x = b on the free components, x = z on the constrained ones (x = z + U^-1 y,
    y the transformed unknown); ends when r^.(D r^) <= tol^2 b^.(D b^) (r^ = L^-1 r: the
    SSOR-preconditioned norm) or after max_iter iterations. (SSOR with omega 1.2-1.6 took 0-40 % more
    iterations on the walking T-shirt's steps, so omega stays 1.) Returns x, the iterations and the final
    relative residual in that norm."""
    V = len(b)
    P = _block_inverses(diag, free, normal)
    r, bf = np.empty((V, 3)), np.empty((V, 3))
    for a in range(V):
        y0, y1, y2 = _row(a, z, diag, ptr, other, coef)
        r[a, 0], r[a, 1], r[a, 2] = _filt(a, b[a, 0] - y0, b[a, 1] - y1, b[a, 2] - y2, free, normal)
        bf[a, 0], bf[a, 1], bf[a, 2] = _filt(a, b[a, 0], b[a, 1], b[a, 2], free, normal)
    rh, bh = np.empty((V, 3)), np.empty((V, 3))  # the transformed residual and right-hand side
    _sweep(r, rh, P, ptr, mid, other, coef, not flip)
    _sweep(bf, bh, P, ptr, mid, other, coef, not flip)
    zh, c = np.empty((V, 3)), np.zeros((V, 3))  # D r^ and the search direction
    target, delta = 0.0, 0.0
    for a in range(V):
        f0, f1, f2 = _dmul(diag, a, bh, free, normal)
        target += bh[a, 0] * f0 + bh[a, 1] * f1 + bh[a, 2] * f2
        zh[a, 0], zh[a, 1], zh[a, 2] = _dmul(diag, a, rh, free, normal)
        delta += rh[a, 0] * zh[a, 0] + rh[a, 1] * zh[a, 1] + rh[a, 2] * zh[a, 2]
    scale = max(target, 1e-300)
    target *= tol * tol
    y, t, q = np.zeros((V, 3)), np.empty((V, 3)), np.empty((V, 3))
    it, beta = 0, 0.0  # c = zh + beta c is formed in the first sweep: c = zh in the first iteration
    while it < max_iter and delta > target:
        _first_pass(c, zh, beta, t, q, P, diag, ptr, mid, other, coef, free, normal, flip)
        alpha = delta / _second_pass(c, t, q, P, ptr, mid, other, coef, not flip)
        new = 0.0
        for a in range(V):
            for m in range(3):
                y[a, m] += alpha * c[a, m]
                rh[a, m] -= alpha * (q[a, m] + t[a, m])
            zh[a, 0], zh[a, 1], zh[a, 2] = _dmul(diag, a, rh, free, normal)
            new += rh[a, 0] * zh[a, 0] + rh[a, 1] * zh[a, 1] + rh[a, 2] * zh[a, 2]
        beta = new / delta
        delta = new
        it += 1
    _sweep(y, t, P, ptr, mid, other, coef, flip)
    return z + t, it, np.sqrt(max(delta, 0.0) / scale)


@njit(**_JIT)
def implicit_step(
    x, v, si, sj, rest, k, c, mass, drag, gravity, h, ptr, mid, other, entry, z, free, normal, tol, max_iter, flip
):
    """One linearised backward-Euler solve: the velocity change dv (V, 3), the CG iterations, the
    final relative (preconditioned) residual, and at contact vertices the normal component of the
    residual A dv - b (what the constraint pushed with, times h; 0 elsewhere)."""
    b, diag, coef = _assemble(x, v, si, sj, rest, k, c, mass, drag, gravity, h, entry)
    dv, it, res = _pcg(b, z, diag, ptr, mid, other, coef, free, normal, tol, max_iter, flip)
    push = np.empty(len(x))
    for a in range(len(x)):
        push[a] = _contact_push(a, dv, b, diag, ptr, other, coef, normal)
    return dv, it, res, push


@njit(**_JIT)
def limit_strain(x, si, sj, limit, w, iterations):
    """Provot strain limiting in place on x: every pass (Jacobi) moves both ends of each edge longer
    than `limit` towards each other by weight w, averaged over the vertex's corrections."""
    V = len(x)
    plus, minus, cnt = np.empty((V, 3)), np.empty((V, 3)), np.empty(V)
    for _ in range(iterations):
        plus[:] = 0.0
        minus[:] = 0.0
        cnt[:] = 0.0
        over = False
        for s in range(len(si)):
            hit, g0, g1, g2, wa, wb = _strain_terms(s, x, si, sj, limit, w)
            if not hit:
                continue
            over = True
            i, j = si[s], sj[s]
            plus[i, 0] += wa * g0
            plus[i, 1] += wa * g1
            plus[i, 2] += wa * g2
            minus[j, 0] += wb * g0
            minus[j, 1] += wb * g1
            minus[j, 2] += wb * g2
            cnt[i] += wa > 0
            cnt[j] += wb > 0
        if not over:
            break
        for a in range(V):
            n = max(cnt[a], 1.0)
            for m in range(3):
                x[a, m] += (plus[a, m] - minus[a, m]) / n


@njit(**_JIT)
def spring_lengths(x, si, sj):
    """(S,) |x[sj] - x[si]|."""
    out = np.empty(len(si))
    for s in range(len(si)):
        out[s] = _spring_length(s, x, si, sj)
    return out
