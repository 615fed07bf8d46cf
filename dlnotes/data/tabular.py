"""Tabular preprocessing: a user's raw columns -> the model's input matrix, fitted on the training rows.

The scikit-learn habits users know, as one small object serialised as plain data into meta.json:

    number     SimpleImputer(median | mean | zero, add_indicator=True) -> StandardScaler: (x - mean) / std
    boolean    two levels -> one 0/1 column (missing: the most frequent level)
    category   SimpleImputer(most_frequent | a "(missing)" level) -> OneHotEncoder(handle_unknown="ignore"),
               or, for a model that learns embeddings (``mlp``), the level's integer code (0 = unknown)

Column types (``number``, ``category``, ``boolean``, ``ignore``) are inferred from the values
(``infer_types``) and overridable per column (``data.columns: {pclass: category}``); a text column
whose values are nearly all distinct (a name, a ticket number) is left out with a note. ``fit``
learns every statistic (medians, levels, means, standard deviations) from the training rows only;
``transform`` applies them unchanged to any rows, counting the levels it never saw in training.

Output columns, in order: numbers (each followed by its missing-value indicator when the training
rows had missing values), booleans, one-hot blocks, then the embedded categories' codes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlnotes.errors import UserError

TYPES = ("number", "category", "boolean", "ignore")
MISSING = {"number": ("median", "mean", "zero", "drop", "error"),
           "category": ("most_frequent", "missing_level", "drop", "error"),
           "boolean": ("most_frequent", "drop", "error")}
DEFAULT_MISSING = {"number": "median", "category": "most_frequent", "boolean": "most_frequent"}
TRUE_WORDS = {"true", "yes", "y", "t", "1"}
FALSE_WORDS = {"false", "no", "n", "f", "0"}
MISSING_LEVEL = "(missing)"
FLOAT32_MAX = float(np.finfo(np.float32).max)


def note(text: str) -> None:
    """A one-line remark for the user, on stderr (stdout carries results only)."""
    print(text, file=sys.stderr)


def _text(v) -> str | None:
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


def as_text(col) -> "Any":
    """A column's values as stripped strings ('3' for 3 and 3.0), missing values as None.

    Each distinct value is formatted once (``pandas.factorize``), so a million rows of a few levels
    cost a few dozen Python calls, not a million.
    """
    import pandas as pd

    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    text = np.array([_text(v) for v in uniques] + [None], dtype=object)  # code -1 (missing) -> None
    return pd.Series(text[codes], index=col.index, dtype=object)


def as_numbers(col, name: str, where: str) -> np.ndarray:
    """A column as float64, refusing text and values beyond float32 (named by line and column)."""
    import pandas as pd

    values = np.array(pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))  # writable
    odd = np.isnan(values) & col.notna().to_numpy()
    if odd.any():  # text that is not a number (blank cells are missing, not text)
        bad = np.flatnonzero(odd & as_text(col).notna().to_numpy())
        if len(bad):
            raise UserError(f"{where} line {line_of(col, bad[0])}, column '{name}': '{col.iloc[bad[0]]}' is not a "
                            f"number (set data.columns.{name}: category if it is a label)")
    big = np.flatnonzero(np.abs(np.nan_to_num(values, nan=0.0)) > FLOAT32_MAX)
    if len(big):
        raise UserError(f"{where} line {line_of(col, big[0])}, column '{name}': {col.iloc[big[0]]} does not fit in "
                        f"float32 (largest {FLOAT32_MAX:.4g})")
    return values


def text_counts(col) -> dict[str, int]:
    """How often each level occurs (as text; missing cells not counted), from one factorisation."""
    import pandas as pd

    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    per = np.bincount(codes[codes >= 0], minlength=len(uniques))
    counts: dict[str, int] = {}
    for v, k in zip(uniques, per):
        t = _text(v)
        if t is not None:
            counts[t] = counts.get(t, 0) + int(k)
    return counts


def level_codes(col, levels: list[str], fill: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, known): 1 + the index of each cell's level in ``levels``, 0 for a level not among them;
    a missing cell takes ``fill``'s code. Computed once per distinct value."""
    import pandas as pd

    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    index = {v: i + 1 for i, v in enumerate(levels)}
    per_unique = np.array([index.get(_text(v) or fill, 0) for v in uniques] + [index.get(fill, 0)], dtype=np.int64)
    out = per_unique[codes]
    return out, out > 0


def line_of(col, i: int) -> int:
    """The file line of row ``i`` (the frame's index counts data rows from 0; line 1 is the header)."""
    return int(col.index[i]) + 2


def is_boolean(values: set[str]) -> bool:
    low = {v.lower() for v in values}
    return len(low) == 2 and low <= (TRUE_WORDS | FALSE_WORDS) and bool(low & TRUE_WORDS) and bool(low & FALSE_WORDS)


