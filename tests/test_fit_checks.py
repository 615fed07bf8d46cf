"""Configs checked against the data they meet (issue 26 items 1 and 2): every config that cannot fit its
data is exit 2 with one ``error:`` line naming both sides, before the run folder holds anything; a key
left at ``auto`` adapts; splits that come out empty train without validation (and say so) or are refused
naming stratification when it is the cause.

Each test writes its own data files; the CLI runs in this process (``dlnotes.cli.main``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from cli_in_process import call

pytestmark = pytest.mark.usefixtures("no_figures")  # runs here skip their figures: tests/figures_off.py

def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def refused(work: Path, culprits: list[str], *args) -> str:
    """``dlnotes ARGS`` is exit 2 with one ``error:`` line naming every culprit, and ``work`` is unchanged."""
    before = snapshot(work)
    code, _, err = call(*args)
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for c in culprits:
        assert c.lower() in lines[0].lower(), f"{c!r} not named in: {lines[0]}"
    assert snapshot(work) == before, "a refused run wrote or changed files"
    return lines[0]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working directory with the data files the cases read, written here: a penguin-like table (three
    species, an island column of three levels, a price), a text file, a series, 28-px images."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DLNOTES_DEBUG", raising=False)
    rng = np.random.default_rng(0)
    species = np.array(["Adelie", "Chinstrap", "Gentoo"])[rng.integers(0, 3, 90)]
    rows = [f"{rng.normal():.3f},{rng.normal():.3f},{s},{['Biscoe', 'Dream', 'Torgersen'][i % 3]},"
            f"{1000 + 100 * rng.normal():.2f},{['yes', 'no'][i % 2]}" for i, s in enumerate(species)]
    (tmp_path / "peng.csv").write_text("bill,flipper,species,island,price,sex\n" + "\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("bill,flipper,species,island,price,sex\n" + "\n".join(rows[:20]) + "\n")
    (tmp_path / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 12)
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(f"{np.sin(i / 4):.4f}" for i in range(80)) + "\n")
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "img" / c / f"{i}.png")
    return tmp_path


def table(**data):
    return {"name": "csv", "path": "peng.csv", "target": "species", **data}


CASES = [  # (data, model, train, the words the one line must hold: both sides of the misfit)
    (table(), {"name": "mlp"}, {"loss": "bce"}, ["train.loss", "bce", "3 classes", "cross_entropy"]),
    ({"name": "iris"}, {"name": "mlp"}, {"loss": "mse"}, ["train.loss", "mse", "3 classes"]),
    (table(target="price"), {"name": "mlp"}, {"loss": "cross_entropy"}, ["cross_entropy", "'price'", "numbers"]),
    ({"name": "diabetes"}, {"name": "linear_regression"}, {"loss": "bce"}, ["train.loss", "bce", "numbers"]),
    ({"name": "sine", "n_samples": 40, "seq_len": 6}, {"name": "rnn"}, {"loss": "cross_entropy"},
     ["cross_entropy", "forecast"]),
    ({"name": "text", "path": "t.txt", "seq_len": 8}, {"name": "gru"}, {"loss": "mse"}, ["train.loss", "mse", "text"]),
    ({"name": "digits"}, {"name": "lstm"}, {}, ["'lstm'", "images", "sequences"]),
    ({"name": "text", "path": "t.txt", "seq_len": 8}, {"name": "mlp"}, {}, ["'mlp'", "text"]),
    (table(), {"name": "lenet"}, {}, ["'lenet'", "images", "table"]),
    ({"name": "sine", "n_samples": 40, "seq_len": 6}, {"name": "alexnet"}, {}, ["'alexnet'", "sequences"]),
    (table(), {"name": "linear_regression"}, {}, ["'linear_regression'", "numbers", "3 classes"]),
    (table(target="price"), {"name": "logistic_regression"}, {}, ["'logistic_regression'", "classes", "'price'"]),
    ({"name": "image_folder", "root": "img", "channels": 1, "image_size": 28}, {"name": "lenet", "image_size": 32}, {},
     ["model.image_size", "32", "28", "data.image_size"]),
    ({"name": "digits"}, {"name": "lenet", "num_classes": 5}, {}, ["model.num_classes", "5", "10"]),
    ({"name": "text", "path": "t.txt", "seq_len": 8}, {"name": "gru", "num_classes": 4}, {},
     ["model.num_classes", "does not apply", "text"]),
    ({"name": "digits_rows"}, {"name": "lstm", "horizon": 3}, {}, ["model.horizon", "does not apply", "classes"]),
    (table(columns={"species": "ignore"}), {"name": "mlp"}, {}, ["data.columns.species", "ignore", "target"]),
    (table(columns={"species": "number"}), {"name": "mlp"}, {}, ["data.columns.species", "number", "data.task"]),
    (table(target="price", columns={"price": "category"}), {"name": "mlp"}, {},
     ["data.columns.price", "category", "data.task: classification"]),
    (table(columns={"island": "boolean"}), {"name": "mlp"}, {}, ["data.columns.island", "boolean", "3", "Torgersen"]),
    (table(augment=True), {"name": "mlp"}, {}, ["data.augment", "images", "table"]),
    (table(), {"name": "mlp"}, {"channels_last": True}, ["train.channels_last", "images", "table"]),
    (table(), {"name": "logistic_regression", "threshold": 0.3}, {}, ["model.threshold", "two classes", "3 classes"]),
    ({"name": "digits"}, {"name": "mlp", "embed_categories": "all"}, {}, ["embed_categories", "images"]),
    (table(val_fraction=0), {"name": "mlp"}, {"early_stopping": {"patience": 3}},
     ["early_stopping.patience", "validation", "val_fraction is 0"]),
    (table(val_fraction=0), {"name": "mlp"}, {"scheduler": {"name": "plateau"}}, ["plateau", "val_fraction is 0"]),
    (table(), {"name": "mlp"}, {"early_stopping": {"min_delta": 0.01}}, ["min_delta", "patience"]),
    ({**table(path=None), "train_path": "peng.csv", "test_path": "test.csv", "test_fraction": 0.3},
     {"name": "mlp"}, {}, ["data.test_fraction", "its own test part"]),
]


@pytest.mark.parametrize("data,model,train,culprits", CASES, ids=[f"{i}-{c[-1][0]}" for i, c in enumerate(CASES)])
def test_a_config_that_cannot_fit_its_data_is_refused_naming_both_sides(work, data, model, train, culprits):
    data = {k: v for k, v in data.items() if v is not None}
    (work / "cfg.yaml").write_text(yaml.safe_dump({"name": "x", "data": data, "model": model,
                                                   "train": {"epochs": 1, **train}}))
    refused(work, culprits, "train", "--config", work / "cfg.yaml", "--out", work / "out")


def test_a_refused_run_leaves_an_empty_out_folder_empty(work):
    (work / "out").mkdir()
    (work / "cfg.yaml").write_text(yaml.safe_dump({"data": table(), "model": {"name": "mlp"},
                                                   "train": {"loss": "bce"}}))
    code, _, err = call("train", "--config", work / "cfg.yaml", "--out", work / "out")
    assert code == 2 and "bce" in err
    assert list((work / "out").iterdir()) == []  # (its mtime changes: RunDir.begin wrote and abandon removed)


def test_auto_adapts_and_a_run_config_reproduces_itself(work):
    """bce fits two classes; ``train.loss: auto`` picks the task's loss; and RUN/config.yaml, which records
    every model key the data set (in_features, num_classes, categories), trains again unrefused."""
    cfg = {"name": "x", "seed": 0, "data": table(target="sex"), "model": {"name": "mlp", "hidden_sizes": [4]},
           "train": {"epochs": 1, "loss": "bce"}}
    (work / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = call("train", "--config", work / "cfg.yaml", "--out", work / "a", "-q")
    assert code == 0, err
    recorded = yaml.safe_load((work / "a" / "config.yaml").read_text())
    assert recorded["model"]["num_classes"] == 2 and recorded["model"]["in_features"] > 0
    code, out, err = call("train", "--config", work / "a" / "config.yaml", "--out", work / "b", "-q")
    assert code == 0, err
    assert (work / "a" / "model.safetensors").read_bytes() == (work / "b" / "model.safetensors").read_bytes()
    code, _, err = call("train", "--config", work / "cfg.yaml", "--out", work / "c", "-q", "train.loss=auto",
                        "data.target=species")
    assert code == 0, err


def test_a_resume_changing_only_data_workers_is_allowed(work):
    cfg = {"name": "w", "data": {"name": "image_folder", "root": "img", "channels": 1, "image_size": 8,
                                 "val_fraction": 0, "test_fraction": 0.4},
           "model": {"name": "mlp", "hidden_sizes": [4]}, "train": {"epochs": 1}}
    (work / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = call("train", "--config", work / "cfg.yaml", "--out", work / "r", "-q")
    assert code == 0, err
    code, _, err = call("train", "--resume", work / "r", "train.epochs=2", "data.workers=1", "-q")
    assert code == 0, err
    assert json.loads((work / "r" / "metrics.json").read_text())["epochs"] == 2


# -- splits (item 2) -------------------------------------------------------------------------------

def images(root: Path, classes: int, each: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(1)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(each):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root


def folder_cfg(work: Path, root: Path, **train) -> Path:
    (work / "f.yaml").write_text(yaml.safe_dump({
        "name": "f", "data": {"name": "image_folder", "root": str(root), "image_size": 8, "channels": 1},
        "model": {"name": "mlp", "hidden_sizes": [4]}, "train": {"epochs": 2, **train}}))
    return work / "f.yaml"


def test_thirty_images_in_ten_classes_train_without_validation_and_say_so(work):
    """Stratified: each class keeps round(2 x 0.1) = 0 images for validation, so the split is empty."""
    cfg = folder_cfg(work, images(work / "thirty", 10, 3))
    code, out, err = call("train", "--config", cfg, "--out", work / "r")
    assert code == 0, err
    assert "no validation sample" in err and "training without validation" in err and "stratified" in err
    meta = json.loads((work / "r" / "meta.json").read_text())
    assert meta["dataset"]["sizes"] == {"train": 20, "val": 0, "test": 10}
    history = (work / "r" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "val_loss" not in history[0]
    refused(work, ["early_stopping.patience", "no validation sample", "val_fraction"], "train", "--config",
            folder_cfg(work, work / "thirty", early_stopping={"patience": 2}), "--out", work / "r2")


def test_an_empty_test_split_names_stratification_as_the_cause(work):
    rng = np.random.default_rng(0)
    (work / "ids.csv").write_text("x,label\n" + "".join(f"{rng.normal():.3f},id{i}\n" for i in range(302)))
    (work / "c.yaml").write_text(yaml.safe_dump({"data": {"name": "csv", "path": "ids.csv", "target": "label",
                                                          "task": "classification"}, "model": {"name": "mlp"}}))
    refused(work, ["302", "no test", "stratified", "302 classes", "1 sample"], "train", "--config", work / "c.yaml",
            "--out", work / "out")
    # the same through a dataset that is not a table: four classes of one image each
    refused(work, ["no test samples", "stratified", "1 sample"], "train", "--config",
            folder_cfg(work, images(work / "ones", 4, 1)), "--out", work / "out")


def test_a_class_left_without_training_samples_is_refused_and_a_lost_test_class_noted(work):
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"] * 19 + ["rare", "rare"]
    (work / "r.csv").write_text("x,label\n" + "".join(f"{rng.normal():.3f},{c}\n" for c in labels))
    (work / "c.yaml").write_text(yaml.safe_dump({"data": {"name": "csv", "path": "r.csv", "target": "label",
                                                          "test_fraction": 0.8}, "model": {"name": "mlp"}}))
    refused(work, ["'rare'", "no training sample", "test_fraction 0.8"], "train", "--config", work / "c.yaml",
            "--out", work / "out")
    code, _, err = call("train", "--config", work / "c.yaml", "--out", work / "ok", "data.test_fraction=0.2",
                        "train.epochs=1")
    assert code == 0, err
    assert "test split has no sample of 1 of the 4 classes (rare)" in err  # round(2 x 0.2) = 0 held out
    assert json.loads((work / "ok" / "metrics.json").read_text())["accuracy"] >= 0


def test_stratified_cause_counts_by_hand():
    from dlnotes.data.sampling import stratified_cause, seq_len_advice

    text = stratified_cause(np.array([0, 0, 1, 1, 2]), 0.2)  # round(2 x 0.2) = 0 for every class
    assert "largest of the 3 classes has 2 samples" in text and "above 0.25" in text
    assert seq_len_advice(1000, 5, 1, 1, 0.2, 0.1) is None  # gaps of 5 windows in 996: nothing to say
