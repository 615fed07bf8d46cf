"""Tabular preprocessing: a user's raw columns -> the model's input matrix, fitted on the training rows.

scikit-learn's ``ColumnTransformer`` habit as one small object, serialised as plain data into
meta.json: each used column has a type (``data.column_types``) and its own encoder
(``data.encoders``, ``data.dates``). ``fit`` learns every statistic (medians, levels, means,
standard deviations, date forms) from the training rows only; ``transform`` applies them unchanged
to any rows, counting the levels it never saw in training (a warning with the counts when asked).

Output columns, in order: numbers (each followed by its missing-value indicator when the training
rows had missing values), dates, booleans, one-hot blocks, then the embedded categories' codes
(last, where a model with embeddings (``mlp``) looks them up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlnotes.data import dates, encoders
from dlnotes.data.cells import line_of, missing, note, q
from dlnotes.data.column_types import TYPES  # noqa: F401  (re-exported: the types a column can have)
from dlnotes.errors import UserError

MISSING = {"number": ("median", "mean", "zero", "drop", "error"),
           "category": ("most_frequent", "missing_level", "drop", "error"),
           "boolean": ("most_frequent", "drop", "error"),
           "date": ("median", "drop", "error")}
DEFAULT_MISSING = {"number": "median", "category": "most_frequent", "boolean": "most_frequent", "date": "median"}
GROUPS = ("number", "date", "boolean", "category", "embed")


@dataclass
class Table:
    """A fitted table: its rows (training file, test file) and the transform fitted on the training rows."""

    frame: Any  # pandas DataFrame: the (training) file's rows, index = data record number in the file
    test_frame: Any  # the test file's rows (train_path + test_path), else None
    transform: "TabularTransform"
    path: str = "data"


class TabularTransform:
    """Imputation, indicators, encoding and scaling of raw columns, fitted on training rows.

    ``types`` maps each used column to number/category/boolean/date; ``missing`` maps a type to its
    strategy; categories with more than ``one_hot_max`` levels become integer codes for a learned
    embedding when ``embed`` is ``auto`` (all of them with ``all``; none with ``none``), and a one-hot
    block wider than ``one_hot_limit`` is refused. ``read`` holds how the files are read (encoding),
    ``ignored`` the columns left out: both recorded for predict.
    """

    def __init__(self, types: dict[str, str], missing: dict[str, str] | None = None, one_hot_max: int = 10,
                 embed: str = "none", standardize: bool = True, one_hot_limit: int = 1000,
                 read: dict[str, Any] | None = None, ignored: list[str] | None = None):
        self.types = {c: t for c, t in types.items() if t != "ignore"}
        self.ignored = list(ignored or []) + [c for c, t in types.items() if t == "ignore"]
        self.missing = {**DEFAULT_MISSING, **(missing or {})}
        self.one_hot_max, self.one_hot_limit, self.embed, self.standardize = one_hot_max, one_hot_limit, embed, standardize
        self.read = dict(read or {"encoding": "utf-8"})
        self.stats: dict[str, dict[str, Any]] = {}  # per column, set by fit
        self.unseen: dict[str, int] = {}

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, frame, where: str = "data") -> "TabularTransform":
        for c, t in self.types.items():
            col, strategy = frame[c], self.missing[t]
            if t == "number":
                self.stats[c] = encoders.fit_number(col, c, where, strategy, self.standardize)
            elif t == "date":
                self.stats[c] = dates.fit_date(col, c, where, self.standardize)
            else:
                s = encoders.fit_levels(col, c, where, t, strategy, embed=False)
                if t == "category":
                    s["embed"] = self.embed == "all" or (self.embed == "auto" and len(s["levels"]) > self.one_hot_max)
                    if not s["embed"]:
                        encoders.check_width(c, len(s["levels"]), len(frame), self.one_hot_limit,
                                             embeds=self.embed != "none")
                self.stats[c] = s
        return self

    # -- applying -------------------------------------------------------------------------------
    def missing_rows(self, frame) -> np.ndarray:
        """Rows with a missing value in a column whose type's strategy is ``drop``."""
        drop = np.zeros(len(frame), dtype=bool)
        for c, t in self.types.items():
            if self.missing[t] == "drop":
                drop |= missing(frame[c])
        return drop

    def check_missing(self, frame, where: str) -> None:
        """``error`` (and ``drop`` where rows cannot be dropped): the first missing value, by line."""
        for c, t in self.types.items():
            if self.missing[t] in ("error", "drop"):
                gone = missing(frame[c])
                if gone.any():
                    i = int(np.flatnonzero(gone)[0])
                    raise UserError(f"{where} line {line_of(frame[c], i)}, column {q(c)}: missing value "
                                    f"(data.missing.{t} is '{self.missing[t]}')")

    def _encode(self, frame, c: str, t: str, where: str) -> tuple[str, list[np.ndarray], tuple[int, str] | None]:
        """(group, blocks, unseen (count, example) or None) of one column."""
        s, col = self.stats[c], frame[c]
        if t == "number":
            return "number", encoders.encode_number(col, s, c, where), None
        if t == "date":
            return "date", dates.encode_date(col, s, c, where), None
        fill = s["fill"] if self.missing[t] != "missing_level" else encoders.MISSING_LEVEL
        codes, known = encoders.encode_levels(col, s, fill)
        unseen = None
        if not known.all():
            unseen = (int((~known).sum()), str(col.iloc[int(np.flatnonzero(~known)[0])]).strip())
        if t == "boolean":
            return "boolean", [encoders.encode_boolean(codes, known, s)], unseen
        return ("embed" if s["embed"] else "category"), [encoders.encode_category(codes, known, s)], unseen

    def transform(self, frame, where: str = "data", warn: bool = False) -> np.ndarray:
        """The model's input matrix (rows, outputs) as float32; unseen levels counted (a warning if ``warn``)."""
        self.check_missing(frame, where)
        blocks: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
        unseen: dict[str, tuple[int, str]] = {}
        for c, t in self.types.items():
            group, parts, new = self._encode(frame, c, t, where)
            blocks[group] += parts
            if new is not None:
                unseen[c] = new
        if unseen and warn:
            what = ", ".join(f"{c}: {n} (e.g. {q(v, 30)})" for c, (n, v) in unseen.items())
            note(f"warning: {where}: {sum(n for n, _ in unseen.values())} value(s) not seen in training, "
                 f"mapped to 'unknown': {what}")
        self.unseen = {c: n for c, (n, _) in unseen.items()}
        cols = [b for g in GROUPS for b in blocks[g]]
        out = np.empty((len(frame), sum(1 if b.ndim == 1 else b.shape[1] for b in cols)), dtype=np.float32)
        at = 0
        for b in cols:
            w = 1 if b.ndim == 1 else b.shape[1]
            out[:, at:at + w] = b[:, None] if b.ndim == 1 else b
            at += w
        return out

    # -- description ----------------------------------------------------------------------------
    def outputs(self) -> list[str]:
        """The model's input columns, named: ``age``, ``age (missing)``, ``when (month sin)``, ``sex=female``,
        ``cabin (code)``."""
        names: dict[str, list[str]] = {g: [] for g in GROUPS}
        for c, t in self.types.items():
            s = self.stats[c]
            if t == "number":
                names["number"] += encoders.number_names(c, s)
            elif t == "date":
                names["date"] += dates.date_names(c, s)
            else:
                group = "boolean" if t == "boolean" else "embed" if s["embed"] else "category"
                names[group] += encoders.level_names(c, t, s)
        return [n for g in GROUPS for n in names[g]]

    def embedded(self) -> list[int]:
        """Embedding table sizes (levels + the unknown slot) of the embedded categories, in output order."""
        return [len(self.stats[c]["levels"]) + 1 for c, t in self.types.items()
                if t == "category" and self.stats[c]["embed"]]

    def to_dict(self) -> dict[str, Any]:
        return {"types": self.types, "missing": self.missing, "one_hot_max": self.one_hot_max,
                "one_hot_limit": self.one_hot_limit, "embed": self.embed, "standardize": self.standardize,
                "read": self.read, "ignored": self.ignored, "stats": self.stats, "outputs": self.outputs()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TabularTransform":
        t = cls(d["types"], d["missing"], d["one_hot_max"], d["embed"], d["standardize"],
                d.get("one_hot_limit", 1000), d.get("read"), d.get("ignored"))
        t.stats = d["stats"]
        return t
