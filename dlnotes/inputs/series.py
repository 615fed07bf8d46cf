"""A forecaster's inputs: the last values of each series, raw, in the user's units.

The graph (``dlnotes.export.series``) applies the run's transform (diff, log, pct), the standardisation,
the model, the roll-out and the inverse transform; it reads the last ``seq_len`` values of each series,
one more with diff or pct (a step needs the value before it). Gaps inside those values are interpolated
(a run trained with ``data.missing: interpolate``) or refused, and values the transform cannot take
(log of a value <= 0, pct after a 0) are refused, as ``dlnotes predict`` refuses them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlnotes.errors import UserError


def need(meta: dict[str, Any]) -> int:
    """How many of each series' last values the model reads."""
    from dlnotes.data.series_transform import lost

    return int(meta["dataset"]["input_shape"][0]) + lost(meta["preprocess"].get("transform", "none"))


def contract(meta: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "values", "dtype": "float64", "shape": ["N", need(meta)]}]


def read(meta: dict[str, Any], inputs) -> tuple[list[str], dict[str, np.ndarray]]:
    """(names, {"values": (N, need) float64}) from a .csv/.npy file, a list of numbers, or rows of series."""
    from dlnotes.data.sequence_files import read_series
    from dlnotes.data.series_transform import transform

    pre, n = meta["preprocess"], need(meta)
    how, missing = pre.get("transform", "none"), pre.get("missing", "error")
    if isinstance(inputs, (str, Path)):
        names, values = read_series(Path(inputs), n, pre.get("column"), missing)
    else:
        arr = numbers(inputs, "--input")
        arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.size == 0:
            raise UserError(f"--input: a series is a list of numbers (or one per row of a 2-D array); got shape "
                            f"{arr.shape}")
        names = [str(i) for i in range(len(arr))]
        values = np.stack([last_values(row, n, missing, f"--input (series {name})") for name, row in zip(names, arr)])
    for name, row in zip(names, values):
        transform(row, how, f"--input '{name}'")  # refused here, as predict refuses it: log <= 0, pct after 0
    return names, {"values": np.ascontiguousarray(values, dtype=np.float64)}


def last_values(row: np.ndarray, n: int, missing: str, where: str) -> np.ndarray:
    """The last ``n`` values of a series given as numbers (NaN: missing), as ``read_series`` takes them from a
    file: a missing value is a gap at its time, the last ones too (never dropped, which would start the
    forecast from an earlier value); gaps among the last ``n`` are interpolated over the whole series
    (``data.missing: interpolate``) or refused naming the first."""
    from dlnotes.data.series_transform import fill_gaps

    if len(row) < n:
        raise UserError(f"{where}: a series of {len(row)} values is too short; the model reads the last {n} values")
    tail = row[-n:]
    gaps = np.flatnonzero(~np.isfinite(tail))
    if len(gaps) == 0:
        return tail
    if missing != "interpolate":
        raise UserError(f"{where}: {len(gaps)} of the last {n} values (the ones the model reads) "
                        f"{'is' if len(gaps) == 1 else 'are'} missing, the first at value {len(row) - n + gaps[0] + 1}; "
                        f"fill them, or train with data.missing: interpolate")
    return fill_gaps(row, "interpolate", where)[0][-n:]


def numbers(inputs, where: str) -> np.ndarray:
    """Numbers (lists, arrays, CPU tensors) as float64, None as NaN; refuses anything else by name."""
    try:
        arr = np.asarray(inputs, dtype=np.float64) if not isinstance(inputs, (list, tuple)) else \
            np.array([[np.nan if v is None else v for v in r] if isinstance(r, (list, tuple)) else
                      (np.nan if r is None else r) for r in inputs], dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{where}: give numbers (a list, a numpy array), or a .csv or .npy file; got "
                        f"{type(inputs).__name__}") from None
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isinf(arr).any() or np.isinf(arr.astype(np.float32)).any():
            raise UserError(f"{where}: a value is infinite or beyond float32's range (|x| <= "
                            f"{np.finfo(np.float32).max:.3g})")
    return arr
