"""Data generated on the spot: lines with known coefficients, noisy sines, MNIST-1D."""

from __future__ import annotations

import math

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
                   true_w=w, true_b=b)


@DATASETS.register
def sine(n_samples: int = 2000, seq_len: int = 50, horizon: int = 1, noise: float = 0.05,
         period_min: float = 10.0, period_max: float = 40.0, seed: int = 0) -> Dataset:
    """Noisy sine windows for forecasting: seq_len values in, the next horizon values out.

    Each sample is its own wave: period uniform in [period_min, period_max] steps, random phase and
    amplitude in [0.5, 1.5], plus Gaussian noise of std ``noise`` on every value (targets included,
    so the best reachable test mse is about noise^2).
    """
    if n_samples < 2 or seq_len < 1 or horizon < 1:
        raise ValueError("n_samples must be >= 2, seq_len and horizon >= 1")
    if not 0 < period_min <= period_max:
        raise ValueError("periods must satisfy 0 < period_min <= period_max")
    g = torch.Generator().manual_seed(seed)
    n, length = n_samples, seq_len + horizon
    period = torch.empty(n, 1).uniform_(period_min, period_max, generator=g)
    phase = torch.empty(n, 1).uniform_(0, 2 * math.pi, generator=g)
    amp = torch.empty(n, 1).uniform_(0.5, 1.5, generator=g)
    t = torch.arange(length, dtype=torch.float32)
    series = amp * torch.sin(2 * math.pi * t / period + phase) + noise * torch.randn(n, length, generator=g)
    return Dataset(series[:, :seq_len].unsqueeze(-1), series[:, seq_len:], "forecasting", "sequence",
                   target_name="value", seq_len=seq_len, horizon=horizon)


@DATASETS.register
def mnist1d(num_samples: int = 5000, train_split: float = 0.8, seq_len: int = 40, shuffle_seq: bool = False,
            seed: int = 42) -> Dataset:
    """MNIST-1D (Greydanus 2020): ten 1-D digit templates, padded, shifted, sheared, scaled and noised.

    Generated offline by the ``mnist1d`` package (``make_dataset``; its download path is never used).
    The defaults are the paper's: 4,000 training and 1,000 test sequences of length 40, one feature
    per step. Sequence models read it step by step; ``mlp`` and ``logistic_regression`` read the 40
    values as a flat vector.
    """
    if num_samples < 20 or not 0 < train_split < 1 or seq_len < 2:
        raise ValueError("num_samples must be >= 20, train_split in (0, 1), seq_len >= 2")
    import random

    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.final_seq_length = num_samples, train_split, seq_len
    args.shuffle_seq, args.seed = shuffle_seq, seed
    saved = random.getstate(), np.random.get_state()
    try:  # make_dataset reseeds Python's and numpy's global generators; give them back as they were
        d = make_dataset(args)
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    seq = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).unsqueeze(-1)  # noqa: E731
    lab = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
    return Dataset(seq(d["x"]), lab(d["y"]), "classification", "sequence", x_test=seq(d["x_test"]),
                   y_test=lab(d["y_test"]), classes=[str(i) for i in range(10)],
                   seq_len=seq_len, input_size=1)
