"""One table cell, read the same way everywhere: while typing the columns, fitting, testing and predicting.

A cell is missing when it is empty (or one of pandas' NA words, ``NA``, ``null``...) or a mark made
of punctuation alone (``?``, ``-``, ``--``, ``.``: how many public tables write "unknown"). A
number is a plain decimal literal (``12``, ``-0.5``, ``1e-3``); in a file separated by ``;``, tab
or ``|``, a decimal comma too (``1,5``). Anything else in a number column (``1.2.3``, ``12%``,
``hello``, a NUL) is refused, naming the file, its line, the column and the value.

Every column holds few distinct values compared with its rows, so each distinct value is parsed
once (``pandas.factorize``) and the answers spread back by code: a million rows of a few hundred
values cost a few hundred Python calls.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import numpy as np

from dlnotes.errors import UserError

FLOAT32_MAX = float(np.finfo(np.float32).max)
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
DECIMAL_COMMA = re.compile(r"[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?")
# numbers in a form a person reads but a parser should not guess at: 1,234.5  1.234,5  12%  $5  1 000
LOOKS_NUMERIC = re.compile(r"[$€£¥]?\s?[+-]?[$€£¥]?(\d{1,3}([,.' \u00a0]\d{3})+|\d+)([.,]\d+)?\s?%?")
MARK = re.compile(r"[^\w\s]{1,3}")  # '?', '-', '--', '.', '*', 'n/a' is pandas' already


def note(text: str) -> None:
    """A one-line remark for the user, on stderr (stdout carries results only)."""
    print(text, file=sys.stderr)


def q(text: Any, n: int = 60) -> str:
    """A name or value quoted for a one-line message: control characters escaped, long text cut."""
    s = str(text)
    s = s if len(s) <= n else s[: n - 3] + "..."
    return repr(s)


def key(name: Any) -> str:
    """A column name inside a dotted key of a message (``data.columns.NAME``): as is when printable, else quoted."""
    s = str(name)
    return s if s.isprintable() and "'" not in s else q(s)


def text_of(v) -> str | None:
    """One cell as text: strings stripped ('' is missing), 3 and 3.0 as '3', booleans as 'true'/'false'."""
    if isinstance(v, str):
        return v.strip() or None
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (int, np.integer)) or float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def factorize(col) -> tuple[np.ndarray, list]:
    """(codes, distinct values); a missing cell has code ``len(values)``, so ``lookup[codes]`` works with
    one extra entry at the end for it."""
    import pandas as pd

    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    codes = np.where(codes < 0, len(uniques), codes)
    return codes, list(uniques)


def as_text(col):
    """A column's values as stripped strings ('3' for 3 and 3.0), missing values as None."""
    import pandas as pd

    codes, uniques = factorize(col)
    text = np.array([text_of(v) for v in uniques] + [None], dtype=object)
    return pd.Series(text[codes], index=col.index, dtype=object)


def missing(col, marks: bool = False) -> np.ndarray:
    """Where a cell is missing (empty, an NA word, or only spaces; with ``marks``, also a mark like ``?``)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return col.isna().to_numpy()
    codes, uniques = factorize(col)
    gone = [(t := text_of(v)) is None or (marks and is_mark(t)) for v in uniques] + [True]
    return np.array(gone, dtype=bool)[codes]


def is_empty(col) -> bool:
    """Whether the column holds no value at all."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return not col.notna().any()
    return not any(text_of(v) is not None for v in factorize(col)[1])


def is_mark(text: str | None) -> bool:
    """A cell made of one to three punctuation characters: a missing value's mark."""
    return text is not None and MARK.fullmatch(text) is not None


def _number(text: str | None, comma: bool) -> float:
    """The number a cell's text writes, NaN for a missing cell or mark, None for anything else."""
    if text is None or is_mark(text):
        return np.nan
    if NUMBER.fullmatch(text):
        return float(text)
    if comma and DECIMAL_COMMA.fullmatch(text):
        return float(text.replace(",", "."))
    return None


def looks_numeric(col) -> np.ndarray:
    """Where a text cell writes a number in a form ``parse_numbers`` does not read (``1,234``, ``12%``, ``$5``)."""
    codes, uniques = factorize(col)
    looks = [(t := text_of(v)) is not None and LOOKS_NUMERIC.fullmatch(t) is not None for v in uniques] + [False]
    return np.array(looks, dtype=bool)[codes]


def decimal_comma(col) -> bool:
    """Whether the column comes from a file whose decimal separator may be a comma (not ','-separated)."""
    return bool(col.attrs.get("source", {}).get("decimal_comma"))


def parse_numbers(col) -> tuple[np.ndarray, np.ndarray]:
    """(values, bad): the column as float64 (NaN where missing), and where a cell is not a number."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        values = np.array(col.to_numpy(dtype=np.float64, na_value=np.nan))  # writable
        return values, np.zeros(len(col), dtype=bool)
    codes, uniques = factorize(col)
    comma = decimal_comma(col)
    parsed = [_number(text_of(v), comma) for v in uniques] + [np.nan]
    bad = np.array([p is None for p in parsed])[codes]
    values = np.array([np.nan if p is None else p for p in parsed], dtype=np.float64)[codes]
    return values, bad


def marks(col) -> dict[str, int]:
    """The punctuation marks a text column holds (read as missing), with their counts."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return {}
    return {t: n for t, n in text_counts(col).items() if is_mark(t)}


def as_numbers(col, name: str, where: str) -> np.ndarray:
    """A column as float64, refusing text and values beyond float32 (named by line and column)."""
    values, bad = parse_numbers(col)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{where} line {line_of(col, i)}, column {q(name)}: {q(text_of(col.iloc[i]))} is not a "
                        f"number (fix the cell, or set data.columns.{key(name)}: category if the column holds labels)")
    big = np.flatnonzero(np.abs(np.nan_to_num(values, nan=0.0)) > FLOAT32_MAX)
    if len(big):
        raise UserError(f"{where} line {line_of(col, big[0])}, column {q(name)}: {col.iloc[big[0]]} does not fit "
                        f"in float32 (largest {FLOAT32_MAX:.4g})")
    return values


def text_counts(col) -> dict[str, int]:
    """How often each level occurs (as text; missing cells not counted), from one factorisation."""
    codes, uniques = factorize(col)
    per = np.bincount(codes, minlength=len(uniques) + 1)
    counts: dict[str, int] = {}
    for v, k in zip(uniques, per):
        t = text_of(v)
        if t is not None:
            counts[t] = counts.get(t, 0) + int(k)
    return counts


def level_codes(col, levels: list[str], fill: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, known): 1 + the index of each cell's level in ``levels``, 0 for a level not among them;
    a missing cell takes ``fill``'s code."""
    codes, uniques = factorize(col)
    index = {v: i + 1 for i, v in enumerate(levels)}
    per_unique = np.array([index.get(text_of(v) or fill, 0) for v in uniques] + [index.get(fill, 0)],
                          dtype=np.int64)
    out = per_unique[codes]
    return out, out > 0


def line_of(col, i: int) -> int:
    """The file line where row ``i`` of ``col`` starts. A frame read from a file remembers it
    (``attrs['source']``, set by ``data.csv_read``), which counts the lines of quoted newlines and
    skipped blank lines; any other frame: the index + 2 (line 1 is the header)."""
    source = col.attrs.get("source")
    record = int(col.index[i])
    if source is None:
        return record + 2
    from dlnotes.data.csv_lines import record_line

    return record_line(source, record)
