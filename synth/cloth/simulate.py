"""Drive the implicit solver over a MoshedSequence: an outfit is simulated as one system against
the moving body (linearly interpolated within the frame; history-based contacts every substep, see
`substep`), attachments follow the body, divergence raises a SynthError naming sequence and frame.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numba import njit
from scipy.spatial import cKDTree
from tqdm import tqdm

from synth.cloth.cache import GarmentCache
from synth.cloth.collision import (
    Embedding,
    MeshCollider,
    PartCollider,
    RigidAttachment,
    Tracked,
    _dot,
    body_motion,
    contiguous_f64,
    pinch,
    respond,
    stick,
    track,
)
from synth.cloth.garments import LOWER, Garment, build_garment, draw_fit, dressed_body
from synth.cloth.materials import Material, get_material
from synth.cloth.solver import Contacts, ImplicitCloth, SolverSettings
from synth.errors import SynthError

LAYER_GAP = 0.004  # m kept between an outer garment and the inner garment beneath it
CONTACT_MARGIN = 0.01  # m: vertices this far beyond thickness + the body's motion in a substep are tracked
CONTACT_WEIGHT = 0.1  # how far strain limiting moves a vertex in contact, relative to a free one
MAX_PUSH = 1.0  # m/s: a contact brings a vertex out at most this much faster than the body moves there
CONTACT_PROXIMITY = 2.0  # a vertex nearer than this x its thickness to its body point is held there
FAR_DEPTH = 0.01  # m: how much deeper inside a part not around its home part a point may read than a substep
# before (or than its surface) and still be in contact with it
COLLISION_REACH = 0.15  # m: body vertices farther than this from every garment at rest are not collided with
ARM_PARTS = (18, 19, 20, 21, 22, 23)  # SMPL forearms (elbow joints), wrists and hands
SWUNG_THROUGH = ("skirt", "dress")  # garments the forearms and hands swing through (open below the hips)


@dataclass
class SimResult:
    verts: np.ndarray  # (T, V, 3) all garments concatenated
    stats: list[dict[str, Any]]  # per garment
    seconds_per_frame: float  # the substeps and blow-up checks alone, not the statistics


def body_vertices(body, seq, chunk: int = 64) -> np.ndarray:
    """(T, Vb, 3) float64 posed body vertices of the sequence."""
    return body.evaluate(seq.betas, seq.poses, seq.trans, chunk)[0]


def _layer_thickness(garments: list[Garment], materials: list[Material], rest_body: np.ndarray) -> np.ndarray:
    """Per garment vertex collision distance: the material thickness, plus (for an outer garment
    over body regions an inner garment covers) the inner garment's ease and thickness."""
    th = [np.full(len(g.verts), m.thickness) for g, m in zip(garments, materials)]
    inner = [(g, m) for g, m in zip(garments, materials) if g.layer == 0]
    if not inner:
        return np.concatenate(th)
    tree = cKDTree(rest_body)
    for k, g in enumerate(garments):
        if g.layer == 0:
            continue
        extra = np.zeros(len(g.verts))
        for gi, mi in inner:
            # body points under the inner garment: within its ease (+ margin) of its surface
            d_body = cKDTree(gi.verts).query(rest_body, distance_upper_bound=gi.ease + 0.015)[0]
            covered = np.isfinite(d_body)
            near = tree.query(g.verts)[1]
            extra = np.maximum(extra, covered[near] * (gi.ease + mi.thickness + LAYER_GAP))
        th[k] = th[k] + extra
    return np.concatenate(th)


@dataclass
class BodyReach:
    """The body sub-mesh that garment points collide with, and their embedding on it."""

    face_index: np.ndarray  # (F,) body faces in reach
    used: np.ndarray  # (U,) body vertices of those faces
    faces: np.ndarray  # (F, 3) the faces, indexing `used`
    collider: MeshCollider  # the whole sub-mesh (penetration is measured against it)
    dynamics: MeshCollider | PartCollider  # what the substeps collide with
    embedding: Embedding  # the points on the sub-mesh at rest (the drape onto frame 0)
    arm_faces: np.ndarray  # (F,) bool: faces on the forearms and hands (ARM_PARTS), which only skirts and
    # dresses collide with (a hand pressing shorts into the thigh, SMPL's skins meeting, stretched them past 4x)


