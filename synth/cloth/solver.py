"""Baraff-Witkin implicit (backward Euler) mass-spring cloth on the CPU (numba kernels in solver_kernels.py)
or on CUDA (solver_cuda.py: the same element functions, block-Jacobi PCG, many systems in one launch).

One linearised backward-Euler step solves
    (M - h dF/dv - h^2 dF/dx) dv = h (F0 + h dF/dx v0)
for the velocity change, with modified preconditioned CG (SSOR: symmetric block Gauss-Seidel, each
vertex's filtered 3x3 block inverted exactly; run to a relative residual, not a fixed count; on CUDA
block-Jacobi with the same block inverses) and
constraint filtering:
pinned (attached) vertices get their velocity change prescribed and are filtered out of the
search directions, so the system needs no Lagrange multipliers. Spring Jacobians drop the
compressive transverse term (Choi & Ko) so the matrix stays symmetric positive definite. The
matrix is never stored: CG applies it spring by spring (matrix-free), all in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.cloth import solver_kernels as kernels
from synth.cloth.materials import Material
from synth.cloth.springs import Springs, build_springs, spring_coefficients, vertex_areas
from synth.errors import SynthError

DEVICES = ("cpu", "cuda")


@dataclass
class SolverSettings:
    gravity: tuple[float, float, float] = (0.0, -9.81, 0.0)  # m/s^2, SMPL world (Y up)
    cg_tol: float = 1e-2  # relative residual (SSOR-preconditioned norm) that ends CG
    cg_max_iter: int = 100  # a cap for the rare hard step (15-18 iterations per step to cg_tol on a walk)
    max_speed: float = 30.0  # m/s: faster than this counts as a blow-up
    max_stretch: float = 4.0  # any stretch spring longer than this x its rest length is a blow-up (3x is
    # reached by cloth pinched between belly and thigh in a deep squat: see docs, cloth section)
    strain_limit: float = 0.1  # Provot strain limiting: edges longer than (1 + this) x rest are shortened
    strain_iterations: int = 4  # Jacobi passes of strain limiting per step (0 turns it off)
    # a frame ending with a free edge past refine_stretch x rest or a vertex past refine_speed is run
    # again with twice the substeps, at most max_refinements times (simulate.advance_frame)
    refine_stretch: float = 3.0
    refine_speed: float = 10.0  # m/s
    max_refinements: int = 3
    # "cpu": serial numba kernels, SSOR-PCG, bit-reproducible; "cuda": the same element functions on an
    # NVIDIA GPU (block-Jacobi PCG, so other iteration counts; same solution to the CG tolerance)
    device: str = "cpu"


class ImplicitCloth:
    """State and one implicit step of a set of cloth meshes solved together (one sparse system)."""

    def __init__(
        self,
        rest: np.ndarray,
        faces: np.ndarray,
        materials: list[Material],
        vertex_garment: np.ndarray | None = None,
        pinned: np.ndarray | None = None,
        settings: SolverSettings | None = None,
    ):
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
        self.cg_residual = 0.0  # relative preconditioned residual the last solve ended at
        self.cg_residual_max = 0.0  # and the largest over all solves (a solve that stopped at the cap)
        self.steps = 0
        self._adj = kernels.adjacency(self.springs.i, self.springs.j, V)
        self._stretch: tuple | None = None  # (strain_limit, i, j, limit length) of the stretch springs
        self._gravity = np.asarray(self.settings.gravity, np.float64)
        if self.settings.device not in DEVICES:
            raise SynthError(f"unknown cloth device {self.settings.device!r}", fix=f"use one of {', '.join(DEVICES)}")
        self._batch = ClothBatch([self]) if self.settings.device == "cuda" else None

    def spring_lengths(self, x: np.ndarray) -> np.ndarray:
        """(S,) the springs' lengths at positions x (V, 3)."""
        return kernels.spring_lengths(np.ascontiguousarray(x, np.float64), self.springs.i, self.springs.j)

    def energy(self) -> dict[str, float]:
        """Kinetic, spring and gravitational potential energy (J); gravity relative to y = 0."""
        length = self.spring_lengths(self.x)
        kin = 0.5 * float(np.sum(self.mass * np.einsum("ni,ni->n", self.v, self.v)))
        spring = 0.5 * float(np.sum(self.k * (length - self.springs.rest) ** 2))
        grav = -float(np.sum(self.mass * (self.x @ np.asarray(self.settings.gravity))))
        return {"kinetic": kin, "spring": spring, "gravity": grav, "total": kin + spring + grav}

    def step(
        self,
        h: float,
        pin_targets: np.ndarray | None = None,
        limit_strain: bool = True,
        contacts: Contacts | None = None,
    ) -> int:
        """Advance by h seconds. pin_targets (P, 3): where the pinned vertices must be at t + h.
        contacts: vertices whose new velocity along a unit normal is prescribed (the body's
        surface), solved as Baraff-Witkin constraints so the springs, not a later push, share out
        the contact. limit_strain=False leaves strain limiting to the caller."""
        if self._batch is not None:
            return self._batch.step(h, [pin_targets], [contacts], limit_strain)[0]
        x, v, z, free, normal, pin_targets = self._constraints(h, pin_targets, contacts)
        sp, st = self.springs, self.settings
        ptr, mid, other, entry = self._adj
        solved = kernels.implicit_step(
            x,
            v,
            sp.i,
            sp.j,
            sp.rest,
            self.k,
            self.c,
            self.mass,
            self.drag,
            self._gravity,
            float(h),
            ptr,
            mid,
            other,
            entry,
            z,
            free,
            normal,
            float(st.cg_tol),
            int(st.cg_max_iter),
            self.steps % 2 == 1,  # alternate the sweep order: a fixed one pushes the cloth along it
        )
        self._finish(h, x, v, pin_targets, *solved)
        if limit_strain:
            self.limit_strain(h)
        return solved[1]

    def _constraints(self, h: float, pin_targets: np.ndarray | None, contacts: Contacts | None) -> tuple:
        """x, v (float64, C order: what the kernels were compiled for), the prescribed velocity change z,
        the PCG filter (free: 0 pinned, else 1; normal: the contact normal or 0) and the pin targets."""
        x, v = np.ascontiguousarray(self.x, np.float64), np.ascontiguousarray(self.v, np.float64)
        # CG starts from zero, never from the last step's dv: truncated CG (stiff fabric, small
        # triangles) leaves part of a warm start unresolved, which re-applies the previous step's
        # velocity change every step and pumps energy in (a hanging denim leg reached 0.6-0.8 m/s
        # instead of settling at 0.04). From zero, a truncated solve only under-shoots: dissipative.
        z = np.zeros_like(x)
        free = (~self.pinned).astype(np.float64)  # the PCG filter: free (I - n n^T), n = 0 off contact
        normal = np.zeros_like(x)
        if self.pinned.any():
            if pin_targets is None:
                pin_targets = x[self.pinned]
            z[self.pinned] = (pin_targets - x[self.pinned]) / h - v[self.pinned]
        if contacts is not None and len(contacts.idx):
            c_idx, n = contacts.idx, contacts.normal
            z[c_idx] = (contacts.normal_velocity - np.einsum("ni,ni->n", v[c_idx], n))[:, None] * n
            normal[c_idx] = n
        return x, v, z, free, normal, pin_targets

    def _finish(self, h, x, v, pin_targets, dv, iters, residual, push) -> None:
        """Take the solved velocity change dv: new velocities and positions, pins on their targets, and
        the solve's counters."""
        self.v = v + dv
        # what each contact constraint had to push with (N): negative = it held the cloth on
        self.contact_force[:] = push / h
        self.x = x + h * self.v
        if self.pinned.any():
            self.x[self.pinned] = pin_targets
        self.cg_iterations += iters
        self.cg_residual = residual
        self.cg_residual_max = max(self.cg_residual_max, residual)
        self.steps += 1

    def limit_strain(self, h: float, weights: np.ndarray | None = None) -> None:
        """Provot's inverse-dynamics step: pull over-stretched edges back to the limit (Jacobi
        averaged, pinned vertices fixed) and give the moved vertices the matching velocity.
        weights (V,): how much each vertex moves (inverse-mass like; default 1, pinned 0)."""
        if self._batch is not None:
            self._batch.limit_strain(h, [weights])
            return
        st = self.settings
        if self._stretch is None or self._stretch[0] != st.strain_limit:  # every substep: kept
            m = self.springs.kind == 0
            self._stretch = (
                st.strain_limit,
                self.springs.i[m],
                self.springs.j[m],
                self.springs.rest[m] * (1 + st.strain_limit),
            )
        _, si, sj, L = self._stretch
        w = self._strain_weights(weights)
        self.x = np.ascontiguousarray(self.x, np.float64)
        x0 = self.x.copy()
        kernels.limit_strain(self.x, si, sj, L, w, int(st.strain_iterations))
        self.v += (self.x - x0) / h

    def _strain_weights(self, weights: np.ndarray | None) -> np.ndarray:
        return (~self.pinned).astype(np.float64) if weights is None else np.where(self.pinned, 0.0, weights)

    def blow_up(self) -> str | None:
        """A reason when the state is not finite or has exploded, else None."""
        return self._bounds(self.settings.max_speed, self.settings.max_stretch)

    def out_of_bounds(self) -> str | None:
        """A reason when the state is past the refinement limits (refine_speed, refine_stretch, or the
        blow-up limits where those are lower), else None."""
        st = self.settings
        return self._bounds(min(st.refine_speed, st.max_speed), min(st.refine_stretch, st.max_stretch))

    def _bounds(self, max_speed: float, max_stretch: float) -> str | None:
        """Non-finite state, a vertex faster than max_speed, or a stretch spring with a free end
        longer than max_stretch x rest (edges between two pins are prescribed by the body)."""
        if not (np.isfinite(self.x).all() and np.isfinite(self.v).all()):
            return "positions or velocities became NaN/inf"
        speed = float(np.sqrt(np.einsum("ni,ni->n", self.v, self.v).max(initial=0.0)))
        if speed > max_speed:
            return f"a vertex moves at {speed:.1f} m/s (limit {max_speed})"
        length = self.spring_lengths(self.x)
        sp = self.springs
        check = (sp.kind == 0) & ~(self.pinned[sp.i] & self.pinned[sp.j])
        stretch = float((length / sp.rest)[check].max(initial=1.0))
        if stretch > max_stretch:
            return f"an edge is stretched {stretch:.1f}x its rest length (limit {max_stretch})"
        return None

    def save(self) -> tuple:
        """The dynamic state (positions, velocities, last contact forces), for `restore`."""
        return self.x.copy(), self.v.copy(), self.contact_force.copy()

    def restore(self, state: tuple) -> None:
        """Return to a state from `save` (the work counters keep counting)."""
        x, v, force = state
        self.x, self.v, self.contact_force = x.copy(), v.copy(), force.copy()


