"""Datasets that ship inside scikit-learn: no network, no files.

digits: 1,797 8x8 handwritten digits (UCI, Alpaydin & Kaynak 1998); breast_cancer: 569 tumours, 30
features, binary; diabetes: 442 patients, 10 features, disease progression (regression); iris: 150
flowers, 4 features, 3 species; wine: 178 wines, 13 features, 3 cultivars.
"""

from __future__ import annotations

import numpy as np
import torch

from dlnotes.data.base import Dataset, resize_images
from dlnotes.registry import DATASETS


def _digits_images() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)  # 0..16 -> [0, 1], ink is high
    return x, torch.from_numpy(d.target.astype(np.int64))


@DATASETS.register
def digits(image_size: int = 28) -> Dataset:
    """scikit-learn's 1,797 handwritten 8x8 digits, scaled to [0, 1] and resized to image_size."""
    if image_size < 1:
        raise ValueError("image_size must be >= 1")
    x, y = _digits_images()
    x = resize_images(x, image_size)
    return Dataset(x, y, "classification", "image", classes=[str(i) for i in range(10)],
                   info={"image_size": image_size, "channels": 1})


@DATASETS.register
def digits_rows() -> Dataset:
    """scikit-learn's 8x8 digits read row by row: a sequence of 8 steps with 8 features each."""
    x, y = _digits_images()
    return Dataset(x.squeeze(1), y, "classification", "sequence", classes=[str(i) for i in range(10)],
                   info={"seq_len": 8, "input_size": 8})


def _tabular(loader, task: str, classes=None) -> Dataset:
    d = loader()
    x = torch.from_numpy(np.asarray(d.data, dtype=np.float32))
    if task == "classification":
        y = torch.from_numpy(np.asarray(d.target, dtype=np.int64))
        classes = [str(c) for c in (classes if classes is not None else d.target_names)]
    else:
        y = torch.from_numpy(np.asarray(d.target, dtype=np.float32)).unsqueeze(1)
    names = [str(n) for n in d.feature_names]
    return Dataset(x, y, task, "tabular", classes=classes, feature_names=names, target_name="target")


@DATASETS.register
def breast_cancer() -> Dataset:
    """Wisconsin breast cancer: 569 samples, 30 features; classes malignant (0) and benign (1)."""
    from sklearn.datasets import load_breast_cancer

    return _tabular(load_breast_cancer, "classification")


@DATASETS.register
def diabetes() -> Dataset:
    """Diabetes progression: 442 patients, 10 features, a continuous target (regression)."""
    from sklearn.datasets import load_diabetes

    return _tabular(load_diabetes, "regression")


@DATASETS.register
def iris() -> Dataset:
    """Fisher's iris: 150 flowers, 4 features, 3 species."""
    from sklearn.datasets import load_iris

    return _tabular(load_iris, "classification")


@DATASETS.register
def wine() -> Dataset:
    """Wine recognition: 178 wines, 13 chemical features, 3 cultivars."""
    from sklearn.datasets import load_wine

    return _tabular(load_wine, "classification")
