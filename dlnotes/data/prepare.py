"""From a config's ``data`` section to train/val/test tensors: build, split, normalise.

Splits are stratified for classification and depend only on ``seed``, so ``eval`` and ``--resume``
rebuild exactly the same ones. Normalisation statistics come from the training split alone and are
recorded so that ``predict`` applies the same preprocessing to raw inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dlnotes.data.base import Dataset
from dlnotes.data.kinds import input_kind
from dlnotes.errors import UserError
from dlnotes.registry import DATASETS
from dlnotes.tasks import get_task


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor
    raw: torch.Tensor | None = None  # series: each window's input in the user's units, to invert transforms

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Prepared:
    train: Split
    val: Split | None
    test: Split
    dataset: Dataset
    preprocess: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # what the split did, for one line at train time (series: windows lost to gaps)

    def split(self, name: str) -> Split:
        part = {"train": self.train, "val": self.val, "test": self.test}[name]
        if part is None:
            raise UserError(f"--split {name}: this run has no {name} split (data.val_fraction is 0)")
        return part


def build_dataset(cfg) -> Dataset:
    extras = cfg.extras("data")
    fn = DATASETS.get(cfg.data.name, where="data.name")
    try:
        return fn(**extras)
    except ValueError as e:
        raise UserError(f"data ({cfg.data.name}): {e}") from None


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


def _split(x, y, fraction, seed, stratify, gap=None, raw=None) -> tuple[Split, Split]:
    labels = y.numpy() if stratify and gap is None else None
    keep, held = split_indices(len(x), fraction, seed, labels, gap)
    if len(keep) == 0:
        raise UserError(f"data: {len(x)} samples leave nothing to train on after a {fraction:g} split")
    k, h = torch.from_numpy(keep), torch.from_numpy(held)
    r = (None, None) if raw is None else (raw[k], raw[h])
    return Split(x[k], y[k], r[0]), Split(x[h], y[h], r[1])


def stats(x: torch.Tensor, dims: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) std over ``dims``, in float64; a constant column keeps std 1."""
    x64 = x.double()
    mean = x64.mean(dim=dims)
    std = x64.std(dim=dims, unbiased=False)
    std = torch.where(std < 1e-12, torch.ones_like(std), std)  # constant columns stay as they are
    return mean.float(), std.float()


def normalize(x: torch.Tensor, pre: dict[str, Any]) -> torch.Tensor:
    """Applies the recorded (x - mean) / std; a no-op when the run was not standardised."""
    if "x_mean" not in pre:
        return x
    # one statistic per channel (images), per feature (tables) or one for all (sequences): along axis 1
    shape = (1, -1, *([1] * (x.dim() - 2)))
    mean = torch.tensor(pre["x_mean"], dtype=x.dtype).reshape(shape)
    std = torch.tensor(pre["x_std"], dtype=x.dtype).reshape(shape)
    return (x - mean) / std


def prepare(cfg) -> Prepared:
    ds = build_dataset(cfg)
    task, kind = get_task(ds.task), input_kind(ds.kind)
    seed, stratify, gap = cfg.seed, task.stratify, ds.split_gap  # a gap: series tested on their end
    if ds.x_test is None:
        train, test = _split(ds.x, ds.y, cfg.data.test_fraction, seed, stratify, gap, ds.raw)
    else:
        train, test = Split(ds.x, ds.y), Split(ds.x_test, ds.y_test)
    val = None
    if cfg.data.val_fraction > 0:
        train, val = _split(train.x, train.y, cfg.data.val_fraction, seed + 1, stratify, gap, train.raw)
    pre: dict[str, Any] = {"kind": ds.kind, **ds.facts(), **kind.input_stats(train.x)}
    if cfg.data.standardize and kind.dtype.is_floating_point:
        mean, std = stats(train.x, kind.stat_dims(train.x))
        pre.update(x_mean=mean.tolist(), x_std=std.tolist(), **task.target_stats(train.y, mean, std))
    parts = [normalize_split(s, pre) if s is not None else None for s in (train, val, test)]
    return Prepared(parts[0], parts[1], parts[2], ds, pre, _note(cfg.data.name, ds, train, val, test))


def _note(name: str, ds: Dataset, train: Split, val: Split | None, test: Split) -> str | None:
    """``timeseries_csv: 259 values -> 210 windows; 91 train, ... ; 48 windows dropped as gaps ...``."""
    if not ds.ordered and ds.note is None:
        return None
    sizes = f"{len(train)} train, " + (f"{len(val)} validation, " if val is not None else "") + f"{len(test)} test"
    text = f"{name}: {ds.note or f'{len(ds.x)} windows'}; {sizes}"
    dropped = len(ds.x) - len(train) - (len(val) if val is not None else 0) - len(test)
    if ds.ordered and ds.x_test is None:
        text += (f"; {dropped} windows dropped as gaps between train/validation/test so that no value is seen "
                 f"twice" if dropped else "; no gap needed between the parts")
    return text


def normalize_split(s: Split, pre: dict[str, Any]) -> Split:
    y = s.y
    if "y_mean" in pre:
        y = (y - torch.tensor(pre["y_mean"])) / torch.tensor(pre["y_std"])
    return Split(normalize(s.x, pre).contiguous(), y.contiguous(), s.raw)


def denormalize_y(y: torch.Tensor, pre: dict[str, Any]) -> torch.Tensor:
    """Targets back in the data's own units (regression and forecasting)."""
    if "y_mean" not in pre:
        return y
    mean = torch.tensor(pre["y_mean"], dtype=y.dtype, device=y.device)
    std = torch.tensor(pre["y_std"], dtype=y.dtype, device=y.device)
    return y * std + mean
