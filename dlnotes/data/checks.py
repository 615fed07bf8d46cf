"""Checks on data values in the dtype they are used in, and on the files they come from.

A value that is finite as float64 (1e39) overflows to inf as float32, the dtype every model and
loss here computes in, and turns a run's losses and a prediction's probabilities into NaN. So
arrays are checked *after* the conversion, and the error names the file and the first bad place.
A path is opened only when it is a regular file: a FIFO named ``x.png`` or ``x.npy`` would block
``open`` forever.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from dlnotes.errors import UserError, path_note

FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32(arr: np.ndarray, where: str) -> np.ndarray:
    """``arr`` as float32, refused when a value is missing or out of float32's range (about 3.4e38)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(arr).astype(np.float32, copy=False)
    bad = ~np.isfinite(out)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raw = np.asarray(arr)[index] if np.asarray(arr).ndim else np.asarray(arr)
        at = f" at index {index if len(index) != 1 else index[0]}" if index else ""
        raise UserError(f"{where}: value {float(raw):g}{at} is missing, infinite or beyond float32's range "
                        f"(|x| <= {FLOAT32_MAX:.3g})")
    return out


def regular_file(path: str | Path, where: str) -> Path:
    """``path`` if it is an existing regular file; exit 2 naming it otherwise (missing, a folder, a FIFO)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UserError(f"{where} '{path}' not found{path_note(path)}") from None
    except OSError as e:
        raise UserError(f"{where} '{path}' cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{where} '{path}' is a folder; give a file")
    if not stat.S_ISREG(mode):
        raise UserError(f"{where} '{path}' is not a regular file (a pipe, device or socket)")
    return path
