"""Data generated on the spot: lines with known coefficients, noisy sines, MNIST-1D."""

from __future__ import annotations

import functools
import math
from typing import Annotated

import torch

from dlnotes.constraints import Interval
from dlnotes.data.base import Dataset
from dlnotes.registry import DATASETS


BLOCK_ROWS = 65536  # rows per random stream of synthetic_linear: the data never depends on the thread count


@DATASETS.register
def synthetic_linear(n_samples: Annotated[int, Interval(2, 10_000_000)] = 200,
                     n_features: Annotated[int, Interval(1, 10_000)] = 1, w: Annotated[float, Interval(-1e6, 1e6)] = 3.0,
                     b: Annotated[float, Interval(-1e6, 1e6)] = 2.0, noise: Annotated[float, Interval(0, 1e6)] = 1.0,
                     x_min: Annotated[float, Interval(-1e6, 1e6)] = -5.0,
                     x_max: Annotated[float, Interval(-1e6, 1e6)] = 5.0, seed: Annotated[int, Interval(0, 2**32 - 1)] = 0) -> Dataset:
    """y = w . x + b + noise, x uniform in [x_min, x_max]; w is one value for every feature.

    Written straight into float32 by numpy's PCG64: block k of BLOCK_ROWS rows draws its x and its
    noise from its own stream, ``SeedSequence(seed).spawn(...)[k]``, so blocks fill in parallel
    threads (numpy releases the GIL while filling) and the values are the same on any machine.
    """
    if not x_min < x_max:
        raise ValueError(f"x_min ({x_min:g}) must be less than x_max ({x_max:g})")
    import numpy as np

    x = np.empty((n_samples, n_features), dtype=np.float32)
    y = np.empty((n_samples, 1), dtype=np.float32)
    streams = np.random.SeedSequence(seed).spawn(-(-n_samples // BLOCK_ROWS))

    def fill(k: int) -> None:
        g = np.random.Generator(np.random.PCG64(streams[k]))
        xb, yb = x[k * BLOCK_ROWS:(k + 1) * BLOCK_ROWS], y[k * BLOCK_ROWS:(k + 1) * BLOCK_ROWS]
        g.random(out=xb, dtype=np.float32)
        xb *= np.float32(x_max - x_min)
        xb += np.float32(x_min)
        g.standard_normal(out=yb, dtype=np.float32)
        yb *= np.float32(noise)
        yb += np.float32(w) * xb.sum(1, keepdims=True) + np.float32(b)

    if len(streams) == 1:
        fill(0)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(torch.get_num_threads(), len(streams))) as pool:
            list(pool.map(fill, range(len(streams))))
    names = [f"x{i}" for i in range(n_features)]
    return Dataset(torch.from_numpy(x), torch.from_numpy(y), "regression", "tabular", feature_names=names,
                   target_name="y", true_w=w, true_b=b)


@DATASETS.register
def sine(n_samples: Annotated[int, Interval(2, 10_000_000)] = 2000, seq_len: Annotated[int, Interval(1, 100_000)] = 50,
         horizon: Annotated[int, Interval(1, 100_000)] = 1, noise: Annotated[float, Interval(0, 1e6)] = 0.05,
         period_min: Annotated[float, Interval(0, 1e9, closed="right")] = 10.0,
         period_max: Annotated[float, Interval(0, 1e9, closed="right")] = 40.0, seed: Annotated[int, Interval(0, 2**32 - 1)] = 0) -> Dataset:
    """Noisy sine windows for forecasting: seq_len values in, the next horizon values out.

    Each sample is its own wave: period uniform in [period_min, period_max] steps, random phase and
    amplitude in [0.5, 1.5], plus Gaussian noise of std ``noise`` on every value (targets included,
    so the best reachable test mse is about noise^2).
    """
    if not period_min <= period_max:
        raise ValueError(f"period_min ({period_min:g}) must be at most period_max ({period_max:g})")
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
def mnist1d(num_samples: Annotated[int, Interval(20, 10_000_000)] = 5000,
            train_split: Annotated[float, Interval(0, 1, closed="neither")] = 0.8,
            seq_len: Annotated[int, Interval(2, 100_000)] = 40, shuffle_seq: bool = False,
            seed: Annotated[int, Interval(0, 2**32 - 1)] = 42) -> Dataset:
    """MNIST-1D (Greydanus 2020): ten 1-D digit templates, padded, shifted, sheared, scaled and noised.

    Generated offline by the ``mnist1d`` package (``make_dataset``; its download path is never used).
    The defaults are the paper's: 4,000 training and 1,000 test sequences of length 40, one feature
    per step. Sequence models read it step by step; ``mlp`` and ``logistic_regression`` read the 40
    values as a flat vector.
    """
    d = _mnist1d_arrays(num_samples, train_split, seq_len, shuffle_seq, seed)
    seq = lambda a: torch.tensor(a, dtype=torch.float32).unsqueeze(-1)  # noqa: E731 - copies: the cache stays
    lab = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    return Dataset(seq(d["x"]), lab(d["y"]), "classification", "sequence", x_test=seq(d["x_test"]),
                   y_test=lab(d["y_test"]), classes=[str(i) for i in range(10)],
                   seq_len=seq_len, input_size=1)


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(num_samples: int, train_split: float, seq_len: int, shuffle_seq: bool, seed: int) -> dict:
    """make_dataset's arrays, kept for the process: generating the paper's 5,000 sequences takes ~5 s (the
    package transforms one sequence at a time), which every run of a sweep, lr-find or a time-to-accuracy
    script in one process would pay again for the same seed."""
    import random

    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.final_seq_length = num_samples, train_split, seq_len
    args.shuffle_seq, args.seed = shuffle_seq, seed
    saved = random.getstate(), np.random.get_state()
    try:  # make_dataset reseeds Python's and numpy's global generators; give them back as they were
        return make_dataset(args)
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
