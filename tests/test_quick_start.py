"""The quick start that does not overfit (issue 26 item 12): ``train.early_stopping.restore_best`` and the
quick start's comparison with a linear model.

References: a run trained for exactly the best epoch's number of epochs (restore_best must end with
its weights), the uninterrupted run (for --resume), and scikit-learn's imputer + one-hot + logistic
regression pipeline on the same split (the quick start must reach its accuracy).
"""

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch

from dlnotes.config import load_config, quick_config, validate
from dlnotes.run import Run, train

pytestmark = pytest.mark.usefixtures("no_figures")  # runs here skip their figures: tests/figures_off.py

BASE = {"name": "r", "seed": 0, "data": {"name": "breast_cancer", "val_fraction": 0.3, "batch_size": 32},
        "model": {"name": "mlp", "hidden_sizes": [64, 64]},
        "train": {"epochs": 8, "optimizer": {"name": "adam", "lr": 0.03}}}


def config(epochs: int, restore: bool):
    return validate({**BASE, "train": {**BASE["train"], "epochs": epochs,
                                       "early_stopping": {"restore_best": restore}}})


def weights(run) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in Run.load(run.path).model.state_dict().items()}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Eight epochs without restore_best, and the epoch of their best validation loss (not the last)."""
    run = train(config(8, False), out=tmp_path_factory.mktemp("plain") / "r", quiet=True)
    losses = [row["val_loss"] for row in run_history(run)]
    best = int(np.argmin(losses)) + 1
    assert best < 8, losses  # the case restore_best is for
    return run, best


def run_history(run):
    from dlnotes.engine.rundir import RunDir

    return RunDir(run.path).read_history()


def test_restore_best_ends_with_the_best_epochs_weights(plain, tmp_path):
    _, best = plain
    restored = train(config(8, True), out=tmp_path / "restored", quiet=True)
    reference = train(config(best, False), out=tmp_path / "short", quiet=True)
    for key, value in weights(reference).items():
        torch.testing.assert_close(weights(restored)[key], value, rtol=0, atol=0)
    assert len(run_history(restored)) == 8  # the history keeps every epoch


def test_restore_best_resumes_exactly(plain, tmp_path):
    """3 epochs, then --resume to 8: the uninterrupted run's weights and history; the best and last
    weights travel in the checkpoint's state (loaded with weights_only=True)."""
    from dlnotes.engine.rundir import RunDir

    whole = train(config(8, True), out=tmp_path / "whole", quiet=True)
    part = train(config(3, True), out=tmp_path / "part", quiet=True)
    state = RunDir(part.path).read_state()
    assert "best_weights" in state
    resumed = train(resume=part.path, overrides=["train.epochs=8"], quiet=True)
    for key, value in weights(whole).items():
        torch.testing.assert_close(weights(resumed)[key], value, rtol=0, atol=0)
    assert [r["val_loss"] for r in run_history(resumed)] == [r["val_loss"] for r in run_history(whole)]


# -- the quick start against scikit-learn ----------------------------------------------------------------