def _row_number(col) -> bool:
    """Whole numbers, all distinct, consecutive once sorted: a row id such as PassengerId."""
    v = col.dropna().to_numpy()
    if len(v) < 20 or len(v) < len(col) or not np.all(v == np.round(v)):
        return False
    v = np.sort(v)
    return bool(np.all(np.diff(v) == 1))


def infer_types(frame, columns: list[str], overrides: dict[str, str], identifiers: bool = True) -> dict[str, str]:
    """Each column's type: number (numeric values), boolean (two true/false-like values), category
    (other text), ignore (an identifier: text with over 20 levels, distinct in more than half of the
    rows, or whole numbers counting the rows; only with ``identifiers``: columns a user listed stay)."""
    import pandas as pd

    types = {}
    for c in columns:
        if c in overrides:
            types[c] = overrides[c]
            continue
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            types[c] = "boolean"
            continue
        if pd.api.types.is_numeric_dtype(col):
            types[c] = "ignore" if identifiers and _row_number(col) else "number"
            if types[c] == "ignore":
                note(f"note: column '{c}' numbers the rows (1, 2, 3...); left out "
                     f"(set data.columns.{c}: number to use it)")
            continue
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        text = [_text(v) for v in uniques]
        valid = np.array([v is not None for v in text] + [False])
        levels, filled = {v for v in text if v is not None}, int(valid[codes].sum())
        if is_boolean(levels):
            types[c] = "boolean"
        elif identifiers and len(levels) > 20 and len(levels) > 0.5 * filled:
            types[c] = "ignore"
            note(f"note: column '{c}' looks like an identifier ({len(levels)} distinct values in {filled} rows); "
                 f"left out (set data.columns.{c}: category to use it)")
        else:
            types[c] = "category"
    return types


@dataclass
class Table:
    """The raw rows a csv dataset hands to ``prepare``, which fits ``transform`` on the training ones."""

    frame: Any  # pandas DataFrame: the (training) file's rows, index = data row number in the file
    test_frame: Any  # the test file's rows (train_path + test_path), else None
    transform: "TabularTransform"  # types and strategies set, statistics not fitted yet
    path: str = "data"


