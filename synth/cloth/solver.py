"""Baraff-Witkin implicit (backward Euler) mass-spring cloth on the CPU (scipy.sparse).

One linearised backward-Euler step solves
    (M - h dF/dv - h^2 dF/dx) dv = h (F0 + h dF/dx v0)
for the velocity change, with modified preconditioned CG (Jacobi) and constraint filtering:
pinned (attached) vertices get their velocity change prescribed and are filtered out of the
search directions, so the system needs no Lagrange multipliers. Spring Jacobians drop the
compressive transverse term (Choi & Ko) so the matrix stays symmetric positive definite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from synth.cloth.materials import Material
from synth.cloth.springs import Springs, build_springs, spring_coefficients, vertex_areas


@dataclass
class SolverSettings:
    gravity: tuple[float, float, float] = (0.0, -9.81, 0.0)  # m/s^2, SMPL world (Y up)
    cg_tol: float = 1e-3  # relative residual (preconditioned norm) that ends CG
    cg_max_iter: int = 60
    max_speed: float = 30.0  # m/s: faster than this counts as a blow-up
    max_stretch: float = 4.0  # any stretch spring longer than this x its rest length is a blow-up (3x is
    # reached by cloth pinched between belly and thigh in a deep squat: see docs, cloth section)
    strain_limit: float = 0.1  # Provot strain limiting: edges longer than (1 + this) x rest are shortened
    strain_iterations: int = 4  # Jacobi passes of strain limiting per step (0 turns it off)


_EYE = np.eye(3)


class ImplicitCloth:
    """State and one implicit step of a set of cloth meshes solved together (one sparse system)."""

    def __init__(self, rest: np.ndarray, faces: np.ndarray, materials: list[Material],
                 vertex_garment: np.ndarray | None = None, pinned: np.ndarray | None = None,
                 settings: SolverSettings | None = None):  # fmt: skip
        self.rest = np.asarray(rest, np.float64)
        self.faces = np.asarray(faces, np.int64)
        V = len(self.rest)
        self.settings = settings or SolverSettings()
        self.vertex_garment = np.zeros(V, np.int64) if vertex_garment is None else np.asarray(vertex_garment)
        self.pinned = np.zeros(V, bool) if pinned is None else np.asarray(pinned, bool).copy()
        area = vertex_areas(self.rest, self.faces)
        dens = np.array([m.density for m in materials])[self.vertex_garment]
        self.mass = np.maximum(area * dens, 1e-7)
        self.drag = area * np.array([m.drag for m in materials])[self.vertex_garment]
        self.springs: Springs = build_springs(self.rest, self.faces)
        self.k, self.c = spring_coefficients(self.springs, self.mass, materials, self.vertex_garment)
        self.x = self.rest.copy()
        self.v = np.zeros_like(self.x)
        self.contact_force = np.zeros(V)  # normal force of each contact constraint in the last step
        self.cg_iterations = 0
        self.steps = 0
        self._pattern(V)

    def _pattern(self, V: int) -> None:
        """Fixed block-sparse (3x3 BSR) pattern; springs are unique pairs, so no duplicate blocks."""
        si, sj = self.springs.i, self.springs.j
        S = len(si)
        rows = np.concatenate([np.arange(V), si, sj])
        cols = np.concatenate([np.arange(V), sj, si])
        order = np.lexsort((cols, rows))
        self._indices = cols[order].astype(np.int32)
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=V))]).astype(np.int32)
        pos = np.empty(len(rows), np.int64)
        pos[order] = np.arange(len(rows))
        self._pos_diag, self._pos_ij, self._pos_ji = pos[:V], pos[V : V + S], pos[V + S :]
        s = np.arange(S)
        self._D = sp.csr_matrix(  # +1 at the spring's first vertex, -1 at its second
            (np.concatenate([np.ones(S), -np.ones(S)]), (np.concatenate([si, sj]), np.concatenate([s, s]))),
            shape=(V, S),
        )
        self._inc = abs(self._D).tocsr()

    def spring_state(self, x: np.ndarray):
        d = x[self.springs.j] - x[self.springs.i]
        length = np.linalg.norm(d, axis=1)
        return d / np.maximum(length, 1e-12)[:, None], length

    def energy(self) -> dict[str, float]:
        """Kinetic, spring and gravitational potential energy (J); gravity relative to y = 0."""
        _, length = self.spring_state(self.x)
        kin = 0.5 * float(np.sum(self.mass * np.einsum("ni,ni->n", self.v, self.v)))
        spring = 0.5 * float(np.sum(self.k * (length - self.springs.rest) ** 2))
        grav = -float(np.sum(self.mass * (self.x @ np.asarray(self.settings.gravity))))
        return {"kinetic": kin, "spring": spring, "gravity": grav, "total": kin + spring + grav}

    def step(self, h: float, pin_targets: np.ndarray | None = None, limit_strain: bool = True,
             contacts: "Contacts | None" = None) -> int:  # fmt: skip
        """Advance by h seconds. pin_targets (P, 3): where the pinned vertices must be at t + h.
        contacts: vertices whose new velocity along a unit normal is prescribed (the body's
        surface), solved as Baraff-Witkin constraints so the springs, not a later push, share out
        the contact. limit_strain=False leaves strain limiting to the caller."""
        x, v, L = self.x, self.v, self.springs.rest
        si, sj = self.springs.i, self.springs.j
        V = len(x)
        u, length = self.spring_state(x)
        uu = u[:, :, None] * u[:, None, :]
        ratio = np.maximum(0.0, 1.0 - L / np.maximum(length, 1e-12))
        Ks = self.k[:, None, None] * (uu + ratio[:, None, None] * (_EYE - uu))
        dv_rel = v[sj] - v[si]
        fs = (self.k * (length - L) + self.c * np.einsum("ni,ni->n", dv_rel, u))[:, None] * u
        f = self._D @ fs + self.mass[:, None] * np.asarray(self.settings.gravity) - self.drag[:, None] * v
        kv = self._D @ np.einsum("nij,nj->ni", Ks, dv_rel)
        b = (h * (f + h * kv)).ravel()

        B = h * h * Ks + h * self.c[:, None, None] * uu
        data = np.empty((len(self._indices), 3, 3))
        data[self._pos_ij] = -B
        data[self._pos_ji] = -B
        diag = (self._inc @ B.reshape(-1, 9)).reshape(V, 3, 3) + (self.mass + h * self.drag)[:, None, None] * _EYE
        data[self._pos_diag] = diag
        A = sp.bsr_matrix((data, self._indices, self._indptr), shape=(3 * V, 3 * V))
        pinv = 1.0 / diag[:, [0, 1, 2], [0, 1, 2]].ravel()

        # CG starts from zero, never from the last step's dv: truncated CG (stiff fabric, small
        # triangles) leaves part of a warm start unresolved, which re-applies the previous step's
        # velocity change every step and pumps energy in (a hanging denim leg reached 0.6-0.8 m/s
        # instead of settling at 0.04). From zero, a truncated solve only under-shoots: dissipative.
        z = np.zeros_like(x)
        if self.pinned.any():
            if pin_targets is None:
                pin_targets = x[self.pinned]
            z[self.pinned] = (pin_targets - x[self.pinned]) / h - v[self.pinned]
        free = np.repeat(~self.pinned, 3).astype(np.float64)
        if contacts is not None and len(contacts.idx):
            c_idx, n = contacts.idx, contacts.normal
            z[c_idx] = (contacts.normal_velocity - np.einsum("ni,ni->n", v[c_idx], n))[:, None] * n
        else:
            contacts = None
        dv, iters = filtered_pcg(A, b, z.ravel(), free, pinv, self.settings.cg_tol, self.settings.cg_max_iter,
                                 contacts)  # fmt: skip
        self.v = v + dv.reshape(V, 3)
        self.contact_force[:] = 0.0
        if contacts is not None:  # what the constraint had to push with (N): negative = it held the cloth on
            res = (A @ dv - b).reshape(V, 3)[contacts.idx]
            self.contact_force[contacts.idx] = np.einsum("ni,ni->n", res, contacts.normal) / h
        self.x = x + h * self.v
        if self.pinned.any():
            self.x[self.pinned] = pin_targets
        if limit_strain:
            self.limit_strain(h)
        self.cg_iterations += iters
        self.steps += 1
        return iters

    def limit_strain(self, h: float, weights: np.ndarray | None = None) -> None:
        """Provot's inverse-dynamics step: pull over-stretched edges back to the limit (Jacobi
        averaged, pinned vertices fixed) and give the moved vertices the matching velocity.
        weights (V,): how much each vertex moves (inverse-mass like; default 1, pinned 0)."""
        st = self.settings
        m = self.springs.kind == 0
        si, sj, L = self.springs.i[m], self.springs.j[m], self.springs.rest[m] * (1 + st.strain_limit)
        w = (~self.pinned).astype(np.float64) if weights is None else np.where(self.pinned, 0.0, weights)
        V = len(self.x)
        x0 = self.x.copy()
        for _ in range(st.strain_iterations):
            d = self.x[sj] - self.x[si]
            length = np.linalg.norm(d, axis=1)
            over = length > L
            if not over.any():
                break
            a, b, d, length, Lo = si[over], sj[over], d[over], length[over], L[over]
            wa, wb = w[a], w[b]
            tot = np.maximum(wa + wb, 1e-12)
            corr = ((length - Lo) / length / tot)[:, None] * d
            delta = np.zeros((V, 3))
            cnt = np.bincount(a, weights=wa > 0, minlength=V) + np.bincount(b, weights=wb > 0, minlength=V)
            for c in range(3):
                delta[:, c] = np.bincount(a, weights=wa * corr[:, c], minlength=V) - np.bincount(
                    b, weights=wb * corr[:, c], minlength=V)  # fmt: skip
            self.x += delta / np.maximum(cnt, 1.0)[:, None]
        self.v += (self.x - x0) / h

    def blow_up(self) -> str | None:
        """A reason when the state is not finite or has exploded, else None."""
        if not (np.isfinite(self.x).all() and np.isfinite(self.v).all()):
            return "positions or velocities became NaN/inf"
        speed = float(np.sqrt(np.einsum("ni,ni->n", self.v, self.v).max(initial=0.0)))
        if speed > self.settings.max_speed:
            return f"a vertex moves at {speed:.1f} m/s (limit {self.settings.max_speed})"
        _, length = self.spring_state(self.x)
        stretch = float((length / self.springs.rest)[self.springs.kind == 0].max(initial=1.0))
        if stretch > self.settings.max_stretch:
            return f"an edge is stretched {stretch:.1f}x its rest length (limit {self.settings.max_stretch})"
        return None


@dataclass
class Contacts:
    """Vertices held against a surface for one step: new velocity . normal = normal_velocity."""

    idx: np.ndarray  # (C,) vertex indices, unique, none pinned
    normal: np.ndarray  # (C, 3) unit normals
    normal_velocity: np.ndarray  # (C,) m/s along the normal


def filtered_pcg(A, b: np.ndarray, z: np.ndarray, free: np.ndarray, pinv: np.ndarray, tol: float,
                 max_iter: int, contacts: Contacts | None = None) -> tuple[np.ndarray, int]:  # fmt: skip
    """Baraff-Witkin modified PCG: solves A x = b on the free components with x = z on the
    constrained ones (free is 1 for free, 0 for constrained components; a contact vertex is
    constrained along its normal only: its filter is I - n n^T)."""

    def filt(y: np.ndarray) -> np.ndarray:
        y = y * free
        if contacts is not None:
            yv = y.reshape(-1, 3)
            yc = yv[contacts.idx]
            yv[contacts.idx] = yc - np.einsum("ni,ni->n", yc, contacts.normal)[:, None] * contacts.normal
        return y

    x = z.copy()
    bf = filt(b)
    target = tol * tol * float(bf @ (pinv * bf))
    r = filt(b - A @ x)
    c = filt(pinv * r)
    delta = float(r @ c)
    it = 0
    while it < max_iter and delta > target:
        q = filt(A @ c)
        alpha = delta / float(c @ q)
        x += alpha * c
        r -= alpha * q
        s = pinv * r
        new = float(r @ s)
        c = filt(s + (new / delta) * c)
        delta = new
        it += 1
    return x, it
