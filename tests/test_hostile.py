"""Hostile and broken inputs: every one must exit 2 with one ``error:`` line naming the culprit, no
traceback, and nothing written or changed; a real failure during a run stays exit 1.

Fake data files are written the way torchvision's tests write them (tiny IDX, CIFAR, PNG files built
byte by byte). Most cases call ``dlnotes.cli.main`` in this process (a subprocess costs seconds of
imports each); only the cases that need isolation (YAML bombs under a memory limit, a closed stdout pipe) start a
process, each under a timeout; FIFOs are tried in-process under an alarm.
"""

from __future__ import annotations

import gzip
import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
from bad_files import png_header_only
import pytest
import yaml

from cli_in_process import call

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------------
# helpers




def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its size, mtime and mode (a FIFO is listed, never opened)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_size if not p.is_dir() else 0, st.st_mtime_ns, st.st_mode)
    return out


def assert_refused(code: int, err: str, culprit: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}, stderr: {err}"
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in err
    assert culprit.lower() in lines[0].lower(), f"{culprit!r} not named in: {lines[0]}"


def refused(where: Path, culprit: str, *args) -> str:
    """Runs ``dlnotes ARGS``; asserts exit 2, one line naming ``culprit``, and ``where`` unchanged."""
    before = snapshot(where)
    code, _, err = call(*args)
    assert_refused(code, err, culprit)
    assert snapshot(where) == before, "a refused input wrote or changed files"
    return err