def survey(n: int, seed: int = 0) -> pd.DataFrame:
    """A survey-like table: ages and hours with missing cells, an 8-level education, a 50-level
    occupation, yes/no answers; the answer is a logistic function of a weighted sum of them."""
    rng = np.random.default_rng(seed)
    age, hours = rng.integers(18, 80, n).astype(float), np.clip(rng.normal(40, 12, n), 1, 99).round()
    edu, occ, region, married = rng.integers(0, 8, n), rng.integers(0, 50, n), rng.integers(0, 5, n), rng.random(n) < .5
    occ_w, edu_w = rng.normal(0, 0.6, 50), np.array([-1.2, -0.8, -0.3, 0.1, 0.5, 0.9, 1.2, 0.0])
    logit = (-1.3 + 0.03 * (age - 45) + 0.04 * (hours - 40) + edu_w[edu] + occ_w[occ] + 0.6 * married
             + np.array([0, 0.2, -0.2, 0.1, -0.1])[region])
    frame = pd.DataFrame({
        "age": age, "hours_per_week": hours, "education": np.array([f"edu_{k}" for k in range(8)])[edu],
        "occupation": np.array([f"occ_{k:02d}" for k in range(50)])[occ],
        "region": np.array(["north", "south", "east", "west", "centre"])[region],
        "married": np.where(married, "yes", "no"),
        "income": np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K")})
    for column, p in (("age", 0.05), ("hours_per_week", 0.03), ("occupation", 0.04), ("education", 0.02)):
        frame.loc[rng.random(n) < p, column] = np.nan
    return frame


def sklearn_accuracy(cfg) -> float:
    """scikit-learn's imputer + one-hot + logistic regression, fitted on the run's training rows, on its test rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from dlnotes.collect import load_data
    from dlnotes.data.prepare import training_rows
    from dlnotes.data.sampling import split_indices

    ds = load_data(cfg).dataset
    rows = training_rows(ds, cfg, stratify=True)
    _, test = split_indices(len(ds.y), cfg.data.test_fraction, cfg.seed, ds.y.numpy())
    types = ds.table.transform.types
    num, cat = [c for c, t in types.items() if t == "number"], [c for c, t in types.items() if t != "number"]
    x = ds.table.frame[num + cat].astype({c: object for c in cat})
    pipe = make_pipeline(ColumnTransformer([
        ("n", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), num),
        ("c", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat)]),
        LogisticRegression(max_iter=2000))
    y = ds.y.numpy()
    pipe.fit(x.iloc[rows], y[rows])
    return float((pipe.predict(x.iloc[test]) == y[test]).mean())


def quick_cli(*args) -> tuple[int, str, str]:
    """``dlnotes train ARGS`` in this process: (exit code, stdout, stderr)."""
    from dlnotes import cli

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["dlnotes", "train", *map(str, args)]), redirect_stdout(out), \
            redirect_stderr(err):
        try:
            cli.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def quick_start_against_sklearn(tmp_path, rows: int, tolerance: float) -> None:
    path = tmp_path / "survey.csv"
    survey(rows).to_csv(path, index=False)
    code, out, err = quick_cli("--data", path, "--target", "income", "--out", tmp_path / "q", "-q")
    assert code == 0, err
    assert "quick start: kept " in err  # which model, and both validation scores
    run = Run.load(tmp_path / "q")
    cfg = load_config(tmp_path / "q" / "config.yaml")
    assert cfg.train.early_stopping.restore_best and run.metrics["accuracy"] >= sklearn_accuracy(cfg) - tolerance, \
        (run.metrics["accuracy"], sklearn_accuracy(cfg), err)


def test_quick_start_reaches_sklearns_logistic_pipeline_on_a_small_survey(tmp_path):
    quick_start_against_sklearn(tmp_path, rows=1500, tolerance=0.02)


@pytest.mark.slow
def test_quick_start_reaches_sklearns_logistic_pipeline_on_a_survey(tmp_path):
    """Issue 26's done-when: tens of thousands of rows, within 0.005 of scikit-learn."""
    quick_start_against_sklearn(tmp_path, rows=30_000, tolerance=0.005)


def test_quick_start_keeps_one_ordinary_run_of_the_better_model(tmp_path):
    """A linear answer: the linear model is kept (or ties), its run is the only one, and its config
    reproduces it; a model named with --model is trained alone."""
    from dlnotes.engine.rundir import RunDir

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": np.where(x @ [2, -1, 0.5] > 0, "p", "n")})
    path = tmp_path / "linear.csv"
    frame.to_csv(path, index=False)
    code, _, err = quick_cli("--data", path, "--target", "y", "--out", tmp_path / "q", "-q", "train.epochs=15")
    assert code == 0, err
    line = [ln for ln in err.splitlines() if ln.startswith("quick start: kept")][0]
    kept = line.split()[3]
    rd = RunDir(tmp_path / "q")
    assert load_config(rd.config_path).model.name == kept and rd.strangers() == []
    assert {p.name for p in rd.path.iterdir()} <= {".dlnotes", ".lock", "config.yaml", "meta.json", "history.csv",
                                                   "metrics.json", "model.safetensors", "checkpoint", "plots"}
    again = train(load_config(rd.config_path), out=tmp_path / "again", quiet=True)
    assert again.metrics["accuracy"] == Run.load(rd.path).metrics["accuracy"]
    code, _, err = quick_cli("--data", path, "--target", "y", "--model", "mlp", "--out", tmp_path / "m", "-q",
                             "train.epochs=3")
    assert code == 0 and "quick start: kept" not in err, err


def test_quick_config_keeps_the_best_epoch_only_with_a_validation_split(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,a\n")
    cfg = quick_config(path, "y", None, [])
    assert cfg.train.early_stopping.restore_best and cfg.train.early_stopping.patience == 10
    cfg = quick_config(path, "y", None, ["data.val_fraction=0"])
    assert not cfg.train.early_stopping.restore_best and cfg.train.early_stopping.patience == 0
    cfg = quick_config(path, "y", None, ["train.early_stopping.patience=3"])
    assert cfg.train.early_stopping.patience == 3 and cfg.train.early_stopping.restore_best