@dataclass
class Contacts:
    """Vertices held against a surface for one step: new velocity . normal = normal_velocity."""

    idx: np.ndarray  # (C,) vertex indices, unique, none pinned
    normal: np.ndarray  # (C, 3) unit normals
    normal_velocity: np.ndarray  # (C,) m/s along the normal


class ClothBatch:
    """Several cloth systems (an outfit each, e.g. of several sequences) stepped together on CUDA: every
    kernel of the implicit step and of strain limiting is one launch over all of them (solver_cuda.py),
    each system with its own CG scalars, so each gets what it would get alone. device "cuda" only."""

    def __init__(self, cloths: list[ImplicitCloth]):
        from synth.cloth import solver_cuda  # numba.cuda is imported only when a GPU is asked for

        def key(c: ImplicitCloth) -> tuple:
            return c.settings.cg_tol, c.settings.cg_max_iter, c.settings.strain_iterations

        if len({key(c) for c in cloths}) != 1:
            raise SynthError(
                "cloth batched on CUDA with different CG or strain-limiting settings",
                fix="batch cloth with equal cg_tol, cg_max_iter and strain_iterations",
            )
        self.cloths = cloths
        self._cuda = solver_cuda.CudaBatch(cloths)

    def step(
        self,
        h: float,
        pin_targets: list[np.ndarray | None] | None = None,
        contacts: list[Contacts | None] | None = None,
        limit_strain: bool = True,
    ) -> list[int]:
        """`ImplicitCloth.step` for every system at once (per-system lists of pin targets and contacts);
        returns the CG iterations of each."""
        n = len(self.cloths)
        pin_targets = pin_targets or [None] * n
        contacts = contacts or [None] * n
        prep = [c._constraints(h, p, ct) for c, p, ct in zip(self.cloths, pin_targets, contacts)]
        x, v, z, free, normal, targets = zip(*prep)
        st = self.cloths[0].settings
        solved = self._cuda.implicit_step(x, v, [float(h)] * n, z, free, normal, st.cg_tol, st.cg_max_iter)
        for c, xi, vi, ti, r in zip(self.cloths, x, v, targets, solved):
            c._finish(h, xi, vi, ti, *r)
        if limit_strain:
            self.limit_strain(h)
        return [r[1] for r in solved]

    def limit_strain(self, h: float, weights: list[np.ndarray | None] | None = None) -> None:
        """`ImplicitCloth.limit_strain` for every system at once."""
        weights = weights or [None] * len(self.cloths)
        x0 = [np.ascontiguousarray(c.x, np.float64) for c in self.cloths]
        w = [c._strain_weights(wt) for c, wt in zip(self.cloths, weights)]
        for c, before, after in zip(self.cloths, x0, self._cuda.limit_strain(x0, w)):
            c.x = after
            c.v = c.v + (after - before) / h
