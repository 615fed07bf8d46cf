"""Typing a table's columns: the second of its steps (read -> type -> fit).

Each column gets one type, inferred from its values over the whole training file (before any row is
dropped) and overridable per column with ``data.columns: {name: type}`` (Ludwig's feature types):

    ignore    an identifier: named like one (``id``, ``PassengerId``, ``user_id``, ``Unnamed: 0``)
              with a distinct value on every row; whole numbers increasing down the file, all
              distinct (a row id, gaps allowed); text with over 20 levels, distinct in more than
              half the rows (names, tickets); or a column with no value at all
    boolean   two levels that read as true/false (yes/no, y/n, t/f, 1/0, true/false)
    number    numbers; missing marks such as ``?`` or ``-`` read as missing (with a note)
    date      dates or date-times in one form (``data.dates``)
    category  any other text

A column of numbers with a few cells that are not (``1.2.3``, ``12%``, ``hello``: at least
``MOSTLY`` of the filled cells are numbers) is refused, naming the file, line, column and value and
the key that overrides, instead of turning into text; a column of dates with a few odd cells too.
"""

from __future__ import annotations

import re

import numpy as np

from dlnotes.data.cells import (
    factorize,
    is_empty,
    key,
    line_of,
    looks_numeric,
    marks,
    note,
    parse_numbers,
    q,
    text_of,
)
from dlnotes.data.dates import find_format, parse_dates
from dlnotes.errors import UserError

TYPES = ("number", "category", "boolean", "date", "ignore")
TRUE_WORDS = {"true", "yes", "y", "t", "1"}
FALSE_WORDS = {"false", "no", "n", "f", "0"}
MOSTLY = 0.9  # this share of filled cells being numbers (or dates) makes a column one, bad cells refused
ID_NAME = re.compile(r"(^|[\s_.\-])(id|ids|uuid|guid|key|idx|index|row|rowid|row_?num(ber)?)$|^(#|no\.?|unnamed: ?\d+)$",
                     re.IGNORECASE)
CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key|No)$")
TIME_NAME = re.compile(r"year|yr|date|time|day|month|week|hour|age", re.IGNORECASE)


def is_boolean(values: set[str]) -> bool:
    low = {v.lower() for v in values}
    return len(low) == 2 and low <= (TRUE_WORDS | FALSE_WORDS) and bool(low & TRUE_WORDS) and bool(low & FALSE_WORDS)


def identifier(name: str, col) -> str | None:
    """Why the column identifies rows (None: it does not): by its name and distinct values, or as whole
    numbers increasing down the file."""
    import pandas as pd

    filled = col.dropna()
    if len(filled) < max(20, len(col) * 0.99):
        return None
    if (ID_NAME.search(name) or CAMEL_ID.search(name)) and filled.nunique() == len(filled):
        return "its name and its values, distinct on every row, say it identifies rows"
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) or TIME_NAME.search(name):
        return None
    v = filled.to_numpy(dtype=np.float64)
    if len(v) == len(col) and np.all(v == np.round(v)) and np.all(np.diff(v) > 0):
        return "whole numbers increasing down the file, distinct on every row: a row id"
    return None


def _levels(col) -> tuple[set[str], int]:
    """(distinct texts, filled cells) of a text column."""
    codes, uniques = factorize(col)
    text = [text_of(v) for v in uniques]
    valid = np.array([v is not None for v in text] + [False])
    return {v for v in text if v is not None}, int(valid[codes].sum())


def _refuse_mostly(col, name: str, where: str, bad: np.ndarray, filled: int, what: str, kind: str) -> None:
    """A column of ``kind`` (numbers, dates) with a few cells that are not: the first of them, by line."""
    i, n = int(np.flatnonzero(bad)[0]), int(bad.sum())
    raise UserError(f"{where} line {line_of(col, i)}, column {q(name)}: {q(text_of(col.iloc[i]))} is not {what}, "
                    f"in a column of {kind} ({n:,} of its {filled:,} filled cells are not); fix the cell(s), or set "
                    f"data.columns.{key(name)}: category if the column holds labels")


def text_type(col, name: str, where: str, identifiers: bool) -> str:
    """The type of a column pandas read as text: boolean, number, date, ignore or category."""
    levels, filled = _levels(col)
    if is_boolean(levels):
        return "boolean"
    values, bad = parse_numbers(col)
    numbers = int((~np.isnan(values)).sum())
    if numbers and not bad.any():
        found = marks(col)
        if found:
            note(f"note: column {q(name)}: {', '.join(f'{n} x {q(m)}' for m, n in found.items())} read as missing")
        return "number"
    numeric = numbers + int((bad & looks_numeric(col)).sum())  # 1,234 or 12% read by a person as numbers
    if numeric >= MOSTLY * filled and numeric:
        _refuse_mostly(col, name, where, bad, filled, "a number as written (plain digits and a '.' decimal point; "
                       "a ',' one in a ';'-separated file)", "numbers")
    fmt = find_format(col)
    if fmt is not None:
        seconds, odd = parse_dates(col, fmt)
        if not odd.any():
            note(f"note: column {q(name)} holds dates ({fmt}); used as year, month, day, weekday"
                 f"{', hour' if np.any(seconds[~np.isnan(seconds)] % 86400) else ''} and their cycles "
                 f"(set data.columns.{key(name)}: category or ignore to change that)")
            return "date"
        if 1 - odd.sum() / max(filled, 1) >= MOSTLY:
            _refuse_mostly(col, name, where, odd, filled, f"a date in the column's form ({fmt})", "dates")
    if identifiers and len(levels) > 20 and len(levels) > 0.5 * filled:
        note(f"note: column {q(name)} looks like an identifier ({len(levels)} distinct values in {filled} rows); "
             f"left out (set data.columns.{key(name)}: category to use it)")
        return "ignore"
    return "category"


def infer_types(frame, columns: list[str], overrides: dict[str, str], identifiers: bool = True,
                where: str = "data") -> dict[str, str]:
    """Each column's type (see the module docstring); ``overrides`` win. ``identifiers``: leave out
    identifier-like columns (off when the user listed the features)."""
    import pandas as pd

    types = {}
    for c in columns:
        col = frame[c]
        if c in overrides:
            types[c] = overrides[c]
        elif is_empty(col):
            note(f"note: column {q(c)} has no values; left out")
            types[c] = "ignore"
        elif identifiers and (why := identifier(c, col)):
            note(f"note: column {q(c)} left out: {why} (set data.columns.{key(c)}: number or category to use it)")
            types[c] = "ignore"
        elif pd.api.types.is_bool_dtype(col):
            types[c] = "boolean"
        elif pd.api.types.is_numeric_dtype(col):
            types[c] = "number"
        else:
            types[c] = text_type(col, c, where, identifiers)
    return types
