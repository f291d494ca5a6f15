"""Many garments advanced at once in torch (GPU when present): the same Baraff-Witkin step as
synth.cloth.solver.ImplicitCloth, for a batch of independent garments (different meshes, materials
and bodies) stored as one concatenated vertex array.

The system matrix is never assembled: A @ p is computed from the per-spring 3x3 blocks with
index_add_ (matrix-free), and the filtered Jacobi-PCG keeps one set of CG scalars per garment
(segment sums over the garment's vertices), so a garment stops iterating when it converges and the
batch gives the same numbers as separate runs. Contacts are simulate.substep's history-based rule
(tracked body point from the start of the substep, normal velocity prescribed inside the solve,
friction, contact-weighted strain limiting, position fix of the other tracked vertices), with
collision.PartCollider's allowed parts and simulate_garments' collision reach, per garment.
Everything that is set up once (masses, springs, coefficients, embeddings, part groups) comes from
the numpy code; only the per-step math is ported, and all per-step tensors are dense over the
vertices (masks, no data-dependent shapes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from synth.cloth.collision import vertex_face_table
from synth.cloth.garments import Garment
from synth.cloth.materials import Material
from synth.cloth.simulate import (
    CONTACT_MARGIN, CONTACT_PROXIMITY, CONTACT_WEIGHT, SimResult, _diverged, _layer_thickness, body_reach,
    garment_stats,
)  # fmt: skip
from synth.cloth.solver import Contacts, ImplicitCloth, SolverSettings


def _seg_sum(values: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, seg, values)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


class BatchedImplicitCloth:
    """State and one implicit step of B independent garments (one solve each, run together)."""

    def __init__(self, rests: list[np.ndarray], faces: list[np.ndarray], materials: list[Material],
                 pinned: list[np.ndarray] | None = None, settings: SolverSettings | None = None,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):  # fmt: skip
        self.settings = settings or SolverSettings()
        self.device, self.dtype = torch.device(device), dtype
        self.B = len(rests)
        sizes = [len(r) for r in rests]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        tens = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt, device=self.device)  # noqa: E731
        si, sj, L, kind, k, c, mass, drag, fcat = [], [], [], [], [], [], [], [], []
        for g, (rest, f, m) in enumerate(zip(rests, faces, materials)):
            # the scipy solver's own construction (masses, springs, coefficients): one definition of both
            ref = ImplicitCloth(rest, f, [m], settings=self.settings)
            sp, o = ref.springs, int(self.offsets[g])
            si.append(sp.i + o), sj.append(sp.j + o), L.append(sp.rest), kind.append(sp.kind)
            k.append(ref.k), c.append(ref.c), mass.append(ref.mass), drag.append(ref.drag)
            fcat.append(ref.faces + o)
        cat = np.concatenate
        self.faces = tens(cat(fcat), torch.int64)
        self.si, self.sj = tens(cat(si), torch.int64), tens(cat(sj), torch.int64)
        self.L, self.k, self.c = tens(cat(L)), tens(cat(k)), tens(cat(c))
        self.kind = tens(cat(kind), torch.int64)
        self.mass, self.drag = tens(cat(mass)), tens(cat(drag))
        self.vg = tens(np.repeat(np.arange(self.B), sizes), torch.int64)  # vertex -> garment
        self.sg = self.vg[self.si]  # spring -> garment
        V = int(self.offsets[-1])
        self.pinned = tens(np.zeros(V, bool) if pinned is None else cat(pinned), torch.bool)
        self.free = (~self.pinned).to(dtype)[:, None]
        self.gravity = tens(self.settings.gravity)
        self.x = tens(cat([np.asarray(r, np.float64) for r in rests]))
        self.v = torch.zeros_like(self.x)
        self.contact_force = torch.zeros(V, dtype=dtype, device=self.device)  # as ImplicitCloth.contact_force
        self.cg_iterations = torch.zeros(self.B, dtype=torch.int64, device=self.device)
        self.steps = 0

    def spring_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = x[self.sj] - x[self.si]
        length = d.norm(dim=1)
        return d / length.clamp_min(1e-12)[:, None], length

    def energy(self) -> torch.Tensor:
        """(B, 4) kinetic, spring, gravity (relative to y = 0) and total energy per garment, J."""
        _, length = self.spring_state(self.x)
        kin = _seg_sum(0.5 * self.mass * (self.v * self.v).sum(1), self.vg, self.B)
        spring = _seg_sum(0.5 * self.k * (length - self.L) ** 2, self.sg, self.B)
        grav = _seg_sum(-self.mass * (self.x @ self.gravity), self.vg, self.B)
        return torch.stack([kin, spring, grav, kin + spring + grav], 1)

    def step(self, h: float, pin_targets: torch.Tensor | None = None, limit_strain: bool = True,
             contacts: Contacts | None = None) -> torch.Tensor:  # fmt: skip
        """ImplicitCloth.step for every garment: pin_targets (P, 3) in pinned-vertex order, contacts
        (indices into the concatenated vertices; numpy or torch fields). Returns CG iterations per garment."""
        V = len(self.x)
        mask = torch.zeros(V, dtype=torch.bool, device=self.device)
        normal = torch.zeros_like(self.x)
        speed = torch.zeros(V, dtype=self.dtype, device=self.device)
        if contacts is not None and len(contacts.idx):
            idx = torch.as_tensor(contacts.idx, dtype=torch.int64, device=self.device)
            mask[idx] = True
            normal[idx] = torch.as_tensor(contacts.normal, dtype=self.dtype, device=self.device)
            speed[idx] = torch.as_tensor(contacts.normal_velocity, dtype=self.dtype, device=self.device)
        return self.step_dense(h, pin_targets, limit_strain, mask, normal, speed)

    def step_dense(self, h: float, pin_targets: torch.Tensor | None, limit_strain: bool, contact: torch.Tensor,
                   normal: torch.Tensor, normal_velocity: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """step with contacts given densely: contact (V,) bool, normal (V, 3) unit where contact,
        normal_velocity (V,) m/s (read where contact only)."""
        x, v, L, si, sj = self.x, self.v, self.L, self.si, self.sj
        u, length = self.spring_state(x)
        uu = u[:, :, None] * u[:, None, :]
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        ratio = (1.0 - L / length.clamp_min(1e-12)).clamp_min(0.0)
        Ks = self.k[:, None, None] * (uu + ratio[:, None, None] * (eye - uu))
        dv_rel = v[sj] - v[si]
        fs = (self.k * (length - L) + self.c * (dv_rel * u).sum(1))[:, None] * u
        kvs = torch.einsum("sij,sj->si", Ks, dv_rel)
        f = self.mass[:, None] * self.gravity - self.drag[:, None] * v
        f = f.index_add(0, si, fs + h * kvs).index_add(0, sj, -(fs + h * kvs))
        b = h * f
        Bs = h * h * Ks + h * self.c[:, None, None] * uu
        diag = (self.mass + h * self.drag)[:, None, None] * eye
        diag = diag.index_add(0, si, Bs).index_add(0, sj, Bs)
        pinv = 1.0 / torch.diagonal(diag, dim1=1, dim2=2)

        def matvec(p: torch.Tensor) -> torch.Tensor:
            out = torch.einsum("nij,nj->ni", diag, p)
            out.index_add_(0, si, -torch.einsum("sij,sj->si", Bs, p[sj]))
            return out.index_add_(0, sj, -torch.einsum("sij,sj->si", Bs, p[si]))

        # CG from zero (see ImplicitCloth.step); pinned and contact components prescribed
        z = torch.zeros_like(x)
        if bool(self.pinned.any()):
            if pin_targets is None:
                pin_targets = x[self.pinned]
            z[self.pinned] = (pin_targets - x[self.pinned]) / h - v[self.pinned]
        n = torch.where(contact[:, None], normal, 0.0)
        z = torch.where(contact[:, None], (normal_velocity - _dot(v, n))[:, None] * n, z)
        dv, iters = self.pcg(matvec, b, z, pinv, n)
        self.v = v + dv
        self.contact_force = torch.where(contact, _dot(matvec(dv) - b, n) / h, 0.0)
        self.x = x + h * self.v
        if pin_targets is not None:
            self.x[self.pinned] = pin_targets
        if limit_strain:
            self.limit_strain(h)
        self.cg_iterations += iters
        self.steps += 1
        return iters

    def pcg(self, matvec, b: torch.Tensor, z: torch.Tensor, pinv: torch.Tensor, n: torch.Tensor):
        """filtered_pcg with one (alpha, beta, delta) per garment; converged garments freeze.
        n (V, 3): contact normals, zero elsewhere (filter I - n n^T)."""
        st, vg, B, free = self.settings, self.vg, self.B, self.free

        def filt(y: torch.Tensor) -> torch.Tensor:
            y = y * free
            return y - _dot(y, n)[:, None] * n

        seg = lambda a, c: _seg_sum((a * c).sum(1), vg, B)  # noqa: E731
        x = z.clone()
        bf = filt(b)
        target = st.cg_tol**2 * seg(bf, pinv * bf)
        r = filt(b - matvec(x))
        c = filt(pinv * r)
        delta = seg(r, c)
        iters = torch.zeros(B, dtype=torch.int64, device=self.device)
        active = delta > target
        for _ in range(st.cg_max_iter):
            if not bool(active.any()):
                break
            q = filt(matvec(c))
            alpha = torch.where(active, delta / torch.where(active, seg(c, q), 1.0), 0.0)[vg, None]
            x += alpha * c
            r -= alpha * q
            s = pinv * r
            new = seg(r, s)
            beta = torch.where(active, new / torch.where(active, delta, 1.0), 0.0)
            c = torch.where(active[vg, None], filt(s + beta[vg, None] * c), c)
            delta = torch.where(active, new, delta)
            iters += active.long()
            active = active & (delta > target)
        return x, iters

    def limit_strain(self, h: float, weights: torch.Tensor | None = None) -> None:
        """ImplicitCloth.limit_strain (Provot, Jacobi averaged, pinned fixed) on every garment;
        weights (V,): how much each vertex moves (default 1, pinned 0)."""
        st = self.settings
        m = self.kind == 0
        si, sj, L = self.si[m], self.sj[m], self.L[m] * (1 + st.strain_limit)
        w = self.free[:, 0] if weights is None else torch.where(self.pinned, 0.0, weights.to(self.dtype))
        x0 = self.x.clone()
        V = len(self.x)
        for _ in range(st.strain_iterations):
            d = self.x[sj] - self.x[si]
            length = d.norm(dim=1)
            over = length > L
            if not bool(over.any()):
                break
            wa, wb = w[si] * over, w[sj] * over
            tot = (wa + wb).clamp_min(1e-12)
            corr = torch.where(over, (length - L) / length / tot, 0.0)[:, None] * d
            delta = torch.zeros_like(self.x).index_add_(0, si, wa[:, None] * corr).index_add_(0, sj, -wb[:, None] * corr)
            cnt = torch.zeros(V, dtype=self.dtype, device=self.device)
            cnt.index_add_(0, si, (wa > 0).to(self.dtype)).index_add_(0, sj, (wb > 0).to(self.dtype))
            self.x = self.x + delta / cnt.clamp_min(1.0)[:, None]
        self.v = self.v + (self.x - x0) / h

    def blow_up(self) -> list[str | None]:
        """Per garment: ImplicitCloth.blow_up's reason when its state is not finite or has exploded, else None."""
        st = self.settings
        finite = _seg_sum((~torch.isfinite(torch.cat([self.x, self.v], 1)).all(1)).to(self.dtype), self.vg, self.B)
        speed2 = torch.zeros(self.B, dtype=self.dtype, device=self.device).scatter_reduce(
            0, self.vg, (self.v * self.v).sum(1), "amax")  # fmt: skip
        _, length = self.spring_state(self.x)
        ratio = torch.where(self.kind == 0, length / self.L, 1.0)
        stretch = torch.ones(self.B, dtype=self.dtype, device=self.device).scatter_reduce(0, self.sg, ratio, "amax")
        out: list[str | None] = []
        for nf, sp, sr in zip(finite.tolist(), speed2.sqrt().tolist(), stretch.tolist()):
            if nf > 0 or not np.isfinite(sp):
                out.append("positions or velocities became NaN/inf")
            elif sp > st.max_speed:
                out.append(f"a vertex moves at {sp:.1f} m/s (limit {st.max_speed})")
            elif sr > st.max_stretch:
                out.append(f"an edge is stretched {sr:.1f}x its rest length (limit {st.max_stretch})")
            else:
                out.append(None)
        return out


