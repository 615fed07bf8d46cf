"""The run directory under faults: kills at every write of a checkpoint commit, a full disk, two
writers, refused resumes and refused --out, as a user would meet them.

A run here is logistic regression on breast_cancer (SGD with momentum, cosine schedule): fast, and
every resume must reach the bytes of the uninterrupted run. Kills are real: a forked child dies with
``os._exit`` at the chosen step, so no ``finally`` or ``except`` of ours runs.
"""

import errno
import json
import math
import multiprocessing
import os
import re
import time
import shutil
import signal
from pathlib import Path

import pytest

from dlnotes.config import validate
from dlnotes.engine.rundir import RunDir
from dlnotes.errors import RunFailure, UserError
from dlnotes.run import Run, default_out, train

LR = {"name": "lr", "seed": 0, "data": {"name": "breast_cancer", "batch_size": 64},
      "model": {"name": "logistic_regression"},
      "train": {"epochs": 3, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
                "scheduler": {"name": "cosine"}}}

def cfg(**train):
    return validate({**LR, "train": {**LR["train"], **train}})


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (but the lock) with its bytes."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != RunDir.LOCK}


def in_child(fn) -> int:
    """Runs ``fn`` in a forked process (it may die anywhere); returns its exit code."""
    def child():
        import torch

        torch.set_num_threads(1)  # the parent's OpenMP pool does not survive a fork; these tensors are tiny
        fn()

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(120)
    return proc.exitcode


STAGING = re.compile(r"(\.checkpoint\.(tmp|old))-[0-9a-f-]+")


def event_name(step: str, path, out: Path) -> str:
    """``write meta.json``, ``rename checkpoint``, ``write .checkpoint.tmp/state.pt``: an event of a run's
    life, with the random parts of staging names dropped."""
    rel = str(Path(path).relative_to(out)) if str(path).startswith(str(out)) else str(path)
    return step + " " + STAGING.sub(r"\1", rel)


# Every write, rename and removal of a 3-epoch run (SAVE_EVERY_S = 0: a commit after every epoch), in order.
LIFE = (["write .dlnotes", "rename .dlnotes"] * 2 + ["write config.yaml", "rename config.yaml",
        "write meta.json", "rename meta.json"]
        + ["write .dlnotes", "rename .dlnotes"]  # the first commit lists checkpoint/ and model.safetensors
        + ["write .checkpoint.tmp/model.safetensors", "write .checkpoint.tmp/state.pt",
           "write .checkpoint.tmp/manifest.json", "rename checkpoint", "write model.safetensors",
           "rename model.safetensors"]
        + [e for epoch in (1, 2, 3) for e in
           ["write .checkpoint.tmp/model.safetensors", "write .checkpoint.tmp/state.pt",
            "write .checkpoint.tmp/manifest.json", "rename .checkpoint.old", "rename checkpoint",
            "remove .checkpoint.old", "write model.safetensors", "rename model.safetensors"]
           + (["write .dlnotes", "rename .dlnotes"] if epoch == 1 else [])
           + ["write history.csv", "rename history.csv"]]
        + ["write .dlnotes", "rename .dlnotes", "write plots/learning_curves.png", "rename plots/learning_curves.png",
           "write plots/confusion_matrix.png", "rename plots/confusion_matrix.png",
           "write plots/top_losses.png", "rename plots/top_losses.png",
           "write metrics.json", "rename metrics.json"])
# what the default run tries (one of each kind of event); -m slow tries every one
SAMPLED = [0, 3, 4, 7, 9, 12, 13, 15, 16, 17, 18, 22, 23, 25, 26, 28, 30, 46, 48, 52, 56]


@pytest.fixture(scope="module")
def reference_life(tmp_path_factory):
    """The uninterrupted 3-epoch run (not to be changed: tests take a copy) and the events of its life."""
    from dlnotes import atomic
    from dlnotes.engine import trainer

    out = tmp_path_factory.mktemp("ref") / "run"
    events, real, every = [], atomic.fault, trainer.SAVE_EVERY_S
    atomic.fault, trainer.SAVE_EVERY_S = (lambda step, path: events.append(event_name(step, path, out))), 0
    try:
        train(cfg(), out=out)
    finally:
        atomic.fault, trainer.SAVE_EVERY_S = real, every
    return out, events


@pytest.fixture(scope="module")
def reference_run(reference_life):
    return reference_life[0]


@pytest.fixture
def reference(reference_run):
    """The weights every interrupted run must reach."""
    return (reference_run / RunDir.WEIGHTS).read_bytes()


@pytest.fixture
def finished(reference_run, tmp_path):
    """A copy of the finished reference run, to resume, tamper with or lock."""
    out = tmp_path / "run"
    shutil.copytree(reference_run, out)
    return out


