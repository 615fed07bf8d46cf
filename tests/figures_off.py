"""``figures_off()``: runs trained inside it skip drawing their figures (``Run.plot``).

Drawing a run's three figures is ~0.8 s of CPU, most of a tiny test run's time and about a third of the
default suite's. Suites whose subject is something else (config checks, tables, the quick start's choice,
serving, exporting, explaining, the runs table, schedules, sweeps) train with it; the figures themselves are
checked where they are the subject: tests/test_figures.py (every figure with awkward inputs),
tests/test_plots_runs.py (runs of each task write theirs), tests/test_rundir.py (each figure write is a kill
point) and every run started as a process of its own. Imported by its own name (pytest puts tests/ on
sys.path), never as ``tests.<module>``, which an installed package shipping ``tests`` would shadow."""

from __future__ import annotations

from contextlib import contextmanager

import pytest


@contextmanager
def figures_off():
    from dlnotes.trained import Run

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Run, "plot", lambda self: [])
        yield
