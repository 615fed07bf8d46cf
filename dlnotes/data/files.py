"""A user's own table: ``csv`` reads a CSV file with a header line (and the small CSV helpers of
the sequence readers).

``path`` (split by ``data.test_fraction``) or ``train_path`` + ``test_path``; ``target`` names the
label column and ``features`` the inputs (default: every other column). ``task: auto`` calls a
target classification when it is text or has at most 20 distinct whole numbers, else regression.
Column types, missing values, encoding and scaling are ``data.tabular``'s, fitted on the training
rows by ``prepare`` and recorded for ``predict``.

Reading uses pandas (``read_csv``, C parser): one call parses a million rows in C with per-column
type inference, NA markers and quoting, and hands back columns the preprocessing works on directly;
pandas is what these users already load their tables with, so a file pandas reads, dlnotes reads.
pyarrow's CSV reader is faster with several threads, but is a 40 MB dependency and leaves
delimiter sniffing and per-column text handling to us; the same DataFrame would follow it anyway.
"""

from __future__ import annotations

import csv as csvlib
import io
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from dlnotes.data.checks import check_float32
from dlnotes.errors import UserError, column_hint, path_note
from dlnotes.registry import DATASETS

if TYPE_CHECKING:  # torch only where a dataset is built: reading a CSV (dlnotes.inputs) needs numpy and pandas
    from dlnotes.data.base import Dataset


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


def _is_classification(values: list[str]) -> bool:
    try:
        nums = np.array([float(v) for v in values])
    except ValueError:
        return True
    return bool(np.all(nums == np.round(nums))) and len(np.unique(nums)) <= 20


# ------------------------------------------------------------------------------------------
# columnar reading (pandas)

DELIMITERS = ",;\t|"


