"""Many garments advanced at once in torch (GPU when present): the same Baraff-Witkin step as
synth.cloth.solver.ImplicitCloth, for a batch of independent garments (different meshes, materials
and bodies) stored as one concatenated vertex array.

The system matrix is never assembled: A @ p is computed from the per-spring 3x3 blocks with
index_add_ (matrix-free), and the filtered Jacobi-PCG keeps one set of CG scalars per garment
(segment sums over the garment's vertices), so a garment stops iterating when it converges and the
batch gives the same numbers as separate runs. Collisions port synth.cloth.collision's rule: nearest
allowed body vertex (chunked torch.cdist), exact distance to its incident triangles, Phong normal
sign, then `respond` (push out to the thickness, cancel approach velocity, Coulomb friction).
Topology and coefficients (ImplicitCloth's own construction, vertex-face tables, embeddings) are built
once with the numpy code.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree

from synth.cloth.collision import Embedding, MeshCollider, vertex_face_table
from synth.cloth.garments import Garment
from synth.cloth.materials import Material
from synth.cloth.simulate import COLLISION_REACH, SimResult, _diverged, _layer_thickness
from synth.cloth.solver import ImplicitCloth, SolverSettings


def _seg_sum(values: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, seg, values)


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
        self._dv_prev = torch.zeros_like(self.x)
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

    def step(self, h: float, pin_targets: torch.Tensor | None = None) -> torch.Tensor:
        """Advance every garment by h seconds; pin_targets (P, 3) in pinned-vertex order. Returns the
        CG iterations per garment."""
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

        z = self._dv_prev.clone()
        if bool(self.pinned.any()):
            if pin_targets is None:
                pin_targets = x[self.pinned]
            z[self.pinned] = (pin_targets - x[self.pinned]) / h - v[self.pinned]
        dv, iters = self.pcg(matvec, b, z, pinv)
        self._dv_prev = dv
        self.v = v + dv
        self.x = x + h * self.v
        if pin_targets is not None:
            self.x[self.pinned] = pin_targets
        self.limit_strain(h)
        self.cg_iterations += iters
        self.steps += 1
        return iters

    def pcg(self, matvec, b: torch.Tensor, z: torch.Tensor, pinv: torch.Tensor):
        """filtered_pcg with one (alpha, beta, delta) per garment; converged garments freeze."""
        st, vg, B, free = self.settings, self.vg, self.B, self.free
        seg = lambda a, c: _seg_sum((a * c).sum(1), vg, B)  # noqa: E731
        x = z.clone()
        bf = b * free
        target = st.cg_tol**2 * seg(bf, pinv * bf)
        r = (b - matvec(x)) * free
        c = pinv * r * free
        delta = seg(r, c)
        iters = torch.zeros(B, dtype=torch.int64, device=self.device)
        active = delta > target
        for _ in range(st.cg_max_iter):
            if not bool(active.any()):
                break
            q = matvec(c) * free
            alpha = torch.where(active, delta / torch.where(active, seg(c, q), 1.0), 0.0)[vg, None]
            x += alpha * c
            r -= alpha * q
            s = pinv * r
            new = seg(r, s)
            beta = torch.where(active, new / torch.where(active, delta, 1.0), 0.0)
            c = torch.where(active[vg, None], (s + beta[vg, None] * c) * free, c)
            delta = torch.where(active, new, delta)
            iters += active.long()
            active = active & (delta > target)
        return x, iters

    def limit_strain(self, h: float) -> None:
        """ImplicitCloth.limit_strain (Provot, Jacobi averaged, pinned fixed) on every garment."""
        st = self.settings
        m = self.kind == 0
        si, sj, L = self.si[m], self.sj[m], self.L[m] * (1 + st.strain_limit)
        w = self.free[:, 0]
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
            cnt = torch.zeros(V, dtype=self.dtype, device=self.device).index_add_(0, si, wa).index_add_(0, sj, wb)
            self.x = self.x + delta / cnt.clamp_min(1.0)[:, None]
        self.v = self.v + (self.x - x0) / h

    def blow_up(self) -> list[str | None]:
        """Per garment: a reason when its state is not finite or has exploded, else None."""
        st = self.settings
        finite = _seg_sum((~torch.isfinite(torch.cat([self.x, self.v], 1)).all(1)).to(self.dtype), self.vg, self.B)
        speed2 = torch.zeros(self.B, dtype=self.dtype, device=self.device).scatter_reduce(
            0, self.vg, (self.v * self.v).sum(1), "amax")  # fmt: skip
        _, length = self.spring_state(self.x)
        big = (self.kind == 0) & (length - self.L > 0.03)
        ratio = torch.where(big, length / self.L, 1.0)
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
    """Torch port of collision.closest_on_triangles: (closest point, barycentric)."""
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


class TorchCollider:
    """Proximity of cloth points to one of several bodies (same topology, e.g. SMPL): each point
    looks only at body vertices allowed for it (reach of its garment, parts around its home part)."""

    def __init__(self, faces: np.ndarray, num_verts: int, device, dtype, chunk: int = 2048):
        self.faces = torch.as_tensor(np.asarray(faces, np.int64), device=device)
        self.vf = torch.as_tensor(vertex_face_table(np.asarray(faces, np.int64), num_verts), device=device)
        self.chunk = chunk

    def nearest(self, x: torch.Tensor, verts: torch.Tensor, penalty: torch.Tensor | None = None) -> torch.Tensor:
        """Index of the nearest vertex of `verts` (Vb, 3) for each point of x (N, 3); penalty (N, Vb)
        is added to the distances (inf = not allowed)."""
        out = torch.empty(len(x), dtype=torch.int64, device=x.device)
        for s in range(0, len(x), self.chunk):
            d = torch.cdist(x[s : s + self.chunk], verts)
            if penalty is not None:
                d += penalty[s : s + self.chunk]
            out[s : s + self.chunk] = d.argmin(1)
        return out

    def query(self, x: torch.Tensor, bodies: torch.Tensor, normals: torch.Tensor, point_body: torch.Tensor,
              near: torch.Tensor):  # fmt: skip
        """Signed distance, normal, face and barycentrics of x (N, 3) against bodies (NB, Vb, 3),
        given each point's body and nearest allowed body vertex."""
        cand = self.vf[near]  # (N, K)
        tri = self.faces[cand]  # (N, K, 3)
        pb = point_body[:, None]
        a, b, c = bodies[pb, tri[..., 0]], bodies[pb, tri[..., 1]], bodies[pb, tri[..., 2]]
        p = x[:, None, :]
        q, bary = closest_on_triangles_t(p, a, b, c)
        d2 = ((p - q) ** 2).sum(-1)
        k = d2.argmin(1)
        r = torch.arange(len(x), device=x.device)
        face, bary, point = cand[r, k], bary[r, k], q[r, k]
        n = (bary[..., None] * normals[point_body[:, None], self.faces[face]]).sum(1)
        n = n / (n.norm(dim=1, keepdim=True) + 1e-12)
        sign = torch.where(((x - point) * n).sum(1) < 0, -1.0, 1.0)
        return sign * d2[r, k].sqrt(), n, face, bary


