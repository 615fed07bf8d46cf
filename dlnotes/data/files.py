"""Small CSV helpers of the sequence readers and of predict on runs without a table transform:
text files, rows of cells, a header and numeric columns. (A user's table for the ``csv`` dataset is
read by ``data.csv_read``, typed by ``data.column_types`` and fitted by ``data.tabular``.)
"""

from __future__ import annotations

import csv as csvlib
import io
from pathlib import Path

import numpy as np

from dlnotes.data.checks import check_float32
from dlnotes.errors import UserError, path_note


def read_text(path: str | Path, where: str) -> str:
    """A user's UTF-8 text file (a BOM is dropped); exit 2 naming ``where`` if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{where}: '{path}' not found{path_note(path)}")
    if not path.is_file():
        raise UserError(f"{where}: '{path}' is not a file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{where}: cannot read '{path}' as UTF-8 text ({type(e).__name__})") from None


def read_rows(path: str | Path, where: str) -> list[list[str]]:
    """The non-empty rows of a CSV file (delimiter ``,``, ``;`` or tab, sniffed); exit 2 if there are none."""
    text = read_text(path, where)
    try:
        dialect = csvlib.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csvlib.Error:
        dialect = csvlib.excel
    rows = [r for r in csvlib.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    if not rows:
        raise UserError(f"{where}: '{path}' is empty")
    return rows


def split_header(rows: list[list[str]], path, where: str) -> tuple[list[str], list[list[str]]]:
    """(header, data rows), every data row as long as the header."""
    if len(rows) < 2:
        raise UserError(f"{where}: '{path}' has a header but no data rows")
    header = [h.strip() for h in rows[0]]
    for n, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise UserError(f"{where}: '{path}' line {n} has {len(r)} fields, the header has {len(header)}")
    return header, rows[1:]


def read_table(path: str | Path, where: str) -> tuple[list[str], list[list[str]]]:
    return split_header(read_rows(path, where), path, where)


def numeric_columns(path, header, rows, columns: list[str], first_line: int = 2) -> np.ndarray:
    idx = [header.index(c) for c in columns]
    out = np.empty((len(rows), len(idx)), dtype=np.float64)
    for n, r in enumerate(rows):
        for j, i in enumerate(idx):
            try:
                out[n, j] = float(r[i])
            except ValueError:
                raise UserError(f"'{path}' line {n + first_line}, column '{columns[j]}': '{r[i]}' is not a number "
                                f"(feature columns must be numeric)") from None
    if not np.isfinite(out).all():
        n, j = np.argwhere(~np.isfinite(out))[0]
        raise UserError(f"'{path}' line {n + first_line}, column '{columns[j]}': missing or infinite value")
    return out


def is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def read_csv_columns(path: str | Path, columns: list[str]) -> tuple[list[str], np.ndarray]:
    """The named numeric columns of a user's CSV, as float32 (rows, columns); names the bad cell on error."""
    header, rows = read_table(path, "--input")
    missing = [c for c in columns if c not in header]
    if missing:
        raise UserError(f"'{path}' lacks the feature column(s) {', '.join(missing)}; the model was trained on: "
                        f"{', '.join(columns)}")
    out = check_float32(numeric_columns(path, header, rows, columns), f"--input '{path}'")  # 1e39 -> inf
    return [str(i) for i in range(len(out))], out
