"""Compiled (numba) kernels of one implicit cloth step and of strain limiting (solver.py).

The system matrix is never built: each spring's block is -(w w^T + beta I), w = sqrt(alpha) u, so
A @ p is a gather over every vertex's springs (a CSR list with those 4 numbers per entry) and the
Baraff-Witkin filter is applied per vertex in the same pass. All loops are serial and sum in a fixed
order, so results do not depend on the thread count (prange over vertices was no faster on two shared
cores: docs/BENCHMARKS.md#cloth). No fastmath: no FMA contraction, so
results do not depend on the CPU either. Two entry points (`implicit_step`, `limit_strain`) keep
the compile time small; cache=True keeps the machine code in __pycache__ after the first call.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def adjacency(si: np.ndarray, sj: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each vertex's springs as CSR: ptr (V+1,), and per entry the other vertex, the spring and the
    sign of its force at this vertex (+1 at the spring's first vertex i, -1 at j); neighbours sorted."""
    S = len(si)
    owner = np.concatenate([si, sj])
    other = np.concatenate([sj, si])
    order = np.lexsort((other, owner))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=V))]).astype(np.int64)
    spring = np.concatenate([np.arange(S), np.arange(S)])[order].astype(np.int64)
    sign = np.concatenate([np.ones(S), -np.ones(S)])[order]
    return ptr, other[order].astype(np.int64), spring, sign


@njit(cache=True, inline="always")
def _filt(a, y0, y1, y2, free, normal):
    """The constraint filter of vertex a on (y0, y1, y2): free[a] (0 pinned, else 1) times I - n n^T,
    n its contact normal or 0; branch-free, as the mix of kinds defeats branch prediction."""
    n0, n1, n2 = normal[a, 0], normal[a, 1], normal[a, 2]
    y0, y1, y2 = y0 * free[a], y1 * free[a], y2 * free[a]
    d = y0 * n0 + y1 * n1 + y2 * n2
    return y0 - d * n0, y1 - d * n1, y2 - d * n2


@njit(cache=True, inline="always")
def _row(a, p, diag, ptr, other, coef):
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


@njit(cache=True)
def _assemble(x, v, si, sj, rest, k, c, mass, drag, gravity, h, ptr, spring, sign):
    """Right-hand side b = h (F0 + h dF/dx v0), the diagonal blocks of A = M - h dF/dv - h^2 dF/dx,
    and every CSR entry's off-diagonal block -(w w^T + beta I) as (w0, w1, w2, beta)."""
    S, V = len(si), len(x)
    fsp = np.empty((S, 3))  # force of spring s on its vertex i (minus it on j), damping and h dF/dx v0 included
    blk = np.empty((S, 4))
    for s in range(S):
        i, j = si[s], sj[s]
        d0, d1, d2 = x[j, 0] - x[i, 0], x[j, 1] - x[i, 1], x[j, 2] - x[i, 2]
        length = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        inv = 1.0 / max(length, 1e-12)
        u0, u1, u2 = d0 * inv, d1 * inv, d2 * inv
        # Ks = k (u u^T + ratio (I - u u^T)): the compressive transverse term dropped (Choi & Ko)
        ratio = max(0.0, 1.0 - rest[s] * inv)
        w0, w1, w2 = v[j, 0] - v[i, 0], v[j, 1] - v[i, 1], v[j, 2] - v[i, 2]
        ud = u0 * w0 + u1 * w1 + u2 * w2
        fmag = k[s] * (length - rest[s]) + c[s] * ud
        kpar, kiso = k[s] * (1.0 - ratio), k[s] * ratio
        fsp[s, 0] = fmag * u0 + h * (kpar * ud * u0 + kiso * w0)
        fsp[s, 1] = fmag * u1 + h * (kpar * ud * u1 + kiso * w1)
        fsp[s, 2] = fmag * u2 + h * (kpar * ud * u2 + kiso * w2)
        # h^2 Ks + h c u u^T = alpha u u^T + beta I with alpha >= 0: w = sqrt(alpha) u
        r = np.sqrt(h * h * kpar + h * c[s])
        blk[s, 0], blk[s, 1], blk[s, 2], blk[s, 3] = r * u0, r * u1, r * u2, h * h * kiso
    b = np.empty((V, 3))
    diag = np.zeros((V, 3, 3))
    coef = np.empty((len(spring), 4))
    for a in range(V):
        f0 = mass[a] * gravity[0] - drag[a] * v[a, 0]
        f1 = mass[a] * gravity[1] - drag[a] * v[a, 1]
        f2 = mass[a] * gravity[2] - drag[a] * v[a, 2]
        iso = mass[a] + h * drag[a]
        for e in range(ptr[a], ptr[a + 1]):
            s = spring[e]
            f0 += sign[e] * fsp[s, 0]
            f1 += sign[e] * fsp[s, 1]
            f2 += sign[e] * fsp[s, 2]
            iso += blk[s, 3]
            for m in range(3):
                for n in range(3):
                    diag[a, m, n] += blk[s, m] * blk[s, n]
            for m in range(4):
                coef[e, m] = blk[s, m]
        for m in range(3):
            diag[a, m, m] += iso
        b[a, 0], b[a, 1], b[a, 2] = h * f0, h * f1, h * f2
    return b, diag, coef