def body_reach(
    points: np.ndarray,
    rest_body: np.ndarray,
    body_faces: np.ndarray,
    body_labels: np.ndarray | None = None,
    body_parents: np.ndarray | None = None,
    swung_through: np.ndarray | None = None,
) -> BodyReach:
    """Collide only with the body near the garment points at rest (feet and head rarely matter), and,
    where swung_through (N,) bool flags any point (skirts, dresses), with the forearms and hands (ARM_PARTS),
    which are far from them at rest but swing through them; with body_labels (Vb,) and body_parents (24,),
    each point with the parts around its own and, separately, with the others (PartCollider)."""
    body_faces = np.asarray(body_faces, np.int64)
    near = np.isfinite(cKDTree(points).query(rest_body, distance_upper_bound=COLLISION_REACH)[0])
    if swung_through is not None and body_labels is not None and bool(np.any(swung_through)):
        near |= np.isin(body_labels, ARM_PARTS)
    face_index = np.nonzero(near[body_faces].any(1))[0]
    used = np.unique(body_faces[face_index])
    remap = np.full(len(rest_body), -1)
    remap[used] = np.arange(len(used))
    sub_faces = remap[body_faces[face_index]]
    sub_rest = rest_body[used]
    collider = MeshCollider(sub_faces, len(used))
    embedding = Embedding.build(points, sub_rest, sub_faces, collider.query(points, sub_rest))
    dynamics = collider
    if body_labels is not None:
        labels = np.asarray(body_labels)[used]
        home = labels[cKDTree(sub_rest).query(points)[1]]
        dynamics = PartCollider(sub_faces, labels, np.asarray(body_parents), home)
    arm_faces = np.zeros(len(sub_faces), bool)
    if body_labels is not None:
        arm_faces = np.isin(np.asarray(body_labels)[used][sub_faces], ARM_PARTS).any(1)
    return BodyReach(face_index, used, sub_faces, collider, dynamics, embedding, arm_faces)


@dataclass
class Attachments:
    """Where an outfit's pinned vertices go on the posed body: collar pins (tops, dress) follow the rigid
    motion of their body neighbourhood (`RigidAttachment`: one triangle's frame at the front of the
    neck turned and shrank, stretching collar edges 2.9x), waistbands their body triangle's frame
    (`Embedding`: it keeps to the skin under the band; fitted rigidly over belly and back, the
    trousers' free cloth went 1-2 mm deeper into the body: docs/BENCHMARKS.md#cloth)."""

    collar: np.ndarray  # (P,) bool per pinned vertex: follows `rigid`, else `embedding`
    rigid: RigidAttachment
    embedding: Embedding
    faces: np.ndarray  # the body faces `embedding` refers to

    @classmethod
    def build(cls, garments: list[Garment], rest_body: np.ndarray, faces: np.ndarray, emb: Embedding) -> Attachments:
        """garments as concatenated in `emb` (the embedding of all their vertices on rest_body, faces)."""
        pinned = np.concatenate([g.pinned for g in garments])
        collar = np.concatenate([np.full(len(g.verts), g.garment_type not in LOWER) for g in garments])[pinned]
        points = np.concatenate([g.verts for g in garments])[pinned]
        waist = Embedding(emb.face[pinned][~collar], emb.coords[pinned][~collar])
        return cls(collar, RigidAttachment.build(points[collar], rest_body), waist, faces)

    def evaluate(self, verts: np.ndarray) -> np.ndarray:
        """(P, 3) the pinned vertices' targets on the body posed as verts (Vb, 3)."""
        out = np.empty((len(self.collar), 3))
        if self.collar.any():
            out[self.collar] = self.rigid.evaluate(verts)
        if not self.collar.all():
            out[~self.collar] = self.embedding.evaluate(verts, self.faces)
        return out


