"""Mini-batches sliced from in-memory tensors: shuffle indices, then index, no per-sample work.

All our datasets fit in memory, where a DataLoader's per-sample collation only costs time. The
shuffle comes from a dedicated ``torch.Generator`` whose state is checkpointed, so a resumed run
sees the same data order. Under DDP each rank takes every ``world``-th index of the same
permutation (``DistributedSampler`` semantics), padded by wrapping so all ranks take equal steps.

On CUDA the whole training set lives on the GPU when it takes at most half of the free memory
(``place``); otherwise it stays in pinned host memory and each batch is copied without blocking.
"""

from __future__ import annotations

import math

import torch


def place(t: torch.Tensor, device: torch.device, share: float = 0.5) -> torch.Tensor:
    """``t`` on ``device`` if it fits in ``share`` of the free GPU memory, else pinned on the host."""
    if device.type != "cuda":
        return t.to(device)
    free, _ = torch.cuda.mem_get_info(device)
    if t.numel() * t.element_size() <= share * free:
        return t.to(device)
    return t.pin_memory()


class Batches:
    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True,
                 generator: torch.Generator | None = None, rank: int = 0, world: int = 1,
                 device: torch.device | None = None):
        self.x, self.y = x, y
        self.device = device or x.device  # where batches go (x may stay in pinned host memory)
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
            xb, yb = self.x[j], self.y[j]
            if xb.device != self.device:  # host-resident data: the gathered batch is not pinned, pin it
                xb = xb.pin_memory().to(self.device, non_blocking=True)
                yb = yb.pin_memory().to(self.device, non_blocking=True)
            yield xb, yb
