"""Reading a user's sequences and series: ``.npy`` (never unpickled) or ``.csv`` files.

A sequence for a classifier comes as ``.npy`` (1-D: one series; 2-D: one series per row; 3-D: (N, T, F))
or ``.csv`` (a column with a header: one series; each row of numbers: one sequence). A series to forecast
(``load_series``, and ``timeseries_csv`` for training) may also be one headerless column or one row.

In a series, time is the line: an empty line, an empty cell or a missing-value word (NA, NaN, null, ?)
is a gap at that time, never a line that is skipped (which would shift every later value one step
earlier). Gaps are filled or refused by the run's ``data.missing``, naming the line; only blank lines
after the last value of the file are not part of it. A value beyond float32's range (1e39) is refused
naming its line, like a word that is not a number.
"""

from __future__ import annotations

import csv as csvlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlnotes.data.checks import FLOAT32_MAX, check_float32, regular_file
from dlnotes.errors import UserError, column_hint

if TYPE_CHECKING:  # torch only for read_sequences: dlnotes.inputs reads series without it
    import torch

MAX_VALUES = 50_000_000  # 200 MB of float32
MISSING_CELLS = {"", "na", "nan", "n/a", "null", "none", "?", "-"}


# -- CSV lines, blank ones kept ----------------------------------------------------------------------

def series_rows(path, where: str) -> tuple[list[list[str]], list[int]]:
    """Every row of a CSV file (delimiter ``,``, ``;`` or tab, sniffed) with its line number; an empty line
    is an empty row (a gap in a series), except blank lines after the last value. Exit 2 if nothing is left."""
    path = regular_file(path, where)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{where} '{path}': cannot read it as UTF-8 text ({type(e).__name__})") from None
    try:
        dialect = csvlib.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csvlib.Error:
        dialect = csvlib.excel
    reader = csvlib.reader(io.StringIO(text), dialect)
    rows, lines = [], []
    try:
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    except csvlib.Error as e:
        raise UserError(f"{where} '{path}' line {reader.line_num}: {e}") from None
    while rows and not any(c.strip() for c in rows[-1]):  # blank lines after the last value
        rows.pop(), lines.pop()
    if not rows:
        raise UserError(f"{where} '{path}' is empty")
    return rows, lines


def is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _headed(row: list[str]) -> bool:
    """A first row with a cell that is neither a number nor a missing-value word is a header."""
    return not all(is_number(c) or c.strip().lower() in MISSING_CELLS for c in row)


def series_cells(path, cells: list[str], lines, where: str, column: str | None = None) -> np.ndarray:
    """One series from CSV cells as float64: an empty cell (or NA, NaN, null, ?) is a gap (NaN); text, an
    infinite value or one beyond float32's range is refused naming its line. ``lines``: each cell's line
    number (an int: the first cell's, the others following)."""
    out = np.empty(len(cells), dtype=np.float64)
    for n, c in enumerate(cells):
        c = c.strip()
        if c.lower() in MISSING_CELLS:
            out[n] = np.nan
            continue
        at = f"{where} '{path}' line {lines + n if isinstance(lines, int) else lines[n]}" + \
            (f", column '{column}'" if column else "")
        try:
            out[n] = float(c)
        except ValueError:
            raise UserError(f"{at}: '{c}' is not a number") from None
        if not abs(out[n]) <= FLOAT32_MAX:
            raise UserError(f"{at}: '{c}' is infinite or beyond float32's range (|x| <= {FLOAT32_MAX:.3g}), the "
                            f"precision the model computes in")
    return out


