"""Hair, eyes, shoes and the ground of a render job (people.npz and job.json's people/ground blocks).

Hair: the strands grown on the synth side (synth.scene.hair: styled from the scalp of frame 0)
become a curves object, finished by Blender's bundled procedural hair node groups
(datafiles/assets/nodes/procedural_hair_node_assets.blend, CC0: Frizz Hair Curves, Set Hair Curve
Profile); the modifier is applied once, so the hair is static geometry carried rigidly by the head's
per-frame transform (not simulated). Colour: Principled Hair BSDF's melanin parametrisation.
Eyebrows: short curves on the brow patches, the same way.
Eyes: the eyeball mesh with MPFB's eye shader, carried like the hair. Shoes: per-frame meshes
(skinned with the feet on the synth side). Ground: a shadow-catcher plane at the floor height,
label 0 (background) in seg; render.py clears its depth and normals.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from common import JobError, linear_rgba
from fabrics import Nodes
from mathutils import Matrix
from meshes import new_mesh

HAIR_ASSETS = "datafiles/assets/nodes/procedural_hair_node_assets.blend"
HAIR_GROUPS = ("Frizz Hair Curves", "Set Hair Curve Profile")
FRIZZ = 0.0015  # metres of frizz per strand (the node group's Distance)


def _object(scene, name: str, data, label: int, materials=()):
    obj = bpy.data.objects.new(name, data)
    for mat in materials:
        obj.data.materials.append(mat)
    obj.pass_index = label
    scene.collection.objects.link(obj)
    return obj


def _hair_groups() -> dict:
    path = os.path.join(bpy.utils.resource_path("LOCAL"), HAIR_ASSETS)
    missing = [g for g in HAIR_GROUPS if g not in bpy.data.node_groups]
    if missing:
        if not os.path.isfile(path):
            raise JobError("Blender's procedural hair node assets are missing", path, "reinstall bpy==5.0.1")
        with bpy.data.libraries.load(path, link=False) as (src, dst):
            dst.node_groups = [g for g in missing if g in src.node_groups]
    return {g: bpy.data.node_groups[g] for g in HAIR_GROUPS}


def hair_rgb(melanin: float, redness: float, radial_roughness: float = 0.3) -> tuple[float, float, float, float]:
    """Linear RGBA a hair fibre of this melanin looks like: Principled Hair's melanin absorption
    (eu-/pheomelanin coefficients of Blender's implementation) turned into a colour by the inverse
    of its direct-colouring map, c = exp(-f(beta) sqrt(sigma_a)) (Chiang et al. 2016). For the skin
    under the hair, which has no hair BSDF."""
    amount = -np.log(max(1.0 - melanin, 1e-4))
    eu, pheo = amount * (1.0 - redness), amount * redness
    sigma = eu * np.array([0.506, 0.841, 1.653]) + pheo * np.array([0.343, 0.733, 1.924])
    b = radial_roughness
    f = 5.969 - 0.215 * b + 2.532 * b**2 - 10.73 * b**3 + 5.574 * b**4 + 0.245 * b**5
    return (*(float(c) for c in np.exp(-f * np.sqrt(sigma))), 1.0)


def hair_material(spec: dict, name: str, melanin: float):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    n = Nodes(mat.node_tree)
    out = n.add("ShaderNodeOutputMaterial")
    bsdf = n.add("ShaderNodeBsdfHairPrincipled", parametrization="MELANIN")
    for key, value in (
        ("Melanin", melanin),
        ("Melanin Redness", spec.get("redness", 0.2)),
        ("Roughness", spec.get("roughness", 0.35)),
        ("Radial Roughness", 0.3),
        ("Random Color", 0.1),
    ):
        if key in bsdf.inputs:
            bsdf.inputs[key].default_value = value
    n.link(bsdf.outputs[0], out.inputs["Surface"])
    return mat


def _group(tree, groups, name, inputs: dict, geometry):
    node = tree.nodes.new("GeometryNodeGroup")
    node.node_tree = groups[name]
    for key, value in inputs.items():
        sock = next((s for s in node.inputs if s.name == key and s.type != "GEOMETRY"), None)
        if sock is not None:
            sock.default_value = value
    tree.links.new(geometry, node.inputs[0])
    return node


def hair_curves(
    scene, name: str, points: np.ndarray, counts: np.ndarray, radius: float, material, label: int, seed: int
):
    """A hair curves object from strands (synth.scene.hair), finished by Blender's hair node groups
    (frizz, then the tapered profile at `radius`); the modifier is applied, so the curves are static."""
    groups = _hair_groups()
    curves = bpy.data.hair_curves.new(name)
    curves.add_curves([int(c) for c in counts])
    curves.position_data.foreach_set("vector", np.ascontiguousarray(points, np.float32).ravel())
    obj = _object(scene, name, curves, label, [material])
    tree = bpy.data.node_groups.new(f"{name}_nodes", "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gin, gout = tree.nodes.new("NodeGroupInput"), tree.nodes.new("NodeGroupOutput")
    geo = _group(tree, groups, "Frizz Hair Curves", {"Distance": FRIZZ, "Seed": seed % (1 << 20)}, gin.outputs[0])
    geo = _group(tree, groups, "Set Hair Curve Profile", {"Radius": radius, "Shape": -0.3}, geo.outputs[0])
    tree.links.new(geo.outputs[0], gout.inputs[0])
    mod = obj.modifiers.new("hair", "NODES")
    mod.node_group = tree
    bpy.context.view_layer.update()
    with bpy.context.temp_override(object=obj, active_object=obj, selected_objects=[obj]):
        bpy.ops.object.modifier_apply(modifier=mod.name)
    return obj


def build_people(scene, people: np.lib.npyio.NpzFile | dict, entry: dict, spec: dict, mpfb: str) -> tuple[list, list]:
    """Hair, eyes and shoes; returns (riders [(object, (T,4,4) world matrices)], skinned
    [(object, (T,V,3) vertices)]) for render.py to move per frame."""
    from skin import eye_material

    riders, skinned = [], []
    xform = np.asarray(people["head_xform"], np.float64)
    if "hair" in entry:
        hair, label, seed = spec["hair"], entry["hair"]["label"], int(spec["hair"]["seed"])
        if len(people["hair_counts"]):
            mat = hair_material(hair, "hair", hair["melanin"])
            obj = hair_curves(
                scene, "hair", people["hair_points"], people["hair_counts"], entry["hair"]["radius"], mat, label, seed
            )
            riders.append((obj, xform))
        bmat = hair_material(hair, "eyebrows", hair.get("eyebrow_melanin", hair["melanin"]))
        obj = hair_curves(
            scene,
            "eyebrows",
            people["brow_points"],
            people["brow_counts"],
            entry["hair"]["brow_radius"],
            bmat,
            label,
            seed + 1,
        )
        riders.append((obj, xform))
    if "eyes" in entry:
        me = new_mesh("eyes", people["eye_verts"], people["eye_faces"], people["eye_uv"])
        obj = _object(scene, "eyes", me, entry["eyes"]["label"], [eye_material(spec["eyes"], mpfb)])
        riders.append((obj, xform))
    if "shoes" in entry:
        skinned.append(_shoes(scene, people, spec["shoes"], entry["shoes"]["label"]))
    return riders, skinned


def _shoes(scene, people, spec: dict, label: int):
    verts = np.asarray(people["shoe_verts"], np.float32)
    faces = np.asarray(people["shoe_faces"])
    uv = people["shoe_uv"] if "shoe_uv" in people else None
    me = new_mesh("shoes", verts[0], faces, uv, per_corner=True)
    upper, sole = shoe_materials(spec)
    obj = _object(scene, "shoes", me, label, [upper, sole])
    me.polygons.foreach_set("material_index", np.asarray(people["shoe_sole"], np.int32))
    return obj, verts


def shoe_materials(spec: dict):
    """Upper: the shoe colour with a fine grain bump (leather/canvas); sole: rubber."""
    out = []
    for name, color, rough, grain in (
        ("shoe_upper", spec["color"], spec.get("roughness", 0.5), 0.15),
        ("shoe_sole", spec["sole_color"], 0.8, 0.0),
    ):
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        n = Nodes(mat.node_tree)
        o = n.add("ShaderNodeOutputMaterial")
        bsdf = n.add("ShaderNodeBsdfPrincipled", {"Roughness": rough, "Base Color": linear_rgba(color)})
        n.link(bsdf.outputs["BSDF"], o.inputs["Surface"])
        if grain:
            noise = n.add("ShaderNodeTexNoise", {"Scale": 300.0, "Detail": 2.0})
            bump = n.add("ShaderNodeBump", {"Strength": grain, "Distance": 0.0005})
            n.link(noise.outputs["Fac"], bump.inputs["Height"])
            n.link(bump.outputs["Normal"], bsdf.inputs["Normal"])
        out.append(mat)
    return out


def build_ground(scene, ground: dict):
    """A shadow-catching floor at height z (Blender world), background (label 0) in seg; render.py
    places it under each frame's footprint (place_ground)."""
    z = ground["z"]
    me = new_mesh(
        "ground",
        np.array([[-1, -1, z], [1, -1, z], [1, 1, z], [-1, 1, z]], np.float32),
        np.array([[0, 1, 2], [0, 2, 3]]),
    )
    obj = _object(scene, "ground", me, 0)
    obj.is_shadow_catcher = True
    # camera rays and shadows only: the environment already holds the real ground's bounce light (a
    # white catcher lit the legs from below and sprinkled fireflies on the soles)
    obj.visible_diffuse = obj.visible_glossy = obj.visible_transmission = obj.visible_volume_scatter = False
    return obj


def place_ground(obj, box: np.ndarray, z: float, radius: float) -> None:
    """The floor: the footprint box (world xy, (2, 2)) grown by `radius`, at height z. Beyond it the
    renderer keeps no shadow, and every floor pixel is path-traced (docs/BENCHMARKS.md#rendering)."""
    (x0, y0), (x1, y1) = np.asarray(box) + [[-radius, -radius], [radius, radius]]
    co = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float32)
    obj.data.vertices.foreach_set("co", co.ravel())
    obj.data.update()


def set_matrix(obj, M: np.ndarray) -> None:
    obj.matrix_world = Matrix([list(map(float, row)) for row in M])


def pixel_size(spec: dict) -> float:
    """Metres per pixel at the subject for the nearest camera (for detail that must not alias)."""
    d = min(c["distance"] for c in spec["job"]["cameras"])
    return d * spec["sensor_mm"] / (spec["focal_mm"] * int(spec["resolution"]))
