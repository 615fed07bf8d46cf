"""dlnotes sweep: the space checked before anything runs, grid and random plans, and real worker processes
sharing one study on a real journal file (joined by a second command, surviving a kill -9)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from dlnotes.errors import UserError

# LeNet at 16x16 for one epoch: a trial takes about a second
TINY = {"name": "tiny", "seed": 0,
        "data": {"name": "digits", "image_size": 16, "batch_size": 128, "val_fraction": 0.1},
        "model": {"name": "lenet", "activation": "relu", "pool": "max"},
        "train": {"epochs": 1, "optimizer": {"name": "adam", "lr": 0.003}}}
SPACE = {"method": "random", "parameters": {"train.optimizer.lr": {"loguniform": [1.0e-3, 3.0e-2]},
                                            "model.activation": {"choice": ["relu", "tanh"]}}}



def base():
    from dlnotes.config import resolved, validate

    return resolved(validate(TINY))


def space_of(d, optuna=True):
    from dlnotes.tune.space import parse_space

    return parse_space(d, base(), optuna, "space.yaml")


@pytest.mark.parametrize("params, message", [
    ({"train.optimizer.lerning_rate": {"uniform": [0.1, 0.2]}}, "unknown key 'lerning_rate'"),
    ({"train.optimizer.lr": {"uniform": [-0.1, 0.2]}}, "parameters.train.optimizer.lr = -0.1"),
    ({"train.optimizer.lr": {"loguniform": [0, 0.2]}}, "loguniform needs low > 0"),
    ({"model.activation": {"choice": []}}, "non-empty list"),
    ({"model.activation": {"choice": ["relu", "swish"]}}, "'swish'"),
    ({"data.batch_size": {"int": [0, 64]}}, "data.batch_size"),
    ({"data.batch_size": {"int": [16.5, 64]}}, "two whole numbers"),
    ({"train.epochs": {"int": [5, 2]}}, "must be below high"),
    ({"model.dropout": {"normal": [0, 1]}}, "give one distribution"),
])
def test_a_bad_space_is_refused_naming_the_key(params, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        space_of({"parameters": params})


def test_space_settings_are_checked():
    for bad, message in [({"method": "bayes"}, "method 'bayes'"), ({"trials": 0}, "trials must be"),
                         ({"direction": "up"}, "direction must be"), ({"metrc": "f1"}, "did you mean 'metric'")]:
        with pytest.raises(UserError, match=message):
            space_of({**SPACE, **bad})
    with pytest.raises(UserError, match="needs Optuna"):
        space_of({**SPACE, "method": "tpe"}, optuna=False)
    assert space_of({"parameters": SPACE["parameters"]}).method == "tpe"  # with Optuna installed
    assert space_of({"parameters": SPACE["parameters"]}, optuna=False).method == "random"


def test_grid_and_random_plans():
    grid = space_of({"method": "grid", "grid_points": 3, "parameters": {
        "train.optimizer.lr": {"loguniform": [1e-4, 1e-2]}, "data.batch_size": {"int": [32, 34]},
        "model.activation": {"choice": ["relu", "tanh"]}}})
    plan = grid.plan(100, seed=0)
    assert grid.grid_size() == len(plan) == 3 * 3 * 2
    assert sorted({p["train.optimizer.lr"] for p in plan}) == pytest.approx([1e-4, 1e-3, 1e-2])
    assert {p["data.batch_size"] for p in plan} == {32, 33, 34}
    assert len({json.dumps(p, sort_keys=True) for p in plan}) == len(plan)
    rnd = space_of(SPACE)
    a, b = rnd.plan(50, seed=0), rnd.plan(60, seed=0)
    assert a == b[:50]  # a trial's parameters depend on its place in the plan only
    assert all(1e-3 <= p["train.optimizer.lr"] <= 3e-2 for p in a)
    assert {p["model.activation"] for p in a} == {"relu", "tanh"}
    logs = [__import__("math").log10(p["train.optimizer.lr"]) for p in b]
    assert min(logs) < -2.7 and max(logs) > -1.8  # spread over the log range


def test_sqlite_is_refused_for_several_workers_and_bad_storages_are_named(tmp_path):
    from dlnotes.tune.study import storage

    with pytest.raises(UserError, match="SQLite locks the whole file"):
        storage(f"sqlite:///{tmp_path}/s.db", workers=2)
    with pytest.raises(UserError, match="journal:PATH"):
        storage("redis://localhost", workers=1)


def test_cli_bad_space_exits_2_before_any_trial(tmp_path, write_config, in_process):
    config = write_config(TINY)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"parameters": {"model.activation": {"choice": ["relu", "swish"]}}}))
    r = in_process("sweep", "--config", config, "--space", space, "--out", tmp_path / "out")
    assert r.returncode == 2 and "space.yaml: parameters.model.activation = 'swish'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    r = in_process("sweep", "--config", config, "--space", space, "--workers", "2", "--storage",
            f"sqlite:///{tmp_path}/s.db", "--out", tmp_path / "out")
    assert r.returncode == 2 and "SQLite" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def _sweep(root, config, space, out, journal, *extra):
    return subprocess.Popen([sys.executable, "-m", "dlnotes", "sweep", "--config", str(config), "--space", str(space),
                             "--out", str(out), "--storage", f"journal:{journal}", "--study", "s", *map(str, extra)],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_a_running_trial(journal, proc, checkpoint=False, timeout=300):
    """The first RUNNING trial of the study in ``journal`` (with a checkpoint on disk, if asked)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            trials = _study(journal).trials
        except Exception:  # noqa: BLE001, S112 - the study is still being created
            continue
        for t in trials:
            if t.state.name == "RUNNING" and "pid" in t.user_attrs and \
                    (not checkpoint or os.path.isdir(os.path.join(t.user_attrs["run"], "checkpoint"))):
                return t
    raise AssertionError(proc.communicate(timeout=60) if proc.poll() is not None else "no trial started")


