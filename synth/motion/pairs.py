"""Most contrasting pose pairs: D[i, j] = ||theta(X_i) - theta(Y_j)||_2, (i, j) = argmax D.

Per pair of sequences only the maximum of D is needed, so D is never kept: frames are gathered
into padded batches (padding repeats a sequence's last frame, which cannot change a maximum) and
reduced chunk by chunk under a memory budget, with squared distances from one batched matrix
product (torch.cdist's own large-input path, minus its square root over every entry: 1.5-2x
faster); the winning pair's distance is then recomputed in float64.

Corpus selection (`select_pairs`):
- "random": distinct ordered pairs (a != b) drawn from a seeded generator, each scored exactly.
- "topk": the k unordered pairs (a < b, interpolated a -> b) with the largest max D, exactly,
  without scoring all N(N-1)/2 pairs: each sequence gets a farthest-point coreset S with covering
  radius eps (every frame lies within eps of S), so for any pair
      max D(S_a, S_b)  <=  max D(X_a, X_b)  <=  max D(S_a, S_b) + eps_a + eps_b .
  The coreset bounds of all pairs are cheap (N*K points); only pairs whose upper bound can still
  reach the current k-th best are scored exactly, in order of decreasing upper bound.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from synth.sequence import MoshedSequence

DEFAULT_CHUNK_BYTES = 256 * 2**20  # distance-block budget per cdist call


@dataclass(frozen=True)
class PairChoice:
    """Frame i of X (sequence a) and frame j of Y (sequence b), their pose distance (radians)."""

    i: int
    j: int
    distance: float
    a: int | None = None
    b: int | None = None


def _poses(x: MoshedSequence | np.ndarray, include_root: bool) -> np.ndarray:
    p = x.poses if isinstance(x, MoshedSequence) else np.asarray(x)
    p = np.asarray(p, np.float32).reshape(-1, 72)
    return p if include_root else p[:, 3:]


def pose_distance_matrix(X: np.ndarray, Y: np.ndarray, include_root: bool = True) -> np.ndarray:
    """D (m,n) float64 between pose arrays X (m,72) and Y (n,72) (or MoshedSequences).

    `include_root=False` drops the global orientation (first 3 values) from the distance.
    """
    x = torch.as_tensor(_poses(X, include_root), dtype=torch.float64)
    y = torch.as_tensor(_poses(Y, include_root), dtype=torch.float64)
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").numpy()


def most_contrasting_pair(X, Y, include_root: bool = True, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> PairChoice:
    """argmax of D between two sequences (or pose arrays), computed in row chunks."""
    corpus = _Corpus([_poses(X, include_root), _poses(Y, include_root)])
    (choice,) = corpus.score(np.array([[0, 1]]), chunk_bytes)
    return PairChoice(choice.i, choice.j, choice.distance)


class _Corpus:
    """All frames of all sequences in one flat tensor, with per-sequence offsets and lengths."""

    def __init__(self, poses: list[np.ndarray], device: str | torch.device = "cpu"):
        self.lengths = np.array([len(p) for p in poses], np.int64)
        if (self.lengths == 0).any():
            raise ValueError("every sequence needs at least one frame")
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.flat = torch.as_tensor(np.concatenate(poses).astype(np.float32, copy=False), device=device)
        self.sq = (self.flat * self.flat).sum(1)  # squared norms, for |x|^2 + |y|^2 - 2 x.y
        self.device = self.flat.device

    def __len__(self) -> int:
        return len(self.lengths)

    def _index(self, seqs: np.ndarray, L: int) -> torch.Tensor:
        ar = np.minimum(np.arange(L)[None], self.lengths[seqs][:, None] - 1)
        return torch.as_tensor(self.offsets[seqs][:, None] + ar, device=self.device)

    def gather(self, seqs: np.ndarray, L: int) -> torch.Tensor:
        """(B, L, D) frames of `seqs`, padded by repeating each sequence's last frame."""
        return self.flat[self._index(seqs, L)]

    def score(self, pairs: np.ndarray, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> list[PairChoice]:
        """Exact argmax of D for each (a, b) row of `pairs`, in the order given."""
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        out: list[PairChoice | None] = [None] * len(pairs)
        budget = max(1, chunk_bytes // 4)
        la, lb = self.lengths[pairs[:, 0]], self.lengths[pairs[:, 1]]
        order = np.lexsort((lb, la))  # similar sizes together: little padding
        start = 0
        while start < len(order):
            # grow the batch while the padded (B, m, n) block fits the budget
            stop = start + 1
            m, n = la[order[start]], lb[order[start]]
            while stop < len(order):
                m2, n2 = max(m, la[order[stop]]), max(n, lb[order[stop]])
                if (stop - start + 1) * m2 * n2 > budget:
                    break
                m, n, stop = m2, n2, stop + 1
            batch = order[start:stop]
            for k, choice in zip(batch, self._score_batch(pairs[batch], int(m), int(n), budget)):
                out[k] = PairChoice(choice[0], choice[1], choice[2], int(pairs[k, 0]), int(pairs[k, 1]))
            start = stop
        return out  # type: ignore[return-value]

    def _score_batch(self, pairs: np.ndarray, m: int, n: int, budget: int) -> list[tuple[int, int, float]]:
        ia, ib = self._index(pairs[:, 0], m), self._index(pairs[:, 1], n)
        Xb, Yb, xsq, ysq = self.flat[ia], self.flat[ib].transpose(1, 2), self.sq[ia], self.sq[ib]
        B = len(pairs)
        best = torch.full((B,), float("-inf"), device=self.device)
        best_idx = torch.zeros(B, dtype=torch.int64, device=self.device)
        rows = max(1, budget // max(1, B * n))  # row chunks, for a single pair bigger than the budget
        for r0 in range(0, m, rows):
            # squared distances by one batched matrix product (what cdist does for large inputs,
            # without its sqrt over every entry): |y|^2 - 2 x.y, then + |x|^2
            d2 = torch.baddbmm(ysq[:, None, :], Xb[:, r0 : r0 + rows], Yb, alpha=-2.0)
            d2 += xsq[:, r0 : r0 + rows, None]
            val, idx = d2.flatten(1).max(1)
            better = val > best
            best = torch.where(better, val, best)
            best_idx = torch.where(better, idx + r0 * n, best_idx)
        best_idx = best_idx.cpu().numpy()
        res = []
        for (a, b), flat in zip(pairs, best_idx):
            i = min(int(flat // n), int(self.lengths[a]) - 1)
            j = min(int(flat % n), int(self.lengths[b]) - 1)
            # the reported distance in float64 (cdist's matrix-product path is float32-accurate)
            dist = float(
                np.linalg.norm(
                    self.flat[self.offsets[a] + i].double().cpu().numpy()
                    - self.flat[self.offsets[b] + j].double().cpu().numpy()
                )
            )
            res.append((i, j, dist))
        return res

    def coreset(self, k: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[torch.Tensor, np.ndarray]:
        """Farthest-point coresets (N, k, D) and covering radii eps (N,) of every sequence.

        Starts from the frame farthest from the sequence mean (an extreme pose), then repeatedly
        adds the frame farthest from the chosen ones; eps = max distance of a frame to its nearest
        coreset frame.
        """
        N, D = len(self), self.flat.shape[1]
        cores = torch.empty(N, k, D, device=self.device)
        eps = np.empty(N)
        by_len = np.argsort(self.lengths)
        start = 0
        while start < N:
            L = int(self.lengths[by_len[start]])
            stop = start + 1
            while stop < N and (stop - start + 1) * int(self.lengths[by_len[stop]]) * D * 4 * 3 <= chunk_bytes:
                stop += 1
            seqs = by_len[start:stop]
            L = int(self.lengths[seqs].max())
            X = self.gather(seqs, L)  # (B, L, D)
            ar = torch.arange(len(seqs), device=self.device)
            first = (X - X.mean(1, keepdim=True)).norm(dim=-1).argmax(1)
            dmin = torch.full(X.shape[:2], float("inf"), device=self.device)
            pick = first
            for c in range(k):
                p = X[ar, pick]  # (B, D)
                cores[seqs, c] = p
                dmin = torch.minimum(dmin, (X - p[:, None]).norm(dim=-1))
                pick = dmin.argmax(1)
            eps[seqs] = dmin.amax(1).double().cpu().numpy() * (1 + 1e-5) + 1e-6  # float32 slack
            start = stop
        return cores, eps


def _bounds(cores: torch.Tensor, eps: np.ndarray, chunk_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds (N,N) max D between coresets, and upper bounds (lower + eps_a + eps_b)."""
    N, K, D = cores.shape
    flat = cores.reshape(N * K, D)
    lower = np.empty((N, N), np.float64)
    rows = max(1, chunk_bytes // (4 * K * N * K))
    for r0 in range(0, N, rows):
        r1 = min(N, r0 + rows)
        d = torch.cdist(flat[r0 * K : r1 * K], flat)  # (r*K, N*K)
        lower[r0:r1] = d.reshape(r1 - r0, K, N, K).amax(dim=(1, 3)).double().cpu().numpy()
    slack = 1e-4 * (1 + lower)  # float32 cdist error margin on the bound
    return lower - slack, lower + slack + eps[:, None] + eps[None, :]


def _topk(corpus: _Corpus, k: int, chunk_bytes: int, core_size: int, stats: dict | None) -> list[PairChoice]:
    N = len(corpus)
    iu = np.triu_indices(N, 1)
    k = min(k, len(iu[0]))
    cores, eps = corpus.coreset(core_size, chunk_bytes)
    lower, upper = _bounds(cores, eps, chunk_bytes)
    lo, up = lower[iu], upper[iu]
    tau = np.partition(lo, len(lo) - k)[len(lo) - k]  # the k-th best exact value is at least this
    cand = np.flatnonzero(up >= tau)
    cand = cand[np.argsort(-up[cand], kind="stable")]
    heap: list[tuple[float, int, int, PairChoice]] = []  # min-heap of the best k so far
    scored = 0
    step = 256
    for s in range(0, len(cand), step):
        block = cand[s : s + step]
        if len(heap) == k and up[block[0]] < heap[0][0]:
            break
        pairs = np.stack([iu[0][block], iu[1][block]], 1)
        for c in corpus.score(pairs, chunk_bytes):
            item = (c.distance, -c.a, -c.b, c)  # ties: smaller (a, b) wins
            if len(heap) < k:
                heapq.heappush(heap, item)
            elif item[:3] > heap[0][:3]:
                heapq.heapreplace(heap, item)
        scored += len(block)
    if stats is not None:
        stats.update(pairs_total=len(lo), candidates=len(cand), scored_exactly=scored, mean_eps=float(eps.mean()))
    return [it[3] for it in sorted(heap, key=lambda it: it[:3], reverse=True)]


def _random_pairs(N: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    total = N * (N - 1)
    n_pairs = min(n_pairs, total)
    if total <= 4 * n_pairs or total <= 1_000_000:
        flat = rng.choice(total, n_pairs, replace=False)
    else:  # sparse draw: reject repeats
        flat = np.unique(rng.integers(0, total, int(n_pairs * 1.2) + 16))
        while len(flat) < n_pairs:
            flat = np.unique(np.concatenate([flat, rng.integers(0, total, n_pairs)]))
        flat = rng.permutation(flat)[:n_pairs]
    a = flat // (N - 1)
    b = flat % (N - 1)
    b = b + (b >= a)  # skip the diagonal
    return np.stack([a, b], 1)


def select_pairs(
    sequences: Sequence[MoshedSequence | np.ndarray],
    n_pairs: int,
    seed: int,
    mode: str = "random",
    include_root: bool = True,
    device: str | torch.device = "cpu",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    core_size: int = 16,
    stats: dict | None = None,
) -> list[PairChoice]:
    """Pairs of sequences across a corpus, each with its most contrasting frames (a, b, i, j, distance).

    mode "random": `n_pairs` distinct ordered pairs drawn with `seed`; "topk": the `n_pairs` pairs
    with the largest max D (deterministic; `seed` unused). `stats`, if given, receives counters.
    """
    if mode not in ("random", "topk"):
        raise ValueError(f"mode must be 'random' or 'topk', not {mode!r}")
    if len(sequences) < 2 or n_pairs < 1:
        return []
    t0 = time.perf_counter()
    corpus = _Corpus([_poses(s, include_root) for s in sequences], device)
    if stats is not None:
        stats["build_s"] = time.perf_counter() - t0
    if mode == "topk":
        return _topk(corpus, n_pairs, chunk_bytes, core_size, stats)
    pairs = _random_pairs(len(corpus), n_pairs, np.random.default_rng(seed))
    return corpus.score(pairs, chunk_bytes)
