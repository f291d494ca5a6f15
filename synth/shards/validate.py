"""`synth validate DIR`: check every shard sample against the contract in docs/ARCHITECTURE.md.

Checks files and shapes, then the numbers themselves: every array finite and of plausible size, j3d_cam = R j3d_world + t, j2d = K j3d_cam
(the 2D joints really come from these cameras), visible joints inside the image, boxes inside
the image, poses_cam/trans_cam consistent with the camera, meta split = shard split, the render
passes meta.json lists (present for every frame, shape, dtype, range, seg background exactly
where depth is background; synth/shards/passes.py), verts.npz, whole sequences per shard (a sample
whose `verts_in` holder is not earlier in its shard is named), and the dataset card's counts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth.sequence import MAX_ABS_BETA
from synth.shards.passes import check_passes
from synth.shards.sample import JOINT_KEYS, REQUIRED, SMPL_KEYS
from synth.shards.tario import group_samples, read_tar
from synth.shards.writer import SHARD_RE, shard_paths

# Plausible magnitudes of the annotations (a NaN or a 1e29 sneaks through every shape check and
# trains a NaN model): per-joint axis-angle norm (radians; interpolation may pass pi a little),
# shape coefficients (MAX_ABS_BETA, as for MoSh), world/camera positions (metres) and the body's
# extent around its pelvis (metres).
MAX_ROTATION_RAD = 2 * np.pi
MAX_ABS_POSITION_M = 1000.0
MAX_JOINT_SPREAD_M = 2.5


def value_problems(key: str, smpl: dict, joints: dict, verts: dict | None = None) -> list[str]:
    """Non-finite or implausible values in the sample's arrays (every array, every element)."""
    errs = []
    arrays = {f"smpl.npz:{k}": v for k, v in smpl.items()} | {f"joints.npz:{k}": v for k, v in joints.items()}
    arrays |= {f"verts.npz:{k}": v for k, v in (verts or {}).items()}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))
            errs.append(f"{key}.{name}: {len(bad)} non-finite value(s), first at index {tuple(int(i) for i in bad[0])}")
    if errs:
        return errs

    def over(name: str, value: np.ndarray, limit: float, what: str) -> None:
        worst = float(np.max(value, initial=0.0))
        if worst > limit:
            t = int(np.unravel_index(np.argmax(value), value.shape)[0])
            errs.append(f"{key}.{name}: {what} {worst:.3g} at frame {t} (plausible: <= {limit:g})")

    for k in ("poses", "poses_cam"):
        over(
            f"smpl.npz:{k}",
            np.linalg.norm(smpl[k].astype(np.float64).reshape(len(smpl[k]), -1, 3), axis=-1),
            MAX_ROTATION_RAD,
            "joint rotation of",
        )
    over("smpl.npz:betas", np.abs(smpl["betas"]), MAX_ABS_BETA, "|beta|")
    for name, a in (
        ("smpl.npz:trans", smpl["trans"]),
        ("smpl.npz:trans_cam", smpl["trans_cam"]),
        ("joints.npz:j3d_world", joints["j3d_world"]),
        ("joints.npz:j3d_cam", joints["j3d_cam"]),
    ):
        over(name, np.abs(a), MAX_ABS_POSITION_M, "|position| m")
    spread = np.linalg.norm(joints["j3d_world"] - joints["j3d_world"][:, :1], axis=-1)
    over("joints.npz:j3d_world", spread, MAX_JOINT_SPREAD_M, "joint distance from the pelvis m")
    for k, v in (verts or {}).items():
        if not k.startswith("faces"):
            over(f"verts.npz:{k}", np.abs(np.asarray(v, np.float32)), MAX_ABS_POSITION_M, "|position| m")
    return errs


@dataclass
class ValidationReport:
    shards: int = 0
    samples: int = 0
    frames: int = 0
    errors: list = field(default_factory=list)
    keys: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.samples > 0


