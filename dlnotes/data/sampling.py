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


def stratified_cause(labels: np.ndarray, fraction: float) -> str:
    """Why a stratified split held out nothing (``: the split is stratified ...``): each class gives
    round(count x fraction) samples, which is 0 for every class when the classes are small."""
    counts = np.bincount(labels.reshape(-1).astype(np.int64))
    counts = counts[counts > 0]
    text = (f": the split is stratified (each class gives round(its samples x {fraction:g})), and the largest of the "
            f"{len(counts)} classes has {int(counts.max())} sample{'s' if counts.max() > 1 else ''}")
    if counts.max() == 1:
        return text + ", so no class can be both trained on and tested; a classifier needs several samples per class"
    return text + f"; a fraction above {0.5 / counts.max():.2g} would hold one of its samples out"


def lost_classes(classes: list[str], train_y: np.ndarray, held_y: np.ndarray, part: str, fraction: float) -> str | None:
    """A note on the classes of the training split that a stratified split left without a ``part`` sample
    (too few samples for their share to round to one); None when every class is there."""
    missing = [str(classes[c]) for c in np.setdiff1d(np.unique(train_y), np.unique(held_y)).tolist()]
    if not missing or len(held_y) == 0:
        return None
    shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    return (f"note: the {part} split has no sample of {len(missing)} of the {len(classes)} classes ({shown}): too "
            f"few samples for a stratified share of {fraction:g}")


def untrained_classes(classes: list[str], train_y: np.ndarray, labels: np.ndarray) -> list[str]:
    """The classes present in ``labels`` of which the training split kept no sample."""
    return [str(classes[c]) for c in np.setdiff1d(np.unique(labels), np.unique(train_y)).tolist()]


def kept_windows(n: int, gap: int, test_fraction: float, val_fraction: float) -> int:
    """How many of ``n`` time-ordered windows the train/validation/test split keeps (``gap`` dropped before
    each held-out part), by the same arithmetic as ``split_indices``."""
    train, test = split_indices(n, test_fraction, 0, None, gap)
    if val_fraction > 0:
        inner, val = split_indices(len(train), val_fraction, 1, None, gap)
        return len(inner) + len(val) + len(test)
    return len(train) + len(test)


def seq_len_advice(n: int, seq_len: int, horizon: int, stride: int, test_fraction: float,
                   val_fraction: float, worst: float = 0.25) -> str | None:
    """When the gaps between the parts take more than ``worst`` of a series' ``n`` windows: which shorter
    ``seq_len`` would keep more (``; seq_len 12 would keep 90% (...)``). A window of seq_len + horizon
    values needs a gap of (seq_len + horizon - 1) // stride windows before each held-out part."""
    lost = 1 - kept_windows(n, (seq_len + horizon - 1) // stride, test_fraction, val_fraction) / n
    if lost <= worst:
        return None
    values = (n - 1) * stride + seq_len + horizon
    options = []
    for length in range(seq_len - 1, 0, -1):
        m = (values - length - horizon) // stride + 1
        if m >= 4:
            options.append((1 - kept_windows(m, (length + horizon - 1) // stride, test_fraction, val_fraction) / m,
                            length, m))
    good = [o for o in options if o[0] <= worst / 2] or sorted(options)[:1]
    if not good or good[0][0] >= lost:
        return f"; the gaps take {lost:.0%} of the windows: give a longer series"
    share, length, m = good[0]
    return (f"; the gaps take {lost:.0%} of the windows: data.seq_len {length} would keep {1 - share:.0%} of its "
            f"{m} windows")
