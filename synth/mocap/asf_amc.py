"""ASF/AMC reader (Acclaim skeleton + motion, the original CMU MoCap format).

ASF gives each bone a rest direction and length in the global frame, a local frame `axis`
(Euler angles) and its `dof`; AMC gives per frame the dof values of every moving bone.
A bone's rotation relative to rest, in world terms, is G_b = G_parent C_b M_b C_b^T, where C_b
is the axis frame and M_b the AMC rotation; dof/axis orders list rotations in the order they
are applied (as CMU's amc2bvh does: "rx ry rz" = Rz Ry Rx). Joints of the clip are the root
and every bone's start point, named by the bone (the same points as the cgspeed BVH joints).
Lengths: `:units length L` means 1 file unit = (1/L) inch, so CMU files (L = 0.45) give
5.644 cm per unit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from synth.errors import SynthError
from synth.mocap.clip import MocapClip, file_checksum

_FIX = "check the file against the ASF/AMC specification (or re-export it)"
INCH = 0.0254


def _applied_first_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Rotations applied in `order` (first listed first) -> matrix, angles in radians: scipy's
    extrinsic (lower-case) sequence."""
    return Rotation.from_euler(order.lower(), angles).as_matrix()


def _floats(path: Path, ln: int, parts: list[str], n: int | None = None) -> np.ndarray:
    if n is not None and len(parts) != n:
        raise SynthError(f"line {ln}: expected {n} values, found {len(parts)}", path=path, fix=_FIX)
    try:
        vals = np.array([float(p) for p in parts])
    except ValueError as exc:
        raise SynthError(f"line {ln}: not a number ({exc})", path=path, fix=_FIX) from exc
    if not np.all(np.isfinite(vals)):
        raise SynthError(f"line {ln}: non-finite value (NaN or inf)", path=path, fix=_FIX)
    return vals


def parse_asf(path: str | Path) -> dict:
    """Skeleton as a dict: units, root order/position/orientation, bones {name: {...}}, children."""
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    sk = {
        "length": None,
        "deg": True,
        "root_order": ["tx", "ty", "tz", "rx", "ry", "rz"],
        "root_axis": "xyz",
        "root_position": np.zeros(3),
        "root_orientation": np.zeros(3),
        "bones": {},
        "children": {},
    }
    section, bone, bone_line = None, None, 0
    for ln, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if parts[0].startswith(":"):
            section = parts[0][1:].lower()
            continue
        key = parts[0].lower()
        if section == "units":
            if key == "length":
                sk["length"] = float(_floats(path, ln, parts[1:], 1)[0])
            elif key == "angle":
                sk["deg"] = parts[1].lower().startswith("deg")
        elif section == "root":
            if key == "order":
                sk["root_order"] = [p.lower() for p in parts[1:]]
            elif key == "axis":
                sk["root_axis"] = parts[1].lower()
            elif key == "position":
                sk["root_position"] = _floats(path, ln, parts[1:], 3)
            elif key == "orientation":
                sk["root_orientation"] = _floats(path, ln, parts[1:], 3)
        elif section == "bonedata":
            if key == "begin":
                bone, bone_line = {"dof": [], "axis": np.zeros(3), "order": "xyz", "line": ln}, ln
            elif key == "end":
                if bone is None or "name" not in bone or "direction" not in bone or "length" not in bone:
                    raise SynthError(f"line {bone_line}: bone without name/direction/length", path=path, fix=_FIX)
                sk["bones"][bone["name"]] = bone
                bone = None
            elif bone is not None:
                if key == "name":
                    bone["name"] = parts[1]
                elif key == "direction":
                    d = _floats(path, ln, parts[1:], 3)
                    bone["direction"] = d / max(np.linalg.norm(d), 1e-12)
                elif key == "length":
                    bone["length"] = float(_floats(path, ln, parts[1:], 1)[0])
                elif key == "axis":
                    bone["axis"] = _floats(path, ln, parts[1:4], 3)
                    bone["order"] = parts[4].lower() if len(parts) > 4 else "xyz"
                elif key == "dof":
                    bone["dof"] = [p.lower() for p in parts[1:]]
        elif section == "hierarchy" and key not in ("begin", "end"):
            sk["children"].setdefault(parts[0], []).extend(parts[1:])
    if not sk["bones"]:
        raise SynthError("no :bonedata bones found; not an ASF skeleton", path=path, fix=_FIX)
    return sk


def _ordered_bones(sk: dict, path: Path) -> tuple[list[str], list[int]]:
    names, parents = ["root"], [-1]
    queue = [("root", 0)]
    while queue:
        parent, pi = queue.pop(0)
        for child in sk["children"].get(parent, []):
            if child not in sk["bones"]:
                raise SynthError(f":hierarchy names bone {child!r} that :bonedata lacks", path=path, fix=_FIX)
            names.append(child)
            parents.append(pi)
            queue.append((child, len(names) - 1))
    return names, parents