def write_idx(path: Path, data: np.ndarray, magic_type: int = 0x08, dims: list[int] | None = None,
              compress: bool = False) -> Path:
    """An IDX file as MNIST ships it: 0, 0, type, ndim, big-endian sizes, then the bytes."""
    dims = list(data.shape) if dims is None else dims
    raw = bytes([0, 0, magic_type, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


BASE = {"name": "h", "data": {"name": "digits", "image_size": 8, "val_fraction": 0},
        "model": {"name": "mlp", "hidden_sizes": [8]}, "train": {"epochs": 1}}


def merged(base: dict, patch: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and v.get("name", out[k].get("name")) == out[k].get("name"):
            out[k] = merged(out[k], v)
        else:
            out[k] = v
    return out


@pytest.fixture
def work(tmp_path, monkeypatch):
    """An empty working directory (a default runs/ would land here and show in the snapshot)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DLNOTES_DEBUG", raising=False)
    return tmp_path


# --------------------------------------------------------------------------------------------------
# config values: each refused at load with the key, the value and what is allowed

VALUES = [
    ({"model": {"dropout": 1.5}}, "model.dropout"),
    ({"model": {"dropout": -0.1}}, "model.dropout"),
    ({"model": {"dropout": float("nan")}}, "model.dropout"),
    ({"model": {"dropout": True}}, "model.dropout"),
    ({"model": {"hidden_sizes": [0]}}, "model.hidden_sizes"),
    ({"model": {"hidden_sizes": [[1, 2]]}}, "model.hidden_sizes"),
    ({"model": {"hidden_sizes": "12"}}, "model.hidden_sizes"),
    ({"model": {"hidden_sizes": [1.5]}}, "model.hidden_sizes"),
    ({"model": {"hidden_sizes": [8] * 100}}, "model.hidden_sizes"),
    ({"model": {"hidden_sizes": [10**8]}}, "model.hidden_sizes"),
    ({"model": {"hidden_sizes": None}}, "model.hidden_sizes"),
    ({"model": {"activation": "swish"}}, "model.activation"),
    ({"model": {"activation": 3}}, "model.activation"),
    ({"model": {"slope": -1}}, "model.slope"),
    ({"model": {"activaton": "relu"}}, "activaton"),
    ({"model": {"name": "mlp5"}}, "mlp5"),
    ({"model": {"name": 5}}, "model.name"),
    ({"model": {"num_classes": -1}}, "model.num_classes"),
    ({"train": {"scheduler": {"name": "step", "step_size": 0}}}, "step_size"),
    ({"train": {"scheduler": {"name": "step", "step_size": 2.5}}}, "step_size"),
    ({"train": {"scheduler": {"name": "step", "gamma": 0}}}, "gamma"),
    ({"train": {"scheduler": {"name": "cosine", "min_lr": -1}}}, "min_lr"),
    ({"train": {"scheduler": {"name": "none", "step_size": 3}}}, "step_size"),
    ({"train": {"scheduler": {"name": "linear"}}}, "linear"),
    ({"train": {"optimizer": {"name": "sgd", "momentum": -1}}}, "momentum"),
    ({"train": {"optimizer": {"name": "sgd", "momentum": 1}}}, "momentum"),
    ({"train": {"optimizer": {"name": "sgd", "nesterov": "yes"}}}, "nesterov"),
    ({"train": {"optimizer": {"name": "adam", "betas": [2, 0.9]}}}, "betas"),
    ({"train": {"optimizer": {"name": "adam", "beta1": 2}}}, "beta1"),
    ({"train": {"optimizer": {"name": "adamw", "beta2": -0.1}}}, "beta2"),
    ({"train": {"optimizer": {"name": "adam", "weight_decay": -1}}}, "weight_decay"),
    ({"train": {"optimizer": {"name": "adam", "lr": 0}}}, "lr"),
    ({"train": {"optimizer": {"name": "adam", "lr": -1}}}, "lr"),
    ({"train": {"optimizer": {"name": "adam", "lr": float("inf")}}}, "lr"),
    ({"train": {"optimizer": {"name": "adam", "lr": float("nan")}}}, "lr"),
    ({"train": {"optimizer": {"name": "adam", "lr": "fast"}}}, "lr"),
    ({"train": {"optimizer": {"name": "lbfgs"}}}, "lbfgs"),
    ({"seed": 2**64}, "seed"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": "x"}, "seed"),
    ({"train": {"epochs": 0}}, "train.epochs"),
    ({"train": {"epochs": 10**12}}, "train.epochs"),
    ({"train": {"epochs": 1.5}}, "train.epochs"),
    ({"train": {"epochs": True}}, "train.epochs"),
    ({"train": {"epochs": "ten"}}, "train.epochs"),
    ({"train": {"grad_clip": -1}}, "grad_clip"),
    ({"train": {"early_stopping": {"patience": -1}}}, "patience"),
    ({"train": {"early_stopping": {"min_delta": -1}}}, "min_delta"),
    ({"train": {"solver": "newton"}}, "train.solver"),
    ({"train": {"gradient": "manual"}}, "train.gradient"),
    ({"train": {"loss": "huber"}}, "huber"),
    ({"train": "fast"}, "train"),
    ({"data": {"batch_size": 0}}, "batch_size"),
    ({"data": {"batch_size": 2**40}}, "batch_size"),
    ({"data": {"val_fraction": 1}}, "val_fraction"),
    ({"data": {"val_fraction": -0.1}}, "val_fraction"),
    ({"data": {"test_fraction": 0}}, "test_fraction"),
    ({"data": {"image_size": 3000}}, "data.image_size"),
    ({"data": {"image_size": 0}}, "data.image_size"),
    ({"data": {"image_size": "big"}}, "data.image_size"),
    ({"data": {"name": "digitz"}}, "digitz"),
    ({"data": ["digits"]}, "data"),
    ({"device": "gpu"}, "device"),
    ({"device": "garbage"}, "device"),
    ({"device": "cpu:x"}, "device"),
    ({"device": "cuda:x"}, "device"),
    ({"epochs": 3}, "epochs"),
    ({"name": None}, "name"),
    ({"model": {"name": "lenet", "num_classes": 1}}, "model.num_classes"),
    ({"model": {"name": "lenet", "in_channels": 0}}, "model.in_channels"),
    ({"model": {"name": "lenet", "pool": "median"}}, "model.pool"),
    ({"model": {"name": "alexnet", "width": 0}}, "model.width"),
    ({"model": {"name": "alexnet", "width": 100}}, "model.width"),
    ({"model": {"name": "alexnet", "groups": 3}}, "model.groups"),
    ({"model": {"name": "rnn", "num_layers": 0}}, "model.num_layers"),
    ({"model": {"name": "rnn", "hidden_size": 0}}, "model.hidden_size"),
    ({"model": {"name": "lstm", "dropout": 1}}, "model.dropout"),
    ({"model": {"name": "gru", "head": "first"}}, "model.head"),
    ({"model": {"name": "rnn", "impl": "cuda"}}, "model.impl"),
    ({"model": {"name": "logistic_regression", "threshold": 1}}, "model.threshold"),
    ({"data": {"name": "synthetic_linear", "n_samples": 1}, "model": {"name": "linear_regression"}}, "n_samples"),
    ({"data": {"name": "synthetic_linear", "noise": -1}, "model": {"name": "linear_regression"}}, "noise"),
    ({"data": {"name": "synthetic_linear", "x_min": float("nan")}, "model": {"name": "linear_regression"}},
     "x_min"),
    ({"data": {"name": "sine", "period_min": 0}, "model": {"name": "rnn"}}, "period_min"),
    ({"data": {"name": "sine", "seq_len": 0}, "model": {"name": "rnn"}}, "seq_len"),
    ({"data": {"name": "mnist1d", "train_split": 1}, "model": {"name": "rnn"}}, "train_split"),
    ({"data": {"name": "mnist1d", "seed": 2**40}, "model": {"name": "rnn"}}, "data.seed"),
    ({"data": {"name": "timeseries_csv", "path": "s.csv", "stride": 0}, "model": {"name": "rnn"}}, "stride"),
    ({"data": {"name": "text", "path": "t.txt", "seq_len": 0}, "model": {"name": "rnn"}}, "seq_len"),
    ({"data": {"name": "mnist", "limit_train": -1}}, "limit_train"),
    ({"data": {"name": "image_folder", "channels": 2}}, "channels"),
    ({"data": {"name": "image_folder", "root": 7}}, "data.root"),
    ({"train": {"solver": "grid", "grid": {"w_min": float("nan")}}, "data": {"name": "synthetic_linear"},
      "model": {"name": "linear_regression"}}, "w_min"),
    ({"train": {"solver": "grid", "grid": {"w_max": float("inf")}}, "data": {"name": "synthetic_linear"},
      "model": {"name": "linear_regression"}}, "w_max"),
    ({"train": {"solver": "grid", "grid": {"w_min": 5, "w_max": 5}}, "data": {"name": "synthetic_linear"},
      "model": {"name": "linear_regression"}}, "w_min"),
    ({"train": {"solver": "grid", "grid": {"b_min": 11}}, "data": {"name": "synthetic_linear"},
      "model": {"name": "linear_regression"}}, "b_min"),
    ({"train": {"solver": "grid", "grid": {"steps": 1}}, "data": {"name": "synthetic_linear"},
      "model": {"name": "linear_regression"}}, "steps"),
]


@pytest.mark.parametrize("patch,culprit", VALUES, ids=[f"{i}-{c}" for i, (_, c) in enumerate(VALUES)])
def test_config_value_refused_at_load(work, patch, culprit):
    path = work / "cfg.yaml"
    path.write_text(yaml.safe_dump(merged(BASE, patch)))
    refused(work, culprit, "config", "--config", path)


@pytest.mark.parametrize("patch,culprit", VALUES[:12] + VALUES[37:46], ids=lambda v: str(v)[:30])
def test_train_refuses_before_writing_anything(work, patch, culprit):
    """The same values through ``train``: refused before a run directory exists."""
    path = work / "cfg.yaml"
    path.write_text(yaml.safe_dump(merged(BASE, patch)))
    refused(work, culprit, "train", "--config", path, "--out", work / "out")


# --------------------------------------------------------------------------------------------------
# YAML documents that are not configs

BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
data: {name: digits}
model: {name: mlp}
"""
GOOD = "data: {name: digits, image_size: 8}\nmodel: {name: mlp}\n"

DOCUMENTS = [
    ("bomb", BOMB, "aliases"),
    ("alias", "seed: &s 1\nname: x\n" + GOOD + "train: {epochs: *s}\n", "aliases"),
    ("merge", "base: &b {name: digits}\ndata:\n  <<: *b\nmodel: {name: mlp}\n", "aliases"),
    ("deep-list", "seed: " + "[" * 100_000 + "]" * 100_000 + "\n" + GOOD, "nested"),
    ("deep-map", "seed: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n" + GOOD, "nested"),
    ("deep-block", GOOD + "train:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)) + " " * 200 + "x: 1\n",
     "nested"),
    ("dup-top", GOOD + "seed: 1\nseed: 2\n", "line 4"),
    ("dup-nested", "data:\n  name: digits\n  name: iris\nmodel: {name: mlp}\n", "line 3"),
    ("dup-flow", "data: {name: digits, image_size: 8, image_size: 9}\nmodel: {name: mlp}\n", "image_size"),
    ("tab", "data:\n\tname: digits\n", "line 2"),
    ("unclosed", "data: {name: digits\n", "cfg.yaml"),
    ("empty", "", "empty"),
    ("comment-only", "# nothing\n", "empty"),
    ("list", "- data\n- model\n", "mapping"),
    ("scalar", "lenet\n", "mapping"),
    ("python-tag", "name: !!python/object/apply:os.system ['echo hi']\n" + GOOD, "cfg.yaml"),
    ("binary-tag", "name: !!binary aGVsbG8=\n" + GOOD, "name"),
    ("set-tag", "name: !!set {a, b}\n" + GOOD, "name"),
    ("timestamp", "name: 2020-01-01\n" + GOOD, "name"),
    ("int-key", "1: 2\n" + GOOD, "1"),
    ("nul", "name: \x00\n" + GOOD, "cfg.yaml"),
    ("huge-number", GOOD + "seed: 1" + "0" * 400 + "\n", "seed"),
    ("float-overflow", GOOD + "train: {optimizer: {lr: 1e999}}\n", "lr"),
]


@pytest.mark.parametrize("name,text,culprit", DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_yaml_document_refused(work, name, text, culprit):
    path = work / "cfg.yaml"
    path.write_text(text)
    refused(work, culprit, "config", "--config", path)


def test_config_file_not_utf8_or_too_large_or_not_a_file(work):
    bad = work / "latin.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    refused(work, "latin.yaml", "config", "--config", bad)
    big = work / "big.yaml"
    big.write_text(GOOD + "# " + "x" * (2 << 20) + "\n")
    refused(work, "big.yaml", "config", "--config", big)
    (work / "folder.yaml").mkdir()
    refused(work, "folder.yaml", "config", "--config", work / "folder.yaml")
    refused(work, "missing.yaml", "config", "--config", work / "missing.yaml")


# --------------------------------------------------------------------------------------------------
# command-line overrides

OVERRIDES = [
    ("train.epochs", "train.epochs"),
    ("=3", "=3"),
    ("train..epochs=3", "train..epochs"),
    ("train epochs=3", "train epochs"),
    ("train.epocs=3", "train.epocs=3"),
    ("seed.x=1", "seed"),
    ("train.epochs=abc", "train.epochs=abc"),
    ("train.epochs=*a", "train.epochs"),
    ("train.epochs=[&a [1], *a]", "aliases"),
    ("model.hidden_sizes=" + "[" * 100_000 + "]" * 100_000, "nested"),
    ("model.hidden_sizes={a: 1, a: 2}", "twice"),
    ("model.dropout=1.5", "model.dropout=1.5"),
    ("model.activaton=relu", "model.activaton=relu"),
    ("data.image_size=3000", "data.image_size=3000"),
    ("device=cpu:x", "device=cpu:x"),
    ("train.optimizer.lr=-1", "train.optimizer.lr=-1"),
    ("seed=18446744073709551616", "seed="),
    ("train.grid.w_min=.nan", "train.grid.w_min"),
    ("data=5", "data=5"),
]


@pytest.mark.parametrize("override,culprit", OVERRIDES, ids=[o[:30] for o, _ in OVERRIDES])
def test_override_refused_and_blamed(work, override, culprit):
    path = work / "cfg.yaml"
    path.write_text(yaml.safe_dump(BASE))
    err = refused(work, culprit, "config", "--config", path, override)
    if "." in override.split("=")[0] and "=" in override and override[0] != "=":
        assert "cfg.yaml" not in err, "an override's mistake is blamed on the file"


def test_file_mistake_is_blamed_on_the_file_not_the_override(work):
    path = work / "cfg.yaml"
    path.write_text(yaml.safe_dump(merged(BASE, {"model": {"dropout": 2.0}})))
    err = refused(work, "cfg.yaml", "config", "--config", path, "train.epochs=2")
    assert "override" not in err


# --------------------------------------------------------------------------------------------------
# command-line flags and usage errors (one error: line, never typer's box)

def flag_cases(tmp: Path) -> list[tuple[list, str]]:
    cfg = tmp / "cfg.yaml"
    return [
        (["train"], "--config"),
        (["train", "--config", cfg, "--resume", tmp], "--resume"),
        (["train", "--config", cfg, "--device", "gpu"], "--device"),
        (["train", "--config", cfg, "--device", "garbage"], "--device"),
        (["train", "--config", cfg, "--device", "cpu:x"], "--device"),
        (["train", "--config", cfg, "--device", "cuda:99999"], "--device"),
        (["train", "--config", cfg, "--nproc", "0"], "--nproc"),
        (["train", "--confg", cfg], "--confg"),
        (["train", "--config"], "--config"),
        (["eval", "--run", tmp, "--split", "holdout"], "--split"),
        (["eval", "--run", tmp, "--device", "tpu"], "--device"),
        (["eval"], "--run"),
        (["eval", "--run", tmp / "nope"], "nope"),
        (["eval", "--run", cfg], "cfg.yaml"),
        (["eval", "--run", tmp], "config.yaml"),
        (["predict", "--run", tmp, "--input", "x", "--top-k", "-1"], "--top-k"),
        (["predict", "--run", tmp, "--input", "x", "--top-k", "many"], "--top-k"),
        (["predict", "--run", tmp, "--input", "x", "--temperature", "1e-320"], "--temperature"),
        (["predict", "--run", tmp, "--input", "x", "--temperature", "nan"], "--temperature"),
        (["predict", "--run", tmp, "--input", "x", "--temperature", "inf"], "--temperature"),
        (["predict", "--run", tmp, "--input", "x", "--device", "gpu"], "--device"),
        (["predict", "--run", tmp, "--input", "x", "--output", tmp], "--output"),
        (["predict", "--run", tmp, "--input", "x", "--output", tmp / "no" / "out.csv"], "out.csv"),
        (["predict", "--run", tmp, "--input", "x", "--output", "/dev/full"], "/dev/full"),
        (["predict", "--run", tmp], "--input"),
        (["frobnicate"], "frobnicate"),
        (["models", "lenet5"], "lenet5"),
        (["datasets", "mnistt"], "mnistt"),
        (["runs", tmp / "nope"], "nope"),
        (["runs", cfg], "cfg.yaml"),
        (["plot"], "--run"),
        (["plot", "--activations", "--output", tmp], "--output"),
        (["plot", "--activations", "--output", tmp / "no" / "a.png"], "a.png"),
        (["export", "--run", tmp, "--format", "onnx", "--output", tmp], "--output"),
        (["export", "--run", tmp, "--format", "onnx"], "--output"),
        (["export", "--run", tmp, "--format", "onnx", "--output", tmp / "no" / "m.onnx"], "m.onnx"),
        (["summary", "--config", cfg, "model.dropout=3"], "model.dropout"),
        (["config"], "--config"),
        (["config", "--config", cfg, "--json"], "--json"),
        (["--debgu"], "--debgu"),
    ]


N_FLAGS = 40


@pytest.mark.parametrize("i", range(N_FLAGS))
def test_command_line_refused(work, i):
    (work / "cfg.yaml").write_text(yaml.safe_dump(BASE))
    args, culprit = flag_cases(work)[i]
    refused(work, culprit, *args)


def test_flag_case_count():
    assert len(flag_cases(Path("/x"))) == N_FLAGS


def test_read_only_output_folder(work):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = work / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        refused(work, "ro", "plot", "--activations", "--output", ro / "a.png")
    finally:
        ro.chmod(0o755)


# --------------------------------------------------------------------------------------------------
# data files of every format, refused before a run directory exists

def _mnist_root(tmp: Path, **bad) -> Path:
    """The four MNIST IDX files (5 train, 3 test images of 4x4), with ``bad`` replacing some of them."""
    root = tmp / "data"
    root.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 255, (5, 4, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 3, 4], dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 255, (3, 4, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([0, 1, 2], dtype=np.uint8),
    }
    for name, arr in files.items():
        if name in bad:
            bad[name](root / name)
        else:
            write_idx(root / name, arr)
    return root


def _raw(data: bytes):
    return lambda p: p.write_bytes(data)


IDX_CASES = [
    ("label-200", {"train-labels-idx1-ubyte": lambda p: write_idx(p, np.array([0, 1, 200, 3, 4], np.uint8))},
     "label 200"),
    ("label-10-test", {"t10k-labels-idx1-ubyte": lambda p: write_idx(p, np.array([0, 10, 2], np.uint8))},
     "t10k-labels"),
    ("count-mismatch", {"train-labels-idx1-ubyte": lambda p: write_idx(p, np.array([0, 1, 2, 3], np.uint8))},
     "4 labels"),
    ("truncated", {"train-images-idx3-ubyte": lambda p: write_idx(p, np.zeros(70, np.uint8), dims=[5, 4, 4])},
     "truncated"),
    ("extra-bytes", {"train-images-idx3-ubyte": lambda p: write_idx(p, np.zeros(90, np.uint8), dims=[5, 4, 4])},
     "more data"),
    ("bad-magic", {"train-images-idx3-ubyte": _raw(b"\x01\x02\x08\x03" + b"\0" * 40)}, "not an IDX"),
    ("float-type", {"train-images-idx3-ubyte": lambda p: write_idx(p, np.zeros((5, 4, 4), np.uint8), magic_type=0x0D)},
     "not an IDX"),
    ("labels-3d", {"train-labels-idx1-ubyte": lambda p: write_idx(p, np.zeros((5, 1, 1), np.uint8))}, "dimensions"),
    ("huge-header", {"train-images-idx3-ubyte": lambda p: write_idx(p, np.zeros(4, np.uint8),
                                                                    dims=[2**31, 2**16, 2**16])}, "damaged header"),
    ("empty-file", {"train-images-idx3-ubyte": _raw(b"")}, "train-images"),
    ("gzip-bomb", {"train-images-idx3-ubyte": lambda p: (p.with_name(p.name + ".gz").write_bytes(
        gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 5, 4, 4) + bytes(50_000_000), 1)))},
     "more data"),
    ("not-gzip", {"train-labels-idx1-ubyte": lambda p: p.with_name(p.name + ".gz").write_bytes(b"not gzip at all")},
     "train-labels"),
    ("missing", {"t10k-labels-idx1-ubyte": lambda p: None}, "t10k-labels"),
]


@pytest.mark.parametrize("name,bad,culprit", IDX_CASES, ids=[c[0] for c in IDX_CASES])
def test_idx_files_refused(work, name, bad, culprit):
    root = _mnist_root(work, **bad)
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merged(BASE, {"data": {"name": "mnist", "root": str(root), "image_size": 4}})))
    refused(work, culprit, "train", "--config", cfg, "--out", work / "out")