def check_sample(key: str, files: dict[str, bytes], split: str, tol_px: float = 0.05) -> tuple[list[str], int]:
    """Errors of one sample (empty when it meets the contract) and its frame count."""
    from scipy.spatial.transform import Rotation

    from synth.annotate.project import project, to_camera
    from synth.shards.encode import decode_image, load_npz_bytes

    errs: list[str] = []
    for r in REQUIRED:
        if r not in files:
            errs.append(f"missing {key}.{r}")
    if errs:
        return errs, 0
    frames = sorted(e for e in files if e.split(".")[0].isdigit())
    T = len(frames)
    if T == 0:
        return [f"{key}: no frames"], 0
    if frames != [f"{t:04d}.{frames[0].split('.')[1]}" for t in range(T)]:
        errs.append(f"{key}: frames are not numbered 0000..{T - 1:04d}")
    meta = json.loads(files["meta.json"])
    cam = json.loads(files["camera.json"])
    smpl = load_npz_bytes(files["smpl.npz"])
    joints = load_npz_bytes(files["joints.npz"])
    W, H = cam["resolution"]
    img = decode_image(files[frames[0]])
    if img.shape[:2] != (H, W):
        errs.append(f"{key}: frame size {img.shape[1]}x{img.shape[0]} != camera resolution {W}x{H}")
    for k, v in {
        "sequence": str,
        "camera": int,
        "num_frames": int,
        "split": str,
        "fps": float,
        "lead_in": list,
        "world_frame": str,
    }.items():
        if not isinstance(meta.get(k), v) and not (v is float and isinstance(meta.get(k), int)):
            errs.append(f"{key}.meta.json: '{k}' missing or not {v.__name__}")
    if errs:
        return errs, T
    if meta["num_frames"] != T or len(meta["lead_in"]) != T:
        errs.append(f"{key}: meta num_frames/lead_in disagree with {T} frames")
    if key != f"{meta['sequence']}_c{meta['camera']}":
        errs.append(f"{key}: key is not {{sequence}}_c{{camera}} of meta.json")
    if meta["split"] != split:
        errs.append(f"{key}: meta split {meta['split']!r} in a {split!r} shard")
    if (
        meta["world_frame"] != "smpl_y_up"
        or cam.get("world_frame") != "smpl_y_up"
        or cam.get("camera_frame") != "opencv"
    ):
        errs.append(f"{key}: frames must be smpl_y_up world and opencv camera")
    shapes = {
        "poses": (T, 72),
        "poses_cam": (T, 72),
        "betas": (T, 10),
        "trans": (T, 3),
        "trans_cam": (T, 3),
        "j3d_world": (T, 24, 3),
        "j3d_cam": (T, 24, 3),
        "j2d": (T, 24, 2),
        "visibility": (T, 24),
        "bbox": (T, 4),
    }
    for name, arrays in (("smpl", smpl), ("joints", joints)):
        for k in SMPL_KEYS if name == "smpl" else JOINT_KEYS:
            if k not in arrays:
                errs.append(f"{key}.{name}.npz: missing {k}")
            elif arrays[k].shape != shapes[k]:
                errs.append(f"{key}.{name}.npz: {k} has shape {arrays[k].shape}, expected {shapes[k]}")
    if errs:
        return errs, T
    verts = load_npz_bytes(files["verts.npz"]) if "verts.npz" in files else None
    errs += value_problems(key, smpl, joints, verts)
    if errs:
        return errs, T
    K = np.asarray(cam["K"], np.float64)
    R = np.asarray(cam["R"], np.float64)
    t = np.asarray(cam["t"], np.float64)
    if K.shape != (3, 3) or R.shape != (T, 3, 3) or t.shape != (T, 3):
        return errs + [f"{key}.camera.json: K/R/t shapes {K.shape}/{R.shape}/{t.shape}"], T
    if not (np.isfinite(K).all() and np.isfinite(R).all() and np.isfinite(t).all()):
        return errs + [f"{key}.camera.json: non-finite K/R/t"], T
    if not np.allclose(np.einsum("tij,tkj->tik", R, R), np.eye(3), atol=1e-4):
        errs.append(f"{key}: camera R is not a rotation")
    j3d_cam = to_camera(joints["j3d_world"].astype(np.float64), R, t)
    if np.abs(j3d_cam - joints["j3d_cam"]).max() > 1e-3:
        errs.append(f"{key}: j3d_cam != R j3d_world + t (max {np.abs(j3d_cam - joints['j3d_cam']).max():.4f} m)")
    j2d = project(j3d_cam, K)
    front = np.isfinite(j2d).all(-1)
    err = np.abs(j2d[front] - joints["j2d"][front]).max() if front.any() else 0.0
    if err > tol_px + 1e-3 * np.abs(j2d[front]).max(initial=1.0):
        errs.append(f"{key}: j2d differs from K(R j3d_world + t) by {err:.3f} px")
    vis = joints["visibility"]
    if vis.dtype != bool:
        errs.append(f"{key}: visibility is {vis.dtype}, not bool")
    inside = (
        (joints["j2d"][..., 0] >= 0)
        & (joints["j2d"][..., 0] < W)
        & (joints["j2d"][..., 1] >= 0)
        & (joints["j2d"][..., 1] < H)
    )
    if (vis & ~inside).any():
        errs.append(f"{key}: {(vis & ~inside).sum()} visible joints outside the image")
    b = joints["bbox"]
    if (
        (b[:, 0] > b[:, 2]).any()
        or (b[:, 1] > b[:, 3]).any()
        or (b < 0).any()
        or (b[:, [0, 2]] > W).any()
        or (b[:, [1, 3]] > H).any()
    ):
        errs.append(f"{key}: bbox not xyxy inside the {W}x{H} image")
    root_w = Rotation.from_rotvec(smpl["poses"][:, :3].astype(np.float64)).as_matrix()
    root_c = Rotation.from_rotvec(smpl["poses_cam"][:, :3].astype(np.float64)).as_matrix()
    if np.abs(R @ root_w - root_c).max() > 1e-3:
        errs.append(f"{key}: poses_cam root is not R @ poses root")
    if np.abs(smpl["poses_cam"][:, 3:] - smpl["poses"][:, 3:]).max() > 1e-6:
        errs.append(f"{key}: poses_cam body joints differ from poses")
    j0 = joints["j3d_world"][:, 0] - smpl["trans"]
    if np.abs(smpl["trans_cam"] + j0 - joints["j3d_cam"][:, 0]).max() > 1e-3:
        errs.append(f"{key}: trans_cam + pelvis offset != j3d_cam pelvis")
    if verts is not None:
        errs += _check_verts(key, verts, meta, R, t, T)
    errs += check_passes(key, files, T, W, H, meta)
    return errs, T


