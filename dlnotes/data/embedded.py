"""Datasets that ship inside scikit-learn: no network, no files.

digits: 1,797 8x8 handwritten digits (UCI, Alpaydin & Kaynak 1998); breast_cancer: 569 tumours, 30
features, binary; diabetes: 442 patients, 10 features, disease progression (regression); iris: 150
flowers, 4 features, 3 species; wine: 178 wines, 13 features, 3 cultivars.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch

from dlnotes.constraints import Interval
from dlnotes.data.base import Dataset
from dlnotes.registry import DATASETS


def _digits_table() -> np.ndarray:
    """scikit-learn's digits as (1797, 65): 64 pixels (0..16) and the label.

    Read straight from the CSV that ships inside scikit-learn, which is what ``load_digits`` reads
    too, but without importing scikit-learn (a second of start-up on every digits run); falls back
    to ``load_digits`` if the file is not where it has been since scikit-learn 0.x.
    """
    import gzip
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is not None and path.is_file():
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",")
        if table.shape == (1797, 65):
            return table
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.column_stack([d.data, d.target])


def _digits_images() -> tuple[torch.Tensor, torch.Tensor]:
    table = _digits_table()
    x = torch.from_numpy((table[:, :64] / 16.0).astype(np.float32)).view(-1, 1, 8, 8)  # ink is high
    return x, torch.from_numpy(table[:, 64].astype(np.int64))


@DATASETS.register
def digits(image_size: Annotated[int, Interval(1, 1024)] = 28) -> Dataset:
    """scikit-learn's 1,797 handwritten 8x8 digits, scaled to [0, 1] and resized to image_size.

    The counts 0..16 become uint8 pixels (round(255 k / 16)) resized as ``predict`` resizes a photo
    prepared in the digits style (``dlnotes.data.views``), so training and predict see the same values."""
    from dlnotes.data.images import resized

    x, y = _digits_images()
    x = resized(np.rint(x.numpy() * 255).astype(np.uint8), image_size)
    return Dataset(x, y, "classification", "image", classes=[str(i) for i in range(10)],
                   image_size=image_size, channels=1, style="digits")  # predict prepares photos like these


@DATASETS.register
def digits_rows() -> Dataset:
    """scikit-learn's 8x8 digits read row by row: a sequence of 8 steps with 8 features each."""
    x, y = _digits_images()
    return Dataset(x.squeeze(1), y, "classification", "sequence", classes=[str(i) for i in range(10)],
                   seq_len=8, input_size=8)


def _tabular(loader, classify: bool) -> Dataset:
    """A scikit-learn table: class labels (classification) or a continuous target (regression)."""
    d = loader()
    x = torch.from_numpy(np.asarray(d.data, dtype=np.float32))
    names = [str(n) for n in d.feature_names]
    if classify:
        y = torch.from_numpy(np.asarray(d.target, dtype=np.int64))
        return Dataset(x, y, "classification", "tabular", classes=[str(c) for c in d.target_names],
                       feature_names=names, target_name="target")
    y = torch.from_numpy(np.asarray(d.target, dtype=np.float32)).unsqueeze(1)
    return Dataset(x, y, "regression", "tabular", feature_names=names, target_name="target")


@DATASETS.register
def breast_cancer() -> Dataset:
    """Wisconsin breast cancer: 569 samples, 30 features; classes malignant (0) and benign (1)."""
    from sklearn.datasets import load_breast_cancer

    return _tabular(load_breast_cancer, classify=True)


@DATASETS.register
def diabetes() -> Dataset:
    """Diabetes progression: 442 patients, 10 features, a continuous target (regression)."""
    from sklearn.datasets import load_diabetes

    return _tabular(load_diabetes, classify=False)


@DATASETS.register
def iris() -> Dataset:
    """Fisher's iris: 150 flowers, 4 features, 3 species."""
    from sklearn.datasets import load_iris

    return _tabular(load_iris, classify=True)


@DATASETS.register
def wine() -> Dataset:
    """Wine recognition: 178 wines, 13 chemical features, 3 cultivars."""
    from sklearn.datasets import load_wine

    return _tabular(load_wine, classify=True)