def test_download_offline_names_the_url(work, monkeypatch):
    import torchvision.datasets.utils as tvu
    from urllib.error import URLError

    def offline(url, *a, **k):
        raise URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merged(BASE, {"data": {"name": "mnist", "root": str(work / "d"), "download": True}})))
    refused(work, "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
            "train", "--config", cfg, "--out", work / "out")


def _cifar(work: Path, records: list[bytes] | None = None, size_bad: bool = False) -> Path:
    base = work / "data" / "cifar-10-batches-bin"
    base.mkdir(parents=True)
    good = b"".join(bytes([i % 10]) + bytes(3072) for i in range(2))
    for n in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (base / n).write_bytes(good)
    if records is not None:
        (base / "data_batch_3.bin").write_bytes(b"".join(records))
    if size_bad:
        (base / "test_batch.bin").write_bytes(good[:-7])
    return work / "data"


@pytest.mark.parametrize("case,culprit", [("label", "data_batch_3"), ("size", "test_batch"), ("missing", "data_batch_5")])
def test_cifar_batches_refused(work, case, culprit):
    root = _cifar(work, records=[bytes([0]) + bytes(3072), bytes([77]) + bytes(3072)] if case == "label" else None,
                  size_bad=case == "size")
    if case == "missing":
        (root / "cifar-10-batches-bin" / "data_batch_5.bin").unlink()
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merged(BASE, {"data": {"name": "cifar10", "root": str(root), "image_size": 8}})))
    refused(work, culprit, "train", "--config", cfg, "--out", work / "out")


