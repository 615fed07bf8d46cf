"""Image folders streamed from disk: each file is decoded when a batch needs it, by DataLoader workers.

``ImageFiles`` is a ``torch.utils.data.Dataset`` whose ``__getitem__`` reads one file with the one
checked decoder (``dlnotes.data.pixels``) and cuts the split's view (``ImageTransform.pixels``): uint8
pixels and the image's colour-noise alphas. Nothing but the file list and labels stays in memory, so
a folder of any size trains in flat memory. ``Loader`` is the training loop's view of it, an iterable
of (x, y) batches with ``len()`` like the in-memory ``Batches``: a plain ``DataLoader`` (persistent
worker processes, prefetching, default collation: the uint8 batch in shared memory, a quarter of
float32's bytes; pinned memory on CUDA) fed by ``SeededSampler``, and the conversion to float, the
colour noise and the normalisation done batched where the batch lands (``ImageTransform.finish``: in
the main process, or on the GPU), as timm's prefetching loader does.

Why these pieces: DataLoader workers are PyTorch's own answer to "decoding is the bottleneck" (timm's
ImageNet loader is built the same way); shipping uint8 and finishing in the consumer keeps the workers
on the per-image work and the cross-process traffic small, with public APIs only.

Data order: ``SeededSampler`` draws each epoch's permutation from the trainer's checkpointed generator
and, under DDP, gives rank r the indices r, r + world, ... of it, padded by wrapping (the semantics of
``DistributedSampler`` with ``set_epoch``, with the epoch's shuffle coming from the checkpointed state
instead of seed + epoch). Each index travels with a per-epoch seed drawn from the augmentation
generator, and a sample's crop, flip and colour noise come from a generator seeded with
(seed, index): the same batches with 0 or 8 workers, and after ``--resume`` at an epoch boundary.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Sampler

from dlnotes.data.pixels import read_pixels
from dlnotes.data.transforms import ImageTransform, pca_of_pixels, sample_generator
from dlnotes.errors import UserError


class ImageFiles(torch.utils.data.Dataset):
    """Image files with class labels, decoded on access; ``shape`` is that of the tensor they stand for."""

    def __init__(self, files: list[str], labels: torch.Tensor, channels: int, image_size: int,
                 recipe: str = "none", ten_crop: bool = False, workers: int = 2, decode: str = "cpu",
                 stats_images: int = 0):
        # one numpy array of bytes, not a list of str: forked workers reading Python objects would touch
        # their reference counts and copy the pages, growing every worker's memory with the folder
        self.files = np.array([os.fsencode(f) for f in files])
        self.labels = labels
        self.channels, self.image_size, self.recipe, self.ten_crop = channels, image_size, recipe, ten_crop
        self.workers, self.decode, self.stats_images = workers, decode, stats_images
        self.transform = ImageTransform(image_size, recipe)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files), self.channels, self.image_size, self.image_size)

    def subset(self, idx) -> "ImageFiles":
        idx = torch.as_tensor(idx, dtype=torch.long)
        out = self.with_transform(self.transform)
        out.files, out.labels = self.files[idx.numpy()], self.labels[idx]
        return out

    def with_transform(self, transform: ImageTransform) -> "ImageFiles":
        out = object.__new__(ImageFiles)
        out.__dict__.update(self.__dict__)
        out.transform = transform
        return out

    def path(self, i: int) -> str:
        return os.fsdecode(self.files[i])

    def __getitem__(self, key):
        """(uint8 pixels, label, colour-noise alphas) of sample ``key`` = index or (index, epoch seed)."""
        i, seed = key if isinstance(key, tuple) else (key, None)
        g = sample_generator(seed, i) if seed is not None else None
        if self.decode == "cuda":  # checked here, decoded by the main process on the GPU
            from dlnotes.data.gpu_decode import checked_bytes

            return checked_bytes(self.path(i), self.channels), self.labels[i], i, seed if seed is not None else -1
        arr = read_pixels(self.path(i), self.channels, self.transform.fit(g))
        pixels, alpha = self.transform.pixels(arr, g)
        return pixels, self.labels[i], alpha


class SeededSampler(Sampler):
    """Per epoch: a permutation from ``generator`` (or 0..n-1), this rank's share, each index paired
    with an epoch seed from ``augment_generator`` (None: no augmentation)."""

    def __init__(self, n: int, shuffle: bool, generator: torch.Generator | None = None,
                 augment_generator: torch.Generator | None = None, rank: int = 0, world: int = 1):
        self.n, self.shuffle, self.generator, self.augment_generator = n, shuffle, generator, augment_generator
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return math.ceil(self.n / self.world)

    def __iter__(self):
        from dlnotes.data.sampling import epoch_indices

        idx = epoch_indices(self.n, self.shuffle, self.generator, self.rank, self.world).tolist()
        if self.augment_generator is None:
            return iter(idx)
        seed = int(torch.randint(2**31 - 1, (1,), generator=self.augment_generator))
        return iter([(i, seed) for i in idx])


def collate_sources(batch):
    """``decode: cuda``: the samples stay a list (JPEG bytes, or pixels the worker had to decode)."""
    data, labels, index, seed = zip(*batch)
    return list(data), torch.stack(labels), list(index), list(seed)


def worker_message(e: UserError) -> str:
    """A worker's ``UserError`` arrives with the worker's traceback as its message; its last line holds
    the original one-line message."""
    return str(e).strip().splitlines()[-1].split("UserError: ", 1)[-1]


class Loader:
    """Batches of a streamed split: ``for xb, yb in loader`` on ``device``; ``len()`` steps per epoch.

    After each pass ``images_per_s`` holds the rate at which batches arrived and ``wait_s`` the time the
    consumer spent waiting for them, conversion included (near 0: the model, not the loader, sets the pace)."""

    def __init__(self, files: ImageFiles, batch_size: int, device: torch.device, *, shuffle: bool = False,
                 generator: torch.Generator | None = None, augment_generator: torch.Generator | None = None,
                 rank: int = 0, world: int = 1, workers: int | None = None, report: bool = False):
        if files.decode == "cuda" and device.type != "cuda":
            raise UserError(f"data.decode: cuda decodes on the GPU, but this run is on {device}; use decode: cpu")
        self.files, self.device, self.report = files, device, report
        self.sampler = SeededSampler(len(files), shuffle, generator, augment_generator, rank, world)
        workers = files.workers if workers is None else workers
        self.batch_sampler = BatchSampler(self.sampler, batch_size, drop_last=False)
        self.loader = DataLoader(
            files, batch_sampler=self.batch_sampler, num_workers=workers,
            persistent_workers=workers > 0, prefetch_factor=2 if workers > 0 else None,
            pin_memory=device.type == "cuda", collate_fn=collate_sources if files.decode == "cuda" else None)
        self.images_per_s, self.wait_s = 0.0, 0.0

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        start, waited, count = time.perf_counter(), 0.0, 0
        it = iter(self.loader)
        while True:
            t = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            except UserError as e:  # from a worker (a bad image): its one line, without the worker's traceback
                raise UserError(worker_message(e)) from None
            if self.files.decode == "cuda":
                from dlnotes.data.gpu_decode import decode_batch

                xb, yb = decode_batch(batch, self.files, self.device)
            else:
                pixels, yb, alpha = batch
                xb = self.files.transform.finish(pixels.to(self.device, non_blocking=True),
                                                 alpha.to(self.device, non_blocking=True))
            waited += time.perf_counter() - t
            count += len(yb)
            yield xb, yb.to(self.device, non_blocking=True)
        elapsed = time.perf_counter() - start
        self.images_per_s, self.wait_s = count / max(elapsed, 1e-9), waited
        if self.report:
            from tqdm.auto import tqdm  # its write() keeps the progress bars intact

            tqdm.write(f"loader: {count:,} images in {elapsed:.1f} s = {self.images_per_s:,.0f} images/s "
                       f"({waited:.1f} s waiting for data)", file=sys.stderr)


def image_statistics(files: ImageFiles, seed: int, limit: int, pca: bool, quiet: bool = False) -> dict[str, list]:
    """Per-channel mean and std of the test view's [0, 1] pixels (and, with ``pca``, the eigen-decomposition
    of their RGB covariance, section 4.1), in one streaming pass over ``limit`` files chosen by ``seed``
    (all when ``limit`` is 0 or larger than the split); sums in float64. One line on stderr unless ``quiet``."""
    n = len(files)
    idx = np.arange(n) if not limit or limit >= n else np.sort(np.random.default_rng(seed).permutation(n)[:limit])
    view = files.subset(idx).with_transform(ImageTransform(files.image_size, files.recipe))  # test view, [0, 1]
    view.decode = "cpu"
    c, start = files.channels, time.perf_counter()
    total, outer, count = torch.zeros(c, dtype=torch.float64), torch.zeros(c, c, dtype=torch.float64), 0
    for xb, _ in Loader(view, 64, torch.device("cpu")):
        px = xb.permute(1, 0, 2, 3).reshape(c, -1).double()
        total += px.sum(1)
        outer += px @ px.T
        count += px.shape[1]
    stats = pca_of_pixels(count, total, outer)
    if not quiet:
        print(f"image_folder: normalisation statistics{' and RGB PCA' if pca else ''} of {len(idx):,} training "
              f"images in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if not pca:
        stats.pop("pca_eigval"), stats.pop("pca_eigvec")
    return stats
