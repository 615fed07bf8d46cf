"""A sweep's study, kept by Optuna: the trials, their parameters, states and values, shared by every
worker process on every machine through one storage.

Optuna was chosen (an extra, ``pip install 'dlnotes[sweep]'``) because its storages are made for this:
``journal:PATH`` is its ``JournalStorage`` on a file (a shared filesystem carries it across machines),
``postgresql://`` and ``mysql://`` URLs its ``RDBStorage``; queued trials are handed out atomically, and
TPE and the median pruner come with it. SQLite locks the whole file on each write, and Optuna's
maintainers advise against it for parallel work, so it is refused for more than one worker.

The first command to create the study queues the planned trials of a grid or random sweep, then records
what the sweep is (the base config, the space, the number of trials, the metric and its direction) as
the study's user attribute ``dlnotes``; later commands join only a study that records the same sweep.

The journal storage has no heartbeat, and a worker killed outright would leave its trial RUNNING for
good. So every trial records its worker (host, PID, the process's start time) and a heartbeat (user
attribute ``beat``, every BEAT_S seconds), and a worker that finds a RUNNING trial whose process is gone
(on its own host) or whose heartbeat is older than STALE_S seconds (elsewhere) marks it FAIL and queues
its parameters again, once per failed trial, so the study goes on.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from typing import Any

from dlnotes.errors import UserError

RECORD = "dlnotes"  # the study's user attribute describing the sweep
BEAT_S, STALE_S = 15.0, 120.0
JOIN_WAIT_S = 60.0  # how long a joining command waits for the creator to record the sweep


def optuna_available() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


def optuna_module():
    """Optuna, with its per-trial log lines off (workers report each trial themselves)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage(url: str, workers: int = 1):
    """The Optuna storage of ``--storage URL``: ``journal:PATH``, ``sqlite:///PATH`` (one worker only),
    ``postgresql://...`` or ``mysql://...``."""
    optuna = optuna_module()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = url.removeprefix("journal:")
        if not path:
            raise UserError("--storage journal:PATH: name the journal file, e.g. journal:sweep.journal")
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if url.startswith("sqlite:"):
        if workers > 1:
            raise UserError(f"--storage {url} with --workers {workers}: SQLite locks the whole file on every write "
                            "(Optuna advises against it for parallel work); use journal:PATH or a PostgreSQL/MySQL URL")
        return optuna.storages.RDBStorage(url)
    if url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "mysql"):
        try:
            return optuna.storages.RDBStorage(url)
        except ImportError as e:
            raise UserError(f"--storage {url.split('@')[-1]}: the database driver is missing ({e.name}); "
                            "install it (e.g. pip install psycopg2-binary or pymysql)") from None
    raise UserError(f"--storage '{url}': give journal:PATH, sqlite:///PATH, postgresql://... or mysql://...")


def samplers(method: str, prune: bool):
    """(sampler, pruner) of this process: TPE (constant liar, for parallel workers) or random for trials
    that find no planned trial left; the median rule, or no pruning."""
    optuna = optuna_module()
    sampler = (optuna.samplers.TPESampler(constant_liar=True) if method == "tpe"
               else optuna.samplers.RandomSampler())
    return sampler, (optuna.pruners.MedianPruner() if prune else optuna.pruners.NopPruner())


def open_study(store, name: str, record: dict[str, Any], planned: list[dict[str, Any]] | None = None,
               adopt_trials: bool = False):
    """Creates the study ``name`` (queueing ``planned``, then recording the sweep) or joins it, refusing a
    study that records another sweep (``adopt_trials``: taking its number of trials into ``record``);
    returns (study, created)."""
    optuna = optuna_module()
    sampler, pruner = samplers(record["space"]["method"], record["space"]["prune"])
    try:
        study = optuna.create_study(storage=store, study_name=name, direction=record["direction"],
                                    sampler=sampler, pruner=pruner)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)
        if adopt_trials:
            record["trials"] = recorded(study)["trials"]
        check_same_sweep(study, name, record)
        return study, False
    for i, params in enumerate(planned or []):
        study.enqueue_trial(params, user_attrs={"plan": i})
    study.set_user_attr(RECORD, record)
    return study, True


def recorded(study, wait_s: float = JOIN_WAIT_S) -> dict[str, Any]:
    """The sweep a study records (waiting a little for a creator that is still queueing its trials)."""
    deadline = time.monotonic() + wait_s
    while RECORD not in study.user_attrs:
        if time.monotonic() > deadline:
            raise UserError(f"study '{study.study_name}' is not a dlnotes sweep (no '{RECORD}' record); "
                            "give another --study")
        time.sleep(0.5)
    return study.user_attrs[RECORD]


def check_same_sweep(study, name: str, record: dict[str, Any]) -> None:
    was = recorded(study)
    for key in ("direction", "metric", "space", "config", "trials"):
        if was.get(key) != record.get(key):
            raise UserError(f"study '{name}' was started with another {key} ({_short(was.get(key))}); join it with "
                            "the same --config, --space and --trials, or give another --study")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- workers, heartbeats and the trials of dead workers ----------------------------------------------

def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux), telling a PID's reuse apart; None if
    unknown, and "ended" for a process that has ended but was not yet waited for (a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20:
        return None
    return "ended" if fields[0] in ("Z", "X") else fields[19]


def worker_attrs() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": process_start(pid), "beat": time.time()}


def gone(attrs: dict[str, Any], started: float, now: float) -> bool:
    """Whether the worker of a RUNNING trial is gone: its heartbeat (or its start, before the first beat)
    is older than STALE_S, or, on this host, its process has ended (also as a zombie) or is another one."""
    if now - float(attrs.get("beat", started)) > STALE_S:
        return True
    if attrs.get("host") != socket.gethostname() or not isinstance(attrs.get("pid"), int):
        return False
    try:
        os.kill(attrs["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return attrs.get("pid_start") is not None and process_start(attrs["pid"]) != attrs["pid_start"]


def reap(study) -> list[int]:
    """Marks the RUNNING trials of gone workers FAIL and queues their parameters again (once each);
    returns their numbers."""
    optuna = optuna_module()
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    now, reaped = time.time(), []
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.state != states.RUNNING or not gone(t.user_attrs, t.datetime_start.timestamp(), now):
            continue
        study.tell(t.number, state=states.FAIL, skip_if_finished=True)
        reaped.append(t.number)
        if t.number not in retried:
            requeue(study, t)
    return reaped


def requeue(study, trial) -> None:
    """Queues a failed trial's parameters again (a plan's trial keeps its place in the plan)."""
    attrs = {k: v for k, v in trial.user_attrs.items() if k == "plan"}
    study.enqueue_trial(dict(trial.params), user_attrs={**attrs, "retry_of": trial.number})