def _folder(work: Path) -> Path:
    root = work / "imgs"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(2):
            png(root / c / f"{i}.png", np.full((6, 6), 40 * i, np.uint8))
    return root


FOLDER_CASES = [
    ("not-an-image", lambda r: (r / "cat" / "x.png").write_text("hello"), "x.png"),
    ("truncated-png", lambda r: (r / "dog" / "t.png").write_bytes((r / "dog" / "0.png").read_bytes()[:40]), "t.png"),
    ("bomb-png", lambda r: png_header_only(r / "cat" / "bomb.png", 30000, 30000), "bomb.png"),
    ("bomb-png-90mp", lambda r: png_header_only(r / "cat" / "big.png", 10000, 9000), "big.png"),
    ("empty-class", lambda r: (r / "bird").mkdir(), "bird"),
    ("jpeg-garbage", lambda r: (r / "dog" / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20), "x.jpg"),
    ("no-classes", lambda r: [p.rename(r / f"{p.parent.name}-{p.name}") for p in list(r.glob("*/*.png"))]
     and [d.rmdir() for d in list(r.iterdir()) if d.is_dir()], "class sub-folders"),
    ("one-class-and-hidden", lambda r: [(r / "dog").rename(r / ".ipynb_checkpoints")], "one class folder"),
]