def killed_run(out: Path, at: int) -> None:
    """Trains into ``out`` in a child that is killed (``os._exit``: no finally runs) at event ``at``."""
    def child():
        from dlnotes import atomic
        from dlnotes.engine import trainer

        trainer.SAVE_EVERY_S = 0
        seen = {"n": 0}

        def fault(step, path):
            seen["n"] += 1
            if seen["n"] - 1 == at:
                os._exit(9)
        atomic.fault = fault
        train(cfg(), out=out)

    assert in_child(child) == 9


def finish_and_compare(out: Path, reference: bytes) -> None:
    """Continues whatever an interruption left (resume, or start again), then checks the bytes and that
    nothing is left over: no unfinished commit, no temporary file, nothing the ledger does not list."""
    status = RunDir(out).status()
    assert status in ("absent", "empty", "untrained", "trained"), status
    if status == "trained" and (out / RunDir.METRICS).is_file():
        pass  # killed after its last write: complete
    elif status == "trained":
        train(None, resume=out)
    else:
        train(cfg(), out=out)
    assert (out / RunDir.WEIGHTS).read_bytes() == reference
    assert (out / RunDir.WEIGHTS).read_bytes() == (out / "checkpoint" / RunDir.WEIGHTS).read_bytes()
    assert RunDir(out).epochs_completed() == 3 and (out / RunDir.METRICS).is_file()
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith(".checkpoint") or p.name.endswith(".tmp")]
    assert leftovers == [] and RunDir(out).strangers() == []


def test_the_fault_tests_cover_every_write_of_a_run(reference_life):
    assert reference_life[1] == LIFE


def _kill_and_finish(tmp_path, reference, at):
    out = tmp_path / "run"
    killed_run(out, at)
    if RunDir(out).status() == "trained":  # a complete checkpoint always survives: eval reads it
        assert Run.load(out).evaluate("test")["accuracy"] > 0.5
    finish_and_compare(out, reference)


@pytest.mark.parametrize("at", SAMPLED, ids=[f"{i}-{LIFE[i]}" for i in SAMPLED])
def test_a_kill_at_any_write_leaves_a_run_that_resumes_or_restarts_to_the_same_bytes(tmp_path, reference, at):
    _kill_and_finish(tmp_path, reference, at)


@pytest.mark.slow
@pytest.mark.parametrize("at", [i for i in range(len(LIFE)) if i not in SAMPLED],
                         ids=[f"{i}-{e}" for i, e in enumerate(LIFE) if i not in SAMPLED])
def test_a_kill_at_every_other_write(tmp_path, reference, at):
    _kill_and_finish(tmp_path, reference, at)


WRITES = [i for i, e in enumerate(LIFE) if e.startswith("write")]


def _fill_the_disk_at(tmp_path, reference, monkeypatch, at):
    from dlnotes import atomic
    from dlnotes.engine import trainer

    monkeypatch.setattr(trainer, "SAVE_EVERY_S", 0)
    seen = {"n": 0}

    def fault(step, path):  # once: the disk is full at event ``at`` only
        seen["n"] += 1
        if seen["n"] - 1 == at:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(atomic, "fault", fault)
    out = tmp_path / "run"
    with pytest.raises(RunFailure, match=r"disk full: could not write .*\(it needs \d+\.\d MB, .* free\)"):
        train(cfg(), out=out)
    monkeypatch.setattr(atomic, "fault", lambda step, path: None)
    finish_and_compare(out, reference)


@pytest.mark.parametrize("at", [i for i in WRITES if i in SAMPLED][::2], ids=lambda i: f"{i}-{LIFE[i]}")
def test_a_full_disk_at_any_write_fails_and_the_run_resumes_to_the_same_bytes(tmp_path, reference, monkeypatch, at):
    _fill_the_disk_at(tmp_path, reference, monkeypatch, at)


@pytest.mark.slow
@pytest.mark.parametrize("at", [i for i in WRITES if i not in SAMPLED[::2]], ids=lambda i: f"{i}-{LIFE[i]}")
def test_a_full_disk_at_every_other_write(tmp_path, reference, monkeypatch, at):
    _fill_the_disk_at(tmp_path, reference, monkeypatch, at)


def test_a_full_disk_names_the_checkpoint_that_is_intact(tmp_path, monkeypatch):
    from dlnotes import atomic
    from dlnotes.engine import trainer

    monkeypatch.setattr(trainer, "SAVE_EVERY_S", 0)
    at = LIFE.index("write .checkpoint.tmp/state.pt", LIFE.index("write history.csv"))  # the commit of epoch 2

    seen = {"n": 0}

    def fault(step, path):  # once: the disk is full at event ``at`` only
        seen["n"] += 1
        if seen["n"] - 1 == at:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(atomic, "fault", fault)
    with pytest.raises(RunFailure, match=r"could not write the checkpoint of epoch 2 into .* the checkpoint of "
                                         r"epoch 1 is intact; free some space and continue with"):
        train(cfg(), out=tmp_path / "run")