class TabularTransform:
    """Imputation, indicators, encoding and scaling of raw columns, fitted on training rows.

    ``types`` maps each used column to number/category/boolean; ``missing`` maps a type to its
    strategy; categories with more than ``one_hot_max`` levels become integer codes for a learned
    embedding when ``embed`` is ``auto`` (all of them with ``all``; none with ``none``).
    """

    def __init__(self, types: dict[str, str], missing: dict[str, str] | None = None, one_hot_max: int = 10,
                 embed: str = "none", standardize: bool = True):
        self.types = {c: t for c, t in types.items() if t != "ignore"}
        self.missing = {**DEFAULT_MISSING, **(missing or {})}
        self.one_hot_max, self.embed, self.standardize = one_hot_max, embed, standardize
        self.stats: dict[str, dict[str, Any]] = {}  # per column, set by fit

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, frame, where: str = "data") -> "TabularTransform":
        for c, t in self.types.items():
            col = frame[c]
            if t == "number":
                v = as_numbers(col, c, where)
                ok = v[~np.isnan(v)]
                if len(ok) == 0:
                    raise UserError(f"{where}: column '{c}' has no values in the training rows")
                fill = {"median": float(np.median(ok)), "mean": float(ok.mean()), "zero": 0.0}.get(
                    self.missing["number"], float(np.median(ok)))
                filled = np.where(np.isnan(v), fill, v)
                std = float(filled.std()) if self.standardize else 1.0
                self.stats[c] = {"fill": fill, "indicator": bool(np.isnan(v).any()),
                                 "mean": float(filled.mean()) if self.standardize else 0.0,
                                 "std": std if std > 1e-12 else 1.0}
            else:
                counts = text_counts(col)
                if len(counts) == 0:
                    raise UserError(f"{where}: column '{c}' has no values in the training rows")
                levels = sorted(counts)
                most = sorted(counts, key=lambda v: (-counts[v], v))[0]
                if t == "category" and self.missing["category"] == "missing_level":
                    levels, most = sorted(set(levels) | {MISSING_LEVEL}), MISSING_LEVEL
                s: dict[str, Any] = {"levels": [str(v) for v in levels], "fill": most}
                if t == "boolean":
                    true = [v for v in s["levels"] if v.lower() in TRUE_WORDS]
                    s["true"] = true[0] if true else s["levels"][-1]
                else:
                    many = len(levels) > self.one_hot_max
                    s["embed"] = self.embed == "all" or (self.embed == "auto" and many)
                self.stats[c] = s
        return self

    # -- applying -------------------------------------------------------------------------------
    def missing_rows(self, frame) -> np.ndarray:
        """Rows with a missing value in a column whose type's strategy is ``drop``."""
        drop = np.zeros(len(frame), dtype=bool)
        for c, t in self.types.items():
            if self.missing[t] == "drop":
                drop |= as_text(frame[c]).isna().to_numpy()
        return drop

    def check_missing(self, frame, where: str) -> None:
        """``error`` (and ``drop`` where rows cannot be dropped): the first missing value, by line."""
        for c, t in self.types.items():
            if self.missing[t] in ("error", "drop"):
                gone = as_text(frame[c]).isna().to_numpy()
                if gone.any():
                    i = int(np.flatnonzero(gone)[0])
                    raise UserError(f"{where} line {line_of(frame[c], i)}, column '{c}': missing value "
                                    f"(data.missing.{t} is '{self.missing[t]}')")

    def transform(self, frame, where: str = "data", warn: bool = False) -> np.ndarray:
        """The model's input matrix (rows, outputs) as float32; unseen levels counted (a warning if ``warn``)."""
        self.check_missing(frame, where)
        blocks: dict[str, list[np.ndarray]] = {"number": [], "boolean": [], "category": [], "embed": []}
        unseen: dict[str, tuple[int, str]] = {}
        for c, t in self.types.items():
            s = self.stats[c]
            if t == "number":
                v = as_numbers(frame[c], c, where)
                gone = np.isnan(v)
                blocks["number"].append((np.where(gone, s["fill"], v) - s["mean"]) / s["std"])
                if s["indicator"]:
                    blocks["number"].append(gone.astype(np.float64))
                continue
            fill = s["fill"] if self.missing[t] != "missing_level" else MISSING_LEVEL
            codes, known = level_codes(frame[c], s["levels"], fill)
            if not known.all():
                unseen[c] = (int((~known).sum()), str(frame[c].iloc[int(np.flatnonzero(~known)[0])]).strip())
            if t == "boolean":
                blocks["boolean"].append((codes == s["levels"].index(s["true"]) + 1).astype(np.float64))
            elif s["embed"]:
                blocks["embed"].append(codes.astype(np.float64))
            else:
                onehot = np.zeros((len(codes), len(s["levels"])), dtype=np.float32)
                onehot[np.flatnonzero(known), codes[known] - 1] = 1.0  # unknown (code 0): all zeros
                blocks["category"].append(onehot)
        if unseen and warn:
            what = ", ".join(f"{c}: {n} (e.g. '{v}')" for c, (n, v) in unseen.items())
            note(f"warning: {sum(n for n, _ in unseen.values())} value(s) not seen in training, "
                 f"mapped to 'unknown': {what}")
        self.unseen = {c: n for c, (n, _) in unseen.items()}
        cols = [b for k in ("number", "boolean", "category", "embed") for b in blocks[k]]
        out = np.empty((len(frame), sum(1 if b.ndim == 1 else b.shape[1] for b in cols)), dtype=np.float32)
        at = 0
        for b in cols:
            w = 1 if b.ndim == 1 else b.shape[1]
            out[:, at:at + w] = b[:, None] if b.ndim == 1 else b
            at += w
        return out

    # -- description ----------------------------------------------------------------------------
    def outputs(self) -> list[str]:
        """The model's input columns, named: ``age``, ``age (missing)``, ``sex=female``, ``cabin (code)``."""
        names: dict[str, list[str]] = {"number": [], "boolean": [], "category": [], "embed": []}
        for c, t in self.types.items():
            s = self.stats[c]
            if t == "number":
                names["number"] += [c] + ([f"{c} (missing)"] if s["indicator"] else [])
            elif t == "boolean":
                names["boolean"].append(f"{c}={s['true']}")
            elif s["embed"]:
                names["embed"].append(f"{c} (code)")
            else:
                names["category"] += [f"{c}={v}" for v in s["levels"]]
        return [n for k in ("number", "boolean", "category", "embed") for n in names[k]]

    def embedded(self) -> list[int]:
        """Embedding table sizes (levels + the unknown slot) of the embedded categories, in output order."""
        return [len(self.stats[c]["levels"]) + 1 for c, t in self.types.items()
                if t == "category" and self.stats[c]["embed"]]

    def to_dict(self) -> dict[str, Any]:
        return {"types": self.types, "missing": self.missing, "one_hot_max": self.one_hot_max, "embed": self.embed,
                "standardize": self.standardize, "stats": self.stats, "outputs": self.outputs()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TabularTransform":
        t = cls(d["types"], d["missing"], d["one_hot_max"], d["embed"], d["standardize"])
        t.stats = d["stats"]
        return t
