"""How well do the training split's articulations cover a held-out split? A data limit, no model involved.

    python benchmarks/train_pose_coverage.py DATA [--splits test,val] [--every 5] [--camera c0] [--pool train]

For every `--every`-th frame of each held-out split, the nearest training frame's articulation (the 23 body
joint rotations, root removed, posed with the held-out frame's own true shape) by PA-MPJPE itself, searched over
every training frame: an oracle that knows the truth and may only answer with a pose the training split shows.
Printed in mm and as a ratio to the split's `eval` mean-pose baseline (the training split's mean pose and shape).
A model that reproduces training articulations cannot beat this row; one that interpolates between them can, a
little. One camera per sequence is read (`--camera`): the body pose is the same from every camera.

A second oracle searches the training articulations and their mirror images (`synth.body.joints.mirror_pose`: the
sides swapped, as the loader's flip augmentation shows them): how far left/right mirroring can widen the poses a
model sees. A third column prints the share of held-out frames whose nearest answer is a mirrored one.
`--pool train,val` lets the oracle answer from more splits' articulations (what one more motion subject in the
training split would buy); the baseline stays the training split's mean pose.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
import roma
import torch

from synth.body import load_body_model
from synth.body.joints import mirror_pose
from synth.shards.reader import iter_samples
from synth.shards.writer import shard_paths
from train import metrics as M
from train.evaluate import training_mean
from train.losses import Skeleton


def body_poses(data: str, split: str, camera: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 69) body pose (no root) and (N, 10) shape of every frame of one camera's samples, from smpl.npz."""
    poses, betas = [], []
    for path in shard_paths(data, split):
        for key, files in iter_samples(path, decode=False):
            if key.endswith(f"_{camera}"):
                with np.load(io.BytesIO(files["smpl.npz"])) as z:
                    poses.append(np.asarray(z["poses"], np.float64)[:, 3:])
                    betas.append(np.asarray(z["betas"], np.float64))
    return np.concatenate(poses), np.concatenate(betas)


def root_free_joints(sk: Skeleton, body_pose: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(N, 69), (N, 10) -> (N, 24, 3) pelvis-relative joints under an identity root, float64."""
    n = len(body_pose)
    aa = torch.cat([torch.zeros(n, 3), torch.from_numpy(body_pose).float()], 1).reshape(n, 24, 3)
    J = sk(roma.rotvec_to_rotmat(aa), torch.from_numpy(beta).float()).double().numpy()
    return J - J[:, :1]


def mirrored_body_pose(body_pose: np.ndarray) -> np.ndarray:
    """(N, 69) articulations of the mirror-image bodies (root-free, so the root stays the identity)."""
    return mirror_pose(np.concatenate([np.zeros((len(body_pose), 3)), body_pose], 1))[:, 3:]


def nearest_pa(sk: Skeleton, candidates: np.ndarray, pose: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(n,) PA-MPJPE (mm) of each held-out frame's nearest candidate articulation (N, 69), posed with that frame's
    shape. The candidates' joints are built once per distinct shape (a sequence has one)."""
    G = root_free_joints(sk, pose, beta)
    best = np.empty(len(G))
    for b in np.unique(beta, axis=0):
        C = root_free_joints(sk, candidates, np.repeat(b[None], len(candidates), 0))
        for i in np.flatnonzero((beta == b).all(1)):
            gg = np.repeat(G[i][None], len(C), 0)
            best[i] = (np.linalg.norm(M.procrustes_align(C, gg) - gg, axis=-1).mean(-1) * M.MM).min()
    return best


def mean_pose_pa(sk: Skeleton, mean: tuple[np.ndarray, np.ndarray], G: np.ndarray) -> float:
    """PA-MPJPE (mm) of the training mean pose and shape (eval's baseline) against joints G."""
    theta, beta = (torch.from_numpy(np.asarray(x)).float() for x in mean)
    J = sk(roma.rotvec_to_rotmat(theta.reshape(1, 24, 3)), beta[None]).double().numpy()
    return M.pa_mpjpe(np.repeat(J - J[:, :1], len(G), 0), G)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--splits", default="test,val")
    p.add_argument("--every", type=int, default=5, help="held-out frames: every n-th")
    p.add_argument("--camera", default="c0")
    p.add_argument("--pool", default="train", help="splits whose articulations the oracle may answer with")
    a = p.parse_args()
    torch.set_num_threads(1)
    sk = Skeleton(load_body_model())
    train_pose = np.concatenate([body_poses(a.data, split, a.camera)[0] for split in a.pool.split(",")])
    mean = training_mean(a.data)
    print(f"{len(train_pose)} frames of {a.pool} ({a.camera}) to answer with, as many mirrored")
    mirrored = mirrored_body_pose(train_pose)
    print(
        f"| split | frames | training mean pose PA-MPJPE | nearest {a.pool} articulation PA-MPJPE (x mean pose) "
        f"| nearest of {a.pool} + mirrored (x mean pose) | frames whose nearest is mirrored |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for split in a.splits.split(","):
        pose, beta = body_poses(a.data, split, a.camera)
        pose, beta = pose[:: a.every], beta[:: a.every]
        plain, mirror = nearest_pa(sk, train_pose, pose, beta), nearest_pa(sk, mirrored, pose, beta)
        both = np.minimum(plain, mirror)
        base = mean_pose_pa(sk, mean, root_free_joints(sk, pose, beta))
        nn, nm = float(plain.mean()), float(both.mean())
        print(
            f"| {split} | {len(pose)} | {base:.1f} | {nn:.1f} ({nn / base:.3f}) | {nm:.1f} ({nm / base:.3f}) "
            f"| {float((mirror < plain).mean()):.2f} |"
        )


if __name__ == "__main__":
    main()
