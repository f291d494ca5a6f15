"""`predict`: a folder of frames or a video -> OUT/smpl.npz (per-frame camera-frame SMPL, camera, crop),
OUT/motion.npz (the recovered motion as a MoshedSequence in the SMPL world: a `synth generate` motion
source, motion transfer) and OUT/meshes/*.obj. Every frame is decoded before the model runs, so a bad
file stops the command with its name; non-finite predictions are refused, never written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from synth.errors import SynthError
from synth.io import atomic_path
from train.checkpoint import load_trained
from train.data import crop_frame, normalise_image
from train.runtime import body_device

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3) of one frame; a truncated or corrupt file is a SynthError naming it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()  # PIL decodes lazily: force it so a truncated file fails here, not later
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise SynthError(
            f"cannot decode this frame ({exc})", path=path, fix="re-export the frame, or remove it from the folder"
        ) from exc


def read_frames(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """RGB frames of an MP4 (or any video imageio reads) or of a folder of .png/.jpg images, in name order."""
    import imageio.v3 as iio

    if not path.exists():
        raise SynthError("no such file or folder", path=path, fix="pass a folder of frames or an MP4")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SynthError("no .png/.jpg frames in the folder", path=path, fix="pass a folder of frames or an MP4")
        frames = [read_image(p) for p in files]
        names = [p.name for p in files]
    else:
        try:
            frames = [np.asarray(f)[..., :3] for f in iio.imiter(path)]
        except Exception as exc:  # noqa: BLE001 - any decoder failure: the file is not a readable video
            raise SynthError(f"cannot read video ({exc})", path=path, fix="pass an MP4 or a folder of frames") from exc
        if not frames:
            raise SynthError("the video has no frames", path=path, fix="pass an MP4 with frames or a folder of frames")
        names = [f"{i:06d}" for i in range(len(frames))]
    sizes = sorted({f.shape[:2] for f in frames})
    if len(sizes) > 1:
        raise SynthError(f"frames of different sizes {sizes[:3]}", path=path, fix="give frames of one size (one clip)")
    return frames, names


# OpenCV camera (x right, y down, z forward) -> SMPL world (Y up), for a level camera looking along -Z of
# the world: the assumption motion transfer makes about a clip whose camera is unknown. Its own inverse.
CAMERA_TO_WORLD = np.diag([1.0, -1.0, -1.0])


def world_motion(theta_cam: np.ndarray, beta: np.ndarray, cam: np.ndarray, body, fps: float, source: str):
    """A MoshedSequence of predicted camera-frame SMPL parameters: the root turned into the SMPL world
    (CAMERA_TO_WORLD), one shape (the clip's mean beta), and the root translation the orthographic camera
    implies: t / s across the image plane (metres at the body's depth; x2d = s X + t), depth constant
    (a weak-perspective camera does not see it). Starts at the origin of the ground plane."""
    from synth.annotate.sample import root_to_camera
    from synth.sequence import MoshedSequence

    betas = beta.mean(0)
    j0 = body.rest_joints(betas)[0]
    poses = root_to_camera(theta_cam, CAMERA_TO_WORLD)  # root_world = CAMERA_TO_WORLD @ root_camera
    trans_cam = np.zeros((len(cam), 3))
    trans_cam[:, :2] = cam[:, 1:] / cam[:, :1]
    # SMPL rotates the root about the rest pelvis j0: the same body in the world needs trans_w = C (j0 + t_c) - j0.
    trans = (j0 + trans_cam) @ CAMERA_TO_WORLD.T - j0
    trans[:, [0, 2]] -= trans[0, [0, 2]]
    return MoshedSequence(
        poses=poses, betas=betas, trans=trans, fps=fps, source=source, body_model=getattr(body, "identifier", "")
    )


def clip_fps(path: Path, default: float = 30.0) -> float:
    """Frame rate of a video from its metadata; `default` for a folder of frames or a file without one."""
    if path.is_dir():
        return default
    import imageio.v3 as iio

    try:
        fps = float(iio.immeta(path).get("fps") or 0.0)
    except Exception:  # noqa: BLE001 - metadata is optional; the frames were readable
        fps = 0.0
    return fps if fps > 0 else default


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """One frame's mesh as OBJ (trimesh's writer; vertices as given, 10 micrometre steps), atomically."""
    import trimesh

    text = trimesh.Trimesh(verts, faces, process=False).export(file_type="obj", include_normals=False, digits=5)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@torch.no_grad()
def predict(
    run: Path,
    source: Path,
    out: Path,
    body,
    device: torch.device,
    kind: str = "mviper",
    bbox: list[float] | None = None,
    chunk: int = 64,
    fps: float | None = None,
) -> Path:
    """Per-frame SMPL parameters (camera frame) and meshes for a clip; the person box is `bbox` (xyxy,
    one for all frames) or the centred square of the frame."""
    model, cfg = load_trained(run, kind, device)
    frames, names = read_frames(source)
    H, W = frames[0].shape[:2]
    x0, y0, x1, y1 = bbox or (0.0, 0.0, float(W), float(H))
    if not (x1 > x0 and y1 > y0):
        raise SynthError(f"empty --bbox {bbox}", path=source, fix="give X0 Y0 X1 Y1 with X1 > X0 and Y1 > Y0 (pixels)")
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (cfg.data.bbox_scale if bbox else 1.0)
    crops = np.stack([crop_frame(f, cx, cy, side, cfg.data.crop_size) for f in frames])
    images = torch.from_numpy(normalise_image(crops))
    theta, beta, cam = [], [], []
    for s in range(0, len(images), chunk):  # a new chunk restarts the video model's state
        pred = model(images[None, s : s + chunk].to(device))
        theta.append(pred["theta"][0].cpu())
        beta.append(pred["beta"][0].cpu())
        cam.append(pred["cam"][0].cpu())
    theta, beta, cam = torch.cat(theta), torch.cat(beta), torch.cat(cam)
    bad = ~(torch.isfinite(theta).all(1) & torch.isfinite(beta).all(1) & torch.isfinite(cam).all(1))
    if bad.any():
        raise SynthError(
            f"the {kind} model predicted non-finite values for {int(bad.sum())} frames, e.g. {names[int(bad.nonzero()[0])]}",
            path=run / kind,
            fix="nothing was written; retrain this stage or try --model hmr",
        )
    dev = body_device(body)
    mesh = body(beta.to(dev), theta.to(dev), torch.zeros(len(theta), 3, device=dev))
    verts = mesh.vertices.cpu().numpy()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "smpl.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            poses_cam=theta.numpy(),
            betas=beta.numpy(),
            cam=cam.numpy(),
            crop=np.array([[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]] * len(theta), np.float32),
            joints=mesh.joints[:, :24].cpu().numpy(),
            frames=np.array(names),
            model=kind,
            body_model=getattr(body, "identifier", ""),
            camera_frame="opencv",
        )
    motion = world_motion(
        theta.numpy().astype(np.float64),
        beta.numpy().astype(np.float64),
        cam.numpy().astype(np.float64),
        body,
        fps or clip_fps(source),
        f"predict/{source.stem}",
    )
    motion.save(out / "motion.npz")
    faces = np.asarray(body.faces)
    for t, name in enumerate(names):
        write_obj(out / "meshes" / f"{Path(name).stem}.obj", verts[t], faces)
    return out / "smpl.npz"
