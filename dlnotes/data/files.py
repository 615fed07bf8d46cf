"""A user's own table: ``csv`` reads a CSV file with a header line.

``path`` (split by ``data.test_fraction``) or ``train_path`` + ``test_path``; ``target`` names the
label column and ``features`` the inputs (default: every other column). ``task: auto`` calls a
target classification when it is text or has at most 20 distinct whole numbers, else regression.
Features are standardised with training-set statistics, recorded for ``predict``.
"""

from __future__ import annotations

import csv as csvlib
import io
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from dlnotes.data.base import Dataset
from dlnotes.errors import UserError
from dlnotes.registry import DATASETS


def read_text(path: str | Path, where: str) -> str:
    """A user's UTF-8 text file (a BOM is dropped); exit 2 naming ``where`` if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{where}: '{path}' not found")
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


def _is_classification(values: list[str]) -> bool:
    try:
        nums = np.array([float(v) for v in values])
    except ValueError:
        return True
    return bool(np.all(nums == np.round(nums))) and len(np.unique(nums)) <= 20


@DATASETS.register
def csv(path: str | None = None, train_path: str | None = None, test_path: str | None = None,
              target: str | None = None, features: list | None = None,
              task: Literal["auto", "classification", "regression"] = "auto") -> Dataset:
    """A CSV file of yours: target column, feature columns, one file or train + test files."""
    if target is None:
        raise UserError("data.target: name the label column of your CSV (e.g. target: price)")
    if (path is None) == (train_path is None):
        raise UserError("data: give either path (split by test_fraction) or train_path and test_path")
    if train_path is not None and test_path is None:
        raise UserError("data.test_path: required with train_path")
    parts = [("path", path)] if path else [("train_path", train_path), ("test_path", test_path)]
    tables = [(key, p, *read_table(p, f"data.{key}")) for key, p in parts]
    key0, p0, header, rows0 = tables[0]
    if target not in header:
        raise UserError(f"data.target: column '{target}' is not in '{p0}'; its columns are: {', '.join(header)}")
    cols = list(features) if features else [h for h in header if h != target]
    for key, p, h, _ in tables:
        missing = [c for c in cols + [target] if c not in h]
        if missing:
            raise UserError(f"data.{'features' if target not in missing else 'target'}: '{p}' lacks column(s) "
                            f"{', '.join(missing)}; its columns are: {', '.join(h)}")
    if not cols:
        raise UserError(f"data.features: '{p0}' has no feature columns besides the target '{target}'")
    all_targets = [r[h.index(target)].strip() for _, _, h, rows in tables for r in rows]
    classify = task == "classification" or (task == "auto" and _is_classification(all_targets))
    classes = None
    if classify:
        uniq = sorted(set(all_targets), key=lambda v: (float(v), v) if is_number(v) else (np.inf, v))
        classes = uniq
        lookup = {c: i for i, c in enumerate(classes)}
    xs, ys = [], []
    for key, p, h, rows in tables:
        xs.append(torch.from_numpy(numeric_columns(p, h, rows, cols)).float())
        t = [r[h.index(target)].strip() for r in rows]
        if classify:
            ys.append(torch.tensor([lookup[v] for v in t]))
        else:
            ys.append(torch.from_numpy(numeric_columns(p, h, rows, [target])).float())
    ds = Dataset(xs[0], ys[0], "classification" if classify else "regression", "tabular",
                 classes=classes, feature_names=cols, target_name=target)
    if len(xs) == 2:
        ds.x_test, ds.y_test = xs[1], ys[1]
    return ds


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
    out = numeric_columns(path, header, rows, columns).astype(np.float32)
    return [str(i) for i in range(len(out))], out
