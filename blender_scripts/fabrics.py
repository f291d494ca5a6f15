"""Garment materials: image fabrics (random scale/rotation/tint over the cache's UVs) and
procedural fabrics (plain, stripes, plaid, knit, denim, prints) with colours from the SceneSpec,
all finished as cloth (_finish_cloth): tinted sheen (the fuzz of fibres at grazing angles), darker
folds, a wrinkle bump, a thread-scale weave bump where pixels are small enough to resolve it, and
a darker hem band with a stitched edge along the garment's open borders (the `hem` vertex
attribute from the job). Pattern detail whose period spans under two pixels (denim's fleck and twill,
a plain weave's noise, a knit's rows) fades to its mean (`_resolved`): kept, it rendered as speckle
that the denoiser keeps (it follows the albedo pass) and that hid the folds' shading."""

from __future__ import annotations

import bpy
from common import JobError, linear_rgba
from images import load_image


class Nodes:
    """Tiny builder over a node tree: add(type, **inputs/attrs) and link(a, b)."""

    def __init__(self, tree, clear: bool = True):
        self.tree = tree
        if clear:
            self.tree.nodes.clear()

    def add(self, kind: str, inputs: dict | None = None, **attrs):
        node = self.tree.nodes.new(kind)
        for key, value in attrs.items():
            setattr(node, key, value)
        for key, value in (inputs or {}).items():
            node.inputs[key].default_value = value
        return node

    def link(self, out_socket, in_socket) -> None:
        self.tree.links.new(out_socket, in_socket)


