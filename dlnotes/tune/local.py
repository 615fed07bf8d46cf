"""The built-in sweep, for grid and random search without Optuna: the planned trials one after another
in this process, trial ``i`` in ``OUT/trials/<i>/``.

Its state is the trials' run directories themselves: running the command again skips a trial whose run
is complete (its metric read back from history.csv), resumes one that has a checkpoint, and starts the
others, so a stopped sweep continues where it was. (Several processes or machines need a shared study:
that is Optuna's job, ``dlnotes.tune.study``.)
"""

from __future__ import annotations

import sys
from typing import Any

from dlnotes.errors import Interrupted, RunFailure, UserError


class PlannedTrial:
    """Stands in for an Optuna trial: a number, and reports that nothing listens to (no pruning here)."""

    def __init__(self, number: int):
        self.number = number

    def report(self, value: float, step: int) -> None:
        pass

    def should_prune(self) -> bool:
        return False


def run_local(sw) -> tuple[list[dict[str, Any]], int]:
    """Runs (or reads back) every planned trial; (the rows of the results, exit code: 0 or 130/143)."""
    from dlnotes.tune.worker import say

    plan = sw.space.plan(sw.record["trials"], sw.record["config"]["seed"])
    rows: list[dict[str, Any]] = []
    for i, params in enumerate(plan):
        row = {"trial": i, "params": params, "value": None, "state": "FAIL", "seconds": None,
               "run": str(sw.out / "trials" / str(i)), "note": ""}
        rows.append(row)
        try:
            row["value"], row["seconds"] = _trial(sw, i, params)
            row["state"] = "COMPLETE"
            say("", i, "COMPLETE", params, f"val_{sw.record['metric']}={row['value']:.4f}")
        except (RunFailure, UserError) as e:
            row["note"] = " ".join(str(e).split())[:300]
            say("", i, "FAIL", params, row["note"])
        except (Interrupted, KeyboardInterrupt) as e:
            row["note"] = "interrupted"
            print("sweep stopped; run the same command again to continue it", file=sys.stderr)
            return rows, getattr(e, "exit_code", 130)
    return rows, 0


def _trial(sw, i: int, params: dict[str, Any]) -> tuple[float, float]:
    """Trial ``i``'s metric and seconds: read from its finished run, or trained (resumed when it can be)."""
    from dlnotes.engine.rundir import RunDir
    from dlnotes.tune.worker import last_value, run_trial

    rd = RunDir(sw.out / "trials" / str(i))
    if rd.path.is_dir() and rd.read_metrics():  # finished by an earlier command
        return last_value(rd.path, f"val_{sw.record['metric']}"), float(rd.read_metrics().get("train_seconds") or 0.0)
    resume = rd.path if rd.path.is_dir() and rd.status() == "trained" else None
    value, _, seconds = run_trial(PlannedTrial(i), sw.space, sw.record, params, rd.path, resume=resume)
    return value, seconds
