"""Render passes in the shards (`shards.passes`): how each is encoded, decoded and checked.

| pass | members of sample `key` | dtype on decode | values |
| --- | --- | --- | --- |
| seg | `{key}.seg.{t:04d}.png`, 8-bit grey | uint8 (H,W) | object labels, legend in meta.json `seg_legend` (synth.scene.labels); 0 background |
| depth | `{key}.depth.{t:04d}.png`, 16-bit grey | float32 (H,W) metres | stored as millimetres along the camera z axis (uint16, rounded), `0` = background (no surface), 65535 = 65.535 m or farther; decoded to metres with inf for background |
| parts | `{key}.parts.{t:04d}.png`, 8-bit grey | uint8 (H,W) | 0 no visible skin, 1 + SMPL joint index (legend in meta.json `part_legend`) |
| normals | `{key}.normals.npz` (`normals`) | float16 (T,H,W,3) | unit normals in the OpenCV camera frame, 0 for background (anti-aliased at edges) |
| flow | `{key}.flow.npz` (`flow`) | float16 (T-1,H,W,2) | forward flow t -> t+1 in pixels, x right, y down |

Seg and depth come from the same render sample (Cycles' first sample, not anti-aliased), so a
pixel is background in one exactly when it is in the other; `check_passes` holds them to that.
"""

from __future__ import annotations

import io

import numpy as np

from synth.shards.encode import load_npz_bytes, npz_bytes

PASSES = ("seg", "depth", "parts", "normals", "flow")
FRAME_PASSES = ("seg", "depth", "parts")  # one PNG per frame
DEPTH_BACKGROUND = 0  # uint16 code of "no surface"
DEPTH_MAX = 65535  # mm; farther surfaces saturate here
MAX_PART = 24  # parts labels are 0..24
# what meta.json `passes` says about each stored pass (the module table, for readers of the shards)
PASS_ENCODING = {
    "seg": {"member": "seg.{t:04d}.png", "dtype": "uint8", "background": 0, "legend": "meta.json seg_legend"},
    "depth": {
        "member": "depth.{t:04d}.png",
        "dtype": "uint16",
        "unit": "mm",
        "axis": "camera z",
        "background": DEPTH_BACKGROUND,
        "max": DEPTH_MAX,
    },
    "parts": {"member": "parts.{t:04d}.png", "dtype": "uint8", "background": 0, "legend": "meta.json part_legend"},
    "normals": {
        "member": "normals.npz",
        "array": "normals",
        "dtype": "float16",
        "shape": "T,H,W,3",
        "frame": "opencv camera",
        "background": 0,
    },
    "flow": {
        "member": "flow.npz",
        "array": "flow",
        "dtype": "float16",
        "shape": "T-1,H,W,2",
        "unit": "px",
        "direction": "t -> t+1, x right, y down",
    },
}


def check_pass_names(names: list[str], where: str = "shards.passes") -> list[str]:
    bad = sorted(set(names) - set(PASSES))
    if bad:
        from synth.errors import SynthError

        raise SynthError(f"unknown pass(es) {bad} in {where}", fix=f"use {', '.join(PASSES)}")
    return [p for p in PASSES if p in names]


def member_name(name: str, t: int | None = None) -> str:
    """The member extension of a pass (frame t for the per-frame ones)."""
    return f"{name}.{t:04d}.png" if name in FRAME_PASSES else f"{name}.npz"


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """Metres (inf = background) -> uint16 millimetres, 0 = background, 1..65535 otherwise."""
    d = np.asarray(depth_m, np.float64)
    fg = np.isfinite(d) & (d > 0)
    mm = np.zeros(d.shape, np.uint16)
    mm[fg] = np.clip(np.rint(d[fg] * 1000.0), 1, DEPTH_MAX).astype(np.uint16)
    return mm