@njit(cache=True)
def _block_inverses(diag, free, normal):
    """The block-Jacobi preconditioner of the filtered system: per vertex P = S (S D S + n n^T)^-1 S,
    S = free (I - n n^T), D its diagonal block: the exact inverse of the filtered block on the
    vertex's free directions (0 where pinned). Symmetric, so CG stays valid. As M = S D S + n n^T
    maps n to n, M^-1 = S M^-1 S + n n^T, so P = M^-1 - n n^T (n = 0 off contact: P = D^-1)."""
    V = len(diag)
    P = np.zeros((V, 3, 3))
    M = np.empty((3, 3))
    dn = np.empty(3)
    for a in range(V):
        if free[a] == 0.0:
            continue
        n = normal[a]
        for m in range(3):
            dn[m] = diag[a, m, 0] * n[0] + diag[a, m, 1] * n[1] + diag[a, m, 2] * n[2]
        ndn = dn[0] * n[0] + dn[1] * n[1] + dn[2] * n[2]
        for m in range(3):  # S D S + n n^T with S = I - n n^T
            for k in range(3):
                M[m, k] = diag[a, m, k] - n[m] * dn[k] - dn[m] * n[k] + (ndn + 1.0) * n[m] * n[k]
        c00 = M[1, 1] * M[2, 2] - M[1, 2] * M[2, 1]
        c01 = M[1, 2] * M[2, 0] - M[1, 0] * M[2, 2]
        c02 = M[1, 0] * M[2, 1] - M[1, 1] * M[2, 0]
        inv_det = 1.0 / (M[0, 0] * c00 + M[0, 1] * c01 + M[0, 2] * c02)
        P[a, 0, 0], P[a, 0, 1], P[a, 0, 2] = c00 * inv_det, c01 * inv_det, c02 * inv_det
        P[a, 1, 1] = (M[0, 0] * M[2, 2] - M[0, 2] * M[2, 0]) * inv_det
        P[a, 1, 2] = (M[0, 2] * M[1, 0] - M[0, 0] * M[1, 2]) * inv_det
        P[a, 2, 2] = (M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]) * inv_det
        P[a, 1, 0], P[a, 2, 0], P[a, 2, 1] = P[a, 0, 1], P[a, 0, 2], P[a, 1, 2]  # M symmetric: so is M^-1
        for m in range(3):
            for k in range(3):
                P[a, m, k] -= n[m] * n[k]
    return P


@njit(cache=True, inline="always")
def _apply(P, a, r0, r1, r2):
    """P[a] @ r (3x3 times 3)."""
    return (
        P[a, 0, 0] * r0 + P[a, 0, 1] * r1 + P[a, 0, 2] * r2,
        P[a, 1, 0] * r0 + P[a, 1, 1] * r1 + P[a, 1, 2] * r2,
        P[a, 2, 0] * r0 + P[a, 2, 1] * r1 + P[a, 2, 2] * r2,
    )