def _check_verts(key: str, v: dict, meta: dict, R: np.ndarray, t: np.ndarray, T: int) -> list[str]:
    """verts.npz (synth/shards/verts.py): world-frame garments, every camera's extrinsics."""
    errs = []
    if v.get("origin", np.zeros(0)).shape != (T, 3) or v.get("R", np.zeros(0)).ndim != 4 or "t" not in v:
        return [f"{key}.verts.npz: needs origin (T,3), R (C,T,3,3), t (C,T,3)"]
    c = int(meta["camera"])
    if v["R"].shape[1:] != (T, 3, 3) or v["t"].shape[1:] != (T, 3) or c >= len(v["R"]):
        return [f"{key}.verts.npz: R/t shapes {v['R'].shape}/{v['t'].shape} for {T} frames"]
    if np.abs(v["R"][c] - R).max() > 1e-5 or np.abs(v["t"][c] - t).max() > 1e-4:
        errs.append(f"{key}.verts.npz: camera {c} extrinsics differ from camera.json")
    for k in v:
        if k.startswith("cloth_") and (v[k].ndim != 3 or len(v[k]) != T or f"faces_{k}" not in v):
            errs.append(f"{key}.verts.npz: {k} must be (T,V,3) with faces_{k}")
    return errs


def _check_whole_sequence(key: str, files: dict, shard: str, shard_of: dict, holders: set) -> list[str]:
    """A shard holds whole sequences, camera 0 (the verts.npz holder) first (synth/shards/writer.py)."""
    errs = []
    seq = key.rsplit("_c", 1)[0]
    if shard_of.setdefault(seq, shard) != shard:
        errs.append(f"{key}: sequence {seq} is split across {shard_of[seq]} and {shard} (re-pack: `synth shard DIR`)")
    if "verts.npz" in files:
        holders.add(key)
    try:
        holder = json.loads(files["meta.json"]).get("verts_in")
    except (KeyError, ValueError, AttributeError):
        return errs  # check_sample names an unreadable meta.json
    if holder and holder not in holders:
        errs.append(f"{key}: its vertices are in {holder}, which is not earlier in this shard")
    return errs


def validate_dir(path: str | Path, max_errors: int = 50) -> ValidationReport:
    path = Path(path)
    rep = ValidationReport()
    if not path.exists():
        rep.errors.append(f"{path}: no such shard or directory")
        return rep
    shards = shard_paths(path) if path.is_dir() else [path]
    if not shards:
        rep.errors.append(f"{path}: no shards named {{split}}-NNNNNN.tar")
        return rep
    seen = set()
    shard_of: dict[str, str] = {}  # sequence -> the shard holding it
    for p in shards:
        m = SHARD_RE.match(p.name)
        if not m:
            rep.errors.append(f"{p.name}: not named {{train,val,test}}-NNNNNN.tar")
            continue
        rep.shards += 1
        holders: set[str] = set()  # samples of this shard read so far that carry verts.npz
        try:
            for key, files in group_samples(read_tar(p)):
                rep.samples += 1
                rep.keys.append(key)
                if key in seen:
                    rep.errors.append(f"{p.name}: duplicate key {key}")
                seen.add(key)
                errs, T = check_sample(key, files, m.group(1))
                rep.frames += T
                errs += _check_whole_sequence(key, files, p.name, shard_of, holders)
                rep.errors += [f"{p.name}: {e}" for e in errs]
        except Exception as exc:  # noqa: BLE001 - a corrupt shard is a finding, not a crash
            rep.errors.append(f"{p.name}: unreadable ({exc})")
        if len(rep.errors) >= max_errors:
            break
    card = path / "dataset_card.json" if path.is_dir() else None
    if card is not None:
        if not card.is_file():
            rep.errors.append("dataset_card.json missing")
        else:
            total = json.loads(card.read_text())["total"]
            if total["samples"] != rep.samples or total["frames"] != rep.frames:
                rep.errors.append(
                    f"dataset card counts {total['samples']} samples/{total['frames']} frames, "
                    f"shards hold {rep.samples}/{rep.frames}"
                )
    return rep