def _study(journal):
    from dlnotes.tune.study import optuna_module, storage

    return optuna_module().load_study(study_name="s", storage=storage(f"journal:{journal}"))


def test_two_workers_and_a_second_command_share_one_study(root, tmp_path, write_config, in_process, no_figures):
    from dlnotes.tune import sweep

    config, space = write_config(TINY), tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    journal = tmp_path / "s.journal"
    first = _sweep(root, config, space, tmp_path / "a", journal, "--workers", 2, "--trials", 4)
    _wait_for_a_running_trial(journal, first)
    # the second command, here in this process, while the first one's workers run: it joins the study
    joined = sweep.prepare(config, space, [], 4, 1, f"journal:{journal}", "s", tmp_path / "b")
    _, _, code = sweep.run_sweep(joined)
    out_a, err_a = first.communicate(timeout=600)
    assert first.returncode == 0 and code == 0, err_a
    trials = _study(journal).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert sorted(t.user_attrs["plan"] for t in trials) == list(range(4))  # each planned trial ran once
    assert len({(t.user_attrs["host"], t.user_attrs["pid"]) for t in trials}) >= 2  # in more than one process
    runs = {t.number: t.user_attrs["run"] for t in trials}
    assert all(os.path.isfile(os.path.join(r, "metrics.json")) for r in runs.values())  # ordinary complete runs
    assert all(r.endswith(f"trials/{n}") for n, r in runs.items())
    # each command's results describe the whole study
    for out in (tmp_path / "a", tmp_path / "b"):
        lines = (out / "sweep.csv").read_text().splitlines()
        assert lines[0] == "trial,train.optimizer.lr,model.activation,val_accuracy,state,seconds,run,note"
        assert len(lines) == 5
    assert len(out_a.strip().splitlines()) == 5  # the table: a header and four trials
    # dlnotes runs lists the trials of a command's folder
    from dlnotes.runs_table import collect_runs

    rows, _ = collect_runs([tmp_path / "a" / "trials"], None)
    assert {r["run"] for r in rows} == {str(n) for n, r in runs.items() if r.startswith(str(tmp_path / "a"))}
    assert all(r["damaged"] is None and r["value"] is not None for r in rows)
    # best.yaml, trained again as a user would, reproduces the best trial's metric exactly
    best = max((t for t in trials), key=lambda t: (t.value, -t.number))
    r = in_process("train", "--config", tmp_path / "a" / "best.yaml", "--out", tmp_path / "again", "-q")
    assert r.returncode == 0, r.stderr
    from dlnotes.tune.worker import last_value

    assert last_value(tmp_path / "again", "val_accuracy") == best.value
    with open(os.path.join(best.user_attrs["run"], "model.safetensors"), "rb") as f:
        assert (tmp_path / "again/model.safetensors").read_bytes() == f.read()


def test_a_killed_worker_leaves_the_study_usable_and_the_next_command_finishes_it(root, tmp_path, write_config,
                                                                                  no_figures):
    from dlnotes.tune import sweep

    config, space = write_config({**TINY, "train": {**TINY["train"], "epochs": 3}}), tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    journal = tmp_path / "s.journal"
    first = _sweep(root, config, space, tmp_path / "out", journal, "--trials", 2)
    running = _wait_for_a_running_trial(journal, first, checkpoint=True)  # a trial at work: kill its process
    os.kill(running.user_attrs["pid"], signal.SIGKILL)
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert _study(journal).trials[running.number].state.name == "RUNNING"  # left behind by the dead worker
    # the next command (here, in this process) marks it failed, runs its parameters again and ends the study
    _, _, code = sweep.run_sweep(sweep.prepare(config, space, [], 2, 1, f"journal:{journal}", "s", tmp_path / "out"))
    assert code == 0
    trials = _study(journal).trials
    states = {t.number: t.state.name for t in trials}
    assert states[running.number] == "FAIL"
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["plan"] for t in done) == [0, 1]  # the killed trial's parameters ran again
    retry = next(t for t in done if t.user_attrs.get("retry_of") == running.number)
    assert retry.params == running.params
    csv = (tmp_path / "out/sweep.csv").read_text()
    assert f"{running.number}," in csv and "its worker stopped" in csv


