"""``csv``: a user's own table, read and typed; ``prepare`` fits it into a Dataset (read -> type -> fit).

``csv(...)`` reads the file(s) (``data.csv_read``), types the columns (``data.column_types``),
drops the rows without a target and makes the targets; it returns a ``TableSource``: the raw rows
and what is known about them, nothing fitted. ``prepare`` then calls ``TableSource.fit`` with the
training rows of its split: the preprocessing (``data.tabular``) learns from those rows alone and
the ``Dataset`` comes out whole, inputs built. ``read_input`` reads a user's rows for ``predict``
the same way, with the run's recorded encoding and preprocessing.

The task (``task: auto``) and the classes come from the training file alone: a text value in the
test file's target cannot turn a regression into a classification, and a class only the test file
has (which no answer could get right) is refused, as is a target cell that is not a number in a
regression. A category, boolean or class word of the test file that training never saw is counted
in a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch

from dlnotes.constraints import Interval, Items, Mapping, Options
from dlnotes.data.base import Dataset
from dlnotes.data.cells import (
    as_numbers,
    as_text,
    line_of,
    missing,
    note,
    parse_numbers,
    q,
    text_of,
)
from dlnotes.data.column_types import MOSTLY, infer_types
from dlnotes.data.csv_read import read_csv_file
from dlnotes.data.tabular import Table, TabularTransform
from dlnotes.errors import UserError, column_hint
from dlnotes.registry import DATASETS


@dataclass
class Part:
    """One file's rows: where it was named (``data.path``), its path, the rows."""

    where: str
    path: str
    frame: Any


@dataclass
class TableSource:
    """A table as read and typed, before anything is fitted; ``fit`` gives the Dataset."""

    parts: list[Part]  # the training file (or the one file), then the test file
    target: str
    types: dict[str, str]  # every feature column's type, "ignore" included
    transform: TabularTransform  # strategies set, nothing fitted
    task: str
    y: torch.Tensor
    y_test: torch.Tensor | None = None
    classes: list[str] | None = None
    kind: str = "tabular"

    def fit(self, rows: np.ndarray, embed: str, standardize: bool) -> Dataset:
        """The preprocessing fitted on ``rows`` of the training file alone, then every row transformed."""
        t, train = self.transform, self.parts[0]
        t.embed, t.standardize = embed, standardize
        t.fit(train.frame.iloc[rows], f"'{train.path}'")
        x = torch.from_numpy(t.transform(train.frame, f"'{train.path}'"))
        test = self.parts[1] if len(self.parts) == 2 else None
        ds = Dataset(x, self.y, self.task, "tabular", classes=self.classes, feature_names=list(t.types),
                     target_name=self.target, table=Table(train.frame, test.frame if test else None, t, train.path))
        if test is not None:  # a second file: what it holds that training never saw is said, with counts
            ds.x_test, ds.y_test = torch.from_numpy(t.transform(test.frame, f"'{test.path}'", warn=True)), self.y_test
        return ds


