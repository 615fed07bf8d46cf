"""From a config's ``data`` section to train/val/test tensors: build, split, normalise.

Splits are stratified for classification and depend only on ``seed``, so ``eval`` and ``--resume``
rebuild exactly the same ones. Normalisation statistics come from the training split alone and are
recorded so that ``predict`` applies the same preprocessing to raw inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dlnotes.data.base import Dataset
from dlnotes.data.sampling import (lost_classes, seq_len_advice, split_indices, stratified_cause,
                                   untrained_classes)
from dlnotes.data.table_source import TableSource
from dlnotes.errors import UserError
from dlnotes.registry import DATASETS


@dataclass
class Split:
    x: torch.Tensor  # or, for a streamed image folder, its files (dlnotes.data.stream.ImageFiles)
    y: torch.Tensor
    raw: torch.Tensor | None = None  # series: each window's input in the user's units, to invert transforms

    def __len__(self) -> int:
        return len(self.x)


class Prepared:
    """The train/val/test splits, the preprocessing fitted on the training split, and the task and
    input kind they are for.

    ``train``, ``val`` and ``test`` are normalised (per ``preprocess``) when first read, one split at a
    time; ``raw(name)`` gives a split as the dataset produced it. A closed-form solver reads the raw
    training split and folds the statistics into its answer, so no normalised copy of millions of
    rows is ever made for it.
    """

    def __init__(self, train: Split, val: Split | None, test: Split, dataset: Dataset, task, kind,
                 preprocess: dict[str, Any] | None = None, note: str | None = None):
        self.dataset, self.preprocess = dataset, preprocess if preprocess is not None else {}
        self.task, self.kind = task, kind  # the objects the collect step resolved, handed to everything below
        self.note = note  # what the split did, for one line at train time (series: windows lost to gaps)
        self._raw = {"train": train, "val": val, "test": test}
        self._normalised: dict[str, Split | None] = {}

    def model_inputs(self) -> dict[str, Any]:
        """Model constructor arguments that follow from the data: the kind's (``in_channels``, ``seq_len``...)
        and the task's (``num_classes``, ``horizon``...)."""
        return {**self.kind.model_inputs(self.dataset), **self.task.model_outputs(self.dataset)}

    def identity(self) -> dict[str, Any]:
        """What the run was trained and tested on: each split's size and a sha256 of its rows (recorded in
        meta.json; ``--resume`` and ``eval`` refuse data that changed under a run)."""
        parts = {k: v for k, v in self._raw.items() if v is not None}
        return {"sizes": {k: len(v) for k, v in parts.items()}, "rows": {k: fingerprint(v) for k, v in parts.items()}}

    def raw(self, name: str) -> Split | None:
        return self._raw[name]

    def size(self, name: str) -> int:
        part = self._raw[name]
        return 0 if part is None else len(part)

    def _get(self, name: str) -> Split | None:
        if name not in self._normalised:
            part = self._raw[name]
            self._normalised[name] = (normalize_split(part, self.preprocess, train=name == "train")
                                      if part is not None else None)
        return self._normalised[name]

    train = property(lambda self: self._get("train"))
    val = property(lambda self: self._get("val"))
    test = property(lambda self: self._get("test"))

    def split(self, name: str) -> Split:
        if name not in self._raw:
            raise UserError(f"--split {name}: allowed: train, val, test")
        part = self._get(name)
        if part is None:
            raise UserError(f"--split {name}: this run has no {name} split (data.val_fraction is 0)")
        return part


def fingerprint(split: Split) -> dict[str, Any]:
    """What identifies a split's rows, stable across CPUs: a sha256 of everything exact (integer inputs and
    targets, a streamed folder's file names) and, for float inputs that went through arithmetic (resizing,
    generation), their float64 sum and sum of squares and 32 values at seeded positions, compared within
    a relative 1e-5 by ``same_rows`` (another CPU's SIMD may round the last bit differently)."""
    import hashlib

    h, out = hashlib.sha256(), {}
    for t in (split.x, split.y):
        if not torch.is_tensor(t):  # dlnotes.data.stream.ImageFiles
            h.update("\0".join(t.path(i) for i in range(len(t))).encode())
        elif t.is_floating_point() and t is split.x:
            flat = t.detach().reshape(-1).double()
            pick = torch.randint(len(flat), (32,), generator=torch.Generator().manual_seed(0)) if len(flat) else []
            out = {"sum": flat.sum().item(), "sum_sq": (flat * flat).sum().item(), "sample": flat[pick].tolist()}
        else:
            arr = t.detach().cpu().contiguous().numpy()
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(memoryview(arr).cast("B"))
    return {"sha256": h.hexdigest(), **out}


