"""DDP under torchrun on CPU (gloo): the same config, two processes, the same results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]  # the repository root, where configs/ lives


def torchrun(*args, nproc=2, timeout=600):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "dlnotes", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def test_torchrun_two_processes_train_lenet_digits(tmp_path):
    out = tmp_path / "run"
    r = torchrun("train", "--config", "configs/lenet_digits.yaml", "--out", out, "--quiet", "train.epochs=5")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("run: ") == 1  # only rank 0 reports
    meta = json.loads((out / "meta.json").read_text())
    assert meta["distributed"] == {"world_size": 2, "backend": "gloo"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.95 and metrics["epochs"] == 5
    assert len((out / "history.csv").read_text().strip().splitlines()) == 6
    assert (out / "model.safetensors").is_file() and (out / "checkpoint/state.pt").is_file()
    assert not list(out.rglob("*.tmp*"))


def _even_split_config(write_config):
    """An MLP job whose training set splits evenly over 2 ranks in every step (no padding)."""
    from dlnotes.config import validate
    from dlnotes.collect import load_data

    for test_fraction in (0.2, 0.21, 0.22, 0.23, 0.24):
        cfg = {"name": "ddp", "seed": 0,
               "data": {"name": "digits", "image_size": 8, "batch_size": 64, "val_fraction": 0.0,
                        "test_fraction": test_fraction},
               "model": {"name": "mlp", "hidden_sizes": [32]},
               "train": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.0}}}
        if len(load_data(validate(cfg)).train) % 2 == 0:
            return write_config(cfg)
    raise AssertionError("no even split found")


@pytest.mark.slow  # two processes under torchrun: test_torchrun_two_processes_train_lenet_digits runs by default
def test_two_processes_reach_the_weights_of_one_with_sgd(cli, tmp_path, write_config):
    path = _even_split_config(write_config)
    single, double = tmp_path / "one", tmp_path / "two"
    r = cli("train", "--config", path, "--out", single, "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("train", "--config", path, "--out", double, "--quiet", "--nproc", 2)  # the launcher: torchrun underneath
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = load_file(single / "model.safetensors"), load_file(double / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] - b[k]).abs().max().item() < 1e-5, k
    one, two = (json.loads((d / "history.csv").read_text().splitlines()[1].split(",")[1]) for d in (single, double))
    assert one == pytest.approx(two, rel=1e-5)  # the all-reduced training loss is the single process's
    # checkpoints resume under DDP
    r = cli("train", "--resume", double, "--nproc", 2, "--quiet", "train.epochs=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert len((double / "history.csv").read_text().strip().splitlines()) == 3


def test_closed_form_solver_refuses_ddp(tmp_path, monkeypatch, in_process):
    """In the environment torchrun gives its workers: refused before any process group is joined (so no
    rank waits for this one), in one line, nothing written."""
    for var, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": "1"}.items():  # a port nobody listens on: joining would fail, not refuse
        monkeypatch.setenv(var, value)
    r = in_process("train", "--config", ROOT / "configs/linreg_diabetes.yaml", "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: train.solver: 'lstsq' runs in one process; launch it without torchrun")
    assert not (tmp_path / "run").exists()