def table_column(path, column: str | None, where: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(name, values float64 with NaN gaps, line numbers) of one column of a CSV with a header line:
    ``column``, or the only one. A row with a wrong number of fields is refused; an empty line is a gap."""
    rows, lines = series_rows(path, where)
    header, rows, lines = [h.strip() for h in rows[0]], rows[1:], lines[1:]
    if not rows:
        raise UserError(f"{where} '{path}' has a header but no data rows")
    if column is None:
        if len(header) != 1:
            raise UserError(f"data.column: '{path}' has {len(header)} columns ({', '.join(header)}); "
                            f"name the one to forecast")
        column = header[0]
    if column not in header:
        raise UserError(f"data.column: '{column}' is not a column of '{path}'{column_hint(column, header)}")
    for r, line in zip(rows, lines):
        if r and len(r) != len(header):
            raise UserError(f"{where} '{path}' line {line} has {len(r)} fields, the header has {len(header)}")
    i = header.index(column)
    cells = [r[i] if r else "" for r in rows]
    return column, series_cells(path, cells, lines, where, column), np.asarray(lines)


# -- series to forecast, for predict -----------------------------------------------------------------

@dataclass
class Series:
    """One series read by ``load_series``: its values (float64, NaN at gaps) and where each came from."""

    name: str
    values: np.ndarray
    lines: np.ndarray | None = None  # a column of a CSV: each value's line
    row: int | None = None  # a row of a CSV: its line

    def place(self, i: int) -> str:
        if self.lines is not None:
            return f"line {int(self.lines[i])}"
        return f"line {self.row}, value {i + 1}" if self.row is not None else f"value {i + 1}"


def _npy(path: Path) -> np.ndarray:
    """A numeric .npy array, read without unpickling (its header first: shape and dtype)."""
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"--input '{path}' is not a numeric .npy array ({e}); object arrays are refused") from None
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise UserError(f"--input '{path}' holds {arr.dtype} values; give real numbers")
    if arr.ndim not in (1, 2, 3) or arr.size == 0 or arr.size > MAX_VALUES:
        raise UserError(f"--input '{path}' holds an array of shape {arr.shape}; give 1 to 3 dimensions and 1 to "
                        f"{MAX_VALUES:,} values (a sequence: 1-D, one per row: 2-D, or (N, T, F))")
    return np.asarray(arr)


def _npy_series(path: Path) -> list[Series]:
    arr = _npy(path).astype(np.float64)
    arr = arr[..., 0] if arr.ndim == 3 else arr
    arr = arr.reshape(1, -1) if arr.ndim == 1 or arr.shape[1] == 1 else arr
    with np.errstate(over="ignore", invalid="ignore"):  # checked in float32, the dtype the model reads
        beyond = np.isinf(arr.astype(np.float32))
    if beyond.any():
        index = tuple(int(i) for i in np.argwhere(beyond)[0])
        raise UserError(f"--input '{path}': value {float(arr[index]):g} at index {index} is infinite or beyond "
                        f"float32's range (|x| <= {FLOAT32_MAX:.3g})")
    return [Series("", row) for row in arr]


def _csv_series(path: Path, column: str | None) -> list[Series]:
    """A headed CSV (the training column when present, else every column), one headerless column (blank
    lines are gaps), or headerless rows of numbers (each row a series; blank lines between rows skipped)."""
    rows, lines = series_rows(path, "--input")
    if _headed(rows[0]):
        return _column_series(path, rows, lines, column)
    if max(len(r) for r in rows) == 1:  # one headerless column: one series, an empty line a gap
        cells = [r[0] if r else "" for r in rows]
        return [Series("", series_cells(path, cells, lines, "--input"), np.asarray(lines))]
    full = [(r, line) for r, line in zip(rows, lines) if any(c.strip() for c in r)]
    if all(not r[-1].strip() for r, _ in full):  # a delimiter at the end of every line: no value after it
        full = [(r[:-1], line) for r, line in full]
    return [Series("", series_cells(path, r, [line] * len(r), "--input"), row=line) for r, line in full]


def _column_series(path: Path, rows: list[list[str]], lines: list[int], column: str | None) -> list[Series]:
    """The series under a header line: ``column`` when it is there, else every named column."""
    header = [c.strip() for c in rows[0]]
    if len(rows) < 2:
        raise UserError(f"--input '{path}' has a header line and no values")
    out = []
    for name in [column] if column in header else [h for h in header if h]:
        i = header.index(name)
        cells = [r[i] if i < len(r) else "" for r in rows[1:]]
        out.append(Series(name, series_cells(path, cells, lines[1:], "--input"), np.asarray(lines[1:])))
    return out


def load_series(path: Path, column: str | None = None) -> list[Series]:
    """A user's series for a forecaster, NaN at each gap, each with where its values came from.

    Accepted layouts: ``.npy`` 1-D (one series), 2-D (one series per row; a single column is one
    series), 3-D (N, T, F: the first feature); ``.csv`` one column with or without a header line (one
    series), one row of numbers (one series), several columns with a header (the training column when
    present, else each column a series), several headerless rows of numbers (one series per row).
    """
    path = regular_file(path, "--input")  # never open a FIFO: it would block
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise UserError(f"--input '{path}': give a .npy or .csv series")
    found = _npy_series(path) if suffix == ".npy" else _csv_series(path, column)
    for i, s in enumerate(found):  # named as predict's rows name them: the file, or file:i for several
        s.name = path.name if len(found) == 1 else f"{path.name}:{i}"
    return found


def read_series(path: Path, need: int, column: str | None, missing: str = "error") -> tuple[list[str], np.ndarray]:
    """The last ``need`` values of each series in ``path`` (S, need), float64, gaps filled per ``missing``.

    Gaps *before* those last ``need`` values do not matter; inside them (a trailing NA or empty cell, an
    empty line) they are interpolated (``missing: interpolate``, the run's setting, said on stderr) or
    refused naming the line; a series is never shortened to skip them."""
    import sys

    from dlnotes.data.series_transform import fill_gaps

    out, names = [], []
    for s in load_series(Path(path), column):
        where = f"--input '{path}'" + (f" ({s.name})" if s.name != Path(path).name else "")
        if len(s.values) < need:
            raise UserError(f"{where}: a series of {len(s.values)} values is too short; the model reads the last "
                            f"{need} values")
        tail = s.values[-need:]
        gaps = np.flatnonzero(~np.isfinite(tail))
        if len(gaps):
            first = s.place(len(s.values) - need + int(gaps[0]))
            if missing != "interpolate":
                raise UserError(f"{where}: {len(gaps)} of the last {need} values (the ones the model reads) "
                                f"{'is' if len(gaps) == 1 else 'are'} missing, the first at {first}; fill "
                                f"{'it' if len(gaps) == 1 else 'them'}, or train with data.missing: interpolate")
            tail = fill_gaps(s.values, "interpolate", where)[0][-need:]
            print(f"note: {where}: {len(gaps)} missing value(s) among the last {need} (first at {first}) filled "
                  f"linearly in time (data.missing: interpolate)", file=sys.stderr)
        out.append(tail)
        names.append(s.name)
    return names, np.stack(out)


# -- sequences to classify, for predict -------------------------------------------------------------

def load_array(path: Path, column: str | None = None) -> np.ndarray:
    """A finite float32 array from ``.npy`` (never unpickled) or ``.csv`` (with a header: one series per
    column, or just ``column``; numbers only: one sequence per row, blank lines between them skipped)."""
    path = regular_file(path, "--input")  # never open a FIFO: it would block
    if path.suffix.lower() == ".npy":
        return check_float32(_npy(path), f"--input '{path}'")  # 1e39 is finite in float64, inf in float32
    if path.suffix.lower() != ".csv":
        raise UserError(f"--input '{path}': give a .npy or .csv sequence file")
    rows, lines = series_rows(path, "--input")
    if _headed(rows[0]):
        header = [c.strip() for c in rows[0]]
        if len(rows) < 2:
            raise UserError(f"--input '{path}' has a header line and no values")
        names = [column] if column in header else header
        cols = [series_cells(path, [r[header.index(c)] if header.index(c) < len(r) else "" for r in rows[1:]],
                             lines[1:], "--input") for c in names]
        return check_float32(np.stack(cols), f"--input '{path}'")  # a series each; a gap is refused here
    full = [(r, line) for r, line in zip(rows, lines) if any(c.strip() for c in r)]
    for r, line in full:
        if len(r) != len(full[0][0]):
            raise UserError(f"--input '{path}' line {line} has {len(r)} values, line {full[0][1]} has "
                            f"{len(full[0][0])}")
    arr = np.stack([series_cells(path, r, [line] * len(r), "--input") for r, line in full])
    return check_float32(arr, f"--input '{path}'")


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
