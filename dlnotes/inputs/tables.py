"""A table's rows as one named array per training column: numbers as float64 (NaN where missing), categories
and booleans as text ("" where missing), dates as seconds since 1970-01-01 (float64, NaN where missing), as
``dlnotes.data.tabular`` reads the cells of a CSV.

Rows come from a CSV file (read as training read it, with the run's encoding: ``dlnotes.data.csv_read``), a pandas
DataFrame, a dict of columns (or of single values: one row) or a list of row dicts. The imputation,
indicators, one-hot or embedding codes and scaling are the graph's (``dlnotes.export.tables``);
``codes`` does the one step a torch file cannot: text to level codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlnotes.errors import UserError

MISSING = ""  # a missing category or boolean in the text arrays (a stripped cell is never empty)
KNOWN = ("number", "category", "boolean", "date")
NUMERIC = ("number", "date")  # float64 arrays; the others are text


def columns(meta: dict[str, Any]) -> dict[str, str]:
    """The training columns and their types (number, category, boolean), in the model's order."""
    tab = meta["preprocess"].get("tabular")
    if tab is None:
        return {str(c): "number" for c in meta["dataset"].get("feature_names") or []}
    unknown = sorted({t for t in tab["types"].values() if t not in KNOWN})
    if unknown:
        raise UserError(f"meta: column type(s) {', '.join(unknown)} are not read here yet; known: {', '.join(KNOWN)}")
    return dict(tab["types"])


def contract(meta: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": c, "dtype": "float64" if t in NUMERIC else "string", "shape": ["N"]}
            for c, t in columns(meta).items()]


def frame(inputs, where: str, encoding: str = "utf-8"):
    """``inputs`` as a pandas DataFrame: a CSV path (read in ``encoding``), a DataFrame, a dict of columns or
    values, row dicts."""
    import pandas as pd

    if isinstance(inputs, (str, Path)):
        from dlnotes.data.csv_read import read_csv_file

        return read_csv_file(inputs, where, encoding,
                             hint=f"the run reads its tables as {encoding} (data.encoding); save the file in it")
    if isinstance(inputs, pd.DataFrame):
        return inputs.reset_index(drop=True)
    if isinstance(inputs, dict):
        inputs = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else v for k, v in inputs.items()}  # tensors
        one_row = all(np.ndim(v) == 0 for v in inputs.values())
        try:
            return pd.DataFrame([inputs] if one_row else inputs)
        except ValueError as e:
            raise UserError(f"{where}: the columns of a table given as a dict must have equal lengths ({e})") from None
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(r, dict) for r in inputs):
        return pd.DataFrame(list(inputs))
    raise UserError(f"{where}: a table model reads a CSV file, a pandas DataFrame, a dict of columns or a list "
                    f"of row dicts; got {type(inputs).__name__}")


def read(meta: dict[str, Any], inputs) -> tuple[list[str], dict[str, np.ndarray]]:
    """(row names "0", "1"..., {column: array}) for ``inputs``; refuses a lacking column, text in a number
    column, a number beyond float32 and a missing value where the run's strategy is ``error`` or ``drop``."""
    where = f"'{inputs}'" if isinstance(inputs, (str, Path)) else "the table"
    encoding = (meta["preprocess"].get("tabular") or {}).get("read", {}).get("encoding", "utf-8")
    rows = frame(inputs, "--input", encoding)
    types = columns(meta)
    lacking = [c for c in types if c not in rows.columns]
    if lacking:
        raise UserError(f"--input: {where} lacks the feature column(s) {', '.join(lacking)}; the model was trained on: "
                        f"{', '.join(types)}")
    if len(rows) == 0:
        raise UserError(f"--input: {where} has no rows")
    rows = rows.reset_index(drop=True)
    _check_missing(meta, rows, where)
    return [str(i) for i in range(len(rows))], {c: cells(rows[c], c, t, meta, where) for c, t in types.items()}


def cells(col, name: str, column_type: str, meta: dict[str, Any], where: str) -> np.ndarray:
    """One column's cells as the graph takes them, read as training read them (``dlnotes.data.tabular``)."""
    from dlnotes.data.cells import as_numbers, as_text

    if column_type == "number":
        return as_numbers(col, name, where)
    if column_type == "date":  # in the recorded form (the tables helper's dlnotes.data.dates)
        from dlnotes.data.dates import as_dates

        return as_dates(col, name, where, meta["preprocess"]["tabular"]["stats"][name]["format"])
    return np.array([MISSING if v is None else v for v in as_text(col)], dtype=object)


def _check_missing(meta: dict[str, Any], rows, where: str) -> None:
    """Missing values where the run refuses them: ``data.missing`` error/drop (csv runs), or any (other tables,
    whose models never saw one)."""
    tab = meta["preprocess"].get("tabular")
    if tab is not None:
        from dlnotes.data.tabular import TabularTransform

        TabularTransform.from_dict(tab).check_missing(rows, where)
        return
    for c in columns(meta):
        gone = rows[c].isna().to_numpy()
        if gone.any():
            raise UserError(f"{where} row {int(np.flatnonzero(gone)[0])}, column '{c}': missing value (the model "
                            f"was trained on complete rows)")


def codes(meta: dict[str, Any], feed: dict[str, np.ndarray], warn: bool = False) -> dict[str, np.ndarray]:
    """The feed with text columns as int64 level codes (1 + index among the training levels; 0: a level
    never seen; a missing value: the training fill's code), as ``TabularTransform.transform`` codes them."""
    tab = meta["preprocess"].get("tabular")
    if tab is None:
        return dict(feed)
    out, unseen = dict(feed), {}
    for c, t in columns(meta).items():
        if t in NUMERIC:
            continue
        s = tab["stats"][c]
        index = {v: i + 1 for i, v in enumerate(s["levels"])}
        text = np.asarray(feed[c], dtype=object)
        out[c] = np.array([index.get(v if v != MISSING else s["fill"], 0) for v in text], dtype=np.int64)
        new = out[c] == 0
        if t == "boolean":  # a word training never saw counts as the most frequent level (data.encoders)
            out[c][new] = index[s["fill"]]
        if new.any():
            unseen[c] = (int(new.sum()), str(text[int(np.flatnonzero(new)[0])]))
    if unseen and warn:
        from dlnotes.data.cells import note

        what = ", ".join(f"{c}: {n} (e.g. '{v}')" for c, (n, v) in unseen.items())
        note(f"warning: {sum(n for n, _ in unseen.values())} value(s) not seen in training, mapped to 'unknown': "
             f"{what}")
    return out