@DATASETS.register
def csv(path: str | None = None, train_path: str | None = None, test_path: str | None = None,
        target: str | None = None, features: Annotated[list | None, Items(str, min_len=1, max_len=100_000)] = None,
        task: Literal["auto", "classification", "regression"] = "auto",
        columns: Annotated[dict | None, Mapping(Options("number", "category", "boolean", "date", "ignore"))] = None,
        missing: Annotated[dict | None, Mapping(keys={
            "number": Options("median", "mean", "zero", "drop", "error"),
            "category": Options("most_frequent", "missing_level", "drop", "error"),
            "boolean": Options("most_frequent", "drop", "error"),
            "date": Options("median", "drop", "error")})] = None,
        one_hot_max: Annotated[int, Interval(0, 100_000)] = 10,
        one_hot_limit: Annotated[int, Interval(1, 1_000_000)] = 1000,
        encoding: str = "utf-8") -> TableSource:
    """A CSV file of yours: target column, feature columns, one file or train + test files.

    Args:
        path: the CSV file (a header line; delimiter , ; tab or | found by itself), split by test_fraction.
        train_path: a training CSV instead of path, with test_path beside it.
        test_path: the test CSV that goes with train_path (same columns).
        target: the column to predict; rows without a value in it are dropped (and counted).
        features: the input columns (default: every other column, less identifiers: id columns, row
            numbers, text nearly all distinct such as names or tickets).
        task: classification (text, or at most 20 distinct whole numbers, under auto) or regression.
        columns: a type per column, overriding the inferred one: number, category, boolean, date or ignore.
        missing: a strategy per type: number median|mean|zero|drop|error, category
            most_frequent|missing_level|drop|error, boolean most_frequent|drop|error, date median|drop|error.
        one_hot_max: a category with more levels is embedded by models that learn embeddings (mlp).
        one_hot_limit: the most levels a category may have as one-hot inputs (models without embeddings).
        encoding: the file's text encoding (utf-8, with or without BOM; latin-1, cp1252...); predict uses it too.
    """
    parts = _files(path, train_path, test_path, target, features, encoding)
    cols = _feature_columns(parts, target, features, columns)
    types = infer_types(parts[0].frame, cols, dict(columns or {}), identifiers=not features,
                        where=f"'{parts[0].path}'")
    used = {c: t for c, t in types.items() if t != "ignore"}
    if not used:
        raise UserError(f"data.features: no usable feature column in '{parts[0].path}' (all are identifiers or ignored)")
    transform = TabularTransform(types, missing, one_hot_max, one_hot_limit=one_hot_limit,
                                 read={"encoding": encoding})
    parts = [_usable_rows(p, target, transform) for p in parts]
    return _with_targets(parts, target, task, types, transform)


def _files(path, train_path, test_path, target, features, encoding) -> list[Part]:
    if target is None:
        raise UserError("data.target: name the label column of your CSV (e.g. target: price)")
    if (path is None) == (train_path is None):
        raise UserError("data: give either path (split by test_fraction) or train_path and test_path")
    if train_path is not None and test_path is None:
        raise UserError("data.test_path: required with train_path")
    if features and target in features:
        raise UserError(f"data.features: {q(target)} is the target; it cannot also be a feature")
    keys = [("path", path)] if path else [("train_path", train_path), ("test_path", test_path)]
    return [Part(f"data.{k}", str(p), read_csv_file(p, f"data.{k}", encoding)) for k, p in keys]


def _feature_columns(parts: list[Part], target: str, features, columns) -> list[str]:
    header, p0 = list(parts[0].frame.columns), parts[0].path
    if target not in header:
        raise UserError(f"data.target: column {q(target)} is not in '{p0}'{column_hint(target, header)}")
    cols = [str(c) for c in features] if features else [h for h in header if h != target]
    for c in columns or {}:
        if c not in header:
            raise UserError(f"data.columns: {q(c)} is not a column of '{p0}'{column_hint(c, header)}")
    for p in parts:
        lacking = [c for c in cols + [target] if c not in p.frame.columns]
        if lacking:
            raise UserError(f"data.{'features' if target not in lacking else 'target'}: '{p.path}' lacks column(s) "
                            f"{', '.join(map(q, lacking))}{column_hint(lacking[0], p.frame.columns)}")
    if not cols:
        raise UserError(f"data.features: '{p0}' has no feature columns besides the target {q(target)}")
    return cols


def _usable_rows(part: Part, target: str, transform: TabularTransform) -> Part:
    """The rows with a target (the others dropped, counted), less those ``data.missing: drop`` drops."""
    frame = part.frame
    gone = missing(frame[target], marks=True)
    if gone.all():
        raise UserError(f"{part.where}: '{part.path}' has no value in the target column {q(target)} on any row")
    if gone.any():
        note(f"note: dropped {int(gone.sum())} row(s) of '{part.path}' with no value in the target {q(target)}")
        frame = frame[~gone]
    drop = transform.missing_rows(frame)
    if drop.any():
        note(f"note: dropped {int(drop.sum())} row(s) of '{part.path}' with a missing value (data.missing: drop)")
        frame = frame[~drop]
    transform.check_missing(frame, f"'{part.path}'")
    for c, t in transform.types.items():
        if t == "number":  # text or a float32 overflow: refused now, naming the cell, before any split
            as_numbers(frame[c], c, f"'{part.path}'")
    return Part(part.where, part.path, frame)