def test_without_optuna_grid_runs_here_and_continues(tmp_path, monkeypatch, write_config, no_figures):
    """The built-in sweep (no Optuna): a grid's trials in this process; running it again reads them back."""
    from dlnotes.tune import study, sweep

    monkeypatch.setattr(study, "optuna_available", lambda: False)
    config, space = write_config(TINY), tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"method": "grid", "parameters": {"model.activation": {"choice": ["relu", "tanh"]}}}))
    sw = sweep.prepare(config, space, [], None, 1, None, None, tmp_path / "out")
    assert sw.storage is None and sw.record["trials"] == 2
    rows, best, code = sweep.run_sweep(sw)
    assert code == 0 and [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    assert [r["params"]["model.activation"] for r in rows] == ["relu", "tanh"]
    mtimes = [(tmp_path / f"out/trials/{i}/model.safetensors").stat().st_mtime_ns for i in range(2)]
    rows2, best2, _ = sweep.run_sweep(sweep.prepare(config, space, [], None, 1, None, None, tmp_path / "out"))
    assert [r["value"] for r in rows2] == [r["value"] for r in rows] and best2 == best
    assert [(tmp_path / f"out/trials/{i}/model.safetensors").stat().st_mtime_ns for i in range(2)] == mtimes
    with pytest.raises(UserError, match="needs Optuna"):
        sweep.prepare(config, space, [], None, 2, None, None, tmp_path / "other")


class Pruning:
    """A stand-in trial whose pruner says stop after the first report."""

    number = 0

    def __init__(self):
        self.reports = []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return True


def test_a_pruned_trial_stops_at_an_epoch_end_as_a_complete_run(tmp_path, no_figures):
    from dlnotes.engine.rundir import RunDir
    from dlnotes.tune.worker import run_trial

    space = space_of({**SPACE, "prune": True})
    record = {"config": {**base(), "train": {**base()["train"], "epochs": 3}}, "metric": "accuracy"}
    trial = Pruning()
    value, pruned, _ = run_trial(trial, space, record, {"train.optimizer.lr": 0.003, "model.activation": "relu"},
                                 tmp_path / "run")
    assert pruned and [s for s, _ in trial.reports] == [1] and value == trial.reports[0][1]
    rd = RunDir(tmp_path / "run")
    assert rd.epochs_completed() == 1 and rd.read_metrics()["epochs"] == 1  # tested, resumable to 3


def test_tpe_sweep_in_one_process(tmp_path, write_config, no_figures):
    """TPE through Optuna, one worker here, the default storage (OUT/sweep.journal); joining it takes the
    study's number of trials, and refuses another one."""
    from dlnotes.tune import study as studies
    from dlnotes.tune import sweep

    config, space = write_config(TINY), tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({**SPACE, "method": "tpe", "metric": "loss"}, sort_keys=False))
    sw = sweep.prepare(config, space, [], 3, 1, None, None, tmp_path / "out")
    assert sw.record["direction"] == "minimize" and sw.storage == f"journal:{tmp_path / 'out' / 'sweep.journal'}"
    rows, best, code = sweep.run_sweep(sw)
    assert code == 0 and [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert best["value"] == min(r["value"] for r in rows)
    assert (tmp_path / "out/best.yaml").read_text().startswith(f"# the best trial ({best['trial']})")
    store = studies.storage(sw.storage)
    with pytest.raises(UserError, match="another trials"):
        studies.open_study(store, sw.study, {**sw.record, "trials": 4})
    record = {**sw.record, "trials": 20}
    _, created = studies.open_study(store, sw.study, record, adopt_trials=True)
    assert not created and record["trials"] == 3


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_cleanly_and_the_same_command_continues(root, tmp_path, write_config):
    config, space = write_config({**TINY, "train": {**TINY["train"], "epochs": 4}}), tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    journal = tmp_path / "s.journal"
    first = _sweep(root, config, space, tmp_path / "out", journal, "--trials", 4, "--workers", 2)
    _wait_for_a_running_trial(journal, first, checkpoint=True)
    first.send_signal(signal.SIGINT)
    stopped = time.time()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert time.time() - stopped < 60 and "continue it with the same command" in err
    trials = _study(journal).trials
    assert not [t for t in trials if t.state.name == "RUNNING"]
    interrupted = [t for t in trials if t.user_attrs.get("stopped") == "interrupted"]
    assert interrupted and all(t.state.name == "FAIL" for t in interrupted)
    queued = {t.user_attrs.get("retry_of") for t in trials if t.state.name == "WAITING"}
    assert {t.number for t in interrupted} <= queued
    again = _sweep(root, config, space, tmp_path / "out", journal, "--trials", 4, "--workers", 2)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    done = [t for t in _study(journal).trials if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs["plan"] for t in done) == [0, 1, 2, 3]


@pytest.mark.slow
def test_a_worker_killed_among_two_leaves_its_trial_to_the_other(root, tmp_path, write_config):
    config, space = write_config({**TINY, "train": {**TINY["train"], "epochs": 3}}), tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    journal = tmp_path / "s.journal"
    first = _sweep(root, config, space, tmp_path / "out", journal, "--trials", 4, "--workers", 2)
    running = _wait_for_a_running_trial(journal, first)
    os.kill(running.user_attrs["pid"], signal.SIGKILL)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0 and "the study is complete" in err, err
    trials = _study(journal).trials
    assert trials[running.number].state.name == "FAIL"
    assert sorted(t.user_attrs["plan"] for t in trials if t.state.name == "COMPLETE") == [0, 1, 2, 3]


def test_a_trials_worker_is_gone_when_its_process_ended_or_its_heartbeat_stopped():
    import socket

    from dlnotes.tune.study import STALE_S, gone, process_start

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    now = time.time()
    attrs = {"host": socket.gethostname(), "pid": child.pid, "pid_start": process_start(child.pid), "beat": now}
    assert not gone(attrs, now, now)
    assert gone({**attrs, "pid_start": "another"}, now, now)  # the PID now belongs to another process
    child.kill()
    time.sleep(0.3)
    assert gone(attrs, now, now)  # ended, not yet waited for (a zombie)
    child.wait()
    assert gone(attrs, now, now)
    elsewhere = {"host": "another-machine", "pid": 1, "beat": now}
    assert not gone(elsewhere, now, now) and gone(elsewhere, now, now + STALE_S + 1)


def _two_views(tmp_path, queued):
    """One study on a journal file seen through two storages, as two worker processes see it."""
    from dlnotes.tune.study import optuna_module, storage

    optuna = optuna_module()
    url = f"journal:{tmp_path / 's.journal'}"
    first = optuna.create_study(storage=storage(url), study_name="s")
    for i in range(queued):
        first.enqueue_trial({"x": float(i)}, user_attrs={"plan": i})
    views = []
    for _ in range(2):
        store = storage(url)
        views.append((optuna.load_study(study_name="s", storage=store), store))
    return views[0], views[1], optuna.trial.TrialState


def test_a_queued_trial_taken_by_another_worker_is_not_replaced_by_a_new_one(tmp_path):
    """Both workers saw one queued trial ('run'); the one that claims it second gets nothing, and the study
    holds no trial beyond the plan (Study.ask would have created an unplanned one)."""
    from dlnotes.tune.worker import next_action, take

    (a, store_a), (b, store_b), states = _two_views(tmp_path, queued=1)
    assert next_action(a, "random", 1) == next_action(b, "random", 1) == "run"
    got_b = take(b, store_b, "random", 1)
    assert got_b is not None and got_b.user_attrs["plan"] == 0
    assert take(a, store_a, "random", 1) is None
    assert [t.state for t in a.get_trials()] == [states.RUNNING]
    b.tell(got_b, 1.0)
    assert next_action(a, "random", 1) == "done"


def test_two_workers_one_short_of_the_tpe_budget_run_one_trial_between_them(tmp_path):
    from dlnotes.tune.results import trial_rows
    from dlnotes.tune.space import parse_space
    from dlnotes.tune.worker import next_action, take

    (a, store_a), (b, store_b), states = _two_views(tmp_path, queued=0)
    done = a.ask()
    a.tell(done, 0.5)
    assert next_action(a, "tpe", 2) == next_action(b, "tpe", 2) == "run"  # both see one trial left
    first, second = take(a, store_a, "tpe", 2), take(b, store_b, "tpe", 2)
    assert first is not None and second is None
    trials = a.get_trials()
    assert [t.state for t in trials] == [states.COMPLETE, states.RUNNING, states.FAIL]
    assert "surplus" in trials[2].user_attrs and "failed" not in trials[2].user_attrs  # not counted, not shown
    a.tell(first, 0.7)
    assert next_action(b, "tpe", 2) == "done"
    space = parse_space({"method": "tpe", "parameters": {"train.optimizer.lr": {"loguniform": [1e-3, 1e-1]}}},
                        base(), True, "space.yaml")
    assert [r["trial"] for r in trial_rows(a, space)] == [0, 1]