def _header(path: Path, where: str, encoding: str) -> tuple[str, list[str]]:
    """(delimiter, header names) from the file's first 64 KiB: the delimiter sniffed among , ; tab |."""
    if not path.exists():
        raise UserError(f"{where}: '{path}' not found{path_note(path)}")
    if not path.is_file():
        raise UserError(f"{where}: '{path}' is not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
        text = head.decode(encoding, errors="strict") if len(head) < 65536 else \
            head.decode(encoding, errors="ignore")  # a cut multi-byte character at the end is no error
    except (OSError, LookupError, UnicodeDecodeError) as e:
        raise UserError(f"{where}: cannot read '{path}' as {encoding} text ({type(e).__name__}); "
                        f"set data.encoding (e.g. latin-1)") from None
    lines = [ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip()]
    if not lines:
        raise UserError(f"{where}: '{path}' is empty")
    try:
        delimiter = csvlib.Sniffer().sniff("\n".join(lines[:20]), delimiters=DELIMITERS).delimiter
    except csvlib.Error:
        delimiter = ","
    header = [h.strip() for h in next(csvlib.reader([lines[0]], delimiter=delimiter))]
    seen = set()
    for h in header:
        if h in seen:
            raise UserError(f"{where}: '{path}' has two columns named '{h}'; rename one")
        seen.add(h)
    return delimiter, header


def read_frame(path: str | Path, where: str, encoding: str = "utf-8"):
    """A user's CSV as a pandas DataFrame: header line, sniffed delimiter, BOM dropped, cells stripped.

    Empty cells and NA/NaN/null read as missing. Exit 2 naming the file for a missing or empty file,
    a header without rows, duplicate column names or a row with the wrong number of fields.
    """
    import pandas as pd

    path = Path(path)
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    delimiter, header = _header(path, where, enc)
    try:
        with warnings.catch_warnings():  # a column typed differently by chunk stays text; the types are ours
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(path, sep=delimiter, encoding=enc, header=0, names=header)
    except UnicodeDecodeError:
        raise UserError(f"{where}: cannot read '{path}' as {encoding} text; set data.encoding (e.g. latin-1)") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{where}: '{path}' is empty") from None
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            raise UserError(f"{where}: '{path}' line {m.group(2)} has {m.group(3)} fields, "
                            f"the header has {len(header)}") from None
        raise UserError(f"{where}: cannot parse '{path}' as CSV ({str(e).strip().splitlines()[-1]})") from None
    if len(frame) == 0:
        raise UserError(f"{where}: '{path}' has a header but no data rows")
    return frame


def _check_options(columns: dict | None, missing: dict | None) -> None:
    from dlnotes.data.tabular import MISSING, TYPES

    if columns is not None and not isinstance(columns, dict):
        raise UserError("data.columns: a mapping of column name to type, e.g. {pclass: category}")
    for c, t in (columns or {}).items():
        if t not in TYPES:
            raise UserError(f"data.columns.{c}: '{t}' is not a column type; allowed: {', '.join(TYPES)}")
    if missing is not None and not isinstance(missing, dict):
        raise UserError("data.missing: a mapping of column type to strategy, e.g. {number: median}")
    for t, how in (missing or {}).items():
        if t not in MISSING:
            raise UserError(f"data.missing: unknown column type '{t}'; allowed: {', '.join(MISSING)}")
        if how not in MISSING[t]:
            raise UserError(f"data.missing.{t}: '{how}' is not allowed; allowed: {', '.join(MISSING[t])}")


@DATASETS.register
def csv(path: str | None = None, train_path: str | None = None, test_path: str | None = None,
        target: str | None = None, features: list | None = None,
        task: Literal["auto", "classification", "regression"] = "auto", columns: dict | None = None,
        missing: dict | None = None, one_hot_max: int = 10, encoding: str = "utf-8") -> Dataset:
    """A CSV file of yours: target column, feature columns, one file or train + test files.

    Args:
        path: the CSV file (a header line; delimiter , ; tab or | found by itself), split by test_fraction.
        train_path: a training CSV instead of path, with test_path beside it.
        test_path: the test CSV that goes with train_path (same columns).
        target: the column to predict; rows without a value in it are dropped (and counted).
        features: the input columns (default: every other column, less identifier-like ones: text
            nearly all distinct, such as names or tickets, and row numbers).
        task: classification (text, or at most 20 distinct whole numbers, under auto) or regression.
        columns: a type per column, overriding the inferred one: number, category, boolean or ignore.
        missing: a strategy per type: number median|mean|zero|drop|error, category
            most_frequent|missing_level|drop|error, boolean most_frequent|drop|error.
        one_hot_max: a category with more levels is embedded by models that learn embeddings (mlp).
        encoding: the file's text encoding (utf-8, with or without BOM; latin-1, cp1252...).
    """
    import torch

    from dlnotes.data.base import Dataset
    from dlnotes.data.tabular import Table, TabularTransform, as_numbers, as_text, infer_types, note

    if target is None:
        raise UserError("data.target: name the label column of your CSV (e.g. target: price)")
    if (path is None) == (train_path is None):
        raise UserError("data: give either path (split by test_fraction) or train_path and test_path")
    if train_path is not None and test_path is None:
        raise UserError("data.test_path: required with train_path")
    if one_hot_max < 0:
        raise UserError(f"data.one_hot_max: must be >= 0 (got {one_hot_max})")
    _check_options(columns, missing)
    parts = [("path", path)] if path else [("train_path", train_path), ("test_path", test_path)]
    frames = [(f"data.{key}", str(p), read_frame(p, f"data.{key}", encoding)) for key, p in parts]
    header = list(frames[0][2].columns)
    p0 = frames[0][1]
    if target not in header:
        raise UserError(f"data.target: column '{target}' is not in '{p0}'{column_hint(target, header)}")
    if features and target in features:
        raise UserError(f"data.features: '{target}' is the target; it cannot also be a feature")
    cols = [str(c) for c in features] if features else [h for h in header if h != target]
    for c in columns or {}:
        if c not in header:
            raise UserError(f"data.columns: '{c}' is not a column of '{p0}'{column_hint(c, header)}")
    for where, p, frame in frames:
        lacking = [c for c in cols + [target] if c not in frame.columns]
        if lacking:
            raise UserError(f"data.{'features' if target not in lacking else 'target'}: '{p}' lacks column(s) "
                            f"{', '.join(lacking)}{column_hint(lacking[0], frame.columns)}")
    if not cols:
        raise UserError(f"data.features: '{p0}' has no feature columns besides the target '{target}'")

    cleaned = []
    for where, p, frame in frames:  # rows without a target: dropped, never a class named ''
        gone = as_text(frame[target]).isna().to_numpy()
        if gone.all():
            raise UserError(f"{where}: '{p}' has no value in the target column '{target}' on any row")
        if gone.any():
            note(f"note: dropped {int(gone.sum())} row(s) of '{p}' with no value in the target '{target}'")
            frame = frame[~gone]
        cleaned.append((where, p, frame))
    types = infer_types(cleaned[0][2], cols, dict(columns or {}), identifiers=not features)
    used = [c for c in cols if types[c] != "ignore"]
    if not used:
        raise UserError(f"data.features: no usable feature column in '{p0}' (all are identifiers or ignored)")
    transform = TabularTransform({c: types[c] for c in used}, missing, one_hot_max)
    tables = []
    for where, p, frame in cleaned:
        drop = transform.missing_rows(frame)
        if drop.any():
            note(f"note: dropped {int(drop.sum())} row(s) of '{p}' with a missing value (data.missing: drop)")
            frame = frame[~drop]
        transform.check_missing(frame, f"'{p}'")
        for c in used:
            if types[c] == "number":
                as_numbers(frame[c], c, f"'{p}'")  # text or float32 overflow: refused now, naming the cell
        tables.append((p, frame))
    n = len(tables[0][1])
    if n < 2:
        raise UserError(f"data: '{p0}' has {n} usable data row(s); at least 2 are needed to train and test")

    targets = [as_text(f[target]) for _, f in tables]
    distinct = sorted({v for t in targets for v in t.unique()})
    classify = task == "classification" or (task == "auto" and _is_classification(distinct))
    if classify:
        classes = sorted(distinct, key=lambda v: (float(v), v) if is_number(v) else (np.inf, v))
        if len(classes) < 2:
            raise UserError(f"data.target: column '{target}' has one class only ('{classes[0]}'); "
                            f"a classifier needs at least two")
        lookup = {c: i for i, c in enumerate(classes)}
        ys = [torch.tensor(t.map(lookup).to_numpy(dtype=np.int64)) for t in targets]
    else:
        classes = None
        ys = [torch.from_numpy(as_numbers(f[target], target, f"'{p}'")).float().reshape(-1, 1) for p, f in tables]
        if float(torch.cat(ys).std()) == 0:
            raise UserError(f"data.target: column '{target}' has the same value on every row; nothing to learn")
    table = Table(tables[0][1], tables[1][1] if len(tables) == 2 else None, transform, p0)
    ds = Dataset(torch.zeros(n, 0), ys[0], "classification" if classify else "regression", "tabular",
                 classes=classes, feature_names=used, target_name=target, table=table)
    if len(tables) == 2:
        ds.x_test, ds.y_test = torch.zeros(len(ys[1]), 0), ys[1]
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
    out = check_float32(numeric_columns(path, header, rows, columns), f"--input '{path}'")  # 1e39 -> inf
    return [str(i) for i in range(len(out))], out