@pytest.mark.parametrize("name,damage,culprit", FOLDER_CASES, ids=[c[0] for c in FOLDER_CASES])
def test_image_folder_refused(work, name, damage, culprit):
    root = _folder(work)
    damage(root)
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merged(BASE, {"data": {"name": "image_folder", "root": str(root), "image_size": 6,
                                                         "channels": 1}})))
    refused(work, culprit, "train", "--config", cfg, "--out", work / "out")


def test_relative_data_path_names_the_working_directory(work):
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merged(BASE, {"data": {"name": "image_folder", "root": "pics"}})))
    err = refused(work, "pics", "train", "--config", cfg, "--out", work / "out")
    assert str(work) in err and "working directory" in err


def test_hidden_folders_are_not_classes_and_16_bit_pngs_keep_their_depth(tmp_path):
    """Positive checks behind two refusals: .ipynb_checkpoints is skipped; a 16-bit PNG is read at 16 bits."""
    from dlnotes.data.images import image_folder
    from dlnotes.data.pixels import read_pixels

    root = _folder(tmp_path)
    (root / ".ipynb_checkpoints").mkdir()
    png(root / ".ipynb_checkpoints" / "0.png", np.zeros((6, 6), np.uint8))
    (root / "cat" / "._0.png").write_bytes(b"AppleDouble")
    ds = image_folder(root=str(root), image_size=6, channels=1)
    assert ds.classes == ["cat", "dog"] and len(ds.x) == 4

    ramp = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000).astype(np.uint16)  # up to 63000: > 255
    t = read_pixels(png(tmp_path / "deep.png", ramp), 1)
    np.testing.assert_array_equal(t[..., 0], ramp)  # every bit of the 16
    rgb = read_pixels(tmp_path / "deep.png", 3)
    assert rgb.shape == (8, 8, 3) and rgb.max() < 65535  # not clipped to white


# --------------------------------------------------------------------------------------------------
# predict inputs, against tiny trained runs (trained once per module, in this process)

