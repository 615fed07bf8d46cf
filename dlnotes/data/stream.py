"""Image folders streamed from disk: each file is decoded when a batch needs it, by DataLoader workers.

``ImageFiles`` is a ``torch.utils.data.Dataset`` whose ``__getitem__`` reads one file with
torchvision.io (``read_file`` + ``decode_image``: libjpeg-turbo / libpng, no PIL object per image) and
applies the split's ``ImageTransform``; nothing but the file list and labels stays in memory, so a
folder of any size trains in flat memory. ``Loader`` is the training loop's view of it, an iterable of
(x, y) batches with ``len()`` like the in-memory ``Batches``: a ``DataLoader`` with worker processes
(persistent, prefetching, pinned memory on CUDA) fed by ``SeededSampler``.

Why these pieces: DataLoader workers are PyTorch's own answer to "decoding is the bottleneck" (timm's
ImageNet loader is built the same way), and torchvision.io decodes JPEG and PNG straight into tensors,
on CPU or batched on the GPU with nvJPEG (``decode: cuda``).

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
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Sampler, get_worker_info

from dlnotes.data.transforms import ImageTransform, pca_of_pixels
from dlnotes.errors import UserError


def decode_file(path: str, channels: int) -> torch.Tensor:
    """One image file as a (C, H, W) tensor as decoded (uint8, or uint16 for 16-bit PNG).

    torchvision.io handles JPEG, PNG, GIF and WebP; other formats (BMP, TIFF) go through PIL."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
    try:
        return decode_image(read_file(path), mode=mode)
    except (RuntimeError, ValueError):
        from dlnotes.data.image_files import read_image  # PIL: more formats, the same error message

        return (read_image(Path(path), channels) * 255).round().to(torch.uint8)


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
        i, seed = key if isinstance(key, tuple) else (key, None)
        g = torch.Generator().manual_seed(seed * 1_000_003 + i) if seed is not None else None
        if self.decode == "cuda":  # only the bytes: the main process decodes the batch on the GPU
            from torchvision.io import read_file
            return read_file(self.path(i)), self.labels[i], i, seed if seed is not None else -1
        pixels, alpha = self.transform.pixels(decode_file(self.path(i), self.channels), g)
        return pixels, self.labels[i], alpha

    def __getitems__(self, keys):
        """A batch (the DataLoader's fetcher calls this when it exists), keeping the batch's ring slot."""
        items = [self[k] for k in keys]
        return _Batch(items, keys.slot) if isinstance(keys, _Batch) else items


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


# c10's count of the tensors and arrays that use a storage: whether the consumer still holds a batch
_use_count = getattr(torch._C, "_storage_Use_Count", None)


def _shared_floats(shape: tuple[int, ...]) -> torch.Tensor:
    """A float32 tensor in fresh shared memory (whatever the default dtype)."""
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * 4)
    return torch.empty(0, dtype=torch.float32).set_(storage, 0, shape)


class _Slots:
    """Shared-memory batch buffers, made once per loader and reused. A fresh shared-memory batch per step
    is a new file that the kernel zero-fills and maps page by page (67 ms for a 128 x 3 x 224 x 224 float
    batch on this machine, against 8 ms to write the same bytes into pages already mapped): that made
    each worker a quarter slower than the same work in one thread.

    A slot is handed to a batch (in the main process, where the batch sampler runs) only when no batch
    in flight owns it and nothing the consumer kept (the batch, a view of it, a numpy array of it) still
    uses its storage; otherwise the batch gets fresh shared memory as before. So ``list(loader)`` and a
    kept batch stay correct, and a training loop, which lets go of each batch, reuses a few slots.

    What no count can see: a batch put on a ``torch.multiprocessing`` queue travels as a handle to the
    same shared memory. As with CUDA tensors shared between processes, the sender must keep it (or send
    ``x.clone()``) while the receiver reads it. Without workers there are no slots (nothing to share)."""

    def __init__(self, count: int, numel: int):
        self.numel = numel
        self.buffers = [_shared_floats((numel,)) for _ in range(count)]
        # each slot's storage object, held here: torch gives one Python object per storage, so a
        # consumer that keeps ``x.untyped_storage()`` holds this very object (seen by its refcount)
        self.storages = [b.untyped_storage() for b in self.buffers]
        self.base = [self._uses(k) for k in range(count)]
        self.pending, self.handed = [False] * count, [False] * count

    def _uses(self, k: int) -> tuple[int, int]:
        """(tensors and arrays using slot k's storage, references to its Python storage object)."""
        return (_use_count(self.storages[k]._cdata) if _use_count else 0), sys.getrefcount(self.storages[k])

    def take(self) -> int | None:
        """A free slot for the next batch, marked as in flight; None when every slot is busy."""
        for k in range(len(self.buffers)):
            uses, refs = self._uses(k)
            kept = (uses > self.base[k][0] or refs > self.base[k][1]) if _use_count else self.handed[k]
            if not self.pending[k] and not kept:
                self.pending[k] = True
                return k
        return None

    def received(self, slot: int) -> None:
        self.pending[slot], self.handed[slot] = False, True

    def reset(self) -> None:
        """A new pass: the DataLoader has finished (or dropped) every batch of the last one."""
        self.pending = [False] * len(self.buffers)

    def view(self, slot: int, shape: tuple[int, ...]) -> torch.Tensor | None:
        return self.buffers[slot][:math.prod(shape)].view(shape) if math.prod(shape) <= self.numel else None


