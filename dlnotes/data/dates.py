"""Date and date-time columns: recognised by their form, read into calendar parts a model can use.

A column is a date when every value (of a sample, then of the column) is written in one of the
forms below: ISO 8601 (``2013-01-31``, ``2013-01-31T10:00:00Z``, ``2013-01-31 10:00``) or a common
day/month/year form (``31/01/2013``, ``01/31/2013``, ``31.01.2013``, ``31 Jan 2013``, ``Jan 31,
2013``), with an optional time, or a month (``2013-01``, ``Jan 2013``). A time-zone offset is dropped: the wall-clock time as written is
what says "morning" or "weekend". When both day-first and month-first fit every value, the order
of ``FORMATS`` decides (month first for ``/``, as US tables write it) and the typing note says so.

A date becomes, for the model:

    year, month, day, weekday (0 = Monday) [, hour + minute/60]     standardised like numbers
    sin and cos of 2 pi (month - 1)/12, (day - 1)/31, weekday/7 [, hour/24]   cyclical: December
                                                                    sits next to January

all fitted on the training rows and recorded as plain data (the format, the fill, the means and
standard deviations), so ``predict`` and an export apply the same arithmetic. Missing dates take the
training rows' median and an indicator column, like numbers.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np

from dlnotes.data.cells import factorize, key, line_of, q, text_of
from dlnotes.errors import UserError

DAYS = ["%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%m-%d-%Y", "%d-%m-%Y", "%d %b %Y", "%d-%b-%Y",
        "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%m/%d/%y", "%d/%m/%y", "%d.%m.%y", "%d-%b-%y"]
TIMES = ["", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %H:%M:%S.%f"]
MONTHS = ["%Y-%m", "%Y/%m", "%m/%Y", "%b %Y", "%B %Y"]  # monthly tables: the first of the month
FORMATS = ["ISO8601"] + [d + t for d in DAYS for t in TIMES] + MONTHS
OFFSET = re.compile(r"(?<=\d)\s*(Z|UTC|[+-]\d{2}:?\d{2})$")
DATEISH = re.compile(r"\d.*[-/.\s].*\d|[A-Za-z]{3}.*\d{4}")
SAMPLE = 200
CYCLES = {"month": 12, "day": 31, "weekday": 7, "hour": 24}


def _clean(text: str | None) -> str | None:
    return None if text is None else OFFSET.sub("", text) if ":" in text else text


def _fits(text: str, fmt: str) -> bool:
    try:
        if fmt == "ISO8601":
            datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        else:
            datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


def find_format(col, share: float = 0.9) -> str | None:
    """The first of ``FORMATS`` that reads the most of a sample of the column's distinct values, when that
    is at least ``share`` of them (a few odd cells are then named by ``as_dates``, not a reason to call
    the column text)."""
    _, uniques = factorize(col)
    texts = [t for t in (_clean(text_of(v)) for v in uniques[: SAMPLE * 5]) if t is not None][:SAMPLE]
    if not texts or sum(bool(DATEISH.search(t)) for t in texts[:20]) < share * min(len(texts), 20):
        return None
    best, most = None, 0
    for fmt in FORMATS:
        if not any(_fits(t, fmt) for t in texts[:5]):
            continue
        n = sum(_fits(t, fmt) for t in texts)
        if n > most:
            best, most = fmt, n
    return best if most >= share * len(texts) else None


def parse_dates(col, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(seconds since 1970 as float64, NaN where missing; where a cell is not a date in ``fmt``)."""
    import pandas as pd

    codes, uniques = factorize(col)
    texts = [_clean(text_of(v)) for v in uniques]
    stamps = pd.to_datetime(pd.Series([t if t is not None else None for t in texts], dtype=object),
                            format=fmt, errors="coerce")
    seconds = (stamps - pd.Timestamp(0)).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.array([t is not None and np.isnan(s) for t, s in zip(texts, seconds)] + [False])
    return np.append(seconds, np.nan)[codes], bad[codes]


def as_dates(col, name: str, where: str, fmt: str) -> np.ndarray:
    """A date column as seconds since 1970 (NaN where missing); a cell in another form is refused."""
    seconds, bad = parse_dates(col, fmt)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{where} line {line_of(col, i)}, column {q(name)}: {q(text_of(col.iloc[i]))} is not a "
                        f"date in the column's form ({fmt}); fix the cell, or set data.columns.{key(name)}: category")
    return seconds


def parts(seconds: np.ndarray, hour: bool) -> dict[str, np.ndarray]:
    """Calendar parts of (filled) timestamps: year, month, day, weekday [, hour + minute/60]."""
    import pandas as pd

    t = pd.to_datetime(seconds, unit="s")
    out = {"year": t.year, "month": t.month, "day": t.day, "weekday": t.day_of_week}
    if hour:
        out["hour"] = t.hour + t.minute / 60
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def fit_date(col, name: str, where: str, standardize: bool) -> dict:
    """The format, fill (median), indicator, hour flag and each part's mean and std, from training rows."""
    fmt = find_format(col)
    if fmt is None:
        first = next((t for t in (text_of(v) for v in col) if t is not None), None)
        raise UserError(f"data.columns.{key(name)}: date, but {q(first)} is not in a date form dlnotes reads (e.g. "
                        f"2013-01-31, 2013-01-31T10:00:00, 31/01/2013, 01/31/2013, 31.01.2013, 31 Jan 2013)")
    seconds = as_dates(col, name, where, fmt)
    ok = seconds[~np.isnan(seconds)]
    if len(ok) == 0:
        raise UserError(f"{where}: column {q(name)} has no values in the training rows")
    fill = float(np.median(ok))
    hour = bool(np.any(ok % 86400 != 0))
    p = parts(np.where(np.isnan(seconds), fill, seconds), hour)
    mean = {k: float(v.mean()) if standardize else 0.0 for k, v in p.items()}
    std = {k: (float(v.std()) if standardize and v.std() > 1e-12 else 1.0) for k, v in p.items()}
    return {"format": fmt, "fill": fill, "indicator": bool(np.isnan(seconds).any()), "hour": hour,
            "mean": mean, "std": std}


def encode_date(col, s: dict, name: str, where: str) -> list[np.ndarray]:
    """The date's model inputs, in ``date_names`` order."""
    seconds = as_dates(col, name, where, s["format"])
    gone = np.isnan(seconds)
    p = parts(np.where(gone, s["fill"], seconds), s["hour"])
    out = [(v - s["mean"][k]) / s["std"][k] for k, v in p.items()]
    out += [f(2 * np.pi * (p[k] - (1 if k in ("month", "day") else 0)) / n)
            for k, n in CYCLES.items() if k in p for f in (np.sin, np.cos)]
    return out + ([gone.astype(np.float64)] if s["indicator"] else [])


def date_names(c: str, s: dict) -> list[str]:
    keys = ["year", "month", "day", "weekday"] + (["hour"] if s["hour"] else [])
    cyc = [f"{c} ({k} {f})" for k in CYCLES if k in keys for f in ("sin", "cos")]
    return [f"{c} ({k})" for k in keys] + cyc + ([f"{c} (missing)"] if s["indicator"] else [])
