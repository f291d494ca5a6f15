"""How garments sit on the body: gap to the skin, folds, hem stand-off, and a rendered look.

Per outfit and motion (sequences made as benchmarks/cloth_motions.py makes them: the motion itself after the
pipeline's lead-in from its rest pose, the A-pose), simulated with the pipeline's solver and seed 0, measured on the motion's frames
(lead-in excluded):
- gap p10/p50/p90 (mm): each garment vertex's unsigned distance to the posed body surface. A garment that is
  the body pushed out by a constant ease shows p10 ~ p90 ("painted on"); cloth that hangs and folds spreads it.
- hem gap p50 (mm): the same at the garment's openings (sleeves, legs, hem; not the collar or waistband): an opening
  that stands off the skin shows a visible edge, thickness and a shadow inside it.
- bend p90 (deg): the 90th percentile of the dihedral angle between neighbouring triangles, minus the same at
  rest (the body's own curvature): folds and wrinkles raise it.
--render PNG: renders the first row's sequence at --frames with the pipeline's default scene settings for
--scene-seed (all four cameras, --resolution px) and tiles the views into one PNG (rows: frames).
Usage: python benchmarks/garment_fit.py [--motions walk,squat] [--outfits tshirt+trousers,longsleeve+shorts] [--slack 0]
                                        [--render OUT.png --scene-seed 3 --frames 10,20 --resolution 256]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.cloth_motions import LEAD_IN, make_sequence
from synth.pipeline.stages import get_body


def dihedral_deg(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(E,) angle in degrees between the normals of the two faces on each interior edge."""
    n = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    f = np.tile(np.arange(len(faces)), 3)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e, f = e[order], f[order]
    pair = np.all(e[1:] == e[:-1], axis=1)
    a, b = f[:-1][pair], f[1:][pair]
    return np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", n[a], n[b]), -1.0, 1.0)))


def border_vertices(faces: np.ndarray) -> np.ndarray:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, cnt = np.unique(e, axis=0, return_counts=True)
    return np.unique(uniq[cnt == 1])


def opening_vertices(cache) -> np.ndarray:
    """Border vertices of the openings the body comes out of (sleeves, legs, the hem), not the attachments
    (a lower garment's waistband: its top 5 cm; a top's collar: the top 15 cm within 12 cm of its centre)."""
    b = border_vertices(cache.faces)
    x, y = cache.rest[b, 0], cache.rest[b, 1]
    top = cache.rest[:, 1].max()
    if cache.garment_type in ("shorts", "trousers", "skirt"):
        return b[y < top - 0.05]
    return b[~((np.abs(x - np.median(cache.rest[:, 0])) < 0.12) & (y > top - 0.15))]


def fit_stats(cache, body_frames: np.ndarray, body_faces: np.ndarray) -> dict[str, float]:
    """Gap, hem gap and bend of one garment cache over body_frames (T, Vb, 3) (the cache's frames)."""
    from synth.cloth.collision import MeshCollider

    col = MeshCollider(np.asarray(body_faces, np.int64), body_frames.shape[1])
    gaps = np.stack(
        [np.abs(col.query(cache.verts[t].astype(np.float64), body_frames[t]).signed) for t in range(len(body_frames))]
    )
    hem = opening_vertices(cache)
    rest_bend = np.percentile(dihedral_deg(cache.rest.astype(np.float64), cache.faces), 90)
    bend = np.mean([np.percentile(dihedral_deg(v.astype(np.float64), cache.faces), 90) for v in cache.verts])
    p10, p50, p90 = np.percentile(gaps * 1000, [10, 50, 90])
    return {
        "gap_p10": p10,
        "gap_p50": p50,
        "gap_p90": p90,
        "hem_p50": float(np.median(gaps[:, hem]) * 1000),
        "bend_p90": float(bend - rest_bend),
    }