def simulate_garments(
    garments: list[Garment],
    materials: list[Material],
    rest_body: np.ndarray,
    body_frames: np.ndarray,
    body_faces: np.ndarray,
    fps: float,
    substeps: int = 4,
    settings: SolverSettings | None = None,
    name: str = "sequence",
    progress: bool = False,
    body_labels: np.ndarray | None = None,
    body_parents: np.ndarray | None = None,
) -> SimResult:
    """Simulate garments (dressed on `rest_body`) over body_frames (T, Vb, 3); frame 0 is the
    garment carried onto the first body frame by its triangle-frame embedding. With body_labels
    (Vb,) and body_parents (24,), each cloth vertex collides only with the parts around its own."""
    sizes = [len(g.verts) for g in garments]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    rest = np.concatenate([g.verts for g in garments])
    faces = np.concatenate([g.faces + o for g, o in zip(garments, offs)])
    owner = np.repeat(np.arange(len(garments)), sizes)
    pinned = np.concatenate([g.pinned for g in garments])
    cloth = ImplicitCloth(rest, faces, materials, owner, pinned, settings)
    swung = np.concatenate([np.full(len(g.verts), g.garment_type in SWUNG_THROUGH) for g in garments])
    reach = body_reach(rest, rest_body, body_faces, body_labels, body_parents, swung)
    sub_faces, used, collider, dynamics, emb = reach.faces, reach.used, reach.collider, reach.dynamics, reach.embedding
    dynamics.to_device(cloth.settings.device)  # the substeps' queries run where the solve runs
    body_frames = body_frames[:, used]
    pins = Attachments.build(garments, rest_body[used], sub_faces, emb)
    thickness = _layer_thickness(garments, materials, rest_body[used])
    friction = np.array([m.friction for m in materials])[owner]
    free = ~pinned
    T = len(body_frames)
    cloth.x = emb.evaluate(body_frames[0], sub_faces)
    cloth.x[pinned] = pins.evaluate(body_frames[0])
    out = np.empty((T, len(rest), 3), np.float32)
    out[0] = cloth.x
    pen = np.zeros((T, len(rest)))
    stretch = np.zeros((T, 2, len(garments)))
    energy = []
    stretch_springs = cloth.springs.kind == 0
    # warm: each frame's search starts from the frame before's answers (the same answers, from fewer cells)
    pen[0] = np.maximum(0.0, -collider.query(out[0].astype(np.float64), body_frames[0], warm=True).signed)
    levels = np.zeros(T, np.int64)  # substep refinements per frame: substeps x 2^level were run
    within = True  # the state is within the refinement limits (the garment as dressed is)
    elapsed = 0.0  # the simulation alone: the substeps and the blow-up check, not the statistics
    for f in tqdm(range(1, T), desc=f"cloth {name}", disable=not progress, unit="frame"):
        t0 = time.perf_counter()
        if not np.isfinite(body_frames[f]).all():
            _diverged(name, f, T, "the body mesh has NaN/inf vertices (bad pose or translation)")
        levels[f], within = advance_frame(
            cloth,
            body_frames[f - 1],
            body_frames[f],
            substeps,
            fps,
            name,
            f,
            T,
            lambda start, end, h: substep(
                cloth, dynamics, pins, sub_faces, start, end, h, thickness, friction, free, (swung, reach.arm_faces)
            ),
            within,
        )
        elapsed += time.perf_counter() - t0
        out[f] = cloth.x
        pen[f] = np.maximum(0.0, -collider.query(cloth.x, body_frames[f], warm=True).signed)
        energy.append(cloth.energy())
    for f in range(T):
        length = cloth.spring_lengths(out[f])
        e = np.abs(length / cloth.springs.rest - 1.0)
        for k in range(len(garments)):
            m = stretch_springs & (owner[cloth.springs.i] == k)
            stretch[f, :, k] = e[m].mean(), e[m].max()
    seconds = elapsed / max(T - 1, 1)
    final, kinetic = (energy[-1]["total"] if energy else 0.0), max((e["kinetic"] for e in energy), default=0.0)
    stats = [
        garment_stats(
            pen[:, owner == k],
            stretch[:, 0, k],
            stretch[:, 1, k],
            cloth.steps,
            substeps,
            cloth.cg_iterations,
            cloth.cg_residual_max,
            final,
            kinetic,
            seconds,
            levels,
        )
        for k in range(len(garments))
    ]
    return SimResult(out, stats, seconds)


def garment_stats(
    pen: np.ndarray,
    stretch_mean: np.ndarray,
    stretch_max: np.ndarray,
    steps: int,
    substeps: int,
    cg_iterations: float,
    cg_residual_max: float,
    energy_final: float,
    kinetic_max: float,
    seconds_per_frame: float,
    levels: np.ndarray,
) -> dict[str, Any]:
    """The stats one garment's cache records: pen
    (T, V) penetration depth in m per frame and vertex, stretch_mean / stretch_max (T,) the mean and
    largest |length / rest - 1| of its stretch springs per frame, energies of its last frame and peak,
    levels (T,) the substep refinements of each frame (`advance_frame`)."""
    p = pen * 1000.0
    return {
        "steps": steps,
        "substeps": substeps,
        "frames": len(pen),
        "cg_iterations_per_step": float(cg_iterations) / max(steps, 1),
        "cg_residual_max": float(cg_residual_max),
        "max_penetration_mm": float(p.max()),
        "p95_penetration_mm": float(np.percentile(p, 95)),
        "penetrating_fraction": float((p > 0).mean()),
        "mean_edge_stretch": float(stretch_mean.mean()),
        "max_edge_stretch": float(stretch_max.max()),
        "energy_final_J": float(energy_final),
        "kinetic_max_J": float(kinetic_max),
        "seconds_per_frame": seconds_per_frame,
        "refined_frames": int((levels > 0).sum()),
        "max_substeps": int(substeps * 2 ** levels.max(initial=0)),
    }


