"""Mesh vertices of a sequence, stored once per sequence and rebuilt per camera.

`verts.npz` sits in the sample of camera 0 only (`{seq}_c0.verts.npz`); it holds what cannot be
rebuilt from the other members:

| array | shape, dtype | content |
| --- | --- | --- |
| `origin` | (T,3) float32 | SMPL-world root translation per frame (= smpl.npz `trans`) |
| `cloth_{name}` | (T,V,3) float16 | garment vertices in the SMPL world minus `origin` (offsets under 1 m: float16 steps <= 0.49 mm) |
| `faces_cloth_{name}` | (F,3) int32 | garment triangles |
| `R`, `t` | (C,T,3,3), (C,T,3) float32 | every camera's extrinsics (x_cam = R x_world + t), as in each camera.json |

Body vertices are not stored: the body model named in meta.json `body_model` rebuilds them from
smpl.npz (`betas`, `poses`, `trans`, SMPL world). `camera_meshes` gives every camera's meshes
in its camera frame, which is what `synth inspect` draws.
"""

from __future__ import annotations

import numpy as np

from synth.annotate.project import to_camera
from synth.errors import SynthError


def encode_world_verts(
    trans: np.ndarray, garments: dict[str, np.ndarray], faces: dict[str, np.ndarray], R: np.ndarray, t: np.ndarray
) -> dict[str, np.ndarray]:
    """verts.npz arrays: trans (T,3) world root, garments {name: (T,V,3) world}, faces {name: (F,3)},
    R (C,T,3,3), t (C,T,3)."""
    origin = np.asarray(trans, np.float32)
    out = {"origin": origin, "R": np.asarray(R, np.float32), "t": np.asarray(t, np.float32)}
    for name, v in garments.items():
        out[f"cloth_{name}"] = (np.asarray(v, np.float64) - origin[:, None].astype(np.float64)).astype(np.float16)
        out[f"faces_cloth_{name}"] = np.asarray(faces[name], np.int32)
    return out


def world_meshes(
    verts: dict[str, np.ndarray], smpl: dict[str, np.ndarray], meta: dict, body=None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"body": (verts (T,V,3), faces), "cloth_{name}": ...} in the SMPL world, the body rebuilt by
    the body model (`body`, else the default one, checked against meta.json body_model)."""
    if body is None:
        from synth.body import load_body_model

        body = load_body_model()
    want = meta.get("body_model", "")
    if want and getattr(body, "identifier", want) != want:
        raise SynthError(
            f"the shards were made with body model {want}, this one is {body.identifier}",
            fix="point SYNTH_SMPL_MODEL at the model named in meta.json body_model",
        )
    v_body, _ = body.evaluate(smpl["betas"][0], smpl["poses"], smpl["trans"])
    out = {"body": (v_body, np.asarray(body.faces, np.int64))}
    origin = verts["origin"].astype(np.float64)[:, None]
    for k in sorted(verts):
        if k.startswith("cloth_") and f"faces_{k}" in verts:
            out[k] = (verts[k].astype(np.float64) + origin, verts[f"faces_{k}"].astype(np.int64))
    return out


def camera_meshes(samples: list[tuple[str, dict]], body=None) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{sample key: {mesh name: (verts (T,V,3) in that camera's frame, faces)}} for the decoded
    samples of one sequence; empty when the sequence stores no vertices (meta.json `verts_in`
    null); a SynthError when it does but its holder sample is not among `samples`."""
    holder = next((s for _, s in samples if "verts" in s), None)
    if holder is None:
        wanted = {s["meta"].get("verts_in") for _, s in samples} - {None}
        if wanted:
            raise SynthError(
                f"the vertices of {', '.join(k for k, _ in samples)} are in {', '.join(sorted(wanted))}, "
                "which is not among these samples",
                fix="pass the samples of the whole sequence (synth.shards.inspect.sequence_samples), "
                "or read the shard in order with synth.shards.reader.SequenceVerts",
            )
        return {}
    world = world_meshes(holder["verts"], holder["smpl"], holder["meta"], body)
    out = {}
    for key, s in samples:
        R = np.asarray(s["camera"]["R"], np.float64)
        t = np.asarray(s["camera"]["t"], np.float64)
        out[key] = {name: (to_camera(v, R, t), f) for name, (v, f) in world.items()}
    return out
