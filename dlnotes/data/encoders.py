"""One column's preprocessing, per type: fitted on the training rows into plain data, then applied.

    number     SimpleImputer(median | mean | zero, add_indicator=True) -> StandardScaler: (x - mean) / std
    boolean    two levels -> one 0/1 column (missing, or a word training never saw: the most frequent level)
    category   SimpleImputer(most_frequent | a "(missing)" level) -> OneHotEncoder(handle_unknown="ignore"),
               or, for a model that learns embeddings (``mlp``), the level's integer code (0 = unknown)
    date       ``data.dates``

``fit_*`` returns the statistics (a dict of numbers and strings, written to meta.json); ``encode_*``
applies them to any rows, unchanged. One-hot is bounded: a category with more than
``one_hot_limit`` levels would make that many inputs (an 18,000-level column under logistic
regression: 14,330 inputs and 6.8 GB) and is refused with what to do instead (embed it, or ignore it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlnotes.data.cells import as_numbers, key, level_codes, q, text_counts
from dlnotes.data.column_types import TRUE_WORDS
from dlnotes.errors import UserError

MISSING_LEVEL = "(missing)"


def fit_number(col, name: str, where: str, strategy: str, standardize: bool) -> dict[str, Any]:
    v = as_numbers(col, name, where)
    ok = v[~np.isnan(v)]
    if len(ok) == 0:
        raise UserError(f"{where}: column {q(name)} has no values in the training rows")
    fill = {"mean": float(ok.mean()), "zero": 0.0}.get(strategy, float(np.median(ok)))
    filled = np.where(np.isnan(v), fill, v)
    std = float(filled.std()) if standardize else 1.0
    return {"fill": fill, "indicator": bool(np.isnan(v).any()),
            "mean": float(filled.mean()) if standardize else 0.0, "std": std if std > 1e-12 else 1.0}


def encode_number(col, s: dict[str, Any], name: str, where: str) -> list[np.ndarray]:
    v = as_numbers(col, name, where)
    gone = np.isnan(v)
    out = [(np.where(gone, s["fill"], v) - s["mean"]) / s["std"]]
    return out + ([gone.astype(np.float64)] if s["indicator"] else [])


def number_names(c: str, s: dict[str, Any]) -> list[str]:
    return [c] + ([f"{c} (missing)"] if s["indicator"] else [])


def fit_levels(col, name: str, where: str, column_type: str, strategy: str, embed: bool) -> dict[str, Any]:
    """Levels (sorted), the fill (most frequent, or the "(missing)" level), and for a boolean its true
    level, for a category whether it is embedded."""
    counts = text_counts(col)
    if not counts:
        raise UserError(f"{where}: column {q(name)} has no values in the training rows")
    levels = sorted(counts)
    most = sorted(counts, key=lambda v: (-counts[v], v))[0]
    if column_type == "boolean":
        if len(levels) > 2:
            raise UserError(f"data.columns.{key(name)}: boolean, but the column has {len(levels)} levels "
                            f"({', '.join(map(q, levels[:4]))}{', ...' if len(levels) > 4 else ''}); "
                            f"set it to category")
        true = [v for v in levels if v.lower() in TRUE_WORDS]
        return {"levels": levels, "fill": most, "true": true[0] if true else levels[-1]}
    if strategy == "missing_level":
        levels, most = sorted(set(levels) | {MISSING_LEVEL}), MISSING_LEVEL
    return {"levels": levels, "fill": most, "embed": embed}


def check_width(name: str, levels: int, rows: int, limit: int, embeds: bool) -> None:
    """Refuses a one-hot block wider than ``limit`` (data.one_hot_limit), saying what to do instead."""
    if levels <= limit:
        return
    gb = rows * levels * 4 / 1e9
    instead = ("set model.embed_categories: auto (embedded, not one-hot)" if embeds else
               "train model mlp, which embeds categories with more than data.one_hot_max levels")
    raise UserError(f"data.one_hot_limit: column {q(name)} has {levels:,} levels in the training rows; one-hot "
                    f"that is {levels:,} inputs ({gb:.2g} GB as float32 for {rows:,} rows), over the limit of "
                    f"{limit:,}; {instead}, or set data.columns.{key(name)}: ignore (or raise data.one_hot_limit)")


def encode_levels(col, s: dict[str, Any], fill: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes, known) of a boolean or category column: 1 + the level's index, 0 for a level training never saw."""
    return level_codes(col, s["levels"], fill)


def encode_boolean(codes: np.ndarray, known: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    """1.0 for the true level; a word training never saw counts as the most frequent level."""
    fill = s["levels"].index(s["fill"]) + 1
    codes = np.where(known, codes, fill)
    return (codes == s["levels"].index(s["true"]) + 1).astype(np.float64)


def encode_category(codes: np.ndarray, known: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    """One-hot (all zeros for a level training never saw), or the code itself when embedded."""
    if s["embed"]:
        return codes.astype(np.float64)
    onehot = np.zeros((len(codes), len(s["levels"])), dtype=np.float32)
    onehot[np.flatnonzero(known), codes[known] - 1] = 1.0
    return onehot


def level_names(c: str, column_type: str, s: dict[str, Any]) -> list[str]:
    if column_type == "boolean":
        return [f"{c}={s['true']}"]
    return [f"{c} (code)"] if s["embed"] else [f"{c}={v}" for v in s["levels"]]
