"""A sweep's worker process: takes trials from the study until none is left; each trial is an ordinary
run directory, ``OUT/trials/<number>/``, trained through ``dlnotes.run.train``.

    python -m dlnotes.tune.worker --storage URL --study NAME --out DIR [--parent PID]

``dlnotes sweep --workers K`` starts K of these (real processes: one Python each, no shared state but the
study), and commands on other machines start theirs against the same storage. A worker reads the sweep
(base config, space, trials, metric) from the study's record, so every process runs the same sweep.
Workers keep torch's default number of threads, the one ``dlnotes train`` uses: CPU kernels' results
depend on it, and best.yaml must train to the same bytes (set OMP_NUM_THREADS to share cores differently).

Each epoch's validation metric is reported to the study (``trial.report``); with pruning on, the median
rule (``trial.should_prune``) stops a trial at an epoch end like early stopping does, and the run is
tested and kept as it is. A diverging or impossible trial is FAIL with its reason and the sweep goes on;
Ctrl-C or SIGTERM stops the trial at the next step (its checkpoint kept), marks it FAIL, queues its
parameters again for the next command, and ends the worker (exit 130 / 143).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dlnotes.errors import Interrupted, RunFailure, UserError
from dlnotes.tune import study as studies
from dlnotes.tune.space import parse_space, trial_config

POLL_S = 1.0  # how often a worker with nothing to run looks again while other trials are running


def next_action(study, method: str, budget: int) -> str:
    """``run`` (a queued trial, or a new TPE trial within the budget), ``wait`` (others still running) or ``done``.

    The budget counts the trials that ended for good (COMPLETE, PRUNED, FAIL with a reason) and those
    running or queued; a trial of a gone worker is queued again, so it is not counted twice."""
    states = studies.optuna_module().trial.TrialState
    trials = study.get_trials(deepcopy=False)
    count = Counter(t.state for t in trials)
    if count[states.WAITING]:
        return "run"
    if method == "tpe" and counted(trials, states) < budget:
        return "run"
    return "wait" if count[states.RUNNING] else "done"


class Heartbeat:
    """Records ``beat`` (the time) on a trial every BEAT_S seconds, from a thread, while the trial runs."""

    def __init__(self, trial):
        self.trial, self.done = trial, threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.done.wait(studies.BEAT_S):
            try:
                self.trial.set_user_attr("beat", time.time())
            except Exception:  # noqa: BLE001 - a storage hiccup: the next beat tries again
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


def run_trial(trial, space, record: dict[str, Any], params: dict[str, Any], run_dir: Path,
              resume: Path | None = None) -> tuple[float, bool, float]:
    """Trains one trial's run (or continues it: ``resume``); (its last validation metric, whether the
    pruner stopped it, seconds)."""
    from dlnotes.run import train

    cfg = trial_config(record["config"], params, source=f"trial {trial.number}")
    key = f"val_{record['metric']}"
    seen: dict[str, Any] = {"pruned": False}

    def on_epoch(row: dict[str, Any]) -> bool:
        seen["value"] = value = row.get(key)
        if not (isinstance(value, float) and math.isfinite(value)):
            raise RunFailure(f"no finite {key} at epoch {row['epoch']} (got {value!r})")
        trial.report(value, row["epoch"])
        seen["pruned"] = space.prune and trial.should_prune()
        return seen["pruned"]

    if resume is None:
        run = train(cfg, out=run_dir, quiet=True, on_epoch=on_epoch)
    else:
        run = train(resume=resume, quiet=True, on_epoch=on_epoch)
    value = seen["value"] if "value" in seen else last_value(run.path, key)  # resumed with nothing left to train
    return value, seen["pruned"], float(run.metrics.get("train_seconds") or 0.0)


def last_value(run_dir: Path, key: str) -> float:
    """``key`` of a run's last epoch, at full precision (the checkpoint's history; history.csv rounds)."""
    import json

    from dlnotes.engine.rundir import RunDir

    history = json.loads(RunDir(run_dir).read_state()["history"])
    value = history[-1].get(key) if history else None
    if not (isinstance(value, float) and math.isfinite(value)):
        raise RunFailure(f"{run_dir}: no finite {key} at the last epoch (got {value!r})")
    return value


def take(study, store, method: str, budget: int):
    """The trial this worker runs next, or None when another worker took the last one first.

    ``next_action`` looked at the study a moment ago; another worker may have acted since. ``Study.ask``
    would then create a new trial where the queue had just emptied (a planned sweep ran one trial too many),
    and two workers that both saw the TPE budget one short would both create one. So a queued trial is
    claimed by the storage's WAITING -> RUNNING compare-and-set (the step ``Study.ask`` itself takes, through
    the public storage API) and never replaced by a new one; and a new TPE trial that finds the budget taken
    by trials numbered before it (numbers are handed out in order by the storage) ends at once, FAIL with
    ``surplus``, unrun and uncounted."""
    optuna = studies.optuna_module()
    states = optuna.trial.TrialState
    study_id = store.get_study_id_from_name(study.study_name)
    for queued in study.get_trials(deepcopy=False, states=(states.WAITING,)):
        trial_id = store.get_trial_id_from_study_id_trial_number(study_id, queued.number)
        try:
            if store.set_trial_state_values(trial_id, state=states.RUNNING):
                return optuna.Trial(study, trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:  # finished by another worker meanwhile
            continue
    if method != "tpe":
        return None
    trial = study.ask()
    before = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
    if counted(before, states) >= budget:
        trial.set_user_attr("surplus", "another worker took the last trial of the budget first")
        study.tell(trial, state=states.FAIL)
        return None
    return trial


def counted(trials, states) -> int:
    """Trials the budget counts: ended for good (COMPLETE, PRUNED, FAIL with a reason) or running."""
    return sum(1 for t in trials if t.state in (states.COMPLETE, states.PRUNED, states.RUNNING)
               or (t.state == states.FAIL and "failed" in t.user_attrs))


def run_one(study, store, space, record: dict[str, Any], out: Path, label: str) -> None:
    """Takes a trial (``take``), trains it and tells the outcome."""
    states = studies.optuna_module().trial.TrialState
    trial = take(study, store, space.method, record["trials"])
    if trial is None:
        return
    params = space.suggest(trial)
    run_dir = out / "trials" / str(trial.number)
    for key, value in {**studies.worker_attrs(), "run": str(run_dir)}.items():
        trial.set_user_attr(key, value)
    try:
        with Heartbeat(trial):
            value, pruned, seconds = run_trial(trial, space, record, params, run_dir)
    except (RunFailure, UserError) as e:
        trial.set_user_attr("failed", " ".join(str(e).split())[:300])
        study.tell(trial, state=states.FAIL)
        say(label, trial.number, "FAIL", params, str(e))
        return
    except (Interrupted, KeyboardInterrupt):
        trial.set_user_attr("stopped", "interrupted")
        study.tell(trial, state=states.FAIL)
        studies.requeue(study, trial)  # the next command runs it again
        raise
    except BaseException:
        study.tell(trial, state=states.FAIL)
        raise
    trial.set_user_attr("seconds", round(seconds, 3))
    study.tell(trial, state=states.PRUNED) if pruned else study.tell(trial, value)
    say(label, trial.number, "PRUNED" if pruned else "COMPLETE", params,
         f"val_{record['metric']}={value:.4f}  {seconds:.1f} s")


def say(label: str, number: int, state: str, params: dict[str, Any], what: str) -> None:
    """One line on stderr per finished trial."""
    shown = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    print(f"{label}trial {number} {state}: {what}  ({shown})", file=sys.stderr, flush=True)


def work(storage_url: str, name: str, out: Path, parent: int | None = None, label: str = "") -> None:
    """Runs trials of the study ``name`` until the sweep is done (or the parent command has gone)."""
    store = studies.storage(storage_url)
    optuna = studies.optuna_module()
    probe = optuna.load_study(study_name=name, storage=store)
    record = studies.recorded(probe)
    space = parse_space(record["space"], record["config"], True, f"study '{name}'")
    sampler, pruner = studies.samplers(space.method, space.prune)
    study = optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)
    while parent is None or os.getppid() == parent:
        studies.reap(study)
        action = next_action(study, space.method, record["trials"])
        if action == "done":
            return
        if action == "wait":
            time.sleep(POLL_S)
            continue
        run_one(study, store, space, record, out, label)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dlnotes.tune.worker", description=__doc__.split("\n\n")[0])
    p.add_argument("--storage", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--parent", type=int, default=None)
    p.add_argument("--label", default="")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM between trials: as Ctrl-C
    try:
        work(a.storage, a.study, a.out, a.parent, a.label)
    except Interrupted as e:
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
