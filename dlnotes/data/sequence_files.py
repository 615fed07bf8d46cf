"""Reading a user's sequences for predict: ``.npy`` (never unpickled) or ``.csv`` files.

A sequence comes as ``.npy`` (1-D: one series; 2-D: one series per row; 3-D: (N, T, F)) or ``.csv``
(a column with a header: one series; for classifiers, each row of numbers is one sequence).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlnotes.errors import UserError


def load_array(path: Path, column: str | None = None) -> np.ndarray:
    """A finite float32 array from ``.npy`` (never unpickled) or ``.csv`` (with a header: one series per
    column, or just ``column``; numbers only: one sequence per row)."""
    if not path.exists():
        raise UserError(f"--input '{path}' not found")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise UserError(f"--input '{path}' is not a numeric .npy array ({e}); object arrays are refused") from None
        if not np.issubdtype(arr.dtype, np.number):
            raise UserError(f"--input '{path}' holds {arr.dtype} values; give numbers")
        if not np.isfinite(arr).all():
            raise UserError(f"--input '{path}' holds missing or infinite values")
        return arr.astype(np.float32)
    if path.suffix.lower() == ".csv":
        from dlnotes.data.files import is_number, numeric_columns, read_rows, split_header

        rows = read_rows(path, "--input")
        if all(is_number(c) for c in rows[0] if c.strip()):  # numbers only: each row one sequence
            names = [str(i) for i in range(len(rows[0]))]
            for n, r in enumerate(rows, start=1):
                if len(r) != len(names):
                    raise UserError(f"--input '{path}' line {n} has {len(r)} values, line 1 has {len(names)}")
            return numeric_columns(path, names, rows, names, first_line=1).astype(np.float32)
        header, rows = split_header(rows, path, "--input")
        columns = [column] if column in header else header
        return numeric_columns(path, header, rows, columns).astype(np.float32).T  # each column a series
    raise UserError(f"--input '{path}': give a .npy or .csv sequence file")


def read_sequences(path, input_shape: list[int]) -> tuple[list[str], torch.Tensor]:
    """Sequences for a classifier trained on (T, F) inputs: (N, T, F), each exactly T steps long."""
    path = Path(path)
    arr = load_array(path)
    t, f = input_shape[0], input_shape[-1]
    if arr.ndim == 3 or (arr.ndim == 2 and arr.shape == (t, f) and f > 1):
        arr = arr.reshape(-1, *arr.shape[-2:])
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2:
        if arr.shape[1] != t * f and arr.shape[0] == t * f and f == 1:
            arr = arr.T  # one series written as a column
        if arr.shape[1] != t * f:
            raise UserError(f"--input '{path}': a sequence of {arr.shape[1]} values, but the model reads "
                            f"{t} steps x {f} features = {t * f} values per sequence")
        arr = arr.reshape(-1, t, f)
    if tuple(arr.shape[1:]) != (t, f):
        raise UserError(f"--input '{path}': sequences of shape {tuple(arr.shape[1:])}, the model reads ({t}, {f})")
    return [f"{path.name}:{i}" for i in range(len(arr))], torch.from_numpy(np.ascontiguousarray(arr))


def read_series(path: Path, seq_len: int, column: str | None) -> tuple[list[str], torch.Tensor]:
    arr = load_array(path, column)
    if arr.ndim == 3:
        arr = arr[..., 0]
    arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
    if arr.shape[1] < seq_len:
        raise UserError(f"--input '{path}': a sequence of {arr.shape[1]} values is too short; the model "
                        f"reads the last {seq_len} values")
    x = torch.from_numpy(np.ascontiguousarray(arr[:, -seq_len:])).unsqueeze(-1)
    names = [path.name] if len(arr) == 1 else [f"{path.name}:{i}" for i in range(len(arr))]
    return names, x
