"""Mini-batches for the training loop and evaluation: one interface, an iterable of (x, y) batches
on the device with ``len()`` (steps per epoch), whichever way the data is held.

In memory (``Batches``): shuffle indices, then index, no per-sample work; a DataLoader's per-sample
collation only costs time there. Streamed from files (``dlnotes.data.stream.Loader``): DataLoader
workers decode each image when its batch is needed. ``batches()`` picks the one that fits the split.

The shuffle comes from a dedicated ``torch.Generator`` whose state is checkpointed, so a resumed run
sees the same data order. Under DDP each rank takes every ``world``-th index of the same
permutation (``DistributedSampler`` semantics), padded by wrapping so all ranks take equal steps
(``dlnotes.data.prepare.epoch_indices``, shared by both paths).

On CUDA the whole training set lives on the GPU when it takes at most half of the free memory
(``place``); otherwise it stays in pinned host memory and each batch is copied without blocking.
"""

from __future__ import annotations

import math

import torch

from dlnotes.data.sampling import epoch_indices


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
        return epoch_indices(len(self.x), self.shuffle, self.generator, self.rank, self.world).to(self.x.device)

    def __iter__(self):
        if not self.shuffle and self.world == 1:  # in order: slices (views), no gather
            for start in range(0, len(self.x), self.batch_size):
                yield self._to_device(self.x[start:start + self.batch_size], self.y[start:start + self.batch_size])
            return
        idx = self.indices()
        for start in range(0, len(idx), self.batch_size):
            j = idx[start:start + self.batch_size]
            yield self._to_device(self.x[j], self.y[j])

    def _to_device(self, xb: torch.Tensor, yb: torch.Tensor):
        if xb.device != self.device:  # host-resident data: pin the batch, copy without blocking
            if self.device.type == "cuda":
                xb, yb = xb.pin_memory(), yb.pin_memory()
            xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
        return xb, yb


def batches(split, batch_size: int, device: torch.device, *, shuffle: bool = False,
            generator: torch.Generator | None = None, augment_generator: torch.Generator | None = None,
            rank: int = 0, world: int = 1, channels_last: bool = False, report: bool = False):
    """The batches of a split (``split.x``, ``split.y``): ``Batches`` for tensors, a streaming ``Loader``
    for image files. ``augment_generator`` turns on the streamed split's training augmentation."""
    if torch.is_tensor(split.x):
        x, y = (place(split.x, device), place(split.y, device)) if shuffle else (split.x, split.y)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return Batches(x, y, batch_size, shuffle, generator, rank, world, device)
    from dlnotes.data.stream import Loader

    return Loader(split.x, batch_size, device, shuffle=shuffle, generator=generator,
                  augment_generator=augment_generator, rank=rank, world=world, report=report)
