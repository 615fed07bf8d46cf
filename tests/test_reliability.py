"""Resume, interruption, divergence, tampered files and bad inputs, tried as a user would."""

import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LENET_DIGITS = Path(__file__).resolve().parents[1] / "configs" / "lenet_digits.yaml"


FAST = ["data.image_size=16", "train.scheduler.name=none", "-q"]


def epochs_done(run) -> int:
    from dlnotes.engine.rundir import RunDir

    return RunDir(run).epochs_completed() or 0


def train(cli, out, *extra):
    """``dlnotes train`` of a small LeNet on digits through ``cli`` (a process of its own, or ``in_process``)."""
    return cli("train", "--config", LENET_DIGITS, "--out", out, *FAST, *extra)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, in_process):
    """One finished one-epoch run per test module (per xdist worker); tests that change it copy it."""
    out = tmp_path_factory.mktemp("r") / "run"
    assert train(in_process, out, "train.epochs=1").returncode == 0
    return out


def copy_of(run, to):
    import shutil

    return shutil.copytree(run, to)


@pytest.mark.slow  # the same bytes after a resume: in process by test_rundir's kill points and test_schedules
def test_two_plus_two_epochs_equal_four(cli, tmp_path):
    assert train(cli, tmp_path / "a", "train.epochs=2").returncode == 0
    r = cli("train", "--resume", tmp_path / "a", "train.epochs=4", "-q")
    assert r.returncode == 0, r.stderr
    assert train(cli, tmp_path / "b", "train.epochs=4").returncode == 0
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    assert epochs_done(tmp_path / "a") == 4
    r = cli("train", "--resume", tmp_path / "a", "-q")
    assert r.returncode == 2 and "train.epochs" in r.stderr


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('EVIL_MARK', '/tmp/dlnotes_pwned')}",))


@pytest.mark.parametrize("target", ["checkpoint/state.pt", "model.safetensors"])
def test_a_pickle_in_place_of_a_checkpoint_runs_no_code(tmp_path, target, tiny_run, in_process):
    copy_of(tiny_run, tmp_path / "r")
    mark = tmp_path / "pwned"
    os.environ["EVIL_MARK"] = str(mark)
    evil = pickle.dumps(Evil())
    (tmp_path / "r" / target).write_bytes(evil)
    manifest = json.loads((tmp_path / "r/checkpoint/manifest.json").read_text())
    # even with a matching sha256 in the manifest, nothing may run
    manifest["files"][target.split("/")[-1]] = hashlib.sha256(evil).hexdigest()
    (tmp_path / "r/checkpoint/manifest.json").write_text(json.dumps(manifest))
    cmd = ("eval", "--run", tmp_path / "r") if target == "model.safetensors" else \
        ("train", "--resume", tmp_path / "r", "train.epochs=2", "-q")
    r = in_process(*cmd)
    assert r.returncode == 2, r.stderr
    assert "not a valid" in r.stderr and "Traceback" not in r.stderr
    assert not mark.exists()


def test_changed_weights_fail_the_sha256_check(tmp_path, tiny_run, in_process):
    copy_of(tiny_run, tmp_path / "r")
    w = tmp_path / "r/model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    r = in_process("eval", "--run", tmp_path / "r")
    assert r.returncode == 2 and "sha256" in r.stderr
    w.write_bytes(bytes(data[: len(data) // 2]))
    r = in_process("eval", "--run", tmp_path / "r")
    assert r.returncode == 2


def test_divergence_stops_with_exit_1_and_keeps_the_last_good_checkpoint(in_process, tmp_path):
    r = train(in_process, tmp_path / "d", "train.optimizer.lr=1e8", "train.epochs=3")
    assert r.returncode == 1
    assert "diverged" in r.stderr and "epoch 1" in r.stderr and "lower learning rate" in r.stderr
    assert "Traceback" not in r.stderr
    assert (tmp_path / "d/model.safetensors").is_file()  # the checkpoint before the first epoch


def test_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    from dlnotes import atomic

    target = tmp_path / "state.bin"
    atomic.atomic_write(target, b"good")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    from dlnotes.errors import RunFailure

    with pytest.raises(RunFailure, match=f"disk full: could not write '{target}'"):
        atomic.atomic_write(target, b"x" * 1000)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]  # no temp file left


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130),
                                       pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)])