def substep(
    cloth: ImplicitCloth,
    dynamics,
    pins: Attachments,
    faces: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    h: float,
    thickness: np.ndarray,
    friction: np.ndarray,
    free: np.ndarray,
    arms: tuple[np.ndarray, np.ndarray] | None = None,
) -> int:
    """One implicit step against the body moving from `start` to `end`, with history-based contacts.
    arms: ((N,) bool the vertices that collide with the forearms and hands, (F,) bool the faces of those).

    Every free vertex within reach of the body at the start of the substep (where it is outside, or
    was resolved the substep before) keeps that triangle and barycentric point, one on the parts around
    its home part and, with a PartCollider, one on the other parts (`collision.pinch` resolves a vertex
    caught between the two). A vertex that would end closer than `thickness` to the same point of the
    moved body gets its normal velocity prescribed inside the implicit solve (Baraff-Witkin filter), so
    the springs share out the push instead of a later position fix tearing the mesh; a limb moving 10 cm
    in a substep cannot tunnel, since the point's own triangle pushes it, whatever the depth (the body's
    own speed is always followed; catching up a depth already there is bounded at MAX_PUSH, `track`).
    Then Coulomb friction against the body's velocity there, strain limiting (contacts move 10x less)
    and a position fix of the other tracked vertices against their points. Returns the number of
    contacts held in the solve."""
    gravity = np.asarray(cloth.settings.gravity, np.float64)
    x, v = cloth.x, cloth.v

    def tracked(prox, signed, rest: bool) -> Tracked:
        """rest: resting contacts are held too (the home parts'); else only approaching ones act (the
        other parts': held at their distance from a limb swinging past, friction dragged the cloth along)."""
        idx, point, normal, body_vel, need, coming, act = track(
            x, v, motion, end, end_normals, faces, signed, prox.face, prox.bary, prox.point, thickness, free,
            cloth.contact_force, gravity, h, CONTACT_MARGIN, CONTACT_PROXIMITY, MAX_PUSH,
        )  # fmt: skip
        if rest:
            need = hold_resting(need, coming, signed[idx], thickness[idx], h)
        else:
            act = coming < need
        return Tracked(idx, point, normal, body_vel, need, coming, act)

    prox = dynamics.query(x, start, warm=True)
    end_normals = dynamics.pose(end).normals  # the next substep's start: its queries reuse them
    start, end = contiguous_f64(start), contiguous_f64(end)
    motion, moved = body_motion(start, end)
    near = tracked(prox, prox.signed, True)
    if isinstance(dynamics, PartCollider):
        # as far as `track` looks: the thickness, the margin, the body's and the cloth's motion in the substep
        need = _reach(thickness, v, moved, h)
        other = dynamics.others_within(x, start, need, moved)
        # only skirt and dress cloth collides with the forearms and hands
        signed = far_signed(x, other, dynamics.far_last if len(dynamics.far_last) == len(x) else None, arms)
        dynamics.far_last = signed
        far = tracked(other, signed, False)
    else:
        far = Tracked(*(a[:0] for a in near.__dict__.values()))
    res = pinch(near, far, x, v, h, gravity, thickness, MAX_PUSH)
    cloth.step(h, pins.evaluate(end), limit_strain=False, contacts=Contacts(res.idx, res.normal, res.need))
    # the normal velocity change the contact applied drives friction
    stick(cloth.v, res.idx, res.normal, res.body_vel, res.push, friction)
    weights = np.ones(len(cloth.x))
    weights[res.idx] = CONTACT_WEIGHT
    cloth.limit_strain(h, weights)
    fix = res.fix  # the constrained ones were placed by the solve; pushing them again after strain limiting
    respond(cloth.x, cloth.v, fix.idx, fix.point, fix.normal, fix.body_vel, thickness, friction)  # would tear
    return len(res.idx)  # cloth pinched between two body parts


