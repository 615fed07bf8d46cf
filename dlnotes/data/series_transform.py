"""A series' gaps, its target transform and the one inverse that puts every forecast back in its units.

A user's series ``v`` (after filling its gaps) is transformed before it is cut into windows:

    none   s_t = v_t
    log    s_t = log v_t                       (v > 0)
    diff   s_t = v_t - v_{t-1}                 (one value fewer)
    pct    s_t = v_t / v_{t-1} - 1             (v != 0; one value fewer)

A window reads ``s`` over ``seq_len`` steps and the model predicts the next ``horizon`` values of ``s``
(standardised with the training part's statistics). With ``relative`` it predicts them minus the
window's last value, ``s_{t+k} - s_t``. ``in_user_units`` undoes all of it, given the window and the
last observed level ``v_t`` (the *anchor*):

    none  v_{t+k} = s_{t+k};  log  exp(s_{t+k});  diff  v_t + sum_{j<=k} s_{t+j};  pct  v_t prod_{j<=k} (1 + s_{t+j})

Metrics, prediction rows, figures and roll-outs all go through ``in_user_units`` (or its two halves,
``series_values`` and ``untransform``), so a forecast is always reported in the user's units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dlnotes.data.checks import FLOAT32_MAX
from dlnotes.errors import UserError

if TYPE_CHECKING:  # the numpy half (fill_gaps, transform) imports without torch, for dlnotes.inputs
    import torch

TRANSFORMS = ("none", "diff", "log", "pct")
MISSING = ("interpolate", "error")


def lost(how: str) -> int:
    """Values a transform consumes at the start of the series (diff and pct need a previous value)."""
    return 1 if how in ("diff", "pct") else 0


def _at(i: int, lines) -> str:
    """Where value ``i`` of a series came from: its file line when known, else its position."""
    value = f"value {i + 1} of the series"
    return f"line {int(lines[i])} ({value})" if lines is not None else value


def fill_gaps(v: np.ndarray, how: str, where: str, lines=None) -> tuple[np.ndarray, int]:
    """Missing values (NaN) interpolated linearly in time (the ends repeat the nearest value), or refused
    naming the first one's line (``lines``: each value's line in the file, when read from one).

    Returns the filled series and the number of values that were missing."""
    bad = ~np.isfinite(v)
    n = int(bad.sum())
    if n == 0:
        return v, 0
    if how == "error":
        first = int(np.flatnonzero(bad)[0])
        raise UserError(f"{where}: {_at(first, lines)} is missing ({n} missing in all); "
                        f"set data.missing: interpolate to fill gaps linearly in time")
    if n == len(v):
        raise UserError(f"{where}: every value of the series is missing")
    t = np.arange(len(v))
    out = v.copy()
    out[bad] = np.interp(t[bad], t[~bad], v[~bad])
    return out, n


def transform(v: np.ndarray, how: str, where: str, lines=None) -> np.ndarray:
    """``s`` from ``v`` (float64), as in the table of the module docstring; a result beyond float32's range
    (pct after a value like 1e-310, diff across +-3e38) is refused naming the line (``lines``) it comes from."""
    v = np.asarray(v, dtype=np.float64)
    if how == "log":
        if (v <= 0).any():
            raise UserError(f"{where}: transform 'log' needs values > 0, but the series holds {v.min():g}; "
                            f"use diff or none")
        return np.log(v)
    if how == "pct" and (v[:-1] == 0).any():
        raise UserError(f"{where}: transform 'pct' divides by the previous value, and the series holds 0; "
                        f"use diff or none")
    if how not in TRANSFORMS:
        raise UserError(f"data.transform: '{how}' is not one of {', '.join(TRANSFORMS)}")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        s = {"none": lambda: v, "diff": lambda: np.diff(v), "pct": lambda: v[1:] / v[:-1] - 1.0}[how]()
    beyond = np.flatnonzero(~(np.abs(s) <= FLOAT32_MAX))
    if len(beyond) and how != "none":
        i = int(beyond[0]) + lost(how)
        raise UserError(f"{where}: transform '{how}' gives {s[i - lost(how)]:g} at {_at(i, lines)}: {v[i]:g} after "
                        f"{v[i - 1]:g}, beyond float32's range (|x| <= {FLOAT32_MAX:.3g}); use "
                        f"{'diff or none' if how == 'pct' else 'none'}")
    return s


def untransform(s: torch.Tensor, anchor: torch.Tensor | None, how: str) -> torch.Tensor:
    """``v_{t+1..t+K}`` from ``s_{t+1..t+K}`` (N, K) and the last observed level ``v_t`` (N,)."""
    import torch

    if how in ("none", None):
        return s
    if how == "log":
        return torch.exp(s)
    if anchor is None:
        raise ValueError(f"transform '{how}' needs the last observed value to invert")
    a = anchor.to(s.dtype).reshape(-1, 1)
    if how == "diff":
        return a + torch.cumsum(s, dim=1)
    if how == "pct":
        return a * torch.cumprod(1.0 + s, dim=1)
    raise ValueError(f"unknown transform '{how}'")


def _stat(pre: dict[str, Any], key: str, default: float) -> float:
    v = pre.get(key, [default])
    return float(v[0] if isinstance(v, (list, tuple)) else v)


def last_input(x: torch.Tensor, pre: dict[str, Any]) -> torch.Tensor:
    """The window's last value ``s_t`` in the transformed units (undoing the input standardisation)."""
    return x[:, -1, 0].double() * _stat(pre, "x_std", 1.0) + _stat(pre, "x_mean", 0.0)


