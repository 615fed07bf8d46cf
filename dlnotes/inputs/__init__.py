"""A user's raw inputs as exactly the arrays a run's exported model takes: numpy, pandas and Pillow, no torch.

    import json, onnxruntime
    meta = json.load(open("runs/lenet_digits/meta.json"))   # or the file's own 'dlnotes' metadata
    session = onnxruntime.InferenceSession("lenet.onnx")
    probabilities, label = session.run(None, dlnotes.inputs.prepare(meta, "my_digits/"))

An exported file (``dlnotes export``, ``dlnotes.export``) is the whole model: the normalisation, the
tables' imputation, encoding and scaling, a series' transform and its inverse, the softmax and the
de-standardisation are inside the graph. What cannot be a graph is here: reading files, the
digit-photo preparation, a run's resize, and turning Python values into the graph's dtypes.

    kind       what ``prepare`` returns (the graph's inputs, by name)
    images     {"pixels": uint8 (N, C, S, S)}, (N, 10, C, S, S) for a ten-crop run
    tables     {column: (N,)} one per training column: numbers float64 (NaN: missing), categories and
               booleans as text, object arrays ("" missing; numbers written as text, 3.0 as "3")
    series     {"values": float64 (N, L)}: the last seq_len (+ 1 with diff/pct) raw values of each series
    sequences  {"values": float32 (N, T, F)} (sequence classifiers)
    text       {"ids": int64 (N, seq_len)}: a prompt's last seq_len characters as vocabulary indices

The graph's answers are described by ``contract(meta)``. ``codes(meta, feed)`` turns a table's text
into the integer codes the ``torch_export`` and TorchScript files take instead (they cannot take
strings); ONNX files take the text itself.

``meta`` is a run's meta.json as a dict, or the ``dlnotes`` metadata an exported file carries (it
holds the same ``dataset`` and ``preprocess`` sections).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlnotes.errors import UserError


def _reader(meta: dict[str, Any]):
    """The module that reads this run's inputs: by (kind, task) where the task decides (a forecaster's
    series), else by kind."""
    from dlnotes.inputs import images, sequences, series, tables, text

    readers = {"image": images, "tabular": tables, "text": text, "sequence": sequences,
               ("sequence", "forecasting"): series}
    try:
        kind, task = meta["dataset"]["kind"], meta["dataset"]["task"]
        meta["preprocess"]
    except (KeyError, TypeError):
        raise UserError("meta: give a run's meta.json (a dict with 'dataset' and 'preprocess'), or an exported "
                        "file's 'dlnotes' metadata") from None
    reader = readers.get((kind, task)) or readers.get(kind)
    if reader is None:
        raise UserError(f"meta: unknown input kind '{kind}'; allowed: image, tabular, sequence, text")
    return reader


def read(meta: dict[str, Any], inputs) -> tuple[list[str], dict[str, np.ndarray]]:
    """(one name per input row, the graph's inputs by name) for ``inputs``: see ``prepare``."""
    return _reader(meta).read(meta, inputs)


def prepare(meta: dict[str, Any], inputs) -> dict[str, np.ndarray]:
    """The arrays the exported graph of the run described by ``meta`` takes, by input name.

    ``inputs``, by the run's kind of input:
      images     an image file or a folder of them (read recursively), a PIL image, a numpy array (one image
                 (H, W), (H, W, C) or (C, H, W); a 4-D array is a batch), or a list of those
      tables     a CSV file, a pandas DataFrame, a dict of columns (or of single values: one row), or a
                 list of row dicts
      series     a .csv or .npy file, a list of numbers (one series), or a 2-D array / list of lists
                 (one series per row)
      sequences  a .csv or .npy file, or an array of one or more sequences
      text       a prompt (a string; at least the run's seq_len characters), or a list of prompts
    """
    return read(meta, inputs)[1]


def codes(meta: dict[str, Any], feed: dict[str, np.ndarray], warn: bool = False) -> dict[str, np.ndarray]:
    """A table's feed with each category or boolean column's text replaced by its int64 code (1 + the
    level's index among the training levels, 0 for a level never seen; a missing value takes the
    training fill's code): what ``torch_export`` and TorchScript files take. Other kinds: unchanged.
    ``warn``: one stderr line counting the values not seen in training."""
    if meta.get("dataset", {}).get("kind") != "tabular":
        return feed
    from dlnotes.inputs import tables

    return tables.codes(meta, feed, warn)


def contract(meta: dict[str, Any], steps: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The exported graph's inputs and outputs: ``{"inputs": [{"name", "dtype", "shape"}], "outputs": [...]}``,
    shapes with "N" for the batch. ``steps``: a forecaster's roll-out."""
    reader = _reader(meta)
    return {"inputs": reader.contract(meta), "outputs": outputs(meta, steps)}


def outputs(meta: dict[str, Any], steps: int = 0) -> list[dict[str, Any]]:
    """What the graph answers, by task: class probabilities and the predicted class index; values in the
    data's units; a forecast in the series' units; the next character's probabilities."""
    ds, pre = meta["dataset"], meta["preprocess"]

    def one(name: str, dtype: str, width: int) -> list[dict[str, Any]]:
        return [{"name": name, "dtype": dtype, "shape": ["N", width]}]

    answers = {
        "classification": lambda: one("probabilities", "float32", len(ds.get("classes") or []))
        + [{"name": "label", "dtype": "int64", "shape": ["N"]}],
        "regression": lambda: one("prediction", "float32", len(pre.get("y_mean") or [1])),
        "forecasting": lambda: one("forecast", "float64", steps or int(pre.get("horizon", 1))),
        "language": lambda: one("probabilities", "float32", len(pre.get("vocab") or [])),
    }
    return answers[ds["task"]]()


__all__ = ["prepare", "read", "codes", "contract", "outputs"]
