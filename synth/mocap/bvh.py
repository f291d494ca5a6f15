"""BVH reader (Biovision hierarchy), written for CMU's cgspeed conversion but general:

any Euler channel order per joint, position channels on any joint, both CMU namings, unit
detection (CMU units x 0.05644, cm, mm, inches or metres) and Z-up files turned Y-up.
End Sites are not joints. Every malformed input raises SynthError with the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.frames import BLENDER_TO_SMPL, blender_to_smpl
from synth.mocap.clip import MocapClip, file_checksum
from synth.mocap.kinematics import euler_to_matrix, forward_kinematics

# One CMU length unit is (1/0.45) inch = 5.644 cm (the ASF's `length 0.45` and inches).
CMU_UNIT_METRES = 0.05644
_UNIT_CANDIDATES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": CMU_UNIT_METRES}
_FIX = "re-export the clip (CMU clips: the cgspeed BVH conversion) or trim the broken part"


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    line: int = 0


def _tokens(text: str):
    for lineno, line in enumerate(text.splitlines(), 1):
        for tok in line.split():
            yield lineno, tok


def _parse_hierarchy(path: Path, tokens) -> tuple[list[_Joint], int]:
    """Consume tokens up to and including MOTION; returns joints and the MOTION line."""

    def need(what: str) -> tuple[int, str]:
        try:
            return next(tokens)
        except StopIteration:
            raise SynthError(f"file ends inside the HIERARCHY while reading {what}", path=path, fix=_FIX) from None

    def number(what: str) -> float:
        ln, tok = need(what)
        try:
            return float(tok)
        except ValueError:
            raise SynthError(f"line {ln}: expected a number for {what}, found {tok!r}", path=path, fix=_FIX) from None

    ln, tok = need("HIERARCHY")
    if tok.upper() != "HIERARCHY":
        raise SynthError(f"line {ln}: expected HIERARCHY, found {tok!r}; not a BVH file", path=path, fix=_FIX)
    joints: list[_Joint] = []
    stack: list[int] = []  # joint index per open brace; -2 marks an End Site
    pending: tuple[str, int] | None = None  # ("joint", parent) or ("end", parent)
    while True:
        ln, tok = need("a joint")
        key = tok.upper()
        if key in ("ROOT", "JOINT"):
            _, name = need("a joint name")
            if key == "ROOT" and joints:
                raise SynthError(f"line {ln}: more than one ROOT is not supported", path=path, fix=_FIX)
            parent = stack[-1] if stack else -1
            if key == "JOINT" and parent < 0:
                raise SynthError(f"line {ln}: JOINT {name} outside any parent", path=path, fix=_FIX)
            joints.append(_Joint(name, parent, np.zeros(3), line=ln))
            pending = ("joint", len(joints) - 1)
        elif key == "END":
            need("Site")
            pending = ("end", -2)
        elif tok == "{":
            if pending is None:
                raise SynthError(f"line {ln}: unexpected '{{'", path=path, fix=_FIX)
            stack.append(pending[1])
            pending = None
        elif tok == "}":
            if not stack:
                raise SynthError(f"line {ln}: unbalanced '}}'", path=path, fix=_FIX)
            stack.pop()
        elif key == "OFFSET":
            off = np.array([number("OFFSET") for _ in range(3)])
            if stack and stack[-1] >= 0:
                joints[stack[-1]].offset = off
        elif key == "CHANNELS":
            if not stack or stack[-1] < 0:
                raise SynthError(f"line {ln}: CHANNELS outside a joint", path=path, fix=_FIX)
            n = number("the channel count")
            if n != int(n) or not 0 <= n <= 6:
                raise SynthError(f"line {ln}: channel count must be 0..6, found {n:g}", path=path, fix=_FIX)
            chans = [need("a channel name")[1] for _ in range(int(n))]
            for c in chans:
                if c.lower() not in {a + k for a in "xyz" for k in ("position", "rotation")}:
                    raise SynthError(
                        f"line {ln}: unknown channel {c!r} (CHANNELS {int(n)} lists fewer names?)",
                        path=path,
                        fix=_FIX,
                    )
            joints[stack[-1]].channels = chans
        elif key == "MOTION":
            if stack:
                raise SynthError(f"line {ln}: MOTION before every '{{' is closed", path=path, fix=_FIX)
            if not joints:
                raise SynthError(f"line {ln}: no joints in the HIERARCHY", path=path, fix=_FIX)
            return joints, ln
        else:
            raise SynthError(f"line {ln}: unexpected token {tok!r} in the HIERARCHY", path=path, fix=_FIX)


def _parse_motion(path: Path, lines: list[str], motion_line: int, n_channels: int):
    """Frames/Frame Time header and the data rows, checked row by row."""
    i = motion_line  # index of the line after MOTION (0-based list, 1-based numbers)
    header = {}
    for key in ("frames", "frame time"):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise SynthError(f"line {i}: file ends before the '{key.title()}:' line", path=path, fix=_FIX)
        label, _, value = lines[i].partition(":")
        if label.strip().lower() != key:
            raise SynthError(
                f"line {i + 1}: expected '{key.title()}:', found {lines[i].strip()!r}", path=path, fix=_FIX
            )
        try:
            header[key] = float(value)
        except ValueError:
            raise SynthError(f"line {i + 1}: bad value {value.strip()!r} for {key!r}", path=path, fix=_FIX) from None
        header[key + "_line"] = i + 1
        i += 1
    n_frames, dt = header["frames"], header["frame time"]
    if n_frames != int(n_frames) or n_frames <= 0:
        raise SynthError(
            f"line {header['frames_line']}: Frames is {n_frames:g}; need at least 1 frame", path=path, fix=_FIX
        )
    if not np.isfinite(dt) or dt <= 0:
        raise SynthError(f"line {header['frame time_line']}: Frame Time must be > 0, found {dt:g}", path=path, fix=_FIX)
    rows = [(ln, s) for ln, s in enumerate(lines[i:], i + 1) if s.strip()]
    if len(rows) < n_frames:
        last = rows[-1][0] if rows else header["frame time_line"]
        raise SynthError(
            f"line {last}: file is truncated: header says {int(n_frames)} frames, data has {len(rows)}",
            path=path,
            fix=_FIX,
        )
    if len(rows) > n_frames:
        raise SynthError(
            f"line {header['frames_line']}: header says {int(n_frames)} frames, data has {len(rows)} lines",
            path=path,
            fix="set Frames: to the number of data lines (or remove the extra lines)",
        )
    values = []
    for ln, s in rows:
        parts = s.split()
        if len(parts) != n_channels:
            raise SynthError(
                f"line {ln}: expected {n_channels} channel values (from the HIERARCHY), found {len(parts)}",
                path=path,
                fix=_FIX,
            )
        try:
            row = [float(p) for p in parts]
        except ValueError as exc:
            raise SynthError(f"line {ln}: not a number ({exc})", path=path, fix=_FIX) from exc
        values.append(row)
    data = np.asarray(values, np.float64)
    bad = ~np.isfinite(data)
    if bad.any():
        r = int(np.argwhere(bad)[0, 0])
        raise SynthError(f"line {rows[r][0]}: non-finite value (NaN or inf) in the motion data", path=path, fix=_FIX)
    return data, dt


def detect_unit_scale(rest_positions: np.ndarray, up_axis: int) -> float:
    """Metres per file unit: the candidate unit that makes the rest skeleton about 1.7 m tall."""
    height = float(np.ptp(rest_positions[:, up_axis]))
    if height <= 0:
        return 1.0
    # A body from head joint to toe joint is roughly 1.2-1.9 m; pick the closest unit (log scale).
    scores = {u: abs(np.log(height * s / 1.55)) for u, s in _UNIT_CANDIDATES.items()}
    return _UNIT_CANDIDATES[min(scores, key=scores.get)]


def _round_fps(fps: float) -> float:
    """Frame Time 0.008333 means 120 fps: snap to the integer when within 0.05%."""
    return float(round(fps)) if abs(fps - round(fps)) < 5e-4 * fps else fps


def load_bvh(path: str | Path, scale: float | None = None, name: str | None = None) -> MocapClip:
    """Read a BVH file into a MocapClip (positions in metres and joints' global rotations, SMPL
    world frame, Y up).

    `scale` (metres per file unit) overrides the unit detection.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise SynthError(f"cannot read the BVH file ({exc})", path=path, fix="check the path") from exc
    joints, motion_line = _parse_hierarchy(path, _tokens(text))
    n_channels = sum(len(j.channels) for j in joints)
    data, dt = _parse_motion(path, text.splitlines(), motion_line, n_channels)

    T, J = len(data), len(joints)
    parents = np.array([j.parent for j in joints])
    offsets = np.stack([j.offset for j in joints])
    local = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    trans = np.zeros((T, J, 3))
    col = 0
    for k, joint in enumerate(joints):
        rot_cols, rot_order = [], ""
        for c in joint.channels:
            axis, kind = c[0].lower(), c[1:].lower()
            if kind == "position":
                trans[:, k, "xyz".index(axis)] = data[:, col]
            else:
                rot_cols.append(col)
                rot_order += axis
            col += 1
        if rot_cols:
            local[:, k] = euler_to_matrix(np.deg2rad(data[:, rot_cols]), rot_order)
    # Position channels are added to the joint's OFFSET (CMU roots have a zero OFFSET).
    pos, glob = forward_kinematics(parents, offsets[None] + trans, local, np.zeros((T, 3)))

    rest, _ = forward_kinematics(parents, offsets, np.eye(3)[None, None].repeat(J, 1), np.zeros((1, 3)))
    rest = rest[0]
    # Up is Y or Z (whichever the rest skeleton spans more; arms in a T-pose make X the widest).
    up_axis = 1 if np.ptp(rest[:, 1]) >= np.ptp(rest[:, 2]) else 2
    metres = scale if scale is not None else detect_unit_scale(rest, up_axis)
    pos = pos * metres
    if up_axis == 2:  # Z-up file: same axes change as Blender -> SMPL
        pos = blender_to_smpl(pos)
        glob = BLENDER_TO_SMPL @ glob @ BLENDER_TO_SMPL.T
    return MocapClip(
        name=name or f"bvh/{path.stem}",
        joint_names=[j.name for j in joints],
        parents=parents,
        positions=pos,
        fps=_round_fps(1.0 / dt),
        source=str(path),
        checksum=file_checksum(path),
        rotations=glob,
    )