RUN_CONFIGS = {
    "image": BASE,
    "series": {"name": "s", "data": {"name": "sine", "n_samples": 48, "seq_len": 6, "val_fraction": 0},
               "model": {"name": "rnn", "hidden_size": 4}, "train": {"epochs": 1}},
    "text": {"name": "t", "data": {"name": "text", "path": "TEXT", "seq_len": 8, "val_fraction": 0},
             "model": {"name": "gru", "hidden_size": 4, "embed_dim": 4}, "train": {"epochs": 1}},
    "table": {"name": "l", "data": {"name": "synthetic_linear", "n_samples": 40, "val_fraction": 0},
              "model": {"name": "linear_regression"}, "train": {"epochs": 1}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    (base / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20)
    made = {}

    def get(kind: str) -> Path:
        if kind not in made:
            cfg = yaml.safe_dump(RUN_CONFIGS[kind]).replace("TEXT", str(base / "t.txt"))
            (base / f"{kind}.yaml").write_text(cfg)
            code, _, err = call("train", "--config", base / f"{kind}.yaml", "--out", base / kind, "-q")
            assert code == 0, err
            made[kind] = base / kind
        return made[kind]
    return get


def _npy(value) -> callable:
    return lambda p: np.save(p, value)


PREDICT_CASES = [
    ("image", "missing.png", None, "missing.png"),
    ("image", "empty", lambda p: p.mkdir(), "empty"),
    ("image", "hidden", lambda p: (p.mkdir(), (p / "._x.png").write_bytes(b"x")), "hidden"),
    ("image", "text.png", lambda p: p.write_text("not a picture"), "text.png"),
    ("image", "bomb.png", lambda p: png_header_only(p, 30000, 30000), "bomb.png"),
    ("image", "cut.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\0\0"), "cut.png"),
    ("image", "gif.gif", lambda p: p.write_bytes(b"GIF89a\x01"), "gif.gif"),
    ("image", "dir-with-fifo", lambda p: (p.mkdir(), os.mkfifo(p / "x.png")), "dir-with-fifo"),
    ("series", "zero-d.npy", _npy(np.array(3.0)), "zero-d.npy"),
    ("series", "f32-overflow.npy", _npy(np.full(12, 1e39)), "f32-overflow.npy"),
    ("series", "nan.npy", _npy(np.array([1.0, np.nan] * 6)), "nan.npy"),
    ("series", "inf.npy", _npy(np.array([np.inf] * 12)), "inf.npy"),
    ("series", "complex.npy", _npy(np.ones(12, complex)), "complex.npy"),
    ("series", "bool.npy", _npy(np.ones(12, bool)), "bool.npy"),
    ("series", "str.npy", _npy(np.array(["a"] * 12)), "str.npy"),
    ("series", "object.npy", lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
     "object.npy"),
    ("series", "empty.npy", _npy(np.zeros(0)), "empty.npy"),
    ("series", "four-d.npy", _npy(np.zeros((2, 2, 2, 2))), "four-d.npy"),
    ("series", "short.npy", _npy(np.zeros(3)), "short.npy"),
    ("series", "garbage.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage"), "garbage.npy"),
    ("series", "f32-overflow.csv", lambda p: p.write_text("v\n" + "1e39\n" * 12), "f32-overflow.csv"),
    ("series", "words.csv", lambda p: p.write_text("v\n" + "one\n" * 12), "words.csv"),
    ("series", "empty.csv", lambda p: p.write_text(""), "empty.csv"),
    ("series", "seq.txt", lambda p: p.write_text("1 2 3"), "seq.txt"),
    ("series", "folder.npy", lambda p: p.mkdir(), "folder.npy"),
    ("table", "big.csv", lambda p: p.write_text("x0\n1\n1e39\n"), "big.csv"),
    ("table", "cols.csv", lambda p: p.write_text("a\n1\n"), "x0"),
    ("table", "nan.csv", lambda p: p.write_text("x0\nnan\n"), "nan.csv"),
    ("text", "", None, "--input"),
    ("text", "\u2603\u2603", None, "\u2603"),
]


@pytest.mark.parametrize("kind,name,make,culprit", PREDICT_CASES, ids=[f"{c[0]}-{c[1] or 'empty'}" for c in PREDICT_CASES])
def test_predict_input_refused(work, runs, kind, name, make, culprit):
    run = runs(kind)
    target = work / name if kind != "text" else name
    if make is not None:
        make(target)
    before = snapshot(run)
    refused(work, culprit, "predict", "--run", run, "--input", target)
    assert snapshot(run) == before


@pytest.mark.parametrize("flags,culprit", [
    (["--temperature", "1e-320"], "--temperature"),
    (["--temperature", "1e-5"], "--temperature"),
    (["--temperature", "1e9"], "--temperature"),
    (["--steps", "-2"], "--steps"),
])
def test_text_generation_flags_refused(work, runs, flags, culprit):
    refused(work, culprit, "predict", "--run", runs("text"), "--input", "the", *flags)


def test_predict_output_is_a_folder_or_in_a_missing_one(work, runs):
    img = png(work / "d.png", np.zeros((8, 8), np.uint8))
    refused(work, "--output", "predict", "--run", runs("image"), "--input", img, "--output", work)
    refused(work, "missing", "predict", "--run", runs("image"), "--input", img, "--output", work / "missing" / "o.csv")


def test_temperature_zero_and_tiny_but_valid_give_finite_probabilities(work, runs):
    code, out, err = call("predict", "--run", runs("text"), "--input", "the", "--steps", "5", "--temperature", "0.001")
    assert code == 0, err
    assert "nan" not in out.lower()


# --------------------------------------------------------------------------------------------------
# damaged run directories (the parts read by code this issue owns)