def same_rows(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two fingerprints describe the same rows (floats within a relative 1e-5)."""
    def close(u, v):
        return abs(u - v) <= 1e-5 * max(abs(u), abs(v), 1e-6)

    if a.get("sha256") != b.get("sha256") or set(a) != set(b):
        return False
    if "sum" not in a:
        return True
    return close(a["sum"], b["sum"]) and close(a["sum_sq"], b["sum_sq"]) and \
        len(a["sample"]) == len(b["sample"]) and all(close(u, v) for u, v in zip(a["sample"], b["sample"]))


def build_dataset(cfg) -> Dataset | TableSource:
    """The registered dataset of ``cfg.data``, as its constructor returns it (a table: its ``TableSource``)."""
    fn = DATASETS.get(cfg.data.name, where="data.name")
    try:
        return fn(**cfg.extras("data"))
    except ValueError as e:
        raise UserError(f"data ({cfg.data.name}): {e}") from None


def training_rows(ds: Dataset | TableSource, cfg, stratify: bool) -> np.ndarray:
    """The rows ``prepare`` will train on: the same seeded (stratified) test and val splits it makes."""
    labels = ds.y.numpy() if stratify else None
    keep = np.arange(len(ds.y))
    if ds.y_test is None:
        keep, held = split_indices(len(ds.y), cfg.data.test_fraction, cfg.seed, labels)
        if len(held) == 0 or len(keep) == 0:
            cause = stratified_cause(labels, cfg.data.test_fraction) if labels is not None and len(held) == 0 else ""
            raise UserError(f"data: {len(ds.y)} rows leave {'no test row' if len(held) == 0 else 'nothing to train on'} "
                            f"at test_fraction {cfg.data.test_fraction:g}{cause}; give more rows or train_path + "
                            f"test_path")
    if cfg.data.val_fraction > 0:
        inner, _ = split_indices(len(keep), cfg.data.val_fraction, cfg.seed + 1,
                                 labels[keep] if labels is not None else None)
        keep = keep[inner]
    return keep


def fit_table(source, cfg, stratify: bool, embed: str) -> Dataset:
    """A table's Dataset: its preprocessing (data.tabular) fitted on the training rows alone, then the
    inputs of every row built (``data.table_source.TableSource.fit``).

    ``embed`` (the model's ``embed_categories``, or ``none`` for models without embeddings) says which
    categories become codes for learned embeddings; the others are one-hot.
    """
    return source.fit(training_rows(source, cfg, stratify), embed, cfg.data.standardize)


def _split(x, y, fraction, seed, stratify, gap=None, raw=None) -> tuple[Split, Split]:
    labels = y.numpy() if stratify and gap is None else None
    keep, held = split_indices(len(x), fraction, seed, labels, gap)
    if len(keep) == 0:
        raise UserError(f"data: {len(x)} samples leave nothing to train on after a {fraction:g} split")
    if not torch.is_tensor(x):  # streamed image files: the same split of the file list
        k, h = torch.from_numpy(keep), torch.from_numpy(held)
        return Split(x.subset(k), y[k]), Split(x.subset(h), y[h])
    r = (None, None) if raw is None else (_take(raw, keep), _take(raw, held))
    return Split(_take(x, keep), _take(y, keep), r[0]), Split(_take(x, held), _take(y, held), r[1])


def _take(t: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
    """t[rows] as a new tensor (collected data lives on the CPU); numpy's row gather is single-threaded and
    several times faster than torch's index kernel there (0.13-0.16 s against 0.26-0.96 s for 800,000 x 100:
    docs/benchmarks.md)."""
    return torch.from_numpy(t.numpy()[rows])


STATS_CHUNK = 8192  # rows per step of the statistics pass: a float64 chunk stays in cache


def stats(x: torch.Tensor, dims: list[int], chunk: int = STATS_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) std over ``dims`` (axis 0 and any trailing axes), one per kept axis entry.

    One pass over row chunks, each converted to float64 in a reused buffer: shifted sums
    s1 = sum (x - c), s2 = sum (x - c)^2 with c the first chunk's mean, then
    mean = c + s1/m and var = s2/m - (s1/m)^2. The shift keeps the subtraction free of cancellation
    when the mean is large against the spread; no float64 copy of the whole data is made. numpy does
    the passes: one thread, cast and subtraction in one step (torch's element-wise kernels split each
    chunk over threads, which costs more than it gains on a busy 2-core machine).
    """
    n = len(x)
    kept = [d for d in range(1, x.dim()) if d not in dims]  # e.g. [1]: per channel or per feature
    assert kept == list(range(1, 1 + len(kept))), dims
    shape = tuple(x.shape[d] for d in kept)
    groups = int(np.prod(shape)) if shape else 1
    flat = (x if x.dtype != torch.bfloat16 else x.float()).cpu().numpy().reshape(n, groups, -1)
    per_group = flat.shape[2]
    buf = np.empty((min(chunk, n), groups, per_group))
    shift = flat[:chunk].mean(axis=(0, 2), dtype=np.float64)[None, :, None]
    s1 = np.zeros(groups)
    s2 = np.zeros(groups)
    for start in range(0, n, chunk):
        b = buf[:min(chunk, n - start)]
        np.subtract(flat[start:start + chunk], shift, out=b)
        s1 += b.sum(axis=(0, 2))
        s2 += np.multiply(b, b, out=b).sum(axis=(0, 2))
    m = n * per_group
    mean = torch.from_numpy(shift.reshape(-1) + s1 / m).reshape(shape)
    std = torch.from_numpy(np.sqrt(np.maximum(s2 / m - (s1 / m) ** 2, 0))).reshape(shape)
    std = torch.where(std < 1e-12, torch.ones_like(std), std)  # constant columns stay as they are
    return mean.float(), std.float()


def normalize(x: torch.Tensor, pre: dict[str, Any]) -> torch.Tensor:
    """Applies the recorded (x - mean) / std; a no-op when the run was not standardised."""
    if "x_mean" not in pre:
        return x
    # one statistic per channel (images), per feature (tables) or one for all (sequences): along axis 1
    shape = (1, -1, *([1] * (x.dim() - 2))) if x.dim() < 5 else (1, 1, -1, 1, 1)  # 5-D: ten crops per image
    mean = torch.tensor(pre["x_mean"], dtype=x.dtype).reshape(shape)
    std = torch.tensor(pre["x_std"], dtype=x.dtype).reshape(shape)
    return (x - mean) / std


def prepare(ds: Dataset, cfg, task, kind, recorded: dict[str, Any] | None = None, embed: str = "none",
            quiet: bool = False) -> Prepared:
    """Splits and normalises the dataset ``ds`` of ``cfg`` for ``task`` and ``kind`` (the objects the
    collect step resolved: ``task.stratify``, ``task.target_stats``, ``kind.input_stats``...).
    ``recorded`` (a run's meta.json preprocessing) spares a streamed dataset its statistics pass when
    the run is evaluated or resumed; ``embed``: see ``fit_table``; ``quiet`` silences the statistics
    pass's line."""
    if isinstance(ds, TableSource):  # a table's rows, read and typed: fitted now, on the training rows
        ds = fit_table(ds, cfg, task.stratify, embed)
    train, val, test, notes = _splits(ds, cfg, task.stratify)
    pre = {"kind": ds.kind, **ds.facts(), **_statistics(ds, cfg, task, kind, train, recorded, quiet)}
    note = "\n".join(n for n in [_note(cfg, ds, train, val, test), *notes] if n)
    return Prepared(train, val, test, ds, task, kind, pre, note or None)


def _splits(ds: Dataset, cfg, stratify: bool) -> tuple[Split, Split | None, Split, list[str]]:
    """(train, val, test, notes): the seeded splits. An empty test split, or a class left without training
    samples, is refused (naming stratification when it is the cause); an empty validation split means
    training without validation, said in a note, as are classes a stratified split left out of the test."""
    seed, gap, notes = cfg.seed, ds.split_gap, []  # a gap: series tested on their end
    labels = ds.y.numpy() if stratify and gap is None else None
    if ds.x_test is None:
        train, test = _split(ds.x, ds.y, cfg.data.test_fraction, seed, stratify, gap, ds.raw)
        if len(test) == 0:  # found now, not as an empty test set after training
            cause = stratified_cause(labels, cfg.data.test_fraction) if labels is not None else ""
            raise UserError(f"data.test_fraction: {len(ds.x)} samples give no test samples at "
                            f"{cfg.data.test_fraction:g}{cause}; give more data or a larger test_fraction")
    else:
        train, test = Split(ds.x, ds.y), Split(ds.x_test, ds.y_test)
    val = None
    if cfg.data.val_fraction > 0:
        train, val = _split(train.x, train.y, cfg.data.val_fraction, seed + 1, stratify, gap, train.raw)
        if len(val) == 0:
            cause = stratified_cause(train.y.numpy(), cfg.data.val_fraction) if labels is not None else ""
            notes.append(f"note: data.val_fraction {cfg.data.val_fraction:g} of {len(train)} training samples "
                         f"leaves no validation sample{cause}; training without validation")
            val = None
    if labels is not None:
        notes += _class_coverage(ds, cfg, train, val, test)
    return train, val, test, notes


def _class_coverage(ds: Dataset, cfg, train: Split, val: Split | None, test: Split) -> list[str]:
    """Refuses a class with no training sample; notes the classes the test or validation split lacks."""
    classes, y = ds.classes or [], train.y.numpy()
    gone = untrained_classes(classes, y, ds.y.numpy())
    if gone:
        one = len(gone) == 1
        names = ", ".join(f"'{c}'" for c in gone[:5]) + (", ..." if len(gone) > 5 else "")
        raise UserError(f"data.test_fraction: class{'' if one else 'es'} {names} keep{'s' if one else ''} no "
                        f"training sample at test_fraction {cfg.data.test_fraction:g} and val_fraction "
                        f"{cfg.data.val_fraction:g}; give more samples of {'it' if one else 'them'} "
                        f"or smaller fractions")
    return [n for n in (lost_classes(classes, y, test.y.numpy(), "test", cfg.data.test_fraction),
                        val and lost_classes(classes, y, val.y.numpy(), "validation", cfg.data.val_fraction)) if n]


def _statistics(ds: Dataset, cfg, task, kind, train: Split, recorded: dict[str, Any] | None,
                quiet: bool = False) -> dict[str, Any]:
    """The normalisation (and, for Krizhevsky's recipe, colour PCA) statistics of the training split."""
    pre: dict[str, Any] = {}
    streamed = not torch.is_tensor(ds.x)
    if not streamed:
        pre.update(kind.input_stats(train.x))
    if ds.table is not None:  # the table's own preprocessing standardised its numbers (data.tabular)
        pre["tabular"] = ds.table.transform.to_dict()
        if cfg.data.standardize:
            pre.update(task.target_stats(train.y, None, None))
    elif streamed and (cfg.data.standardize or ds.x.recipe == "krizhevsky"):
        keys = ("x_mean", "x_std", "pca_eigval", "pca_eigvec")
        if recorded and "x_mean" in recorded:
            pre.update({k: recorded[k] for k in keys if k in recorded})
        else:
            from dlnotes.data.stream import image_statistics
            pre.update(image_statistics(train.x, cfg.seed, ds.x.stats_images, pca=ds.x.recipe == "krizhevsky",
                                        quiet=quiet))
        if not cfg.data.standardize:  # the colour noise's eigenvectors without the normalisation
            pre.pop("x_mean"), pre.pop("x_std")
    elif not streamed and cfg.data.standardize and kind.dtype.is_floating_point:
        mean, std = stats(train.x, kind.stat_dims(train.x))
        pre.update(x_mean=mean.tolist(), x_std=std.tolist(), **task.target_stats(train.y, mean, std))
    return pre


def _note(cfg, ds: Dataset, train: Split, val: Split | None, test: Split) -> str | None:
    """``timeseries_csv: 259 values -> 210 windows; 91 train, ... ; 48 windows dropped as gaps ...``."""
    if not ds.ordered and ds.note is None:
        return None
    sizes = f"{len(train)} train, " + (f"{len(val)} validation, " if val is not None else "") + f"{len(test)} test"
    text = f"{cfg.data.name}: {ds.note or f'{len(ds.x)} windows'}; {sizes}"
    dropped = len(ds.x) - len(train) - (len(val) if val is not None else 0) - len(test)
    if ds.ordered and ds.x_test is None:
        text += (f"; {dropped} windows dropped as gaps between train/validation/test so that no value is seen "
                 f"twice" if dropped else "; no gap needed between the parts")
        if dropped and ds.horizon:  # a series to forecast: would a shorter window keep more?
            text += seq_len_advice(len(ds.x), ds.seq_len, ds.horizon, int(cfg.extras("data").get("stride", 1)),
                                   cfg.data.test_fraction, cfg.data.val_fraction) or ""
    return text


def normalize_split(s: Split, pre: dict[str, Any], train: bool = False) -> Split:
    if not torch.is_tensor(s.x):  # streamed: normalised (and augmented, for training) as each image is read
        from dlnotes.data.transforms import ImageTransform

        f = s.x
        return Split(f.with_transform(ImageTransform(f.image_size, f.recipe, train, f.ten_crop and not train, pre)), s.y)
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