def respond_t(x, v, signed, normal, face, bary, faces, body_vel, point_body, thickness, friction, free,
              max_depth: float = 0.02):  # fmt: skip
    """collision.respond in torch, returning new (x, v)."""
    hit = (signed < thickness) & (signed > -max_depth) & free
    h = hit[:, None]
    x = torch.where(h, x + (thickness - signed)[:, None] * normal, x)
    vb = (bary[..., None] * body_vel[point_body[:, None], faces[face]]).sum(1)
    vr = v - vb
    vn = (vr * normal).sum(1)
    dvn = (-vn).clamp_min(0.0)
    vt = vr - vn[:, None] * normal
    scale = (1.0 - friction * dvn / (vt.norm(dim=1) + 1e-12)).clamp_min(0.0)
    return x, torch.where(h, vb + vt * scale[:, None] + vn.clamp_min(0.0)[:, None] * normal, v)


def embed_t(emb_face: torch.Tensor, coords: torch.Tensor, bodies: torch.Tensor, faces: torch.Tensor,
            point_body: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Embedding.evaluate in torch for points on several bodies."""
    tri = bodies[point_body[:, None], faces[emb_face]]  # (N, 3, 3)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    n = torch.linalg.cross(e1, e2)
    n = n / (n.norm(dim=1, keepdim=True) + 1e-12)
    return tri[:, 0] + coords[:, :1] * e1 + coords[:, 1:2] * e2 + coords[:, 2:] * n


# ---------------------------------------------------------------- sequences


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
    cloth = BatchedImplicitCloth([g.verts for g in garments], [g.faces for g in garments], materials,
                                 [g.pinned for g in garments], settings, device, dtype)  # fmt: skip
    sizes = [len(g.verts) for g in garments]
    point_body_np = np.repeat(bidx, sizes)
    # per-vertex collision distance (layering per body), reach masks, home parts, embeddings
    thickness = np.zeros(cloth.offsets[-1])
    reach = np.zeros((G, rest_body.shape[1]), bool)
    home = np.zeros(cloth.offsets[-1], np.int64)
    emb_face, emb_coords = np.zeros(cloth.offsets[-1], np.int64), np.zeros((cloth.offsets[-1], 3))
    full = MeshCollider(faces, rest_body.shape[1])
    for b in range(NB):
        mine = np.nonzero(bidx == b)[0]
        if not len(mine):
            continue
        th = _layer_thickness([garments[i] for i in mine], [materials[i] for i in mine], rest_body[b])
        o = 0
        for i in mine:
            g, sl = garments[i], slice(cloth.offsets[i], cloth.offsets[i + 1])
            thickness[sl] = th[o : o + len(g.verts)]
            o += len(g.verts)
            reach[i] = np.isfinite(cKDTree(g.verts).query(rest_body[b], distance_upper_bound=COLLISION_REACH)[0])
            emb = Embedding.build(g.verts, rest_body[b], faces, full.query(g.verts, rest_body[b]))
            emb_face[sl], emb_coords[sl] = emb.face, emb.coords
            if body_labels is not None:
                home[sl] = np.asarray(body_labels)[cKDTree(rest_body[b]).query(g.verts)[1]]
    tens = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
    point_body = tens(point_body_np, torch.int64)
    # per garment: the body vertices in reach, and (with part labels) an inf penalty on those outside
    # the parts around each cloth vertex's home part (PartCollider's rule)
    cols, penalty = [], []
    ok = None
    if body_labels is not None:
        par = np.asarray(body_parents)
        ok = np.eye(len(par), dtype=bool)
        for p in range(len(par)):
            if par[p] >= 0:
                ok[p, par[p]] = ok[par[p], p] = True
    for i in range(G):
        c = np.nonzero(reach[i])[0]
        cols.append(tens(c, torch.int64))
        if ok is not None:
            allowed = ok[home[cloth.offsets[i] : cloth.offsets[i + 1]]][:, np.asarray(body_labels)[c]]
            penalty.append(tens(np.where(allowed, 0.0, np.inf)))
        else:
            penalty.append(None)

    collider = TorchCollider(faces, rest_body.shape[1], device, dtype)
    frames_t = tens(body_frames)  # (NB, T, Vb, 3)
    pinned = cloth.pinned
    pin_face, pin_coords, pin_body = tens(emb_face, torch.int64)[pinned], tens(emb_coords)[pinned], point_body[pinned]
    thick_t, free = tens(thickness), ~pinned
    friction = tens(np.repeat([m.friction for m in materials], sizes))
    cloth.x = embed_t(tens(emb_face, torch.int64), tens(emb_coords), frames_t[:, 0], collider.faces, point_body)

    def nearest_on(cur: torch.Tensor, parts: bool) -> torch.Tensor:
        near = torch.empty(len(cloth.x), dtype=torch.int64, device=device)
        for i in range(G):
            sl = slice(int(cloth.offsets[i]), int(cloth.offsets[i + 1]))
            k = collider.nearest(cloth.x[sl], cur[int(bidx[i])][cols[i]], penalty[i] if parts else None)
            near[sl] = cols[i][k]
        return near

    out = np.empty((T, len(cloth.x), 3), np.float32)
    out[0] = cloth.x.cpu().numpy()
    pen = np.zeros((T, len(cloth.x)))
    energy = []
    h = 1.0 / (fps * substeps)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()

    def penetration(f: int) -> np.ndarray:
        cur = frames_t[:, f]
        nrm = vertex_normals_t(cur, collider.faces)
        sd = collider.query(cloth.x, cur, nrm, point_body, nearest_on(cur, False))[0]
        return (-sd).clamp_min(0.0).cpu().numpy()

    for f in tqdm(range(1, T), desc=f"cloth {name} (batched)", disable=not progress, unit="frame"):
        if not torch.isfinite(frames_t[:, f]).all():
            _diverged(name, f, T, "the body mesh has NaN/inf vertices (bad pose or translation)")
        prev = frames_t[:, f - 1]
        for s in range(substeps):
            a = (s + 1) / substeps
            cur = (1 - a) * frames_t[:, f - 1] + a * frames_t[:, f]
            cloth.step(h, embed_t(pin_face, pin_coords, cur, collider.faces, pin_body))
            nrm = vertex_normals_t(cur, collider.faces)
            sd, n, face, bary = collider.query(cloth.x, cur, nrm, point_body, nearest_on(cur, True))
            cloth.x, cloth.v = respond_t(cloth.x, cloth.v, sd, n, face, bary, collider.faces, (cur - prev) / h,
                                         point_body, thick_t, friction, free)  # fmt: skip
            prev = cur
        for g, reason in enumerate(cloth.blow_up()):
            if reason:
                _diverged(f"{name}[{g}:{garments[g].garment_type}]", f, T, reason)
        out[f] = cloth.x.cpu().numpy()
        pen[f] = penetration(f)
        energy.append(cloth.energy().cpu().numpy())
    sync()
    elapsed = time.perf_counter() - t0
    cloth.x = torch.as_tensor(out[0], dtype=dtype, device=device)
    pen[0] = penetration(0)
    return SimResult(out, _stats(cloth, out, pen, energy, substeps, T, elapsed), elapsed / max(T - 1, 1))


def _stats(cloth: BatchedImplicitCloth, out: np.ndarray, pen: np.ndarray, energy: list, substeps: int, T: int,
           elapsed: float) -> list[dict[str, Any]]:  # fmt: skip
    """The per-garment stats simulate_garments writes into each cache."""
    si, sj, L = (t.cpu().numpy() for t in (cloth.si, cloth.sj, cloth.L))
    stretch_k = cloth.kind.cpu().numpy() == 0
    sg = cloth.sg.cpu().numpy()
    length = np.linalg.norm(out[:, sj] - out[:, si], axis=2)
    e = np.abs(length / L - 1.0)
    iters = cloth.cg_iterations.cpu().numpy()
    stats = []
    for g in range(cloth.B):
        sl = slice(cloth.offsets[g], cloth.offsets[g + 1])
        p = pen[:, sl] * 1000.0
        m = stretch_k & (sg == g)
        stats.append({
            "steps": cloth.steps, "substeps": substeps, "frames": T,
            "cg_iterations_per_step": float(iters[g]) / max(cloth.steps, 1),
            "max_penetration_mm": float(p.max()), "p95_penetration_mm": float(np.percentile(p, 95)),
            "penetrating_fraction": float((p > 0).mean()),
            "mean_edge_stretch": float(e[:, m].mean()), "max_edge_stretch": float(e[:, m].max()),
            "energy_final_J": float(energy[-1][g, 3]) if energy else 0.0,
            "kinetic_max_J": float(max((en[g, 0] for en in energy), default=0.0)),
            "seconds_per_frame": elapsed / max(T - 1, 1),
        })  # fmt: skip
    return stats
