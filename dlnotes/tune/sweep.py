"""``dlnotes sweep``: many trainings of one config over a search space, as one study.

    prepare   the base config, the space (every bound through the config's own validation), the number
              of trials, the metric and its direction (a dry collect + build + validation pass), the
              output folder and the storage: all checked before any trial runs (exit 2)
    study     create the study (queueing a grid's or random sweep's planned trials) or join it
    work      K worker processes (``dlnotes.tune.worker``) take trials until none is left; one worker
              runs in this process
    results   sweep.csv, best.yaml, sweep.png and a table, from every trial of the study

OUT holds ``.dlnotes-sweep`` (which study it belongs to), the default storage ``sweep.journal``, the trials'
run directories ``trials/<number>/`` and the results. Running the same command again continues the sweep;
on another machine, the same ``--storage`` and ``--study`` join it. Without Optuna installed, grid and
random sweeps run here, one trial after another (``trials/<plan index>/``), and continue the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlnotes.errors import UserError
from dlnotes.tune import results
from dlnotes.tune.space import DEFAULT_TRIALS, Space, objective, read_space

MARKER = ".dlnotes-sweep"


@dataclass
class Sweep:
    space: Space
    record: dict[str, Any]  # what the study records: config, space, trials, metric, direction
    out: Path
    storage: str | None  # None: no Optuna, the built-in sequential sweep
    study: str
    workers: int
    trials_given: bool = True  # False: a joining command takes the study's number of trials


def prepare(config: Path, space_path: Path, overrides: list[str], trials: int | None, workers: int,
            storage: str | None, study: str | None, out: Path | None) -> Sweep:
    """Everything checked and decided before any trial runs; makes OUT last."""
    from dlnotes.config import load_config, resolved
    from dlnotes.tune.study import optuna_available
    from dlnotes.tune.study import storage as open_storage

    cfg = load_config(config, overrides)
    base = resolved(cfg)
    optuna = optuna_available()
    if not optuna and (workers > 1 or storage):
        raise UserError(f"{'--workers' if workers > 1 else '--storage'} needs Optuna, which shares the study "
                        "between processes: pip install 'dlnotes[sweep]'")
    space = read_space(space_path, base, optuna)
    if storage is not None:
        open_storage(storage, workers)  # a bad URL, or SQLite with workers: refused before any trial
    n = planned_trials(space, trials)
    metric, maximize = check_objective(cfg, space)
    record = {"config": base, "space": space.as_dict(), "trials": n, "metric": metric,
              "direction": "maximize" if maximize else "minimize"}
    if out is None:
        from dlnotes.run import default_out

        out = default_out(cfg.model_copy(update={"name": f"{cfg.name}-sweep"}))
    name = study or cfg.name
    url = storage or (f"journal:{(out / 'sweep.journal').resolve()}" if optuna else None)
    claim(out, name, url, record if url is None else None)
    return Sweep(space, record, out, url, name, workers, trials_given=bool(trials or space.trials))


def planned_trials(space: Space, trials: int | None) -> int:
    """--trials, else the space's ``trials``, else the grid's size (a grid never more), else DEFAULT_TRIALS."""
    n = trials or space.trials or (space.grid_size() if space.method == "grid" else DEFAULT_TRIALS)
    return min(n, space.grid_size()) if space.method == "grid" else n


def check_objective(cfg, space: Space) -> tuple[str, bool]:
    """The metric and direction, checked against what the task reports on the validation split of the
    config's untrained model (the collect and build steps of a run, nothing written)."""
    import torch

    from dlnotes import run
    from dlnotes.engine.evaluate import Evaluator
    from dlnotes.nn.losses import build_loss

    s = run.Session(cfg, None, None, torch.device("cpu"), None, True)
    run.collect(s)
    if s.data.val is None:
        raise UserError("sweep: trials are compared on the validation split, and this config has none; "
                        "set data.val_fraction > 0 (the test split stays out of the choice)")
    run.build(s)
    metric, maximize = objective(space, s.data.task)
    loss_fn = build_loss(cfg.train.loss, s.data.task)
    reported, _ = Evaluator(s.data, loss_fn, cfg.data.batch_size, s.device)(s.model, s.data.val)
    names = [k for k, v in reported.items() if isinstance(v, float)]
    if metric not in names:
        raise UserError(f"{space.source}: metric '{metric}' is not reported on validation; choose one of: "
                        f"{', '.join(names)}")
    return metric, maximize