def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_run_dir_deep_meta_json_and_bomb_config(work, runs):
    run = _copy_run(runs("image"), work / "r1")
    (run / "meta.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(work, "meta.json", "eval", "--run", run)
    run2 = _copy_run(runs("image"), work / "r2")
    (run2 / "config.yaml").write_text(BOMB)
    refused(work, "aliases", "eval", "--run", run2)


@pytest.mark.parametrize("history", ["epoch,train_loss\n1,abc\n", "epoch,train_loss\n1\n", "epoch,loss\n1,2,3\n",
                                     "loss\n1\n", b"\xff\xfe\x00garbage"])
def test_plot_on_a_damaged_history(work, runs, history):
    run = _copy_run(runs("image"), work / "r")
    if isinstance(history, bytes):
        (run / "history.csv").write_bytes(history)
    else:
        (run / "history.csv").write_text(history)
    refused(work, "history.csv", "plot", "--run", run)


def test_runs_table_lists_damaged_runs_as_damaged(work, runs):
    folder = work / "all"
    _copy_run(runs("image"), folder / "good")
    for name, content in [("deep", "[" * 100_000), ("list", "[1, 2]"), ("bytes", b"\xff\xfe"),
                          ("types", '{"model": 5, "dataset": [], "epochs_completed": {}}')]:
        (folder / name).mkdir()
        path = folder / name / "meta.json"
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (folder / "noread").mkdir()
    (folder / "noread" / "meta.json").mkdir()  # a folder where the file should be
    code, out, err = call("runs", folder, "--json")
    assert code == 0, err
    import json

    rows = {r["run"]: r for r in json.loads(out)}  # every run listed; a damaged one says why (issue 20)
    assert set(rows) == {"good", "deep", "list", "bytes", "types"}  # noread has no meta.json file: not a run
    assert rows["good"]["damaged"] is None and rows["good"]["model"]
    assert all(rows[name]["damaged"] for name in rows if name != "good")


# --------------------------------------------------------------------------------------------------
# bombs (in a child under a memory limit), FIFOs (under an alarm), a closed pipe

def _child(args: list, timeout: float = 60, memory_mb: int | None = None) -> subprocess.CompletedProcess:
    """Runs ``python -m dlnotes ARGS`` under a hang guard and, with ``memory_mb``, an address-space limit:
    a child that tried to grow past it would fail with MemoryError instead of a clean one-line refusal."""
    def limit():
        if memory_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    return subprocess.run([sys.executable, "-m", "dlnotes", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("text,override", [
    (BOMB, None),
    (GOOD, "train.epochs=[&a [1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], [*b,*b,*b,*b,*b,*b,*b,*b,*b]]"),
    ("seed: " + "[" * 100_000 + "\n" + GOOD, None),
    (GOOD, "model.hidden_sizes=" + "[" * 100_000),
], ids=["bomb-file", "bomb-override", "deep-file", "deep-override"])
def test_bombs_end_at_once_in_little_memory(tmp_path, text, override):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    proc = _child(["config", "--config", path] + ([override] if override else []), timeout=30, memory_mb=400)
    assert_refused(proc.returncode, proc.stderr, "cfg.yaml" if override is None else "override")


def test_fifo_in_data_folder_and_as_input_never_blocks(work, runs):
    """A FIFO named like data is refused from its stat, never opened. In this process, under an alarm:
    an ``open`` that blocked would be interrupted (a failure here) instead of hanging the suite."""
    import signal

    class Blocked(BaseException):  # not an OSError: no except clause in dlnotes may swallow it
        pass

    def blocked(signum, frame):
        raise Blocked("a FIFO was opened and blocked")

    root = _folder(work)
    os.mkfifo(root / "cat" / "pipe.png")
    os.mkfifo(work / "x.png")
    os.mkfifo(work / "s.npy")
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merged(BASE, {"data": {"name": "image_folder", "root": str(root), "image_size": 6,
                                                         "channels": 1}})))
    cases = [(("train", "--config", cfg, "--out", work / "out"), "pipe.png"),
             (("predict", "--run", runs("image"), "--input", work / "x.png"), "x.png"),
             (("predict", "--run", runs("series"), "--input", work / "s.npy"), "s.npy")]
    previous = signal.signal(signal.SIGALRM, blocked)
    try:
        for args, culprit in cases:
            signal.alarm(60)
            refused(work, culprit, *args)
            signal.alarm(0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_closed_stdout_ends_quietly_with_sigpipe_status(tmp_path):
    """``dlnotes models | head -0``: the reader is gone before the first line; no traceback, exit 141."""
    proc = subprocess.Popen([sys.executable, "-m", "dlnotes", "models"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""


# --------------------------------------------------------------------------------------------------
# exit 1 stays distinct: a real failure during a run

def test_missing_extra_names_the_pip_command(work, runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ModuleNotFoundError
    refused(work, "pip install 'dlnotes[export]'", "export", "--run", runs("image"), "--format", "onnx",
            "--output", work / "m.onnx")


@pytest.mark.parametrize("data,model", [
    ({"name": "synthetic_linear", "n_samples": 64, "w": 1000.0, "standardize": False}, {"name": "linear_regression"}),
    ({"name": "synthetic_linear", "n_samples": 64, "n_features": 3}, {"name": "mlp", "hidden_sizes": [4]}),
], ids=["linear", "mlp"])
def test_diverging_run_exits_1_not_2(work, data, model):
    """lr 1e6 is a valid config (no upper bound on lr) that fails during the run: exit 1, one line."""
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"name": "d", "data": {**data, "val_fraction": 0}, "model": model,
                                   "train": {"epochs": 20, "optimizer": {"name": "sgd", "lr": 1.0e6}}}))
    code, _, err = call("train", "--config", cfg, "--out", work / "out", "-q")
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "diverged" in lines[0]
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------------
# users' tables (issue 26 items 3-8): a value, a row or a test file that cannot be read as meant is
# refused with the file, line, column and value, before a run directory exists

TABLE_X = [round(0.37 * i - 3.1 * (i % 5), 3) for i in range(40)]


def table_text(sep: str = ",", cell=None, row=None) -> str:
    """``x,colour,y`` over 40 rows; ``cell``: data row 7's x replaced; ``row``: data row 10 replaced."""
    rows = [sep.join([str(x), ["red", "green", "blue"][i % 3], "ab"[i % 2]]) for i, x in enumerate(TABLE_X)]
    if cell is not None:
        rows[6] = rows[6].replace(str(TABLE_X[6]), cell, 1)
    if row is not None:
        rows[9] = row
    return sep.join(["x", "colour", "y"]) + "\n" + "\n".join(rows) + "\n"


TABLES = [
    ("stray-dots", {"d.csv": table_text(cell="1.2.3")}, {}, "'d.csv' line 8, column 'x': '1.2.3' is not a number"),
    ("percent", {"d.csv": table_text(cell="12%")}, {}, "line 8, column 'x': '12%'"),
    ("word", {"d.csv": table_text(cell="hello")}, {}, "line 8, column 'x': 'hello'"),
    ("nul", {"d.csv": table_text(cell="3\x00")}, {}, "line 8, column 'x': '3\\x00'"),
    ("semicolon-word", {"d.csv": table_text(";", cell="hello").replace(".", ",")}, {}, "line 8, column 'x'"),
    ("short-row", {"d.csv": table_text(row="1.5,red")}, {}, "line 11 has 2 fields, the header has 3"),
    ("long-row", {"d.csv": table_text(row="1.5,red,a,9")}, {}, "line 11 has 4 fields, the header has 3"),
    ("test-class", {"tr.csv": table_text(), "te.csv": "x,colour,y\n1,red,a\n2,red,zz\n"},
     {"train_path": "tr.csv", "test_path": "te.csv"}, "'zz': 1"),
    ("test-target-text", {"tr.csv": "x,y\n" + "".join(f"{x},{i * 1.5}\n" for i, x in enumerate(TABLE_X)),
                          "te.csv": "x,y\n1,2.5\n2,oops\n"},
     {"train_path": "tr.csv", "test_path": "te.csv"}, "'te.csv' line 3, column 'y': 'oops' is not a number"),
    ("odd-date", {"d.csv": "when,y\n" + "".join(f"2013-01-{1 + i % 28:02d},{'ab'[i % 2]}\n" for i in range(39))
                  + "2013-02-31,a\n"}, {}, "line 41, column 'when': '2013-02-31' is not a date"),
    ("wide", {"d.csv": "city,y\n" + "".join(f"c{i % 1300},{'ab'[i % 2]}\n" for i in range(3000))}, {},
     "column 'city' has 1,"),
    ("encoding-name", {"d.csv": table_text()}, {"encoding": "klingon"}, "data.encoding"),
]


@pytest.mark.parametrize("name,files,data,culprit", TABLES, ids=[t[0] for t in TABLES])
def test_table_refused_before_a_run_exists(work, name, files, data, culprit):
    for file, text in files.items():
        (work / file).write_bytes(text.encode())
    section = {"name": "csv", "target": "y", **({"path": "d.csv"} if "d.csv" in files else {}), **data}
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "data": section, "model": {"name": "logistic_regression"},
                                   "train": {"epochs": 1}}))
    refused(work, culprit, "train", "--config", cfg, "--out", work / "out")