def far_signed(
    x: np.ndarray, prox, last: np.ndarray | None, arms: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """The other parts' signed distances that count as contacts (`PartCollider.query_others`): +inf where the
    closest point is off to the side of its normal (the line from it to the point more than 60 degrees from
    the normal) or lies over FAR_DEPTH deeper inside than the last substep's count (`last`, +inf for none)
    or the surface. Both are how a point beyond the sub-mesh's border (cut where the home part's faces begin,
    on skin continuous with them) reads: in the T-pose, cloth read 30-95 mm inside the neck or the other
    thigh, and pushed out along those normals stretched 1.5-2x in a frame. Cloth pressed into a part
    gradually (a forearm pressing a skirt into the thigh, the two skins meeting) stays tracked at any depth.
    arms (substep's): +inf too where a point not of arms[0] is closest to a face of arms[1]."""
    N = len(x)
    last = np.zeros(N) if last is None else contiguous_f64(last)
    swung, arm_faces = arms if arms is not None else (np.ones(N, bool), np.zeros(1, bool))
    return _far_signed(
        contiguous_f64(x),
        contiguous_f64(prox.point),
        contiguous_f64(prox.normal),
        contiguous_f64(prox.signed),
        prox.face,
        last,
        swung,
        arm_faces,
    )


@njit(cache=True)
def _far_signed(x, point, normal, signed, face, last, swung, arm_faces):
    """far_signed in one pass (`_dot`: the numpy expression's numbers, bit for bit)."""
    out = np.empty(len(x))
    for i in range(len(x)):
        d0, d1, d2 = x[i, 0] - point[i, 0], x[i, 1] - point[i, 1], x[i, 2] - point[i, 2]
        side = _dot(d0, d1, d2, normal[i, 0], normal[i, 1], normal[i, 2])
        floor = (last[i] if not last[i] >= 0.0 else 0.0) - FAR_DEPTH  # np.minimum(0, last): a NaN stays NaN
        ok = abs(side) >= 0.5 * math.sqrt(_dot(d0, d1, d2, d0, d1, d2)) - 1e-9 and signed[i] > floor
        out[i] = signed[i] if ok and (swung[i] or not arm_faces[face[i]]) else math.inf
    return out


@njit(cache=True)
def _reach(thickness, v, moved, h):
    """thickness + CONTACT_MARGIN + moved + h |v| per vertex (as numpy summed it: |v|^2 by `_dot`)."""
    out = np.empty(len(v))
    for i in range(len(v)):
        speed = math.sqrt(_dot(v[i, 0], v[i, 1], v[i, 2], v[i, 0], v[i, 1], v[i, 2]))
        out[i] = ((thickness[i] + CONTACT_MARGIN) + moved) + h * speed
    return out


def hold_resting(need: np.ndarray, coming: np.ndarray, start_gap: np.ndarray, thickness: np.ndarray, h: float):
    """The prescribed normal speeds `need` of a substep's contacts (`collision.track`: ending the step at the
    thickness) with the resting ones (held because they are within CONTACT_PROXIMITY x their thickness, not
    because they are coming closer than it) kept at their start-of-substep distance from the body instead:
    pulled onto the thickness, every near vertex drew its neighbours near, and a loose garment was wrapped
    onto the skin within a few frames, even on a still body without gravity (docs/BENCHMARKS.md#cloth)."""
    return _hold_resting(
        contiguous_f64(need), contiguous_f64(coming), contiguous_f64(start_gap), contiguous_f64(thickness), float(h)
    )


@njit(cache=True)
def _hold_resting(need, coming, start_gap, thickness, h):
    """hold_resting in one pass (np.maximum's NaN and signed-zero rules kept: the numbers of the numpy code)."""
    out = np.empty(len(need))
    for c in range(len(need)):
        gap = start_gap[c] - thickness[c]
        out[c] = need[c] + (gap if gap >= 0.0 or gap != gap else 0.0) / h if coming[c] >= need[c] else need[c]
    return out


def advance_frame(
    cloth: ImplicitCloth,
    start: np.ndarray,
    end: np.ndarray,
    substeps: int,
    fps: float,
    name: str,
    frame: int,
    T: int,
    step,
    started_within: bool = True,
) -> tuple[int, bool]:
    """Advance the cloth by one frame while the body moves from `start` to `end` (linearly within
    the frame), `substeps` calls of step(start, end, h) at first. When the frame ends out of
    bounds (`ImplicitCloth.out_of_bounds`: a free edge or a vertex speed past the refinement limits)
    having started within them, the state is rolled back and the frame re-run with twice the
    substeps, up to settings.max_refinements times: the step shrinks only where the motion needs
    it, so a fast kick does not make the whole sequence pay. Cloth that stays pinched between two
    body parts past those limits (started_within False) is refined only when it blows up. Raises
    SynthError (naming sequence and frame) when the finest run still blows up; returns the
    refinement level used and whether the frame ended within the refinement limits (the next
    frame's started_within)."""
    saved = cloth.save()
    check = cloth.out_of_bounds if started_within else cloth.blow_up
    limit = cloth.settings.max_refinements
    for level in range(limit + 1):
        n = substeps * 2**level
        h = 1.0 / (fps * n)
        prev = start
        for s in range(n):
            a = (s + 1) / n
            cur = (1 - a) * start + a * end
            step(prev, cur, h)
            prev = cur
        if check() is None:
            return level, started_within or cloth.out_of_bounds() is None
        if level < limit:
            cloth.restore(saved)
    reason = cloth.blow_up()
    if reason:
        _diverged(name, frame, T, f"{reason}, also at {n} substeps")
    return level, False  # past the refinement limits, within the blow-up limits: kept


def _diverged(name: str, frame: int, T: int, reason: str) -> None:
    raise SynthError(
        f"cloth simulation diverged on sequence {name!r} at frame {frame} of {T}: {reason}",
        fix="raise the substeps (e.g. --substeps 8), use a softer material, or check the motion for jumps",
    )


_SETTINGS = {f.name for f in fields(SolverSettings)}
# Keyword options of simulate_sequence (the pipeline's cloth.options is checked against these).
OPTION_KEYS = ("ease", "material", "progress", "slack", *sorted(_SETTINGS))


def simulate_sequence(
    seq, body, outfit: list[str], materials: list[str], seed: int, substeps: int = 4, **options: Any
) -> list[GarmentCache]:
    """Dress the sequence's body in `outfit` (cut in `garments.dressing_pose`) and simulate it over every frame
    (lead-in included).

    options: ease and slack (m; float or {garment: float}; defaults per garment, drawn per garment from `seed`
    by `garments.draw_fit`: the ease jittered +-15 %, the slack scaled 0.5-1.5x, a slim to a loose cut),
    material (dict of Material field overrides for every garment), progress (bool), and any
    SolverSettings field (cg_tol, cg_max_iter, max_speed, max_stretch, refine_stretch, refine_speed,
    max_refinements, gravity).
    """
    outfit, materials = list(outfit), list(materials)
    if len(materials) == 1 and len(outfit) > 1:
        materials = materials * len(outfit)
    if len(materials) != len(outfit):
        raise SynthError(f"{len(outfit)} garments but {len(materials)} materials", fix="give one material per garment")
    ease_opt, slack_opt = options.pop("ease", None), options.pop("slack", None)
    mat_over = options.pop("material", {}) or {}
    progress = bool(options.pop("progress", False))
    bad = set(options) - _SETTINGS
    if bad:
        raise SynthError(f"unknown cloth option(s) {sorted(bad)}", fix=f"use some of {', '.join(OPTION_KEYS)}")
    settings = SolverSettings(**options)
    rng = np.random.default_rng(seed)
    rest_body, joints = dressed_body(body, seq)
    mats = [get_material(m, **mat_over) for m in materials]
    garments = []
    for kind in outfit:
        e = ease_opt.get(kind) if isinstance(ease_opt, dict) else ease_opt
        sl = slack_opt.get(kind) if isinstance(slack_opt, dict) else slack_opt
        ease, slack = draw_fit(kind, rng, e, sl)
        garments.append(build_garment(kind, rest_body, body.faces, body.part_labels, joints, ease, slack))
    frames = body_vertices(body, seq)
    res = simulate_garments(
        garments,
        mats,
        rest_body,
        frames,
        body.faces,
        seq.fps,
        substeps,
        settings,
        seq.source or "sequence",
        progress,
        body.part_labels,
        body.parents,
    )
    caches, o = [], 0
    for g, name, m, st in zip(garments, materials, mats, res.stats):
        st.update(seed=int(seed), ease_m=g.ease, slack_m=g.slack, body_model=getattr(body, "identifier", ""))
        caches.append(
            GarmentCache(
                g.garment_type,
                g.faces,
                g.uv,
                g.verts,
                res.verts[:, o : o + len(g.verts)],
                {"preset": name, **m.to_dict()},
                st,
            )
        )
        o += len(g.verts)
    return caches
