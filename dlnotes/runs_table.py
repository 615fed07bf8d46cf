"""``dlnotes runs``: one row per run directory under a folder, read from meta.json and metrics.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

from dlnotes.errors import UserError

METRICS = ("accuracy", "f1", "r2", "mse", "mae", "perplexity")


def collect_runs(directory: Path, sort: str | None = None) -> list[dict]:
    if not directory.is_dir():
        raise UserError(f"runs: folder '{directory}' not found")
    rows = []
    for meta_path in sorted(directory.glob("*/meta.json")):
        row = _row(meta_path)
        if row is not None:  # None: a run being written or damaged, left out of the table
            rows.append(row)
    if sort:
        if not any(sort in r for r in rows) and rows:
            raise UserError(f"--sort '{sort}': no run has that metric; allowed: {', '.join(METRICS)}")
        lower_better = sort in ("mse", "mae", "perplexity", "seconds")
        rows.sort(key=lambda r: (r.get(sort) is None, r.get(sort) if lower_better else -(r.get(sort) or 0)))
    return rows


def _read(path: Path) -> dict:
    """A JSON object from ``path``, or ``{}`` when it is missing, unreadable, not JSON or not an object."""
    try:
        if not path.is_file() or path.stat().st_size > 1 << 20:
            return {}
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _row(meta_path: Path) -> dict | None:
    meta = _read(meta_path)
    if not meta:
        return None
    metrics = _read(meta_path.parent / "metrics.json")
    pick = lambda d, k: d.get(k) if isinstance(d, dict) else None  # noqa: E731
    plain = lambda v: v if (isinstance(v, str) or isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
                            and math.isfinite(v)) else None
    return {"run": meta_path.parent.name, "model": plain(pick(meta.get("model"), "name")),
            "data": plain(pick(meta.get("dataset"), "name")), "epochs": plain(meta.get("epochs_completed")),
            "seconds": plain(metrics.get("train_seconds")),
            **{k: metrics[k] for k in METRICS if isinstance(plain(metrics.get(k)), (int, float))}}


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "no runs found"
    cols = ["run", "model", "data", "epochs", "seconds"] + [m for m in METRICS if any(m in r for r in rows)]
    cell = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(cell(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)