@njit(cache=True)
def _pcg(b, z, diag, ptr, other, coef, free, normal, tol, max_iter):
    """Baraff-Witkin modified PCG (block-Jacobi, `_block_inverses`): A x = b on the free components,
    x = z on the constrained ones; ends when r.(P r) <= tol^2 bf.(P bf) or after max_iter iterations.
    Returns x, the iterations and the final relative residual sqrt(r.(P r) / bf.(P bf))."""
    V = len(b)
    P = _block_inverses(diag, free, normal)
    x = z.copy()
    # r residual, s = P r, c search direction, q = S A c (filtered); A c = A s + beta A c_old lets the
    # direction update ride along with the product, so an iteration is two passes over the vertices
    r, s, c, q = np.empty((V, 3)), np.empty((V, 3)), np.zeros((V, 3)), np.zeros((V, 3))
    target, delta = 0.0, 0.0
    for a in range(V):
        f0, f1, f2 = _apply(P, a, b[a, 0], b[a, 1], b[a, 2])
        target += b[a, 0] * f0 + b[a, 1] * f1 + b[a, 2] * f2
        y0, y1, y2 = _row(a, x, diag, ptr, other, coef)
        r[a, 0], r[a, 1], r[a, 2] = _filt(a, b[a, 0] - y0, b[a, 1] - y1, b[a, 2] - y2, free, normal)
        s[a, 0], s[a, 1], s[a, 2] = _apply(P, a, r[a, 0], r[a, 1], r[a, 2])
        delta += r[a, 0] * s[a, 0] + r[a, 1] * s[a, 1] + r[a, 2] * s[a, 2]
    scale = max(target, 1e-300)
    target *= tol * tol
    it, beta = 0, 0.0
    while it < max_iter and delta > target:
        cq = 0.0
        for a in range(V):
            y0, y1, y2 = _row(a, s, diag, ptr, other, coef)
            y0, y1, y2 = _filt(a, y0, y1, y2, free, normal)
            c[a, 0], c[a, 1], c[a, 2] = s[a, 0] + beta * c[a, 0], s[a, 1] + beta * c[a, 1], s[a, 2] + beta * c[a, 2]
            q[a, 0], q[a, 1], q[a, 2] = y0 + beta * q[a, 0], y1 + beta * q[a, 1], y2 + beta * q[a, 2]
            cq += c[a, 0] * q[a, 0] + c[a, 1] * q[a, 1] + c[a, 2] * q[a, 2]
        alpha = delta / cq
        new = 0.0
        for a in range(V):
            for m in range(3):
                x[a, m] += alpha * c[a, m]
                r[a, m] -= alpha * q[a, m]
            s[a, 0], s[a, 1], s[a, 2] = _apply(P, a, r[a, 0], r[a, 1], r[a, 2])
            new += r[a, 0] * s[a, 0] + r[a, 1] * s[a, 1] + r[a, 2] * s[a, 2]
        beta = new / delta
        delta = new
        it += 1
    return x, it, np.sqrt(max(delta, 0.0) / scale)


@njit(cache=True)
def implicit_step(
    x, v, si, sj, rest, k, c, mass, drag, gravity, h, ptr, other, spring, sign, z, free, normal, tol, max_iter
):
    """One linearised backward-Euler solve: the velocity change dv (V, 3), the CG iterations, the
    final relative (preconditioned) residual, and at contact vertices the normal component of the
    residual A dv - b (what the constraint pushed with, times h; 0 elsewhere)."""
    b, diag, coef = _assemble(x, v, si, sj, rest, k, c, mass, drag, gravity, h, ptr, spring, sign)
    dv, it, res = _pcg(b, z, diag, ptr, other, coef, free, normal, tol, max_iter)
    push = np.zeros(len(x))
    for a in range(len(x)):
        if normal[a, 0] != 0.0 or normal[a, 1] != 0.0 or normal[a, 2] != 0.0:
            y0, y1, y2 = _row(a, dv, diag, ptr, other, coef)
            push[a] = (y0 - b[a, 0]) * normal[a, 0] + (y1 - b[a, 1]) * normal[a, 1] + (y2 - b[a, 2]) * normal[a, 2]
    return dv, it, res, push


@njit(cache=True)
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
            i, j = si[s], sj[s]
            d0, d1, d2 = x[j, 0] - x[i, 0], x[j, 1] - x[i, 1], x[j, 2] - x[i, 2]
            length = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
            if not length > limit[s]:
                continue
            over = True
            wa, wb = w[i], w[j]
            f = (length - limit[s]) / length / max(wa + wb, 1e-12)
            plus[i, 0] += wa * (f * d0)
            plus[i, 1] += wa * (f * d1)
            plus[i, 2] += wa * (f * d2)
            minus[j, 0] += wb * (f * d0)
            minus[j, 1] += wb * (f * d1)
            minus[j, 2] += wb * (f * d2)
            cnt[i] += wa > 0
            cnt[j] += wb > 0
        if not over:
            break
        for a in range(V):
            n = max(cnt[a], 1.0)
            for m in range(3):
                x[a, m] += (plus[a, m] - minus[a, m]) / n