class _Batch(list):
    """A batch of sampler keys with the slot its images are to be written into (None: fresh memory)."""

    def __init__(self, keys, slot: int | None):
        super().__init__(keys)
        self.slot = slot


class _SlotBatches:
    """The batch sampler, giving each batch a slot. Its body runs when the DataLoader asks for the first
    batch of a pass, after a persistent DataLoader has collected the last pass's batches."""

    def __init__(self, batch_sampler: BatchSampler):
        self.batch_sampler, self.slots = batch_sampler, None

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        if self.slots is not None:
            self.slots.reset()
        for keys in self.batch_sampler:
            yield _Batch(keys, self.slots.take() if self.slots is not None else None)


class _FinishInto:
    """Collation for training on the CPU, in the worker: each image is finished (to float, colour noise,
    normalisation) while it is in cache, straight into the batch's shared slot that the main process
    reads (stacking finished floats instead would move every image through memory twice more).
    Returns ``(slot, x, labels)``: x is None when the images are in the slot (only its number crosses
    the worker's queue), else a tensor in fresh shared memory."""

    def __init__(self, transform, slots: _Slots | None = None):
        self.transform, self.slots = transform, slots

    def __call__(self, batch):
        pixels, labels, alphas = zip(*batch)
        shape = (len(pixels), *pixels[0].shape)
        slot = getattr(batch, "slot", None)
        out = self.slots.view(slot, shape) if self.slots is not None and slot is not None else None
        fresh = out is None
        if fresh and get_worker_info() is not None:  # as default_collate does: allocate in shared memory
            out = _shared_floats(shape)
        elif fresh:
            out = torch.empty(shape, dtype=torch.float32)
        for i, (p, a) in enumerate(zip(pixels, alphas)):
            self.transform.finish(p.unsqueeze(0), a.unsqueeze(0), out=out[i:i + 1])
        return slot, (out if fresh else shape), torch.stack(labels)


def _collate_bytes(batch):
    data, labels, index, seed = zip(*batch)
    return list(data), torch.stack(labels), list(index), list(seed)


