"""Data generated on the spot: lines with known coefficients, noisy sines, MNIST-1D."""

from __future__ import annotations

import torch

from dlnotes.data.base import Dataset
from dlnotes.registry import DATASETS


@DATASETS.register
def synthetic_linear(n_samples: int = 200, n_features: int = 1, w: float = 3.0, b: float = 2.0,
                     noise: float = 1.0, x_min: float = -5.0, x_max: float = 5.0, seed: int = 0) -> Dataset:
    """y = w . x + b + noise, x uniform in [x_min, x_max]; w is one value for every feature."""
    if n_samples < 2 or n_features < 1:
        raise ValueError("n_samples must be >= 2 and n_features >= 1")
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(n_samples, n_features).uniform_(x_min, x_max, generator=g)
    y = torch.randn(n_samples, 1, generator=g).mul_(noise).add_(x.sum(1, keepdim=True), alpha=w).add_(b)
    names = [f"x{i}" for i in range(n_features)]
    return Dataset(x, y, "regression", "tabular", feature_names=names, target_name="y",
                   info={"true_w": w, "true_b": b})