def test_a_second_writer_exits_naming_the_holder(finished):
    out = finished
    ready, release = os.pipe(), os.pipe()

    def holder():
        RunDir(out).lock()
        os.write(ready[1], b"x")
        os.read(release[0], 1)  # hold the lock until the parent has tried

    proc = multiprocessing.get_context("fork").Process(target=holder)
    proc.start()
    os.read(ready[0], 1)
    before = snapshot(out)
    try:
        with pytest.raises(UserError, match=rf"being written by another dlnotes process \(PID {proc.pid}\)"):
            train(None, resume=out, overrides=["train.epochs=4"])
    finally:
        os.write(release[1], b"x")
        proc.join(30)
    assert snapshot(out) == before
    train(None, resume=out, overrides=["train.epochs=4"])  # the lock went with its holder
    assert RunDir(out).epochs_completed() == 4


def test_a_lock_left_to_a_dead_writers_workers_is_waited_for(tmp_path):
    """A writer killed outright leaves forked DataLoader workers holding the lock's descriptor for a few
    seconds; when the PID recorded in .lock is gone, the next writer waits for them instead of refusing."""
    out = tmp_path / "run"
    out.mkdir()
    ready, release = os.pipe(), os.pipe()

    def orphan():  # holds the flock, as an orphaned worker does, while .lock names a dead process
        rd = RunDir(out)
        rd.lock()
        os.pwrite(rd._lock_fd, b"999999999\n", 0)
        os.write(ready[1], b"x")
        os.read(release[0], 1)

    proc = multiprocessing.get_context("fork").Process(target=orphan)
    proc.start()
    os.read(ready[0], 1)
    import threading
    threading.Timer(0.5, lambda: os.write(release[1], b"x")).start()  # the orphan exits after 0.5 s
    start = time.monotonic()
    rd = RunDir(out)
    rd.lock()  # waits, then takes it
    assert time.monotonic() - start >= 0.4
    assert (out / ".lock").read_text().strip() == str(os.getpid())
    rd.unlock()
    proc.join(30)


@pytest.mark.parametrize("override, key", [("seed=5", "seed"), ("model.threshold=0.7", "model.threshold"),
                                           ("train.optimizer.momentum=0.5", "train.optimizer.momentum")])
def test_a_refused_resume_writes_nothing_and_eval_still_works(finished, override, key):
    out = finished
    before = snapshot(out)
    with pytest.raises(UserError, match=rf"'{key}' changes the experiment .* start a new run"):
        train(None, resume=out, overrides=["train.epochs=5", override])
    assert snapshot(out) == before
    assert Run.load(out).evaluate("test")["accuracy"] > 0.5


def test_a_changed_dataset_is_refused_before_anything_is_written(finished):
    out = finished
    meta = json.loads((out / "meta.json").read_text())
    meta["dataset"]["input_shape"] = [31]  # as if the data had changed under the run
    meta["model"]["args"]["in_features"] = 31
    for key in ("x_mean", "x_std"):  # a consistent meta.json: one statistic per feature
        meta["preprocess"][key] = meta["preprocess"][key] + [1.0]
    (out / "meta.json").write_text(json.dumps(meta))
    before = snapshot(out)
    with pytest.raises(UserError, match=r"model.args was .* and is now"):
        train(None, resume=out, overrides=["train.epochs=4"])
    assert snapshot(out) == before


def test_out_into_a_folder_of_user_files_is_refused_and_leaves_it_byte_identical(tmp_path, monkeypatch):
    user = tmp_path / "mine"
    (user / "plots").mkdir(parents=True)
    for name, data in {"config.yaml": b"my: config\n", "metrics.json": b"{}", "model.safetensors": b"\x00\x01",
                       "plots/a.png": b"png"}.items():
        (user / name).write_bytes(data)
    before = snapshot(user)
    with pytest.raises(UserError, match="holds files that are not a dlnotes run"):
        train(cfg(), out=user)
    assert snapshot(user) == before and sorted(p.name for p in user.iterdir()) == ["config.yaml", "metrics.json",
                                                                                   "model.safetensors", "plots"]
    monkeypatch.chdir(tmp_path / "mine" / "plots")
    (user / "plots" / "a.png").unlink()  # even empty, the current folder is refused
    with pytest.raises(UserError, match="is the current folder"):
        train(cfg(), out=".")