class Loader:
    """Batches of a streamed split: ``for xb, yb in loader`` on ``device``; ``len()`` steps per epoch.

    After each pass ``images_per_s`` holds the rate at which batches arrived and ``wait_s`` the time the
    consumer spent waiting for them (near 0: the model, not the loader, sets the pace)."""

    def __init__(self, files: ImageFiles, batch_size: int, device: torch.device, *, shuffle: bool = False,
                 generator: torch.Generator | None = None, augment_generator: torch.Generator | None = None,
                 rank: int = 0, world: int = 1, workers: int | None = None, report: bool = False):
        if files.decode == "cuda" and device.type != "cuda":
            raise UserError(f"data.decode: cuda decodes on the GPU, but this run is on {device}; use decode: cpu")
        self.files, self.device, self.report = files, device, report
        self.sampler = SeededSampler(len(files), shuffle, generator, augment_generator, rank, world)
        workers = files.workers if workers is None else workers
        self.batch_sampler = BatchSampler(self.sampler, batch_size, drop_last=False)
        on_gpu = device.type == "cuda"
        prefetch = 2
        self.collate = _collate_bytes if files.decode == "cuda" else None if on_gpu else _FinishInto(files.transform)
        self.slot_count = workers * prefetch + 3  # in flight, the consumer's batch, and one it keeps a while
        slotted = isinstance(self.collate, _FinishInto) and workers > 0  # in-process: plain memory per batch
        batches = _SlotBatches(self.batch_sampler) if slotted else self.batch_sampler
        self.loader = DataLoader(
            files, batch_sampler=batches, num_workers=workers,
            persistent_workers=workers > 0, prefetch_factor=prefetch if workers > 0 else None,
            pin_memory=on_gpu, collate_fn=self.collate)
        self.images_per_s, self.wait_s = 0.0, 0.0

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        start, waited, count = time.perf_counter(), 0.0, 0
        if isinstance(self.loader.batch_sampler, _SlotBatches) and self.collate.slots is None:  # before workers
            t = self.files.transform
            crops = 10 if t.ten_crop and not t.train else 1
            self.collate.slots = self.loader.batch_sampler.slots = _Slots(
                self.slot_count, self.batch_sampler.batch_size * crops * self.files.channels * t.size ** 2)
        it = iter(self.loader)
        while True:
            t = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            except UserError as e:  # from a worker: its message carries the worker's traceback
                raise UserError(str(e).strip().splitlines()[-1].split("UserError: ", 1)[-1]) from None
            if self.files.decode == "cuda":
                xb, yb = self._decoded(batch)
            elif self.device.type == "cuda":  # uint8 crops cross the bus; float work on the GPU
                xb, yb, alpha = (v.to(self.device, non_blocking=True) for v in batch)
                xb = self.files.transform.finish(xb, alpha)
            elif isinstance(self.collate, _FinishInto):
                slot, xb, yb = batch
                if slot is not None:
                    self.collate.slots.received(slot)
                    if not torch.is_tensor(xb):  # the images are in the slot; xb is their shape
                        xb = self.collate.slots.view(slot, xb)
            else:
                xb, yb = batch
            waited += time.perf_counter() - t
            count += len(yb)
            yield xb, yb.to(self.device, non_blocking=True)
        elapsed = time.perf_counter() - start
        self.images_per_s, self.wait_s = count / max(elapsed, 1e-9), waited
        if self.report:
            from tqdm.auto import tqdm  # its write() keeps the progress bars intact

            tqdm.write(f"loader: {count:,} images in {elapsed:.1f} s = {self.images_per_s:,.0f} images/s "
                       f"({waited:.1f} s waiting for data)", file=sys.stderr)

    def _decoded(self, batch):
        """``decode: cuda``: the batch's JPEG bytes decoded together by nvJPEG, then transformed on the GPU."""
        from torchvision.io import ImageReadMode, decode_jpeg

        data, labels, index, seeds = batch
        mode = ImageReadMode.GRAY if self.files.channels == 1 else ImageReadMode.RGB
        try:
            images = decode_jpeg(data, mode=mode, device=self.device)
        except RuntimeError as e:
            raise UserError(f"data.decode: cuda decodes JPEG files only ({e}); use decode: cpu") from None
        out = [self.files.transform(img, torch.Generator().manual_seed(s * 1_000_003 + i) if s >= 0 else None)
               for img, i, s in zip(images, index, seeds)]
        return torch.stack(out), labels


def image_statistics(files: ImageFiles, seed: int, limit: int, pca: bool) -> dict[str, list]:
    """Per-channel mean and std of the test view's [0, 1] pixels (and, with ``pca``, the eigen-decomposition
    of their RGB covariance, section 4.1), in one streaming pass over ``limit`` files chosen by ``seed``
    (all when ``limit`` is 0 or larger than the split); sums in float64."""
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
    print(f"image_folder: normalisation statistics{' and RGB PCA' if pca else ''} of {len(idx):,} training images "
          f"in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if not pca:
        stats.pop("pca_eigval"), stats.pop("pca_eigvec")
    return stats