def test_predict_refuses_a_short_row_and_reads_the_runs_encoding(work):
    (work / "d.csv").write_bytes(table_text().replace("red", "rouge é").encode("latin-1"))
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "data": {"name": "csv", "path": "d.csv", "target": "y",
                                                         "encoding": "latin-1", "val_fraction": 0},
                                   "model": {"name": "logistic_regression"}, "train": {"epochs": 1}}))
    code, _, err = call("train", "--config", cfg, "--out", work / "run", "-q")
    assert code == 0, err
    (work / "new.csv").write_bytes("x,colour\n1.5,rouge é\n2.5\n".encode("latin-1"))
    refused(work, "line 3 has 1 fields, the header has 2", "predict", "--run", work / "run", "--input", "new.csv")
    (work / "new.csv").write_bytes("x,colour\n1.5,rouge é\n".encode("latin-1"))
    code, out, err = call("predict", "--run", work / "run", "--input", "new.csv")
    assert code == 0 and out.startswith("input,prediction"), err
    (work / "utf16.csv").write_bytes("x,colour\n1.5,rouge é\n".encode("utf-16"))
    refused(work, "utf16.csv", "predict", "--run", work / "run", "--input", "utf16.csv")


def test_predict_names_the_runs_encoding_not_a_key_it_cannot_take(work):
    (work / "d.csv").write_text(table_text())
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "data": {"name": "csv", "path": "d.csv", "target": "y",
                                                         "val_fraction": 0},
                                   "model": {"name": "logistic_regression"}, "train": {"epochs": 1}}))
    assert call("train", "--config", cfg, "--out", work / "run", "-q")[0] == 0
    (work / "new.csv").write_bytes("x,colour\n1.5,rouge é\n".encode("latin-1"))
    err = refused(work, "the run reads its tables as utf-8 (data.encoding)", "predict", "--run", work / "run",
                  "--input", "new.csv")
    assert "set data.encoding" not in err


def test_a_test_class_folder_training_never_had_is_refused(work):
    """Issue 26 item 4: a data.test_root class folder missing from training was dropped (accuracy 1.0)."""
    root, test = _folder(work), work / "test"
    for c in ("cat", "bird"):
        (test / c).mkdir(parents=True)
        png(test / c / "0.png", np.full((6, 6), 90, np.uint8))
    cfg = work / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merged(BASE, {"data": {"name": "image_folder", "root": str(root), "image_size": 6,
                                                         "channels": 1, "test_root": str(test)}})))
    refused(work, "data.test_root: class folder(s) bird", "train", "--config", cfg, "--out", work / "out")