def parse_amc(path: str | Path, sk: dict, asf_path: Path) -> dict[str, np.ndarray]:
    """Per-bone dof values (T, n_dof); every frame must list every moving bone once."""
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    deg = sk["deg"]
    n_dof = {"root": len(sk["root_order"])} | {b: len(v["dof"]) for b, v in sk["bones"].items()}
    frames: list[dict[str, np.ndarray]] = []
    frame_lines: list[int] = []
    for ln, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            if line.upper().startswith(":RADIANS"):
                deg = False
            elif line.upper().startswith(":DEGREES"):
                deg = True
            continue
        parts = line.split()
        if len(parts) == 1 and parts[0].isdigit():
            frames.append({})
            frame_lines.append(ln)
            continue
        if not frames:
            raise SynthError(f"line {ln}: bone values before the first frame number", path=path, fix=_FIX)
        name = parts[0]
        if name not in n_dof:
            raise SynthError(f"line {ln}: bone {name!r} is not in {asf_path.name}", path=path, fix=_FIX)
        frames[-1][name] = _floats(path, ln, parts[1:], n_dof[name])
    if not frames:
        raise SynthError("no frames (zero frame numbers found)", path=path, fix=_FIX)
    moving = [b for b, n in n_dof.items() if n > 0]
    for k, (fr, ln) in enumerate(zip(frames, frame_lines)):
        missing = [b for b in moving if b not in fr]
        if missing:
            end = "the file ends" if k == len(frames) - 1 else "the next frame starts"
            raise SynthError(
                f"line {ln}: frame {k + 1} lacks bones {missing[:4]} before {end} (truncated?)",
                path=path,
                fix=_FIX,
            )
    scale = np.pi / 180 if deg else 1.0
    out = {}
    for b in moving:
        vals = np.stack([fr[b] for fr in frames])
        dofs = sk["root_order"] if b == "root" else sk["bones"][b]["dof"]
        rot = np.array([d.startswith("r") for d in dofs])
        vals[:, rot] *= scale
        out[b] = vals
    return out


def load_asf_amc(
    asf: str | Path, amc: str | Path, fps: float = 120.0, scale: float | None = None, name: str | None = None
) -> MocapClip:
    """Read an ASF skeleton and an AMC motion (CMU records at 120 fps; AMC does not say)."""
    asf, amc = Path(asf), Path(amc)
    for p in (asf, amc):
        if not p.is_file():
            raise SynthError("file not found", path=p, fix="pass an existing .asf and .amc")
    sk = parse_asf(asf)
    values = parse_amc(amc, sk, asf)
    names, parents = _ordered_bones(sk, asf)
    T = len(next(iter(values.values())))
    J = len(names)

    def dof_rotation(vals: np.ndarray, dofs: list[str]) -> np.ndarray:
        R = np.broadcast_to(np.eye(3), (T, 3, 3))
        for k, d in enumerate(dofs):  # applied in listed order: later ones multiply on the left
            if d.startswith("r"):
                R = _applied_first_to_matrix(vals[:, k : k + 1], d[1]) @ R
        return R

    G = np.empty((T, J, 3, 3))
    start = np.empty((T, J, 3))
    root = values.get("root", np.zeros((T, 0)))
    root_t = sk["root_position"] + np.zeros((T, 3))
    for k, d in enumerate(sk["root_order"]):
        if d.startswith("t"):
            root_t[:, "xyz".index(d[1])] = root[:, k] + sk["root_position"]["xyz".index(d[1])]
    C = _applied_first_to_matrix(np.deg2rad(sk["root_orientation"]), sk["root_axis"])
    G[:, 0] = C @ dof_rotation(root, sk["root_order"]) @ C.T
    start[:, 0] = root_t
    end = {0: root_t}
    for j in range(1, J):
        b = sk["bones"][names[j]]
        C = _applied_first_to_matrix(np.deg2rad(b["axis"]) if sk["deg"] else b["axis"], b["order"])
        M = dof_rotation(values[names[j]], b["dof"]) if b["dof"] else np.eye(3)
        G[:, j] = G[:, parents[j]] @ (C @ M @ C.T)
        start[:, j] = end[parents[j]]
        end[j] = start[:, j] + G[:, j] @ (b["direction"] * b["length"])
    metres = scale if scale is not None else (INCH / sk["length"] if sk["length"] else INCH)
    return MocapClip(
        name=name or f"amc/{amc.stem}",
        joint_names=names,
        parents=np.array(parents),
        positions=start * metres,
        fps=float(fps),
        source=f"{asf}+{amc}",
        checksum=file_checksum(asf, amc),
        rotations=G,
    )
