"""A sequence classifier's inputs: (N, T, F) float32 values, from a .csv/.npy file or an array.

The graph (``dlnotes.export.arrays``) standardises them, runs the model and answers class probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlnotes.errors import UserError


def contract(meta: dict[str, Any]) -> list[dict[str, Any]]:
    t, f = meta["dataset"]["input_shape"][0], meta["dataset"]["input_shape"][-1]
    return [{"name": "values", "dtype": "float32", "shape": ["N", t, f]}]


def read(meta: dict[str, Any], inputs) -> tuple[list[str], dict[str, np.ndarray]]:
    from dlnotes.data.checks import check_float32
    from dlnotes.data.sequence_files import load_array, sequence_batch
    from dlnotes.inputs.series import numbers

    shape = meta["dataset"]["input_shape"]
    if isinstance(inputs, (str, Path)):
        path = Path(inputs)
        arr = sequence_batch(load_array(path), shape, f"--input '{path}'")
        return [f"{path.name}:{i}" for i in range(len(arr))], {"values": arr}
    arr = numbers(inputs, "--input")
    if np.isnan(arr).any():
        raise UserError("--input: a sequence holds a missing value (NaN); the model reads complete sequences")
    arr = sequence_batch(check_float32(arr, "--input"), shape, "--input")
    return [str(i) for i in range(len(arr))], {"values": arr}