def series_values(out: torch.Tensor, x: torch.Tensor, pre: dict[str, Any]) -> torch.Tensor:
    """Model outputs (N, K, standardised, maybe relative) -> ``s_{t+1..t+K}`` in the transformed units."""
    s = out.double().reshape(len(out), -1) * _stat(pre, "y_std", 1.0) + _stat(pre, "y_mean", 0.0)
    if pre.get("relative"):
        s = s + last_input(x, pre).to(s.device).reshape(-1, 1)
    return s


def to_input(s: torch.Tensor, pre: dict[str, Any]) -> torch.Tensor:
    """Transformed values (N, K) as standardised model inputs (N, K, 1): what a roll-out feeds back."""
    return ((s - _stat(pre, "x_mean", 0.0)) / _stat(pre, "x_std", 1.0)).unsqueeze(-1)


def in_user_units(out: torch.Tensor, x: torch.Tensor, anchor: torch.Tensor | None,
                  pre: dict[str, Any]) -> torch.Tensor:
    """Outputs or targets (N, K) of windows ``x`` back in the user's units (float64), exactly inverted."""
    return untransform(series_values(out, x, pre), anchor, pre.get("transform", "none"))


def anchors(split, pre: dict[str, Any]) -> torch.Tensor:
    """The last observed level ``v_t`` of each window of a split (its raw windows, or x when untransformed)."""
    raw = getattr(split, "raw", None)
    if raw is not None:
        return raw[:, -1].double()
    if pre.get("transform", "none") != "none":
        raise ValueError("a transformed series needs its raw windows to invert")
    return last_input(split.x, pre)


def raw_windows(split, pre: dict[str, Any]) -> torch.Tensor:
    """Each window's input in the user's units (N, T)."""
    raw = getattr(split, "raw", None)
    if raw is not None:
        return raw[:, -split.x.shape[1]:].double()  # the raw history may reach further back (a season)
    return split.x[..., 0].double() * _stat(pre, "x_std", 1.0) + _stat(pre, "x_mean", 0.0)


def history(split, pre: dict[str, Any]) -> torch.Tensor:
    """Each window's past in the user's units (N, B), B >= T: the window, or a season when that is longer
    (NaN before the series' start)."""
    raw = getattr(split, "raw", None)
    return raw.double() if raw is not None else raw_windows(split, pre)


def seasonal_naive(past: torch.Tensor, horizon: int, period: int) -> torch.Tensor:
    """``v_{t+k} = v_{t+k-m*ceil(k/m)}`` from each window's past values (N, B), m = period <= B, t the window's
    last time step (the last column); NaN where that value lies before the series' start."""
    b = past.shape[1]
    idx = [b - 1 + k - period * ((k - 1) // period + 1) for k in range(1, horizon + 1)]
    return past[:, idx]
