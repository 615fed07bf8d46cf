"""A user's own sequences: a column of a CSV as a time series, or a text file for a character model.

Both cut the data into windows in time order and mark it ``ordered``: the test (and validation) part
is the *end* of the series, with a gap of windows between the parts so that no value is seen in
training and tested on again. Normalisation statistics come from the training part only.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dlnotes.data.base import Dataset
from dlnotes.data.files import numeric_columns, read_table, read_text
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
def timeseries_csv(path: str | None = None, column: str | None = None, seq_len: int = 24, horizon: int = 1,
                   stride: int = 1) -> Dataset:
    """A column of your CSV (with a header line) as a series: seq_len values in, the next horizon out."""
    if path is None:
        raise UserError("data.path: name your CSV file (e.g. path: sales.csv) for timeseries_csv")
    if seq_len < 1 or horizon < 1 or stride < 1:
        raise ValueError("seq_len, horizon and stride must be >= 1")
    header, rows = read_table(path, "data.path")
    if column is None:
        if len(header) != 1:
            raise UserError(f"data.column: '{path}' has {len(header)} columns ({', '.join(header)}); "
                            f"name the one to forecast")
        column = header[0]
    if column not in header:
        raise UserError(f"data.column: '{column}' is not a column of '{path}'; it has: {', '.join(header)}")
    values = torch.from_numpy(numeric_columns(path, header, rows, [column])[:, 0]).float()
    length = seq_len + horizon
    win = windows(values, length, stride) if len(values) >= length else values.new_zeros(0, length)
    _check_windows(len(win), f"data.path '{path}'", f"{len(values)} values with seq_len {seq_len} + horizon "
                   f"{horizon}", length + 3 * stride)
    return Dataset(win[:, :seq_len].unsqueeze(-1).contiguous(), win[:, seq_len:].contiguous(), "forecasting",
                   "sequence", target_name=column, feature_names=[column],
                   seq_len=seq_len, horizon=horizon, column=column, split_gap=(length - 1) // stride)


@DATASETS.register
def text(path: str | None = None, seq_len: int = 64, stride: int = 0) -> Dataset:
    """A UTF-8 text file of yours for a character-level language model: predict each next character.

    The vocabulary is the file's characters; windows of seq_len characters start every ``stride``
    (default seq_len: no overlap); the target is the same window shifted by one character.
    """
    if path is None:
        raise UserError("data.path: name your text file (e.g. path: notes.txt) for the text dataset")
    if seq_len < 1 or stride < 0:
        raise ValueError("seq_len must be >= 1 and stride >= 0 (0 means seq_len)")
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
