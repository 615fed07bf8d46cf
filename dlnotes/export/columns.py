"""One table column's fitted preprocessing as a torch module: its raw values in, its model inputs out.

    number    v float64, NaN missing -> (where(isnan v, fill, v) - mean) / std [, isnan v]
    date      seconds since 1970 float64, NaN missing -> filled -> year, month, day, weekday [, hour + minute/60]
              standardised, then sin and cos of each part's cycle [, isnan] (``dlnotes.data.dates``)
    boolean   code int64 -> code == the true level's code
    category  code int64 -> one-hot over the training levels (code 0, a level never seen: all zeros)
    embedded  code int64 -> the code itself, for the network's embedding table (0: the unknown slot)

the arithmetic of ``dlnotes.data.tabular`` (numbers in float64, then float32), on the statistics it recorded
in meta.json. Every statistic is a float64 buffer: an exported graph keeps a Python number as a float32
constant, which moves a median of 1.2e9 seconds by a minute. ``calendar`` is the civil date of a day number
(H. Hinnant, "chrono-compatible low-level date algorithms") in floor arithmetic a graph holds.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

CYCLES = {"month": 12, "day": 31, "weekday": 7, "hour": 24}  # as dlnotes.data.dates


def _floor_div(a: torch.Tensor, b: float) -> torch.Tensor:
    """floor(a / b) for whole numbers a and b > 1, as floor((a + 1/2) / b): never within rounding of a whole
    number, so exact however the division is computed (an exporter may turn it into a * (1 / b))."""
    return torch.floor((a + 0.5) / b)


def calendar(seconds: torch.Tensor, hour: bool) -> dict[str, torch.Tensor]:
    """Year, month, day, weekday (0 = Monday) [, hour + minute / 60] of times in seconds since 1970-01-01
    (float64), as pandas gives them."""
    seconds = torch.floor(seconds)  # the parts depend on the whole seconds only
    days = _floor_div(seconds, 86400.0)
    z = days + 719468.0
    era = _floor_div(z, 146097.0)
    doe = z - era * 146097.0
    yoe = _floor_div(doe - _floor_div(doe, 1460.0) + _floor_div(doe, 36524.0) - _floor_div(doe, 146096.0), 365.0)
    doy = doe - (365.0 * yoe + _floor_div(yoe, 4.0) - _floor_div(yoe, 100.0))
    mp = _floor_div(5.0 * doy + 2.0, 153.0)
    month = torch.where(mp < 10, mp + 3.0, mp - 9.0)
    out = {"year": yoe + era * 400.0 + (month <= 2).to(torch.float64), "month": month,
           "day": doy - _floor_div(153.0 * mp + 2.0, 5.0) + 1.0,
           "weekday": (days + 3.0) - _floor_div(days + 3.0, 7.0) * 7.0}  # 1970-01-01 was a Thursday (3)
    if hour:
        in_day = seconds - days * 86400.0
        hours = _floor_div(in_day, 3600.0)
        out["hour"] = hours + _floor_div(in_day - hours * 3600.0, 60.0) / 60.0
    return out


class Number(nn.Module):
    group = "number"

    def __init__(self, s: dict[str, Any]):
        super().__init__()
        self.indicator = bool(s["indicator"])
        self.register_buffer("stats", torch.tensor([s["fill"], s["mean"], s["std"]], dtype=torch.float64))

    def forward(self, v: torch.Tensor) -> list[torch.Tensor]:
        v = v.to(torch.float64)
        gone = torch.isnan(v)
        out = [(torch.where(gone, self.stats[0], v) - self.stats[1]) / self.stats[2]]
        return out + ([gone.to(torch.float64)] if self.indicator else [])


class Date(nn.Module):
    group = "date"

    def __init__(self, s: dict[str, Any]):
        super().__init__()
        self.hour, self.indicator = bool(s["hour"]), bool(s["indicator"])
        self.keys = ["year", "month", "day", "weekday"] + (["hour"] if self.hour else [])
        self.cycles = [k for k in CYCLES if k in self.keys]
        values = [s["fill"]] + [s["mean"][k] for k in self.keys] + [s["std"][k] for k in self.keys]
        self.register_buffer("stats", torch.tensor(values, dtype=torch.float64))
        self.register_buffer("turns", torch.tensor([2 * math.pi / CYCLES[k] for k in self.cycles], dtype=torch.float64))

    def forward(self, seconds: torch.Tensor) -> list[torch.Tensor]:
        seconds = seconds.to(torch.float64)
        gone, n = torch.isnan(seconds), len(self.keys)
        parts = calendar(torch.where(gone, self.stats[0], seconds), self.hour)
        out = [(parts[k] - self.stats[1 + j]) / self.stats[1 + n + j] for j, k in enumerate(self.keys)]
        for j, k in enumerate(self.cycles):
            angle = self.turns[j] * (parts[k] - (1.0 if k in ("month", "day") else 0.0))
            out += [torch.sin(angle), torch.cos(angle)]
        return out + ([gone.to(torch.float64)] if self.indicator else [])


class Boolean(nn.Module):
    group = "boolean"

    def __init__(self, s: dict[str, Any]):
        super().__init__()
        self.true = s["levels"].index(s["true"]) + 1

    def forward(self, codes: torch.Tensor) -> list[torch.Tensor]:
        return [(codes == self.true).to(torch.float64)]


class Category(nn.Module):
    group = "category"

    def __init__(self, s: dict[str, Any]):
        super().__init__()
        self.register_buffer("levels", torch.arange(1, len(s["levels"]) + 1, dtype=torch.int64))

    def forward(self, codes: torch.Tensor) -> list[torch.Tensor]:
        return [(codes.to(torch.int64).unsqueeze(1) == self.levels).to(torch.float64)]


class Embedded(nn.Module):
    group = "embed"

    def forward(self, codes: torch.Tensor) -> list[torch.Tensor]:
        return [codes.to(torch.float64)]


def column(column_type: str, s: dict[str, Any]) -> nn.Module:
    """The module of a column of ``column_type`` (number, date, boolean, category) with statistics ``s``."""
    if s.get("embed"):  # a category embedded by the network
        return Embedded()
    return {"number": Number, "date": Date, "boolean": Boolean, "category": Category}[column_type](s)