def claim(out: Path, name: str, storage: str | None, local: dict[str, Any] | None) -> None:
    """OUT for this sweep: a new or empty folder (marked as this sweep's), or this same sweep's folder."""
    from dlnotes.atomic import read_json, write_json

    marker = {"format": 1, "study": name, "storage": storage, **({"record": local} if local else {})}
    if out.is_dir() and (out / MARKER).is_file():
        was = read_json(out / MARKER)
        if {k: was.get(k) for k in marker} != marker:
            what = "another sweep" if local else f"study '{was.get('study')}' in {was.get('storage')}"
            raise UserError(f"--out '{out}' holds {what}; give another folder, or the same --study and --storage")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out '{out}' holds files that are not a dlnotes sweep; choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / MARKER, marker)


def run_sweep(sw: Sweep) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int]:
    """Runs the sweep to its end (or Ctrl-C); writes the results; returns (rows, best row, exit code:
    0, 1 when a worker failed, 130/143 when stopped)."""
    if sw.storage is None:
        from dlnotes.tune.local import run_local

        rows, code = run_local(sw)
        return rows, results.write_results(sw.out, rows, sw.space, sw.record, sw.study), code
    from dlnotes.tune.study import open_study, storage

    store = storage(sw.storage, sw.workers)
    planned = None if sw.space.method == "tpe" else [
        {k: sw.space.params[k].encode(v) for k, v in p.items()}
        for p in sw.space.plan(sw.record["trials"], sw.record["config"]["seed"])]
    study, _ = open_study(store, sw.study, sw.record, planned, adopt_trials=not sw.trials_given)
    code = _work(sw)
    if code == 1:
        from dlnotes.tune.worker import next_action

        left = next_action(study, sw.space.method, sw.record["trials"]) != "done"
        print("sweep: a worker ended badly (its trial is run again by the others); "
              + ("trials are left: run the command again to finish the study" if left else "the study is complete"),
              file=sys.stderr)
        code = 1 if left else 0
    rows = results.trial_rows(study, sw.space)
    return rows, results.write_results(sw.out, rows, sw.space, sw.record, sw.study), code


def _work(sw: Sweep) -> int:
    """One worker here (K = 1) or K worker processes; their exit code (0, or 130/143 when stopped)."""
    from dlnotes.errors import Interrupted
    from dlnotes.tune.worker import work

    if sw.workers == 1:
        try:
            work(sw.storage, sw.study, sw.out)
        except Interrupted as e:  # the trial is queued again: the same command continues the sweep
            return e.exit_code
        except KeyboardInterrupt:
            return 130
        return 0
    cmd = [sys.executable, "-m", "dlnotes.tune.worker", "--storage", sw.storage, "--study", sw.study,
           "--out", str(sw.out), "--parent", str(os.getpid())]
    procs = [subprocess.Popen([*cmd, "--label", f"[worker {i + 1}] "], stdout=sys.stderr, start_new_session=True)
             for i in range(sw.workers)]
    return _wait(procs)


def _wait(procs: list[subprocess.Popen]) -> int:
    """Waits for the workers; Ctrl-C or SIGTERM here is passed on to each once (they stop at the next step)."""
    stopped: list[int] = []

    def forward(signum, frame):
        stopped.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while any(p.poll() is None for p in procs):  # poll: a worker that died is waited for (no zombie) at once
            time.sleep(0.2)
        codes = [p.returncode for p in procs]
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if stopped:
        return 128 + stopped[0]
    return 1 if any(codes) else 0