def test_interrupt_saves_a_checkpoint_that_resumes(tmp_path, sig, code, in_process, root):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "dlnotes", "train", "--config", str(LENET_DIGITS),
                             "--out", str(out), "train.epochs=500", *FAST], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if epochs_done(out) >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)  # a hang guard, not a timing: the run stops after its current step
    assert proc.returncode == code, err
    assert epochs_done(out) < 500
    assert "dlnotes train --resume" in err
    done = epochs_done(out)
    # the signal needed a process of its own; the resume does not
    r = in_process("train", "--resume", out, f"train.epochs={done + 1}", "-q")
    assert r.returncode == 0, r.stderr


BAD = [
    (["train", "--config", "missing.yaml"], "not found"),
    (["train", "--config", "{bad}"], "invalid YAML"),
    (["train", "--config", "{cfg}", "train.epochs"], "no '='"),
    (["train", "--config", "{cfg}", "train.nope.x=1"], "unknown key 'nope' in train"),
    (["train", "--config", "{cfg}", "model.name=lenet5"], "did you mean 'lenet'"),
    (["train", "--config", "{cfg}", "data.name=digitz"], "did you mean 'digits'"),
    (["train", "--config", "{cfg}", "train.optimizer.name=adamm"], "did you mean 'adam'"),
    (["train", "--config", "{cfg}", "train.epochs=0"], "train.epochs"),
    (["train", "--config", "{cfg}", "train.optimizer.lr=0"], "train.optimizer.lr"),
    (["train", "--config", "{cfg}", "data.batch_size=0"], "data.batch_size"),
    (["train", "--config", "{cfg}", "data.val_fraction=1.5"], "data.val_fraction"),
    (["train", "--config", "{cfg}", "--device", "cuda:7"], "cuda"),
    (["eval", "--run", "no/such/run"], "not found"),
    (["eval", "--run", "{tmp}"], "is not a dlnotes run"),
    (["predict", "--run", "no/such/run", "--input", "x.png"], "not found"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a[:3]) + " " + a[-1] for a, _ in BAD])
def test_bad_inputs_exit_2_with_one_line(tmp_path, write_config, args, message, in_process):
    cfg = write_config({"data": {"name": "digits"}, "model": {"name": "lenet"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    args = [a.replace("{cfg}", str(cfg)).replace("{bad}", str(bad)).replace("{tmp}", str(tmp_path)) for a in args]
    r = in_process(*args, "--out", tmp_path / "o") if args[0] == "train" else in_process(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.png", "not found"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "no image files"),
    (lambda d: (d / "fake.png").write_text("hello") and d / "fake.png", "not a readable image"),
])
def test_bad_predict_inputs(tiny_run, tmp_path, make, message, in_process):
    r = in_process("predict", "--run", tiny_run, "--input", make(tmp_path))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_deferred_checkpoints_reach_disk_on_interrupt(monkeypatch, tiny_lenet):
    """Fast epochs are saved at most every SAVE_EVERY_S; an interrupt still writes the last finished one."""
    import json as _json

    import torch

    from dlnotes.config import validate
    from dlnotes.collect import load_data
    from dlnotes.engine import trainer as trainer_mod
    from dlnotes.models import build_model, model_args
    TINY_LENET = tiny_lenet

    monkeypatch.setattr(trainer_mod, "SAVE_EVERY_S", 1e9)
    cfg = validate({**TINY_LENET, "train": {**TINY_LENET["train"], "epochs": 5}})
    data = load_data(cfg)
    model = build_model("lenet", model_args("lenet", cfg.extras("model"), data.model_inputs()))
    saved = []

    def save(m, state, hist):
        weights = m if isinstance(m, dict) else {k: v.clone() for k, v in m.state_dict().items()}
        saved.append((state["epoch"], len(_json.loads(state["history"])), weights))

    t = trainer_mod.Trainer(cfg, model, data, torch.device("cpu"), save=save, quiet=True)
    original = t.train_epoch
    after_two = {}

    def train_epoch(epoch, bar):
        if epoch == 3:
            after_two.update({k: v.clone() for k, v in model.state_dict().items()})
            raise trainer_mod.Interrupted(2, epoch - 1)
        return original(epoch, bar)

    t.train_epoch = train_epoch
    with pytest.raises(trainer_mod.Interrupted):
        t.fit()
    assert [(e, n) for e, n, _ in saved] == [(0, 0), (2, 2)]  # epoch 1 was deferred, then superseded
    assert all(torch.equal(saved[-1][2][k], after_two[k]) for k in after_two)


def test_atomic_writes_keep_the_usual_file_permissions(tmp_path):
    import os

    from dlnotes.atomic import atomic_write

    mask = os.umask(0)
    os.umask(mask)
    atomic_write(tmp_path / "a.json", "{}")  # mkstemp alone would leave it 0600, unreadable to others
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
