"""Reading a user's sequences for predict: ``.npy`` (never unpickled) or ``.csv`` files.

A sequence comes as ``.npy`` (1-D: one series; 2-D: one series per row; 3-D: (N, T, F)) or ``.csv``
(a column with a header: one series; for classifiers, each row of numbers is one sequence). A series
for a forecaster (``load_series``) may also be one headerless column or one row, and may have gaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlnotes.data.checks import check_float32, regular_file
from dlnotes.errors import UserError

if TYPE_CHECKING:  # torch only for read_sequences: dlnotes.inputs reads series without it
    import torch

MAX_VALUES = 50_000_000  # 200 MB of float32


def load_array(path: Path, column: str | None = None) -> np.ndarray:
    """A finite float32 array from ``.npy`` (never unpickled) or ``.csv`` (with a header: one series per
    column, or just ``column``; numbers only: one sequence per row)."""
    regular_file(path, "--input")  # never open a FIFO: it would block
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")  # the header first: shape and dtype
        except (ValueError, OSError, EOFError) as e:
            raise UserError(f"--input '{path}' is not a numeric .npy array ({e}); object arrays are refused") from None
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise UserError(f"--input '{path}' holds {arr.dtype} values; give real numbers")
        if arr.ndim == 0 or arr.size == 0:
            raise UserError(f"--input '{path}' holds {'a single number (0-d array)' if arr.ndim == 0 else 'no values'}; "
                            "give a sequence (1-D, 2-D or 3-D array)")
        if arr.ndim > 3 or arr.size > MAX_VALUES:
            raise UserError(f"--input '{path}' has shape {arr.shape}; give at most 3 dimensions and "
                            f"{MAX_VALUES:,} values")
        return check_float32(np.asarray(arr), f"--input '{path}'")  # 1e39 is finite in float64, inf in float32
    if path.suffix.lower() == ".csv":
        from dlnotes.data.files import is_number, numeric_columns, read_rows, split_header

        rows = read_rows(path, "--input")
        if all(is_number(c) for c in rows[0] if c.strip()):  # numbers only: each row one sequence
            names = [str(i) for i in range(len(rows[0]))]
            for n, r in enumerate(rows, start=1):
                if len(r) != len(names):
                    raise UserError(f"--input '{path}' line {n} has {len(r)} values, line 1 has {len(names)}")
            return check_float32(numeric_columns(path, names, rows, names, first_line=1), f"--input '{path}'")
        header, rows = split_header(rows, path, "--input")
        columns = [column] if column in header else header
        return check_float32(numeric_columns(path, header, rows, columns), f"--input '{path}'").T  # a series each
    raise UserError(f"--input '{path}': give a .npy or .csv sequence file")


def read_sequences(path, input_shape: list[int]) -> tuple[list[str], torch.Tensor]:
    """Sequences for a classifier trained on (T, F) inputs: (N, T, F), each exactly T steps long."""
    import torch

    path = Path(path)
    arr = sequence_batch(load_array(path), input_shape, f"--input '{path}'")
    return [f"{path.name}:{i}" for i in range(len(arr))], torch.from_numpy(arr)


def sequence_batch(arr: np.ndarray, input_shape: list[int], where: str) -> np.ndarray:
    """An array of sequences as the (N, T, F) batch a classifier trained on (T, F) inputs reads: one
    sequence as (T,), (T, F) or a column; several as rows of T * F values or (N, T, F)."""
    t, f = input_shape[0], input_shape[-1]
    if arr.ndim == 3 or (arr.ndim == 2 and arr.shape == (t, f) and f > 1):
        arr = arr.reshape(-1, *arr.shape[-2:])
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2:
        if arr.shape[1] != t * f and arr.shape[0] == t * f and f == 1:
            arr = arr.T  # one series written as a column
        if arr.shape[1] != t * f:
            raise UserError(f"{where}: a sequence of {arr.shape[1]} values, but the model reads "
                            f"{t} steps x {f} features = {t * f} values per sequence")
        arr = arr.reshape(-1, t, f)
    if tuple(arr.shape[1:]) != (t, f):
        raise UserError(f"{where}: sequences of shape {tuple(arr.shape[1:])}, the model reads ({t}, {f})")
    return np.ascontiguousarray(arr)


MISSING_CELLS = {"", "na", "nan", "n/a", "null", "none", "?", "-"}


def series_cells(path, cells: list[str], first_line: int, where: str) -> np.ndarray:
    """One series from CSV cells as float64: an empty cell (or NA, NaN, null, ?) is a missing value (NaN)."""
    out = np.empty(len(cells), dtype=np.float64)
    for n, c in enumerate(cells):
        c = c.strip()
        if c.lower() in MISSING_CELLS:
            out[n] = np.nan
            continue
        try:
            out[n] = float(c)
        except ValueError:
            raise UserError(f"{where} '{path}' line {n + first_line}: '{c}' is not a number") from None
        if np.isinf(out[n]):
            raise UserError(f"{where} '{path}' line {n + first_line}: '{c}' is infinite")
    return out


def load_series(path: Path, column: str | None = None) -> np.ndarray:
    """A user's series for a forecaster, NaN where a value is missing: (S, L), one series per row.

    Accepted layouts: ``.npy`` 1-D (one series), 2-D (one series per row; a single column is one
    series), 3-D (N, T, F: the first feature); ``.csv`` one column with or without a header line (one
    series), one row of numbers (one series), several columns with a header (the training column when
    present, else each column a series), several headerless rows of numbers (one series per row).
    """
    from dlnotes.data.files import is_number, read_rows

    regular_file(path, "--input")  # never open a FIFO: it would block
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")  # the header first: shape and dtype
        except (ValueError, OSError, EOFError) as e:
            raise UserError(f"--input '{path}' is not a numeric .npy array ({e}); object arrays are refused") from None
        real = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        if not real or arr.ndim not in (1, 2, 3) or arr.size == 0 or arr.size > MAX_VALUES:
            raise UserError(f"--input '{path}' holds a {arr.dtype} array of shape {arr.shape}; give numbers, "
                            f"1-D (one series), 2-D (one series per row) or 3-D (N, T, F)")
        arr = arr.astype(np.float64)
        arr = arr[..., 0] if arr.ndim == 3 else arr
        arr = arr.reshape(1, -1) if arr.ndim == 1 or arr.shape[1] == 1 else arr
    elif suffix == ".csv":
        rows = [r for r in read_rows(path, "--input") if any(c.strip() for c in r)]
        width = max(len(r) for r in rows)
        headed = not all(is_number(c) or c.strip().lower() in MISSING_CELLS for c in rows[0])
        if headed:
            header, rows = [c.strip() for c in rows[0]], rows[1:]
            if not rows:
                raise UserError(f"--input '{path}' has a header line and no values")
            names = [column] if column in header else header
            cols = [header.index(c) for c in names]
            arr = np.stack([series_cells(path, [r[i] if i < len(r) else "" for r in rows], 2, "--input")
                            for i in cols])
        elif width == 1:  # one headerless column: one series
            arr = series_cells(path, [r[0] for r in rows], 1, "--input").reshape(1, -1)
        else:  # rows of numbers: one series per row
            arr = np.stack([series_cells(path, r + [""] * (width - len(r)), 1, "--input") for r in rows])
    else:
        raise UserError(f"--input '{path}': give a .npy or .csv series")
    with np.errstate(over="ignore", invalid="ignore"):  # checked in float32, the dtype the model reads
        beyond = np.isinf(arr.astype(np.float32))
    if beyond.any():
        index = tuple(int(i) for i in np.argwhere(beyond)[0])
        raise UserError(f"--input '{path}': value {float(arr[index]):g} at index {index} is infinite or beyond "
                        f"float32's range (|x| <= {np.finfo(np.float32).max:.3g})")
    return arr


def read_series(path: Path, need: int, column: str | None, missing: str = "error") -> tuple[list[str], np.ndarray]:
    """The last ``need`` values of each series in ``path`` (S, need), float64, gaps filled per ``missing``.

    Values missing *before* those last ``need`` are ignored; inside them they are interpolated
    (``missing: interpolate``, the run's setting) or refused."""
    from dlnotes.data.series_transform import fill_gaps

    arr = load_series(Path(path), column)
    names = [path.name] if len(arr) == 1 else [f"{path.name}:{i}" for i in range(len(arr))]
    out = []
    for name, row in zip(names, arr):
        # trailing empty cells (a ragged CSV) are not part of the series
        end = len(row) - int(np.argmax(np.isfinite(row[::-1]))) if np.isfinite(row).any() else 0
        row = row[:end]
        if len(row) < need:
            raise UserError(f"--input '{path}': a series of {len(row)} values is too short; the model reads "
                            f"the last {need} values")
        tail = row[-need:]
        if not np.isfinite(tail).all():
            if missing != "interpolate":
                k = int((~np.isfinite(tail)).sum())
                raise UserError(f"--input '{name}': {k} of the last {need} values (the ones the model reads) "
                                f"are missing; fill them, or train with data.missing: interpolate")
            tail = fill_gaps(row, "interpolate", f"--input '{name}'")[0][-need:]
        out.append(tail)
    return names, np.stack(out)