# ---------------------------------------------------------------- collision (torch port)


def vertex_normals_t(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(..., Vb, 3) area-weighted unit vertex normals of one or more bodies sharing `faces`."""
    a, b, c = verts[..., faces[:, 0], :], verts[..., faces[:, 1], :], verts[..., faces[:, 2], :]
    n = torch.linalg.cross(b - a, c - a)
    out = torch.zeros_like(verts)
    for k in range(3):
        out.index_add_(-2, faces[:, k], n)
    return out / (out.norm(dim=-1, keepdim=True) + 1e-12)


def closest_on_triangles_t(p, a, b, c):
    """collision._closest_points' point-triangle step in torch: (closest point, barycentric)."""
    ab, ac = b - a, c - a
    n = torch.linalg.cross(ab, ac)
    nn = (n * n).sum(-1) + 1e-30
    ap = p - a
    w2 = (torch.linalg.cross(ab, ap) * n).sum(-1) / nn
    w1 = (torch.linalg.cross(ap, ac) * n).sum(-1) / nn
    w0 = 1.0 - w1 - w2
    bary = torch.stack([w0, w1, w2], -1)
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    best_d = torch.where(inside, 0.0, torch.inf)
    best_bary = torch.where(inside[..., None], bary, 0.0)
    corners = (a, b, c)
    for e0, e1 in ((0, 1), (1, 2), (2, 0)):
        s, t = corners[e0], corners[e1]
        st = t - s
        u = (((p - s) * st).sum(-1) / ((st * st).sum(-1) + 1e-30)).clamp(0, 1)
        q = s + u[..., None] * st
        d = ((p - q) ** 2).sum(-1)
        better = ~inside & (d < best_d)
        eb = torch.zeros_like(bary)
        eb[..., e0], eb[..., e1] = 1 - u, u
        best_d = torch.where(better, d, best_d)
        best_bary = torch.where(better[..., None], eb, best_bary)
    point = best_bary[..., :1] * a + best_bary[..., 1:2] * b + best_bary[..., 2:] * c
    return point, best_bary


@dataclass
class ProximityT:
    """collision.Proximity in torch (no nearest vertex)."""

    signed: torch.Tensor  # (N,)
    normal: torch.Tensor  # (N, 3)
    point: torch.Tensor  # (N, 3)
    face: torch.Tensor  # (N,) into the full body faces
    bary: torch.Tensor  # (N, 3)


@dataclass
class Segment:
    """The cloth points [start, stop) and the body vertices they may be nearest to: cols (C,), and
    (per point group) allow (Gs, C) bool with group (stop - start,) local group index, or None = all."""

    start: int
    stop: int
    cols: torch.Tensor
    allow: torch.Tensor | None = None
    group: torch.Tensor | None = None


class TorchCollider:
    """MeshCollider / PartCollider for cloth points against one of several bodies (same topology, e.g.
    SMPL). Each point may be restricted to some body vertices (its segment's) and to some faces
    (face_allow[point_group]): with them it finds exactly what the numpy colliders on the sub-meshes find."""

    def __init__(self, faces: np.ndarray, num_verts: int, device, dtype, chunk: int = 2048,
                 point_body: torch.Tensor | None = None, segments: list[Segment] | None = None,
                 face_allow: torch.Tensor | None = None, point_group: torch.Tensor | None = None):  # fmt: skip
        self.faces = torch.as_tensor(np.asarray(faces, np.int64), device=device)
        self.vf = torch.as_tensor(vertex_face_table(np.asarray(faces, np.int64), num_verts), device=device)
        self.chunk, self.device = chunk, torch.device(device)
        self.point_body, self.segments = point_body, segments
        self.face_allow, self.point_group = face_allow, point_group

    def nearest(self, x: torch.Tensor, bodies: torch.Tensor, point_body: torch.Tensor) -> torch.Tensor:
        """Index of the nearest allowed body vertex for each point of x (N, 3) (chunked cdist)."""
        segs = self.segments or [Segment(0, len(x), torch.arange(bodies.shape[1], device=x.device))]
        out = torch.empty(len(x), dtype=torch.int64, device=x.device)
        for sg in segs:
            b = int(point_body[sg.start]) if sg.stop > sg.start else 0
            verts = bodies[b][sg.cols]
            for s in range(sg.start, sg.stop, self.chunk):
                e = min(s + self.chunk, sg.stop)
                d = torch.cdist(x[s:e], verts)
                if sg.allow is not None:
                    d = torch.where(sg.allow[sg.group[s - sg.start : e - sg.start]], d, torch.inf)
                out[s:e] = sg.cols[d.argmin(1)]
        return out

    def query(self, x: torch.Tensor, bodies: torch.Tensor, normals: torch.Tensor | None = None) -> ProximityT:
        """Closest allowed point of x (N, 3) on its body among bodies (NB, Vb, 3)."""
        if normals is None:
            normals = vertex_normals_t(bodies, self.faces)
        pb = self.point_body if self.point_body is not None else torch.zeros(len(x), dtype=torch.int64,
                                                                              device=x.device)  # fmt: skip
        cand = self.vf[self.nearest(x, bodies, pb)]  # (N, K)
        tri = self.faces[cand]  # (N, K, 3)
        pbk = pb[:, None]
        p = x[:, None, :]
        q, bary = closest_on_triangles_t(p, bodies[pbk, tri[..., 0]], bodies[pbk, tri[..., 1]], bodies[pbk, tri[..., 2]])
        d2 = ((p - q) ** 2).sum(-1)
        if self.face_allow is not None:
            d2 = torch.where(self.face_allow[self.point_group[:, None], cand], d2, torch.inf)
        k = d2.argmin(1)
        r = torch.arange(len(x), device=x.device)
        face, bary, point = cand[r, k], bary[r, k], q[r, k]
        n = (bary[..., None] * normals[pbk, self.faces[face]]).sum(1)
        n = n / (n.norm(dim=1, keepdim=True) + 1e-12)
        sign = torch.where(_dot(x - point, n) < 0, -1.0, 1.0)
        return ProximityT(sign * d2[r, k].sqrt(), n, point, face, bary)


def surface_at_t(bodies: torch.Tensor, normals: torch.Tensor, faces: torch.Tensor, face: torch.Tensor,
                 bary: torch.Tensor, point_body: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """collision.surface_at in torch, each point on its own body."""
    tri = faces[face]
    pb = point_body[:, None]
    point = (bary[..., None] * bodies[pb, tri]).sum(1)
    n = (bary[..., None] * normals[pb, tri]).sum(1)
    return point, n / (n.norm(dim=1, keepdim=True) + 1e-12)


def respond_t(x, v, mask, point, normal, body_vel, thickness, friction):
    """collision.respond in torch for the points where mask (N,) is set; returns new (x, v)."""
    s = _dot(x - point, normal)
    hit = (mask & (s < thickness))[:, None]
    x = torch.where(hit, x + (thickness - s)[:, None] * normal, x)
    vr = v - body_vel
    vn = _dot(vr, normal)
    dvn = (-vn).clamp_min(0.0)
    vt = vr - vn[:, None] * normal
    scale = (1.0 - friction * dvn / (vt.norm(dim=1) + 1e-12)).clamp_min(0.0)
    return x, torch.where(hit, body_vel + vt * scale[:, None] + vn.clamp_min(0.0)[:, None] * normal, v)


def substep_t(cloth: BatchedImplicitCloth, dynamics: TorchCollider, start: torch.Tensor, end: torch.Tensor,
              h: float, pin_targets: torch.Tensor | None, thickness: torch.Tensor, friction: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """simulate.substep for the batch (bodies (NB, Vb, 3) moving from start to end), dense over the
    vertices. Returns the number of contacts per garment."""
    faces, pb = dynamics.faces, dynamics.point_body
    if pb is None:
        pb = torch.zeros(len(cloth.x), dtype=torch.int64, device=cloth.device)
    free = ~cloth.pinned
    body_disp = (end - start).norm(dim=-1)
    prox = dynamics.query(cloth.x, start)
    disp = (prox.bary * body_disp[pb[:, None], faces[prox.face]]).sum(1)
    reach = thickness + CONTACT_MARGIN + disp + h * cloth.v.norm(dim=1)
    tracked = free & (prox.signed < reach)
    point, normal = surface_at_t(end, vertex_normals_t(end, faces), faces, prox.face, prox.bary, pb)
    body_vel = (point - prox.point) / h
    gap = _dot(cloth.x - point, normal)
    need = (thickness - gap) / h
    coming = _dot(cloth.v + h * cloth.gravity, normal)
    act = tracked & ((coming < need) | ((gap < CONTACT_PROXIMITY * thickness) & (cloth.contact_force >= 0)))
    cloth.step_dense(h, pin_targets, False, act, normal, need)
    # the catch-up part of the prescribed speed is a position fix, not momentum: leave the body's speed
    rel = cloth.v - body_vel
    tang = rel - _dot(rel, normal)[:, None] * normal
    push = (need - coming).clamp_min(0.0)
    scale = (1.0 - friction * push / (tang.norm(dim=1) + 1e-12)).clamp_min(0.0)
    cloth.v = torch.where(act[:, None], body_vel + tang * scale[:, None], cloth.v)
    one = torch.ones((), dtype=cloth.dtype, device=cloth.device)
    cloth.limit_strain(h, torch.where(act, CONTACT_WEIGHT * one, one))
    cloth.x, cloth.v = respond_t(cloth.x, cloth.v, tracked & ~act, point, normal, body_vel, thickness, friction)
    return _seg_sum(act.long(), cloth.vg, cloth.B)


def embed_t(emb_face: torch.Tensor, coords: torch.Tensor, bodies: torch.Tensor, faces: torch.Tensor,
            point_body: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Embedding.evaluate in torch for points on several bodies."""
    tri = bodies[point_body[:, None], faces[emb_face]]  # (N, 3, 3)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    n = torch.linalg.cross(e1, e2)
    n = n / (n.norm(dim=1, keepdim=True) + 1e-12)
    return tri[:, 0] + coords[:, :1] * e1 + coords[:, 1:2] * e2 + coords[:, 2:] * n


# ---------------------------------------------------------------- sequences


@dataclass
class _GarmentSetup:
    """What simulate_garments builds for one garment on its body (numpy, full-body indices)."""

    thickness: np.ndarray
    emb_face: np.ndarray
    emb_coords: np.ndarray
    faces_in_reach: np.ndarray  # (F,) bool: the body sub-mesh it collides with
    used: np.ndarray  # (U,) body vertices of that sub-mesh
    part_groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (points, face mask (F,), allowed (U,) bool)


def _garment_setup(g: Garment, rest_body: np.ndarray, faces: np.ndarray, thickness: np.ndarray,
                   labels: np.ndarray | None, parents: np.ndarray | None) -> _GarmentSetup:  # fmt: skip
    """simulate_garments' collision reach, embedding and PartCollider groups for one garment."""
    reach = body_reach(g.verts, rest_body, faces, labels, parents)
    fidx = reach.face_index
    groups = []
    if labels is not None:
        for pts, gf, gu in reach.dynamics.groups:
            fmask = np.zeros(len(faces), bool)
            fmask[fidx[gf]] = True
            allow = np.zeros(len(reach.used), bool)
            allow[gu] = True
            groups.append((pts, fmask, allow))
    in_reach = np.zeros(len(faces), bool)
    in_reach[fidx] = True
    return _GarmentSetup(thickness, fidx[reach.embedding.face], reach.embedding.coords, in_reach, reach.used, groups)


def _colliders(setups: list[_GarmentSetup], offsets: np.ndarray, faces: np.ndarray, num_verts: int,
               point_body: torch.Tensor, device, dtype) -> tuple[TorchCollider, TorchCollider]:  # fmt: skip
    """(dynamics, measure): the part-restricted collider of the substeps (PartCollider when there are
    groups) and the whole-reach one penetration is measured with (simulate_garments' MeshCollider)."""
    tens = lambda a, dt=torch.bool: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
    V = int(offsets[-1])
    whole_segs, part_segs, part_faces = [], [], []
    whole_group, part_group = np.zeros(V, np.int64), np.zeros(V, np.int64)
    for i, s in enumerate(setups):
        a, b = int(offsets[i]), int(offsets[i + 1])
        cols = tens(s.used, torch.int64)
        whole_segs.append(Segment(a, b, cols))
        whole_group[a:b] = i
        if not s.part_groups:
            part_segs.append(Segment(a, b, cols))
            part_group[a:b] = len(part_faces)
            part_faces.append(s.faces_in_reach)
            continue
        local = np.zeros(b - a, np.int64)
        for k, (pts, fmask, _) in enumerate(s.part_groups):
            local[pts] = k
            part_group[a + pts] = len(part_faces) + k
        part_faces += [fm for _, fm, _ in s.part_groups]
        part_segs.append(Segment(a, b, cols, tens(np.stack([al for _, _, al in s.part_groups])), tens(local, torch.int64)))
    whole_faces = np.stack([s.faces_in_reach for s in setups])
    common = (faces, num_verts, device, dtype)
    measure = TorchCollider(*common, point_body=point_body, segments=whole_segs, face_allow=tens(whole_faces),
                            point_group=tens(whole_group, torch.int64))  # fmt: skip
    dynamics = TorchCollider(*common, point_body=point_body, segments=part_segs, face_allow=tens(np.stack(part_faces)),
                             point_group=tens(part_group, torch.int64))  # fmt: skip
    return dynamics, measure


def simulate_garments_batched(garments: list[Garment], materials: list[Material], rest_body: np.ndarray,
                              body_frames: np.ndarray, body_faces: np.ndarray, fps: float, substeps: int = 4,
                              settings: SolverSettings | None = None, name: str = "sequence",
                              progress: bool = False, body_labels: np.ndarray | None = None,
                              body_parents: np.ndarray | None = None, body_index: np.ndarray | None = None,
                              device: str | None = None, dtype: torch.dtype = torch.float32) -> SimResult:  # fmt: skip
    """simulate_garments for a batch: each garment is its own system (no garment-garment forces;
    an outer garment keeps the inner one's ease + thickness off its body, as in simulate_garments).

    rest_body (Vb, 3) and body_frames (T, Vb, 3) for one body, or (NB, Vb, 3) and (NB, T, Vb, 3) with
    body_index (G,) naming each garment's body, so garments of many sequences run together.
    device: "cuda" when available unless given. Returns SimResult (verts (T, sum V, 3), per-garment stats).
    """
    from tqdm import tqdm

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rest_body = np.asarray(rest_body, np.float64)
    body_frames = np.asarray(body_frames, np.float64)
    if rest_body.ndim == 2:
        rest_body, body_frames = rest_body[None], body_frames[None]
    G, NB, T = len(garments), len(rest_body), body_frames.shape[1]
    bidx = np.zeros(G, np.int64) if body_index is None else np.asarray(body_index, np.int64)
    faces = np.asarray(body_faces, np.int64)
    labels = None if body_labels is None else np.asarray(body_labels)
    parents = None if body_parents is None else np.asarray(body_parents)
    cloth = BatchedImplicitCloth([g.verts for g in garments], [g.faces for g in garments], materials,
                                 [g.pinned for g in garments], settings, device, dtype)  # fmt: skip
    sizes = [len(g.verts) for g in garments]
    setups: list[_GarmentSetup | None] = [None] * G
    for b in range(NB):  # layering (an outer garment over an inner one) is per body
        mine = np.nonzero(bidx == b)[0]
        if not len(mine):
            continue
        th = _layer_thickness([garments[i] for i in mine], [materials[i] for i in mine], rest_body[b])
        for i, o in zip(mine, np.cumsum([0] + [sizes[i] for i in mine])):
            setups[i] = _garment_setup(garments[i], rest_body[b], faces, th[o : o + sizes[i]], labels, parents)
    tens = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
    point_body = tens(np.repeat(bidx, sizes), torch.int64)
    dynamics, measure = _colliders(setups, cloth.offsets, faces, rest_body.shape[1], point_body, device, dtype)
    frames_t = tens(body_frames)  # (NB, T, Vb, 3)
    emb_face = tens(np.concatenate([s.emb_face for s in setups]), torch.int64)
    emb_coords = tens(np.concatenate([s.emb_coords for s in setups]))
    pinned = cloth.pinned
    pin_face, pin_coords, pin_body = emb_face[pinned], emb_coords[pinned], point_body[pinned]
    thickness = tens(np.concatenate([s.thickness for s in setups]))
    friction = tens(np.repeat([m.friction for m in materials], sizes))
    bf = dynamics.faces
    cloth.x = embed_t(emb_face, emb_coords, frames_t[:, 0], bf, point_body)

    out = np.empty((T, len(cloth.x), 3), np.float32)
    out[0] = cloth.x.cpu().numpy()
    pen = np.zeros((T, len(cloth.x)))
    energy = []
    h = 1.0 / (fps * substeps)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    elapsed = 0.0  # the simulation alone: the substeps and the blow-up check, not the statistics

    def penetration(x: torch.Tensor, f: int) -> np.ndarray:
        return (-measure.query(x, frames_t[:, f]).signed).clamp_min(0.0).cpu().numpy()

    for f in tqdm(range(1, T), desc=f"cloth {name} (batched)", disable=not progress, unit="frame"):
        sync()
        t0 = time.perf_counter()
        if not torch.isfinite(frames_t[:, f]).all():
            _diverged(name, f, T, "the body mesh has NaN/inf vertices (bad pose or translation)")
        prev = frames_t[:, f - 1]
        for s in range(substeps):
            a = (s + 1) / substeps
            cur = (1 - a) * frames_t[:, f - 1] + a * frames_t[:, f]
            substep_t(cloth, dynamics, prev, cur, h, embed_t(pin_face, pin_coords, cur, bf, pin_body), thickness,
                      friction)  # fmt: skip
            prev = cur
        for g, reason in enumerate(cloth.blow_up()):
            if reason:
                _diverged(f"{name}[{g}:{garments[g].garment_type}]", f, T, reason)
        sync()
        elapsed += time.perf_counter() - t0
        out[f] = cloth.x.cpu().numpy()
        pen[f] = penetration(cloth.x, f)
        energy.append(cloth.energy().cpu().numpy())
    pen[0] = penetration(torch.as_tensor(out[0], dtype=dtype, device=device), 0)
    return SimResult(out, _stats(cloth, out, pen, energy, substeps, T, elapsed), elapsed / max(T - 1, 1))


def _stats(cloth: BatchedImplicitCloth, out: np.ndarray, pen: np.ndarray, energy: list, substeps: int, T: int,
           elapsed: float) -> list[dict[str, Any]]:  # fmt: skip
    """The per-garment stats simulate_garments writes into each cache (simulate.garment_stats)."""
    si, sj, L = (t.cpu().numpy() for t in (cloth.si, cloth.sj, cloth.L))
    stretch_k = cloth.kind.cpu().numpy() == 0
    sg = cloth.sg.cpu().numpy()
    length = np.linalg.norm(out[:, sj].astype(np.float64) - out[:, si], axis=2)
    e = np.abs(length / L - 1.0)
    iters = cloth.cg_iterations.cpu().numpy()
    stats = []
    for g in range(cloth.B):
        m = e[:, stretch_k & (sg == g)]
        final = energy[-1][g, 3] if energy else 0.0
        kinetic = max((en[g, 0] for en in energy), default=0.0)
        stats.append(garment_stats(pen[:, cloth.offsets[g] : cloth.offsets[g + 1]], m.mean(1), m.max(1), cloth.steps,
                                   substeps, iters[g], final, kinetic, elapsed / max(T - 1, 1)))  # fmt: skip
    return stats
