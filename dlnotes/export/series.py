"""The whole forecaster: a series' last raw values in, the next ``steps`` values out, both in the user's units.

    v (N, L) float64                      the last seq_len values (one more with diff or pct)
    s = T(v)                              none: v; log: log v; diff: v_t - v_{t-1}; pct: v_t / v_{t-1} - 1
    x = (s - x_mean) / x_std              the model's input (N, seq_len, 1), float32
    s' = y * y_std + y_mean (+ s_t)       the model's horizon outputs, back in the transformed units
                                          (+ the window's last value when the run is ``relative``)
    repeated until ``steps`` values exist, each output fed back as input (the roll-out)
    v' = T^-1(s'; v_t)                    log: exp s'; diff: v_t + cumsum s'; pct: v_t cumprod (1 + s')

the same arithmetic as ``dlnotes.data.series_transform`` and ``dlnotes.engine.forecast``, in one module so
that the exported graph holds it. The cumulative sum and product run over the static ``steps``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dlnotes.export.answers import WholeModel


def _stat(pre: dict[str, Any], key: str, default: float) -> float:
    v = pre.get(key, [default])
    return float(v[0] if isinstance(v, (list, tuple)) else v)


class SeriesModel(WholeModel):
    def __init__(self, network: nn.Module, pre: dict[str, Any], seq_len: int, steps: int = 0):
        super().__init__()
        self.network, self.seq_len = network, int(seq_len)
        self.how, self.relative = pre.get("transform", "none"), bool(pre.get("relative"))
        self.steps = int(steps or pre.get("horizon", 1))
        # float64 buffers: an exported graph would keep Python numbers as float32 constants
        self.register_buffer("x_mean", torch.tensor(_stat(pre, "x_mean", 0.0), dtype=torch.float64))
        self.register_buffer("x_std", torch.tensor(_stat(pre, "x_std", 1.0), dtype=torch.float64))
        self.register_buffer("y_mean", torch.tensor(_stat(pre, "y_mean", 0.0), dtype=torch.float64))
        self.register_buffer("y_std", torch.tensor(_stat(pre, "y_std", 1.0), dtype=torch.float64))

    def transformed(self, v: torch.Tensor) -> torch.Tensor:
        if self.how == "log":
            return torch.log(v)
        if self.how == "diff":
            return v[:, 1:] - v[:, :-1]
        if self.how == "pct":
            return v[:, 1:] / v[:, :-1] - 1.0
        return v

    def untransformed(self, s: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        if self.how == "log":
            return torch.exp(s)
        if self.how not in ("diff", "pct"):
            return s
        diff = self.how == "diff"
        acc = s[:, :1] if diff else 1.0 + s[:, :1]  # cumsum / cumprod written out over the static steps
        out = [acc]
        for k in range(1, s.shape[1]):
            acc = acc + s[:, k:k + 1] if diff else acc * (1.0 + s[:, k:k + 1])
            out.append(acc)
        run = torch.cat(out, dim=1)
        return anchor + run if diff else anchor * run

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        v = values.to(torch.float64)
        window = ((self.transformed(v) - self.x_mean) / self.x_std).unsqueeze(-1)  # (N, T, 1) float64
        outs, have = [], 0
        while have < self.steps:  # static: unrolled when exported
            x = window.to(torch.float32)
            y = self.network(x).to(torch.float64).reshape(x.shape[0], -1) * self.y_std + self.y_mean
            if self.relative:
                y = y + (x[:, -1, 0].to(torch.float64) * self.x_std + self.x_mean).reshape(-1, 1)
            outs.append(y)
            have += y.shape[1]
            window = torch.cat([window, ((y - self.x_mean) / self.x_std).unsqueeze(-1)], dim=1)[:, -self.seq_len:]
        return self.untransformed(torch.cat(outs, dim=1)[:, :self.steps], v[:, -1:])
