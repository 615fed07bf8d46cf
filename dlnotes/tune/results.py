"""A sweep's results, from its trials: ``sweep.csv``, ``best.yaml``, ``sweep.png`` and the table on stdout.

    sweep.csv   trial, one column per parameter, the metric (val_<metric>), state, seconds, run
    best.yaml   the complete config of the best COMPLETE trial: ``dlnotes train --config best.yaml``
                trains that trial again, to the same bytes on the same machine
    sweep.png   the metric per trial and against each parameter

They are drawn from the whole study (every command's and machine's trials) each time a command ends,
so the newest files always describe everything the study holds.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

CSV, BEST, PNG = "sweep.csv", "best.yaml", "sweep.png"


def trial_rows(study, space) -> list[dict[str, Any]]:
    """One row per trial that started (queued and surplus ones are left out): number, decoded parameters, the metric
    (a pruned trial's last report), state, seconds, run directory and why it failed."""
    from dlnotes.tune.study import optuna_module

    states = optuna_module().trial.TrialState
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == states.WAITING or "surplus" in t.user_attrs:  # queued, or never run (worker.take)
            continue
        value = t.value if t.state == states.COMPLETE else (
            t.intermediate_values[max(t.intermediate_values)] if t.state == states.PRUNED and t.intermediate_values
            else None)
        note = t.user_attrs.get("failed") or t.user_attrs.get("stopped") or (
            "its worker stopped (killed?)" if t.state == states.FAIL else "")
        rows.append({"trial": t.number, "params": {k: d.decode(t.params.get(k)) for k, d in space.params.items()},
                     "value": value, "state": t.state.name, "seconds": t.user_attrs.get("seconds"),
                     "run": t.user_attrs.get("run", ""), "note": note})
    return rows


def best_row(rows: list[dict[str, Any]], maximize: bool) -> dict[str, Any] | None:
    """The COMPLETE trial with the best metric (the lowest number among equals)."""
    done = [r for r in rows if r["state"] == "COMPLETE" and isinstance(r["value"], float) and math.isfinite(r["value"])]
    if not done:
        return None
    return min(done, key=lambda r: (-r["value"] if maximize else r["value"], r["trial"]))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def csv_text(rows: list[dict[str, Any]], keys: list[str], metric: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["trial", *keys, f"val_{metric}", "state", "seconds", "run", "note"])
    for r in sorted(rows, key=lambda r: r["trial"]):
        w.writerow([r["trial"], *(_cell(r["params"].get(k)) for k in keys), _cell(r["value"]), r["state"],
                    _cell(r["seconds"]), r["run"], r["note"]])
    return buf.getvalue()


def best_yaml(record: dict[str, Any], best: dict[str, Any], study_name: str) -> str:
    """The best trial's complete config, with a header saying where it came from."""
    from dlnotes.config import dump, resolved
    from dlnotes.tune.space import trial_config

    cfg = trial_config(record["config"], best["params"], source=f"trial {best['trial']}")
    head = (f"# the best trial ({best['trial']}) of sweep study '{study_name}': val_{record['metric']} = "
            f"{best['value']:.6g}\n# train it again: dlnotes train --config best.yaml\n")
    return head + dump(resolved(cfg))


def table(rows: list[dict[str, Any]], keys: list[str], metric: str, maximize: bool, limit: int = 20) -> str:
    """The trials best first (then pruned, then failed), as a plain-text table."""
    order = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "FAIL": 3}

    def rank(r):
        v = r["value"] if isinstance(r["value"], float) and math.isfinite(r["value"]) else None
        return (order.get(r["state"], 4), 0 if v is not None else 1, -(v or 0) if maximize else (v or 0), r["trial"])

    shown = sorted(rows, key=rank)[:limit]
    header = ["trial", *keys, f"val_{metric}", "state", "seconds"]
    body = [[str(r["trial"]), *(_cell(r["params"].get(k)) for k in keys), _cell(r["value"]), r["state"],
             _cell(r["seconds"])] for r in shown]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in body]
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more in {CSV}")
    return "\n".join(lines)


def write_results(out: Path, rows: list[dict[str, Any]], space, record: dict[str, Any], study_name: str) -> dict[str, Any]:
    """Writes sweep.csv, best.yaml (when a trial completed) and sweep.png into ``out``; returns the best row."""
    from dlnotes.atomic import atomic_write

    keys = list(space.params)
    maximize = record["direction"] == "maximize"
    atomic_write(out / CSV, csv_text(rows, keys, record["metric"]))
    best = best_row(rows, maximize)
    if best is not None:
        atomic_write(out / BEST, best_yaml(record, best, study_name))
    try:
        from dlnotes.tune.figures import sweep_figure
    except ImportError:  # matplotlib missing: figures are optional
        return best
    atomic_write(out / PNG, sweep_figure(rows, space.params, f"val_{record['metric']}", maximize))
    return best