def _principled(n: Nodes, roughness: float):
    out = n.add("ShaderNodeOutputMaterial")
    bsdf = n.add("ShaderNodeBsdfPrincipled", {"Roughness": roughness})
    n.link(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return bsdf


def _uv_mapping(n: Nodes, scale: float, rotation: float):
    uv = n.add("ShaderNodeTexCoord")
    mapping = n.add("ShaderNodeMapping", {"Scale": (scale, scale, 1.0), "Rotation": (0.0, 0.0, rotation)})
    n.link(uv.outputs["UV"], mapping.inputs["Vector"])
    return mapping.outputs["Vector"]


def _mix(n: Nodes, factor, a, b, blend: str = "MIX"):
    """Colour mix (factor socket or number, two RGBA tuples or sockets; blend MIX or MULTIPLY...)
    -> colour socket."""
    mix = n.add("ShaderNodeMix", data_type="RGBA", blend_type=blend)
    if isinstance(factor, float):
        mix.inputs["Factor"].default_value = factor
    else:
        n.link(factor, mix.inputs["Factor"])
    for sock, value in ((mix.inputs[6], a), (mix.inputs[7], b)):
        if isinstance(value, tuple):
            sock.default_value = value
        else:
            n.link(value, sock)
    return mix.outputs[2]


def _bands(n: Nodes, vec, axis: str, ratio: float):
    """0/1 stripes along an axis of the mapped UV: wave bands thresholded at `ratio`."""
    wave = n.add("ShaderNodeTexWave", {"Scale": 1.5}, wave_type="BANDS", bands_direction=axis, wave_profile="SAW")
    n.link(vec, wave.inputs["Vector"])
    thr = n.add("ShaderNodeMath", {1: ratio}, operation="LESS_THAN")
    n.link(wave.outputs["Fac"], thr.inputs[0])
    return thr.outputs[0], wave.outputs["Fac"]


def _bump(n: Nodes, bsdf, height, strength: float) -> None:
    if strength <= 0:
        return
    bump = n.add("ShaderNodeBump", {"Strength": strength, "Distance": 0.002})
    n.link(height, bump.inputs["Height"])
    n.link(bump.outputs["Normal"], bsdf.inputs["Normal"])


THREAD_PERIOD_M = 0.0015  # weave period drawn by the thread bump (UV units are ~metres on the garments)
UV_UNIT_M = 0.5  # metres one unit of a garment's UV spans (half its girth around, its height down: 0.4-1 m)


def feature_visibility(period_m: float, pixel_m: float) -> float:
    """0 for detail much finer than a pixel (a bump there only aliases into grain), 1 once resolved."""
    return max(0.0, min(1.0, (period_m / max(pixel_m, 1e-9) - 0.25) / 0.75))


def pattern_visibility(scale: float, pixel_m: float) -> float:
    """`feature_visibility` of a pattern at `scale` per mapped UV unit against two pixels (a colour pattern needs
    two pixels a period to be drawn, not aliased: at one, denim's twill still rendered as speckle)."""
    return feature_visibility(UV_UNIT_M / scale, 2.0 * pixel_m)


def _resolved(n: Nodes, fac, scale: float, pixel_m: float):
    """A pattern factor socket (0-1, mean ~0.5) of a texture at `scale` per mapped UV unit, its contrast about 0.5
    scaled by `pattern_visibility` (1 keeps the socket as it is)."""
    k = pattern_visibility(scale, pixel_m)
    if k >= 1.0:
        return fac
    node = n.add("ShaderNodeMapRange", {"To Min": 0.5 - 0.5 * k, "To Max": 0.5 + 0.5 * k}, clamp=False)
    n.link(fac, node.inputs["Value"])
    return node.outputs["Result"]


def procedural_fabric(n: Nodes, spec: dict, pixel_m: float = 0.0) -> None:
    """The pattern's colour (and bump) over the mapped UVs; detail under two pixels of `pixel_m` (metres per pixel
    at the subject; 0 keeps all) a period fades to its mean."""
    bsdf = _principled(n, spec["roughness"])
    vec = _uv_mapping(n, spec["scale"], spec["rotation"])
    s = float(spec["scale"])
    c1, c2, c3 = (linear_rgba(c) for c in spec["colors"])
    pattern, ratio = spec["pattern"], spec.get("stripe_ratio", 0.4)
    if pattern == "plain":
        noise = n.add("ShaderNodeTexNoise", {"Scale": 60.0, "Detail": 4.0})
        n.link(vec, noise.inputs["Vector"])
        fac = _resolved(n, noise.outputs["Fac"], 60.0 * s, pixel_m)
        color = _mix(n, fac, c1, tuple(0.85 * v for v in c1))
        _bump(n, bsdf, noise.outputs["Fac"], 0.05 * pattern_visibility(60.0 * s, pixel_m))
    elif pattern == "stripes":
        band, _ = _bands(n, vec, "X", ratio)
        color = _mix(n, band, c1, c2)
    elif pattern == "plaid":
        bx, _ = _bands(n, vec, "X", ratio)
        by, _ = _bands(n, vec, "Y", ratio)
        color = _mix(n, by, _mix(n, bx, c1, c2), c3)
    elif pattern == "knit":
        fine = n.add("ShaderNodeMapping", {"Scale": (8.0, 8.0, 1.0)})
        n.link(vec, fine.inputs["Vector"])
        wave = n.add("ShaderNodeTexWave", {"Scale": 3.0, "Distortion": 2.0}, wave_type="BANDS", bands_direction="Y")
        n.link(fine.outputs["Vector"], wave.inputs["Vector"])
        fac = _resolved(n, wave.outputs["Fac"], 24.0 * s, pixel_m)
        color = _mix(n, fac, tuple(0.6 * v for v in c1), c1)
        _bump(n, bsdf, wave.outputs["Fac"], 0.4 * pattern_visibility(24.0 * s, pixel_m))
    elif pattern == "denim":
        twill = n.add("ShaderNodeTexWave", {"Scale": 40.0}, wave_type="BANDS", bands_direction="DIAGONAL")
        noise = n.add("ShaderNodeTexNoise", {"Scale": 150.0, "Detail": 6.0})
        n.link(vec, twill.inputs["Vector"])
        n.link(vec, noise.inputs["Vector"])
        base = _mix(n, _resolved(n, noise.outputs["Fac"], 150.0 * s, pixel_m), c1, (0.8, 0.82, 0.9, 1.0))
        color = _mix(n, _resolved(n, twill.outputs["Fac"], 40.0 * s, pixel_m), base, tuple(0.7 * v for v in c1))
        _bump(n, bsdf, twill.outputs["Fac"], 0.2 * pattern_visibility(40.0 * s, pixel_m))
    elif pattern == "print":
        dots = n.add("ShaderNodeTexVoronoi", {"Scale": 3.0, "Randomness": 0.8})
        n.link(vec, dots.inputs["Vector"])
        thr = n.add("ShaderNodeMath", {1: 0.25}, operation="LESS_THAN")
        n.link(dots.outputs["Distance"], thr.inputs[0])
        color = _mix(n, thr.outputs[0], c1, _mix(n, dots.outputs["Position"], c2, c3))
    else:
        raise JobError(f"unknown fabric pattern {pattern!r}", fix="use plain/stripes/plaid/knit/denim/print")
    n.link(color, bsdf.inputs["Base Color"])


def image_fabric(n: Nodes, spec: dict, path: str) -> None:
    bsdf = _principled(n, spec["roughness"])
    vec = _uv_mapping(n, spec["scale"], spec["rotation"])
    image = load_image(path, "fabric texture")
    tex = n.add("ShaderNodeTexImage", image=image, extension="REPEAT")
    n.link(vec, tex.inputs["Vector"])
    color = _mix(n, 1.0, tex.outputs["Color"], linear_rgba(spec.get("tint", [1.0, 1.0, 1.0])), "MULTIPLY")
    n.link(color, bsdf.inputs["Base Color"])


RUMPLE_PERIOD_M = 0.03  # the fabric's small wrinkles and puckers: a few pixels even at 250 px


def _chain_bump(n: Nodes, bsdf, height, strength: float, distance: float) -> None:
    """A bump on top of whatever normal the BSDF already has (pattern bumps stay)."""
    bump = n.add("ShaderNodeBump", {"Strength": strength, "Distance": distance})
    n.link(height, bump.inputs["Height"])
    normal = bsdf.inputs["Normal"]
    if normal.links:
        n.link(normal.links[0].from_socket, bump.inputs["Normal"])
    n.link(bump.outputs["Normal"], normal)


def _finish_cloth(n: Nodes, spec: dict, pixel_m: float) -> None:
    """Cloth, not paint: sheen tinted by the fabric's colour (fibre fuzz at grazing angles), the hem
    band (colour x hem_shade where the `hem` attribute is 1) with a raised stitch edge, darkening in
    folds (Cycles' per-vertex Pointiness: concave < 0.5; free at render time, unlike an AO shader's
    extra rays), a wrinkle bump at RUMPLE_PERIOD_M and the thread bump where pixels resolve it."""
    bsdf = next(node for node in n.tree.nodes if node.bl_idname == "ShaderNodeBsdfPrincipled")
    bsdf.inputs["Sheen Weight"].default_value = float(spec.get("sheen", 0.4))
    bsdf.inputs["Sheen Roughness"].default_value = 0.5
    base = bsdf.inputs["Base Color"]
    color = base.links[0].from_socket if base.links else tuple(base.default_value)
    hem = n.add("ShaderNodeAttribute", attribute_name="hem")
    h = float(spec.get("hem_shade", 0.8))
    color = _mix(n, hem.outputs["Fac"], color, (h, h, h, 1.0), "MULTIPLY")
    geo = n.add("ShaderNodeNewGeometry")
    fold = n.add("ShaderNodeMapRange", {"From Min": 0.5, "From Max": 0.42, "To Min": 0.0, "To Max": 1.0})
    n.link(geo.outputs["Pointiness"], fold.inputs["Value"])
    f = float(spec.get("fold_shade", 0.65))
    color = _mix(n, fold.outputs["Result"], color, (f, f, f, 1.0), "MULTIPLY")
    n.link(color, base)
    n.link(_mix(n, 0.5, color, (1.0, 1.0, 1.0, 1.0)), bsdf.inputs["Sheen Tint"])  # half way to white
    strength = 0.3 * feature_visibility(THREAD_PERIOD_M, pixel_m)
    if strength > 0 and not bsdf.inputs["Normal"].links:
        uv = n.add("ShaderNodeTexCoord")
        weave = n.add(
            "ShaderNodeTexWave", {"Scale": 1.0 / THREAD_PERIOD_M / 6.0}, wave_type="BANDS", bands_direction="DIAGONAL"
        )
        n.link(uv.outputs["UV"], weave.inputs["Vector"])
        _bump(n, bsdf, weave.outputs["Fac"], strength)
    uv = n.add("ShaderNodeTexCoord")
    rumple = n.add("ShaderNodeTexNoise", {"Scale": 1.0 / RUMPLE_PERIOD_M, "Detail": 1.0})
    n.link(uv.outputs["UV"], rumple.inputs["Vector"])
    _chain_bump(n, bsdf, rumple.outputs["Fac"], float(spec.get("rumple", 0.25)), 0.004)
    _chain_bump(n, bsdf, hem.outputs["Fac"], 0.4, 0.002)  # the band's edge reads as a stitched seam


def garment_material(name: str, spec: dict, resolve, pixel_m: float = 1.0) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    n = Nodes(mat.node_tree)
    if spec["kind"] == "image":
        image_fabric(n, spec, resolve(spec["path"], "fabric texture"))
    else:
        procedural_fabric(n, spec, pixel_m)
    _finish_cloth(n, spec, pixel_m)
    return mat
