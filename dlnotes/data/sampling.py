"""Which samples go where: the seeded train/validation/test split and each epoch's sample order.

Both depend only on the seed (and, for the order, on a checkpointed generator), so ``eval``,
``--resume`` and every DDP rank rebuild exactly the same splits and batches.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def split_indices(n: int, fraction: float, seed: int, labels: np.ndarray | None = None,
                  gap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (keep, held_out) index arrays; ``labels`` makes it stratified: each class gives its share.

    ``gap`` (time-ordered windows) holds out the *last* ``fraction`` instead and drops ``gap`` samples
    before it, so that no window of the held-out part shares a value with a kept one.
    """
    if gap is not None:
        k = int(round(n * fraction))
        return np.arange(max(n - k - (gap if k else 0), 0)), np.arange(n - k, n)
    rng = np.random.default_rng(seed)
    if labels is None or fraction == 0:
        perm = rng.permutation(n)
        k = int(round(n * fraction))
        return np.sort(perm[k:]), np.sort(perm[:k])
    held = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        held.append(idx[: int(round(len(idx) * fraction))])
    held_out = np.sort(np.concatenate(held))
    keep = np.setdiff1d(np.arange(n), held_out)
    return keep, held_out


def epoch_indices(n: int, shuffle: bool, generator: torch.Generator | None, rank: int = 0,
                  world: int = 1) -> torch.Tensor:
    """One epoch's sample order for this rank: a permutation drawn from ``generator`` (or 0..n-1),
    padded by wrapping to a multiple of ``world``, every ``world``-th index from ``rank``."""
    idx = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if world > 1:
        total = math.ceil(n / world) * world
        idx = torch.cat([idx, idx[: total - n]])[rank::world]
    return idx
