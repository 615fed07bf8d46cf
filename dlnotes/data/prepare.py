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

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Prepared:
    train: Split
    val: Split | None
    test: Split
    dataset: Dataset
    preprocess: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        part = {"train": self.train, "val": self.val, "test": self.test}[name]
        if part is None:
            raise UserError(f"--split {name}: this run has no {name} split (data.val_fraction is 0)")
        return part


def build_dataset(cfg) -> Dataset:
    """The registered dataset; a table of raw columns gets its preprocessing fitted on the training rows."""
    extras = cfg.extras("data")
    fn = DATASETS.get(cfg.data.name, where="data.name")
    try:
        ds = fn(**extras)
    except ValueError as e:
        raise UserError(f"data ({cfg.data.name}): {e}") from None
    if ds.table is not None:
        fit_table(ds, cfg)
    return ds


def training_rows(ds: Dataset, cfg) -> np.ndarray:
    """The rows ``prepare`` will train on: the same seeded (stratified) test and val splits it makes."""
    labels = ds.y.numpy() if get_task(ds.task).stratify else None
    keep = np.arange(len(ds.y))
    if ds.x_test is None:
        keep, held = split_indices(len(ds.y), cfg.data.test_fraction, cfg.seed, labels)
        if len(held) == 0 or len(keep) == 0:
            raise UserError(f"data: {len(ds.y)} rows leave {'no test row' if len(held) == 0 else 'nothing to train on'} "
                            f"at test_fraction {cfg.data.test_fraction:g}; give more rows or train_path + test_path")
    if cfg.data.val_fraction > 0:
        inner, _ = split_indices(len(keep), cfg.data.val_fraction, cfg.seed + 1,
                                 labels[keep] if labels is not None else None)
        keep = keep[inner]
    return keep


def fit_table(ds: Dataset, cfg) -> None:
    """Fits the table's preprocessing (data.tabular) on the training rows alone and fills ``x``/``x_test``.

    Models with an ``embed_categories`` parameter (mlp) take many-level categories as codes for
    learned embeddings; the others get them one-hot.
    """
    from dlnotes.registry import MODELS

    params = MODELS.params(cfg.model.name) if cfg.model.name in MODELS else {}
    embed = cfg.extras("model").get("embed_categories", params["embed_categories"].default) \
        if "embed_categories" in params else "none"
    t, table = ds.table.transform, ds.table
    t.embed, t.standardize = embed, cfg.data.standardize
    t.fit(table.frame.iloc[training_rows(ds, cfg)], f"'{table.path}'")
    ds.x = torch.from_numpy(t.transform(table.frame, f"'{table.path}'"))
    if table.test_frame is not None:
        ds.x_test = torch.from_numpy(t.transform(table.test_frame, f"'{table.path}'"))


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


def _split(x, y, fraction, seed, stratify, gap=None) -> tuple[Split, Split]:
    labels = y.numpy() if stratify and gap is None else None
    keep, held = split_indices(len(x), fraction, seed, labels, gap)
    if len(keep) == 0:
        raise UserError(f"data: {len(x)} samples leave nothing to train on after a {fraction:g} split")
    k, h = torch.from_numpy(keep), torch.from_numpy(held)
    return Split(x[k], y[k]), Split(x[h], y[h])


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
        train, test = _split(ds.x, ds.y, cfg.data.test_fraction, seed, stratify, gap)
    else:
        train, test = Split(ds.x, ds.y), Split(ds.x_test, ds.y_test)
    val = None
    if cfg.data.val_fraction > 0:
        train, val = _split(train.x, train.y, cfg.data.val_fraction, seed + 1, stratify, gap)
    pre: dict[str, Any] = {"kind": ds.kind, **ds.facts()}
    if ds.table is not None:  # the table's own preprocessing standardised its numbers (data.tabular)
        pre["tabular"] = ds.table.transform.to_dict()
        if cfg.data.standardize:
            pre.update(task.target_stats(train.y, None, None))
    elif cfg.data.standardize and kind.dtype.is_floating_point:
        mean, std = stats(train.x, kind.stat_dims(train.x))
        pre.update(x_mean=mean.tolist(), x_std=std.tolist(), **task.target_stats(train.y, mean, std))
    parts = [normalize_split(s, pre) if s is not None else None for s in (train, val, test)]
    return Prepared(parts[0], parts[1], parts[2], ds, pre)


def normalize_split(s: Split, pre: dict[str, Any]) -> Split:
    y = s.y
    if "y_mean" in pre:
        y = (y - torch.tensor(pre["y_mean"])) / torch.tensor(pre["y_std"])
    return Split(normalize(s.x, pre).contiguous(), y.contiguous())


def denormalize_y(y: torch.Tensor, pre: dict[str, Any]) -> torch.Tensor:
    """Targets back in the data's own units (regression and forecasting)."""
    if "y_mean" not in pre:
        return y
    mean = torch.tensor(pre["y_mean"], dtype=y.dtype, device=y.device)
    std = torch.tensor(pre["y_std"], dtype=y.dtype, device=y.device)
    return y * std + mean
