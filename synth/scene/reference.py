"""Reference checks of a finished render against its geometry (tests and benchmarks/render.py):
projected joints vs the person mask, the depth/seg passes vs a numpy z-buffer of the meshes, and
rendered colour in CIELAB / ITA terms (skin tone checks: benchmarks/skin_tones.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.annotate.cameras import load_render_cameras
from synth.blender_scripts.common import srgb_decode


def zbuffer(verts_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, W: int, H: int) -> np.ndarray:
    """Camera-z depth at pixel centres (inf where no triangle covers the centre); perspective-correct."""
    z = np.full((H, W), np.inf)
    uv = verts_cam[:, :2] / verts_cam[:, 2:] @ K[:2, :2].T + K[:2, 2]
    for f in faces:
        p = uv[f]
        x0, y0 = np.maximum(np.floor(p.min(0) - 0.5).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(p.max(0) - 0.5).astype(int), [W - 1, H - 1])
        m = np.array([p[1] - p[0], p[2] - p[0]]).T
        if x1 < x0 or y1 < y0 or abs(np.linalg.det(m)) < 1e-12:
            continue
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1) + 0.5, np.arange(y0, y1 + 1) + 0.5)
        q = np.stack([xs.ravel(), ys.ravel()], 1)
        ab = np.linalg.solve(m, (q - p[0]).T).T
        w = np.c_[1 - ab.sum(1), ab]
        ok = (w >= -1e-9).all(1)
        if ok.any():
            zz = 1.0 / (w[ok] @ (1.0 / verts_cam[f, 2]))  # 1/z is linear in the image
            np.minimum.at(z, ((q[ok, 1] - 0.5).astype(int), (q[ok, 0] - 0.5).astype(int)), zz)
    return z


def _seg(job: Path, c: int, t: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(job / "seg" / f"cam{c}" / f"{t:04d}.png"))


def joints_in_mask(job: str | Path, joints: np.ndarray) -> float:
    """Share of SMPL-world joints (T,24,3), projected with cameras.json, that fall on person pixels."""
    job = Path(job)
    hits = []
    for c, cam in enumerate(load_render_cameras(job / "cameras.json")):
        W, H = cam.resolution
        for t in range(len(joints)):
            x = joints[t] @ cam.R[t].T + cam.t[t]
            px = np.floor(x[:, :2] / x[:, 2:] @ cam.K[:2, :2].T + cam.K[:2, 2]).astype(int)
            ok = (px >= 0).all(1) & (px[:, 0] < W) & (px[:, 1] < H)
            hit = np.zeros(len(px), bool)
            hit[ok] = _seg(job, c, t)[px[ok, 1], px[ok, 0]] > 0
            hits.append(hit)
    return float(np.mean(hits))


def pass_errors(job: str | Path, meshes: list[tuple[np.ndarray, np.ndarray]], cameras: list[int], t: int):
    """(|depth - z-buffer| metres over pixels both see, per camera share of seg labels = z-buffer labels).

    meshes: [(verts (T,V,3) SMPL world, faces)] in label order (body first)."""
    job = Path(job)
    cams = load_render_cameras(job / "cameras.json")
    errs, agree = [], []
    for c in cameras:
        cam = cams[c]
        W, H = cam.resolution
        depth = np.load(job / "depth" / f"cam{c}" / f"{t:04d}.npy")
        zs = [zbuffer(v[t] @ cam.R[t].T + cam.t[t], f, cam.K, W, H) for v, f in meshes]
        ref = np.min(zs, axis=0)
        label = np.where(np.isinf(ref), 0, np.argmin(zs, axis=0) + 1)
        agree.append(float((label == _seg(job, c, t)).mean()))
        both = np.isfinite(ref) & np.isfinite(depth)
        errs.append(np.abs(depth[both] - ref[both]))
    return np.concatenate(errs), agree


def flow_errors(job: str | Path, meshes: list[tuple[np.ndarray, np.ndarray]], camera: int, t: int) -> np.ndarray:
    """|flow pass - projected displacement t -> t+1| in pixels at every vertex visible at t (its depth
    matches the depth pass within 5 mm). meshes: [(verts (T,V,3) SMPL world, faces)]."""
    job = Path(job)
    cam = load_render_cameras(job / "cameras.json")[camera]
    W, H = cam.resolution
    flow = np.load(job / "flow" / f"cam{camera}" / f"{t:04d}.npy").astype(np.float64)
    depth = np.load(job / "depth" / f"cam{camera}" / f"{t:04d}.npy")

    def project(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        xc = x @ cam.R[k].T + cam.t[k]
        return xc[:, :2] / xc[:, 2:] @ cam.K[:2, :2].T + cam.K[:2, 2], xc[:, 2]

    errs = []
    for verts, _ in meshes:
        uv0, z0 = project(verts[t], t)
        uv1, _ = project(verts[t + 1], t + 1)
        px = np.floor(uv0).astype(int)
        vis = (px >= 0).all(1) & (px[:, 0] < W) & (px[:, 1] < H)
        vis[vis] = np.abs(depth[px[vis, 1], px[vis, 0]] - z0[vis]) < 0.005
        errs.append(np.linalg.norm(flow[px[vis, 1], px[vis, 0]] - (uv1 - uv0)[vis], axis=1))
    return np.concatenate(errs)


def srgb_to_lab(srgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours in [0, 1], (..., 3)."""
    c = np.asarray(srgb, np.float64)
    lin = srgb_decode(c).astype(np.float64)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def ita_degrees(srgb: np.ndarray) -> np.ndarray:
    """Individual typology angle of sRGB skin colours, atan((L* - 50) / b*) in degrees: > 55 very
    light, 41-55 light, 28-41 intermediate, 10-28 tan, -30-10 brown, < -30 dark."""
    lab = srgb_to_lab(srgb)
    return np.degrees(np.arctan2(lab[..., 0] - 50, lab[..., 2]))


def rendered_skin_colour(job_dir: str | Path, tone: float, verts, faces, rig, resolution: int = 160, samples: int = 16):
    """(albedo sRGB of `tone`, median rendered sRGB of its skin pixels): the body (no garments,
    hair or shoes) from the front in a uniform white dome of radiance 1 without lights, where a
    diffuse surface renders as about its albedo. Skin pixels: seg label 1 eroded by 2 px."""
    from PIL import Image
    from scipy.ndimage import binary_erosion

    from synth.scene.job import write_render_job
    from synth.scene.render_assets import write_uniform_hdr
    from synth.scene.runner import run_render
    from synth.scene.sampling import sample_scene, skin_color

    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    write_uniform_hdr(job_dir / "white.hdr")
    settings = {"resolution": resolution, "samples": samples, "passes": ["seg"], "people": False}
    spec = sample_scene(0, settings | {"hdri_dir": str(job_dir)})
    spec.background.update(rotation=0.0, strength=1.0)
    spec.lights = []
    spec.cameras = [dict(spec.cameras[2], elevation=0.0)]  # south: the front
    albedo = skin_color(float(tone))
    spec.skin.update(tone=float(tone), undertone=0.0, color=[float(c) for c in albedo])
    job = write_render_job(job_dir / "job", spec, verts, faces, [], rig=rig)
    run_render(job)
    rgb = np.asarray(Image.open(job / "frames" / "cam0" / "0000.png").convert("RGB"), np.float64) / 255
    seg = np.asarray(Image.open(job / "seg" / "cam0" / "0000.png"))
    return albedo, np.median(rgb[binary_erosion(seg == 1, iterations=2)], axis=0)
