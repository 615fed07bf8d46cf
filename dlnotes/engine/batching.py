"""Mini-batches sliced from in-memory tensors: shuffle indices, then index, no per-sample work.

All our datasets fit in memory, where a DataLoader's per-sample collation only costs time. The
shuffle comes from a dedicated ``torch.Generator`` whose state is checkpointed, so a resumed run
sees the same data order. Under DDP each rank takes every ``world``-th index of the same
permutation (``DistributedSampler`` semantics), padded by wrapping so all ranks take equal steps.
"""

from __future__ import annotations

import math

import torch


class Batches:
    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True,
                 generator: torch.Generator | None = None, rank: int = 0, world: int = 1):
        self.x, self.y = x, y
        self.batch_size = batch_size  # per rank
        self.shuffle = shuffle
        self.generator = generator
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        per_rank = math.ceil(len(self.x) / self.world)
        return math.ceil(per_rank / self.batch_size)

    def indices(self) -> torch.Tensor:
        n = len(self.x)
        if self.shuffle:
            idx = torch.randperm(n, generator=self.generator)
        else:
            idx = torch.arange(n)
        if self.world > 1:
            total = math.ceil(n / self.world) * self.world
            idx = torch.cat([idx, idx[: total - n]])[self.rank::self.world]
        return idx.to(self.x.device)

    def __iter__(self):
        idx = self.indices()
        for start in range(0, len(idx), self.batch_size):
            j = idx[start:start + self.batch_size]
            yield self.x[j], self.y[j]