def simulate(motion: str, outfit: list[str], seed: int, slack: float | None = None):
    from synth.cloth import simulate_sequence
    from synth.cloth.simulate import body_vertices

    body = get_body()
    seq = make_sequence("clip", motion, 1.0)
    mats = ["cotton" if g in ("tshirt", "longsleeve") else "denim" for g in outfit]
    caches = simulate_sequence(seq, body, outfit, mats, seed=seed, **({} if slack is None else {"slack": slack}))
    return seq, body_vertices(body, seq), caches


def render(out: Path, seq, frames: np.ndarray, caches, scene_seed: int, frame_ids: list[int], resolution: int):
    """Render frame_ids (motion frames, after the lead-in) from all cameras; tile into `out`."""
    from PIL import Image

    from synth.pipeline.config import PipelineConfig
    from synth.pipeline.stages import scene_settings
    from synth.scene import run_render, sample_scene, write_render_job
    from synth.scene.people import people_rig
    from synth.viz.render import save_png, tile_images

    body = get_body()
    idx = np.asarray(frame_ids) + LEAD_IN
    settings = scene_settings(PipelineConfig()) | {"resolution": resolution, "passes": []}
    spec = sample_scene(scene_seed, settings)
    _, joints = body.evaluate(seq.betas, seq.poses[idx], seq.trans[idx])[:2]
    garments = [c.select_frames(idx) for c in caches]
    with tempfile.TemporaryDirectory() as tmp:
        job = write_render_job(
            Path(tmp),
            spec,
            frames[idx],
            np.asarray(body.faces),
            garments,
            track=joints[:, 0],
            part_labels=np.asarray(body.part_labels),
            rig=people_rig(body),
        )
        run_render(job)
        rows = []
        for t in range(len(idx)):
            views = [
                np.asarray(Image.open(job / "frames" / f"cam{c}" / f"{t:04d}.png").convert("RGB")) for c in range(4)
            ]
            rows.append(np.concatenate(views, axis=1))
    titles = [f"scene seed {scene_seed}, frame {f}" for f in frame_ids]
    save_png(out, tile_images(rows, cols=1, pad=2, titles=titles))
    print(f"rendered -> {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--motions", default="walk,squat")
    ap.add_argument("--outfits", default="tshirt+trousers,longsleeve+shorts")
    ap.add_argument("--seed", type=int, default=0, help="cloth seed (the fit is drawn from it)")
    ap.add_argument("--slack", type=float, help="every garment's slack in m (default: drawn per garment)")
    ap.add_argument("--render", type=Path, help="PNG of the first motion x outfit")
    ap.add_argument("--scene-seed", type=int, default=3)
    ap.add_argument("--frames", default="10,20", help="motion frames to render (after the lead-in)")
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    body = get_body()
    print(
        "| motion | outfit | garment | ease mm | slack mm | gap p10 mm | gap p50 mm | gap p90 mm | hem gap p50 mm | bend p90 deg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    first = None
    for motion in args.motions.split(","):
        for outfit in args.outfits.split(","):
            seq, frames, caches = simulate(motion, outfit.split("+"), args.seed, args.slack)
            first = first or (seq, frames, caches)
            for c in caches:
                s = fit_stats(c.select_frames(slice(LEAD_IN, None)), frames[LEAD_IN:], body.faces)
                ease = 1000 * float(c.stats.get("ease_m", float("nan")))
                slack = 1000 * float(c.stats.get("slack_m", 0.0))
                print(
                    f"| {motion} | {outfit} | {c.garment_type} | {ease:.0f} | {slack:.0f} | {s['gap_p10']:.1f} | {s['gap_p50']:.1f} "
                    f"| {s['gap_p90']:.1f} | {s['hem_p50']:.1f} | {s['bend_p90']:.1f} |",
                    flush=True,
                )
    if args.render:
        seq, frames, caches = first
        render(
            args.render, seq, frames, caches, args.scene_seed, [int(f) for f in args.frames.split(",")], args.resolution
        )


if __name__ == "__main__":
    main()