def _with_targets(parts: list[Part], target: str, task: str, types: dict[str, str],
                  transform: TabularTransform) -> TableSource:
    """The source with its targets: the task and classes decided on the training file alone."""
    train = parts[0]
    if len(train.frame) < 2:
        raise UserError(f"data: '{train.path}' has {len(train.frame)} usable data row(s); at least 2 are needed "
                        "to train and test")
    task = _task(train.frame[target], target, f"'{train.path}'", task)
    classes, y = TARGETS[task](parts, target)
    return TableSource(parts, target, types, transform, task, y[0], y[1] if len(y) == 2 else None, classes)


def _task(col, target: str, where: str, asked: str) -> str:
    """The ``asked`` task, or under ``auto``: numbers are a quantity (regression) unless they are at most 20
    distinct whole numbers (labels); text is labels. A column of numbers with a few text cells is refused."""
    if asked in ("classification", "regression"):
        return asked
    values, bad = parse_numbers(col)
    numbers = int((~np.isnan(values)).sum())
    if bad.any() and numbers >= MOSTLY * (numbers + int(bad.sum())):
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{where} line {line_of(col, i)}, target {q(target)}: {q(text_of(col.iloc[i]))} is not a "
                        f"number, in a target of numbers ({int(bad.sum()):,} of its {numbers + int(bad.sum()):,} filled "
                        "cells are not); fix the cell(s), or set data.task: classification if the column holds labels")
    if bad.any():
        return "classification"
    v = np.unique(values[~np.isnan(values)])
    return "classification" if bool(np.all(v == np.round(v))) and len(v) <= 20 else "regression"


def _regression(parts: list[Part], target: str) -> tuple[None, list[torch.Tensor]]:
    """No classes, and every file's targets as float32 (N, 1), a text cell or float32 overflow named."""
    return None, [_values(p, target) for p in parts]


def _values(part: Part, target: str) -> torch.Tensor:
    y = torch.from_numpy(as_numbers(part.frame[target], target, f"'{part.path}'")).float().reshape(-1, 1)
    if part.where != "data.test_path" and float(y.std()) == 0:
        raise UserError(f"data.target: column {q(target)} has the same value on every row; nothing to learn")
    return y


def _classes(parts: list[Part], target: str) -> tuple[list[str], list[torch.Tensor]]:
    """The training file's classes (sorted, numbers by value) and every file's class indices; a test
    class training never saw is refused with its count."""
    texts = [as_text(p.frame[target]) for p in parts]
    distinct = sorted(set(texts[0].unique()), key=_class_order)
    if len(distinct) < 2:
        raise UserError(f"data.target: column {q(target)} has one class only ({q(distinct[0])}); "
                        "a classifier needs at least two")
    lookup = {c: i for i, c in enumerate(distinct)}
    if len(parts) == 2:
        new = texts[1][~texts[1].isin(lookup)]
        if len(new):
            counts = new.value_counts()
            raise UserError(f"data.test_path: '{parts[1].path}' has {len(new)} row(s) of class(es) the training file "
                            f"'{parts[0].path}' never has ({', '.join(f'{q(c)}: {n}' for c, n in counts.items())}); "
                            "no answer can be right for them: remove those rows or add them to training")
    return distinct, [torch.tensor(t.map(lookup).to_numpy(dtype=np.int64)) for t in texts]


TARGETS = {"classification": _classes, "regression": _regression}


def _class_order(v: str):
    try:
        return (float(v), v)
    except ValueError:
        return (np.inf, v)


def read_input(path, pre: dict[str, Any]) -> tuple[list[str], torch.Tensor]:
    """A user's raw rows for ``predict``: read with the run's encoding, the recorded preprocessing applied."""
    transform = TabularTransform.from_dict(pre["tabular"])
    encoding = transform.read.get("encoding", "utf-8")
    frame = read_csv_file(path, "--input", encoding,
                          hint=f"the run reads its tables as {encoding} (data.encoding); save the file in it")
    lacking = [c for c in transform.types if c not in frame.columns]
    if lacking:
        raise UserError(f"--input: '{path}' lacks the feature column(s) {', '.join(map(q, lacking))}; the model was "
                        f"trained on: {', '.join(map(q, transform.types))}")
    x = transform.transform(frame, f"'{path}'", warn=True)
    return [str(i) for i in range(len(x))], torch.from_numpy(x)
