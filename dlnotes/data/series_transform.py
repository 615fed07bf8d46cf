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

from dlnotes.errors import UserError

if TYPE_CHECKING:  # the numpy half (fill_gaps, transform) imports without torch, for dlnotes.inputs
    import torch

TRANSFORMS = ("none", "diff", "log", "pct")
MISSING = ("interpolate", "error")


def lost(how: str) -> int:
    """Values a transform consumes at the start of the series (diff and pct need a previous value)."""
    return 1 if how in ("diff", "pct") else 0


def fill_gaps(v: np.ndarray, how: str, where: str) -> tuple[np.ndarray, int]:
    """Missing values (NaN) interpolated linearly in time (the ends repeat the nearest value), or refused.

    Returns the filled series and the number of values that were missing."""
    bad = ~np.isfinite(v)
    n = int(bad.sum())
    if n == 0:
        return v, 0
    if how == "error":
        first = int(np.flatnonzero(bad)[0])
        raise UserError(f"{where}: value {first + 1} of the series is missing ({n} missing in all); "
                        f"set data.missing: interpolate to fill gaps linearly in time")
    if n == len(v):
        raise UserError(f"{where}: every value of the series is missing")
    t = np.arange(len(v))
    out = v.copy()
    out[bad] = np.interp(t[bad], t[~bad], v[~bad])
    return out, n


def transform(v: np.ndarray, how: str, where: str) -> np.ndarray:
    """``s`` from ``v`` (float64), as in the table of the module docstring."""
    v = np.asarray(v, dtype=np.float64)
    if how == "none":
        return v
    if how == "log":
        if (v <= 0).any():
            raise UserError(f"{where}: transform 'log' needs values > 0, but the series holds {v.min():g}; "
                            f"use diff or none")
        return np.log(v)
    if how == "diff":
        return np.diff(v)
    if how == "pct":
        if (v[:-1] == 0).any():
            raise UserError(f"{where}: transform 'pct' divides by the previous value, and the series holds 0; "
                            f"use diff or none")
        return v[1:] / v[:-1] - 1.0
    raise UserError(f"data.transform: '{how}' is not one of {', '.join(TRANSFORMS)}")


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
        return raw.double()
    return split.x[..., 0].double() * _stat(pre, "x_std", 1.0) + _stat(pre, "x_mean", 0.0)


def seasonal_naive(raw: torch.Tensor, horizon: int, period: int) -> torch.Tensor:
    """``v_{t+k} = v_{t+k-m*ceil(k/m)}`` from each window's raw values (N, T), m = period <= T."""
    t = raw.shape[1]
    idx = [t - 1 + k - period * ((k - 1) // period + 1) for k in range(1, horizon + 1)]
    return raw[:, idx]