def test_out_into_a_finished_run_is_refused_and_an_empty_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    train(cfg(epochs=1), out=out)
    before = snapshot(out)
    with pytest.raises(UserError, match="already holds a run; continue it with --resume"):
        train(cfg(epochs=1), out=out)
    assert snapshot(out) == before


@pytest.mark.parametrize("how", ["out", "resume"])
def test_a_run_never_checkpointed_is_restarted_saying_so(tmp_path, reference, capsys, how):
    out = tmp_path / "run"
    killed_run(out, LIFE.index("write .checkpoint.tmp/state.pt"))
    assert RunDir(out).status() == "untrained"
    with pytest.raises(UserError, match="no checkpoint"):
        Run.load(out)
    if how == "out":
        train(cfg(), out=out)
    else:
        train(None, resume=out)
    assert "never reached its first checkpoint; restarting it" in capsys.readouterr().err
    assert (out / RunDir.WEIGHTS).read_bytes() == reference


def test_resuming_a_finished_cosine_run_reanneals_from_the_schedule(finished):
    out = finished
    first = (out / RunDir.WEIGHTS).read_bytes()
    rows = RunDir(out).read_history()
    run = train(None, resume=out, overrides=["train.epochs=5"])
    assert (out / RunDir.WEIGHTS).read_bytes() != first
    history = RunDir(out).read_history()
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert [r["seconds"] for r in history[:3]] == [r["seconds"] for r in rows]  # the first session's time stays
    for row in history[3:]:  # lr_e = lr * (1 + cos(pi * (e - 1) / 5)) / 2, never the finished run's 0
        assert row["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * (row["epoch"] - 1) / 5)) / 2, rel=1e-5)
        assert row["lr"] > 0
    assert run.metrics["train_seconds"] == pytest.approx(sum(r["seconds"] for r in history), abs=1e-2)
    assert run.metrics["epochs"] == 5
    train(None, resume=out, overrides=["train.epochs=6", "train.optimizer.lr=0.01"])  # a new lr is used
    assert RunDir(out).read_history()[5]["lr"] == pytest.approx(0.01 * (1 + math.cos(math.pi * 5 / 6)) / 2, rel=1e-5)


def test_a_run_stopped_after_its_last_epoch_is_completed_by_resume(tmp_path):
    out = tmp_path / "run"

    def child():
        Run.plot = lambda run: os.kill(os.getpid(), signal.SIGTERM)  # SIGTERM while drawing
        train(cfg(), out=out)

    assert in_child(child) == -signal.SIGTERM
    assert not (out / RunDir.METRICS).exists()
    weights = (out / RunDir.WEIGHTS).read_bytes()
    run = train(None, resume=out)  # nothing left to train: the test and the figures
    assert json.loads((out / RunDir.METRICS).read_text())["accuracy"] == run.metrics["accuracy"] > 0.5
    assert (out / RunDir.WEIGHTS).read_bytes() == weights and (out / "plots/learning_curves.png").is_file()
    with pytest.raises(UserError, match="already has 3 epochs"):
        train(None, resume=out)


@pytest.mark.parametrize("name, expected", [("../../x", "x"), ("/etc/passwd", "etc_passwd"), ("a b/c", "a_b_c"),
                                            ("..", "run"), ("lenet_digits", "lenet_digits")])
def test_the_config_name_is_one_file_name_component(name, expected):
    out = default_out(validate({**LR, "name": name}))
    assert out.parent == Path("runs") and out.name.startswith(expected + "-")


def test_writes_never_follow_a_link_out_of_the_run(finished, tmp_path):
    out, elsewhere = finished, tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(out / "plots")
    (out / "plots").symlink_to(elsewhere)
    with pytest.raises(UserError, match="is a symbolic link"):
        Run.load(out).plot()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("edit, field", [
    (lambda m: m["model"].update(name="resnet"), "model.name"),
    (lambda m: m["dataset"].update(task="bogus"), "dataset.task"),
    (lambda m: m["dataset"].update(input_shape=["a"]), "dataset.input_shape.0"),
    (lambda m: m["dataset"].update(classes=["0"]), "dataset.classes"),
    (lambda m: m.pop("preprocess"), "preprocess"),
])
def test_meta_json_is_validated_on_load(finished, edit, field):
    out = finished
    meta = json.loads((out / "meta.json").read_text())
    edit(meta)
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=rf"meta.json field '{field}'"):
        Run.load(out)


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.update(epoch="3"), "epoch"),
    (lambda m: m["files"].pop("state.pt"), "files"),
    (lambda m: m["files"].update({"../x": "0" * 64}), "files"),
])
def test_the_checkpoint_manifest_is_validated_on_load(finished, edit, field):
    out = finished
    path = out / "checkpoint/manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=rf"checkpoint manifest field '{field}'"):
        Run.load(out)