def decode_depth(mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres -> float32 metres, inf for background."""
    mm = np.asarray(mm)
    out = mm.astype(np.float32) / 1000.0
    out[mm == DEPTH_BACKGROUND] = np.inf
    return out


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _read_png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def pass_members(key: str, passes: dict[str, np.ndarray]) -> list[tuple[str, bytes]]:
    """Tar members of a sample's passes: seg/parts (T,H,W) uint8, depth (T,H,W) float metres,
    normals (T,H,W,3), flow (T-1,H,W,2)."""
    members = []
    for name in PASSES:
        if name not in passes:
            continue
        arr = passes[name]
        if name in ("seg", "parts"):
            members += [(f"{key}.{member_name(name, t)}", _png(np.asarray(a, np.uint8))) for t, a in enumerate(arr)]
        elif name == "depth":
            members += [(f"{key}.{member_name(name, t)}", _png(encode_depth(a))) for t, a in enumerate(arr)]
        else:
            members.append((f"{key}.{member_name(name)}", npz_bytes(**{name: np.asarray(arr, np.float16)})))
    return members


def pass_names_in(files: dict[str, bytes]) -> list[str]:
    """Passes present among a sample's members ({ext: bytes})."""
    return [n for n in PASSES if member_name(n, 0) in files]


def decode_passes(
    files: dict[str, bytes], T: int | None = None, names: list[str] | None = None
) -> dict[str, np.ndarray]:
    """{pass: array} for the passes present (or `names`; a missing member raises KeyError), decoded
    as in the module table; T frames (None: as many as the members hold)."""
    out = {}
    for name in names if names is not None else pass_names_in(files):
        if name in FRAME_PASSES:
            n = T if T is not None else sum(1 for e in files if e.startswith(name + ".") and e.endswith(".png"))
            frames = [_read_png(files[member_name(name, t)]) for t in range(n)]
            arr = np.stack(frames)
            out[name] = decode_depth(arr) if name == "depth" else arr
        else:
            out[name] = load_npz_bytes(files[member_name(name)])[name]
    return out


def check_passes(key: str, files: dict[str, bytes], T: int, W: int, H: int, meta: dict) -> list[str]:
    """Errors of a sample's passes: every pass meta.json lists is present for every frame, with
    the right shape, dtype and range, and seg is background exactly where depth is."""
    errs: list[str] = []
    listed = meta.get("passes", {})
    present = pass_names_in(files)
    for name in present:
        if name not in listed:
            errs.append(f"{key}: pass {name} is in the sample but not listed in meta.json passes")
    decoded: dict[str, np.ndarray] = {}
    for name in listed:
        if name not in PASSES:
            errs.append(f"{key}.meta.json: unknown pass {name!r}")
            continue
        need = [member_name(name, t) for t in range(T)] if name in FRAME_PASSES else [member_name(name)]
        missing = [m for m in need if m not in files]
        if missing:
            errs.append(
                f"{key}: pass {name} missing {', '.join(f'{key}.{m}' for m in missing[:3])}"
                f"{' ...' if len(missing) > 3 else ''}"
            )
            continue
        try:
            if name in FRAME_PASSES:
                raw = []
                for m in need:
                    try:
                        raw.append(_read_png(files[m]))
                    except Exception as exc:  # noqa: BLE001 - a corrupt member is a finding
                        raise ValueError(f"{key}.{m} unreadable ({exc})") from exc
                shapes = {a.shape for a in raw}
                dtypes = {a.dtype for a in raw}
                want = np.uint16 if name == "depth" else np.uint8
                if shapes != {(H, W)} or dtypes != {np.dtype(want)}:
                    errs.append(
                        f"{key}: pass {name} frames are {sorted(shapes)} {sorted(map(str, dtypes))}, "
                        f"expected ({H}, {W}) {np.dtype(want)}"
                    )
                    continue
                decoded[name] = np.stack(raw)
            else:
                try:
                    arr = load_npz_bytes(files[need[0]])[name]
                except Exception as exc:  # noqa: BLE001
                    raise ValueError(f"{key}.{need[0]} unreadable ({exc})") from exc
                n = T - 1 if name == "flow" else T
                shape = (n, H, W, 2 if name == "flow" else 3)
                if arr.shape != shape or arr.dtype != np.float16:
                    errs.append(f"{key}.{need[0]}: {arr.shape} {arr.dtype}, expected {shape} float16")
                    continue
                if not np.isfinite(arr).all():
                    errs.append(f"{key}.{need[0]}: non-finite values")
                if name == "normals" and (np.linalg.norm(arr.astype(np.float32), axis=-1) > 1.01).any():
                    errs.append(f"{key}.{need[0]}: normals longer than 1")
        except ValueError as exc:
            errs.append(str(exc))
    if "seg" in decoded:
        legend = meta.get("seg_legend") or {}
        labels = {int(v) for v in np.unique(decoded["seg"])}
        unknown = sorted(labels - {int(k) for k in legend})
        if unknown:
            errs.append(f"{key}: seg labels {unknown} are not in meta.json seg_legend {legend}")
    if "parts" in decoded and decoded["parts"].max() > MAX_PART:
        errs.append(f"{key}: parts labels above {MAX_PART}")
    if "seg" in decoded and "depth" in decoded:
        bg_seg = decoded["seg"] == 0
        bg_depth = decoded["depth"] == DEPTH_BACKGROUND
        if (bg_seg != bg_depth).any():
            errs.append(
                f"{key}: seg is background in {int((bg_seg & ~bg_depth).sum())} pixels where depth is not, "
                f"depth in {int((bg_depth & ~bg_seg).sum())} where seg is not"
            )
    return errs
