"""A user's own sequences: a column of a CSV as a time series, or a text file for a character model.

Both cut the data into windows in time order and mark it ``ordered``: the test (and validation) part
is the *end* of the series, with a gap of windows between the parts so that no value is seen in
training and tested on again. Normalisation statistics come from the training part only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import torch

from dlnotes.constraints import Interval
from dlnotes.data.base import Dataset
from dlnotes.data.files import read_text
from dlnotes.errors import UserError
from dlnotes.registry import DATASETS


def windows(values: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Every ``size``-long window of a 1-D series, starting every ``stride`` steps: (N, size)."""
    return values.unfold(0, size, stride)


def _check_windows(n_windows: int, where: str, have: str, need: int) -> None:
    if n_windows < 4:
        raise UserError(f"{where}: {have} gives only {n_windows} windows; at least 4 are needed "
                        f"(at least {need} values), so give more data or a smaller seq_len")


@DATASETS.register
def timeseries_csv(path: str | None = None, column: str | None = None,
                   seq_len: Annotated[int, Interval(1, 100_000)] = 24, horizon: Annotated[int, Interval(1, 100_000)] = 1,
                   stride: Annotated[int, Interval(1, None)] = 1, missing: Literal["interpolate", "error"] = "error",
                   transform: Literal["none", "diff", "log", "pct"] = "none", relative: bool = False,
                   period: Annotated[int, Interval(0, 100_000)] = 0) -> Dataset:
    """A column of your CSV (with a header line) as a series: seq_len values in, the next horizon out.

    missing: empty cells (or NA, NaN, ?) are filled linearly in time (interpolate) or refused (error).
    transform: the model learns the series as is (none), its steps v_t - v_{t-1} (diff), log v_t (log)
    or v_t / v_{t-1} - 1 (pct); metrics, figures and forecasts are always in the column's own units.
    A trend that leaves the training range needs diff (or pct), or relative: true (predict each value
    minus the window's last one). period: a season's length in steps (52 for weekly data), for the
    seasonal naive baseline beside the last-value one (it looks back into the series, so the period may
    be longer than seq_len). An empty line or cell is a gap at its time. predict reads the last seq_len values (one more
    with diff/pct) of a .csv (one column with or without header, one row, or the training column) or
    .npy (1-D) file; gaps before those values are ignored.
    """
    from dlnotes.data.sequence_files import table_column
    from dlnotes.data.series_transform import fill_gaps, lost
    from dlnotes.data.series_transform import transform as apply_transform

    if path is None:
        raise UserError("data.path: name your CSV file (e.g. path: sales.csv) for timeseries_csv")
    if seq_len < 1 or horizon < 1 or stride < 1 or period < 0:
        raise ValueError("seq_len, horizon and stride must be >= 1, period >= 0")
    column, v, lines = table_column(path, column, "data.path")
    v, gaps = fill_gaps(v, missing, f"data.path '{path}', column '{column}'", lines)
    s = torch.from_numpy(apply_transform(v, transform, f"data.path '{path}', column '{column}'", lines))
    length = seq_len + horizon
    win = windows(s, length, stride) if len(s) >= length else s.new_zeros(0, length)
    _check_windows(len(win), f"data.path '{path}'", f"{len(v)} values with seq_len {seq_len} + horizon "
                   f"{horizon}", length + 3 * stride + lost(transform))
    raw = history(v, seq_len + lost(transform), max(seq_len, period), stride, len(win))
    if period and not torch.isfinite(raw[-1]).all():
        raise UserError(f"data.period: {period} steps of history come before no window of the {len(v)} values of "
                        f"'{path}'; give a shorter period or a longer series")
    x, y = win[:, :seq_len], win[:, seq_len:]
    if relative:
        y = y - x[:, -1:]
    note = f"{len(v)} values" + (f" ({gaps} missing, interpolated)" if gaps else "") + f" -> {len(win)} windows"
    return Dataset(x.unsqueeze(-1).float().contiguous(), y.float().contiguous(), "forecasting",
                   "sequence", target_name=column, feature_names=[column],
                   seq_len=seq_len, horizon=horizon, column=column, split_gap=(length - 1) // stride,
                   transform=transform, relative=relative, period=period or None, missing=missing,
                   raw=raw.contiguous(), note=note)


def history(v, first_end: int, back: int, stride: int, n: int) -> torch.Tensor:
    """The ``back`` values of ``v`` (the series in the user's units) up to each window's last input: (n, back).

    Window j's last input is ``v[j * stride + first_end - 1]``; values before the series' start are NaN.
    ``back`` is seq_len, or the season when it is longer: the seasonal naive forecast looks one season
    back from the window's end, into the series' history, not into the window."""
    v = torch.from_numpy(v)
    offset = first_end - back
    base = v[offset:] if offset >= 0 else torch.cat([v.new_full((-offset,), float("nan")), v])
    return windows(base, back, stride)[:n]


@DATASETS.register
def text(path: str | None = None, seq_len: Annotated[int, Interval(1, 100_000)] = 64,
         stride: Annotated[int, Interval(0, None)] = 0) -> Dataset:
    """A UTF-8 text file of yours for a character-level language model: predict each next character.

    The vocabulary is the file's characters; windows of seq_len characters start every ``stride``
    (default seq_len: no overlap); the target is the same window shifted by one character.
    """
    if path is None:
        raise UserError("data.path: name your text file (e.g. path: notes.txt) for the text dataset")
    stride = stride or seq_len
    p = Path(path)
    content = read_text(p, "data.path")
    vocab = sorted(set(content))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in content], dtype=torch.long)
    win = windows(ids, seq_len + 1, stride) if len(ids) > seq_len else ids.new_zeros(0, seq_len + 1)
    _check_windows(len(win), f"data.path '{p}'", f"{len(ids)} characters with seq_len {seq_len}",
                   seq_len + 1 + 3 * stride)
    return Dataset(win[:, :-1].contiguous(), win[:, 1:].contiguous(), "language", "text",
                   vocab=vocab, seq_len=seq_len, split_gap=seq_len // stride)
