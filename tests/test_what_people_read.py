"""What people read after a run (issue 26 items 13, 14, 16): the runs table of different kinds of runs,
the test summary, eval's confusion matrix, column names' did-you-mean, a stray RANK, the state.pt
message, and the forecasts of independent windows drawn apart."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cli_in_process import call, one_line_error
from figures_off import figures_off


def table_csv(path: Path, n: int = 90, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    species = ["Adelie", "Chinstrap", "Gentoo"]
    rows = []
    for i in range(n):
        c = i % 3
        rows.append(f"{c + rng.normal(0, 0.3):.3f},{rng.normal():.3f},{species[c]},{30000 + 20000 * c + rng.normal(0, 900):.2f}")
    path.write_text("Bill,Flipper,Species,Price\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Runs of three kinds in one folder: two table classifiers that differ in their model keys, two sine
    forecasters that differ in hidden_size, one table regression."""
    root = tmp_path_factory.mktemp("mixed")
    data = table_csv(root / "peng.csv")
    runs = {
        "mlp-a": ({"name": "csv", "path": str(data), "target": "Species"}, {"name": "mlp", "hidden_sizes": [4]}, {}),
        "mlp-b": ({"name": "csv", "path": str(data), "target": "Species"},
                  {"name": "mlp", "hidden_sizes": [8], "activation": "tanh", "dropout": 0.1},
                  {"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}}),
        "price": ({"name": "csv", "path": str(data), "target": "Price"}, {"name": "linear_regression"},
                  {"solver": "least_squares"}),
        "sine-4": ({"name": "sine", "n_samples": 60, "seq_len": 6}, {"name": "rnn", "hidden_size": 4}, {}),
        "sine-8": ({"name": "sine", "n_samples": 60, "seq_len": 6}, {"name": "rnn", "hidden_size": 8}, {}),
    }
    for name, (d, m, t) in runs.items():
        (root / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, "seed": 0, "data": d, "model": m,
                                                           "train": {"epochs": 1, **t}}))
        with figures_off():  # the table reads files other than figures; item 16 draws one run's itself
            code, out, err = call("train", "--config", root / f"{name}.yaml", "--out", root / "runs" / name, "-q")
        assert code == 0, err
        runs[name] = out
    return root, runs


# -- item 13 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [80, 200])
def test_runs_of_different_kinds_are_grouped_and_fit_the_terminal(mixed, monkeypatch, width):
    from dlnotes import runs_table

    root, _ = mixed
    monkeypatch.setattr(runs_table, "terminal_width", lambda: width)  # as in a terminal this wide
    code, out, err = call("runs", root / "runs")
    assert code == 0, err
    lines = out.rstrip("\n").splitlines()
    assert max(map(len, lines)) <= width, "\n".join(lines)
    text = "\n".join(lines)
    for heading in ("classification: mlp on csv (2 runs)", "regression: linear_regression on csv (1 run)",
                    "forecasting: rnn on sine (2 runs)"):
        assert heading in lines
    sine = text.split("forecasting: rnn on sine")[1].split("\n\n")[0]
    assert "hidden_size" in sine.splitlines()[1] and "activation" not in sine  # only what differs within
    regression = text.split("regression: linear_regression on csv")[1].split("\n\n")[0]
    assert regression.splitlines()[1].split() == ["run", "epochs", "time", "r2", "baseline"]  # nothing differs
    mlp = text.split("classification: mlp on csv")[1].split("\n\n")[0]
    if width == 200:  # every differing key of the group as a column
        assert all(k in mlp.splitlines()[1] for k in ("hidden_sizes", "activation", "dropout", "lr", "momentum"))
    else:  # what does not fit is named below the table
        assert "also differ" in mlp or "more keys differ" in mlp
    monkeypatch.undo()  # not a terminal (a pipe, a file): the tables in full
    assert any(len(line) > 80 for line in call("runs", root / "runs")[1].splitlines())


# -- item 14 -----------------------------------------------------------------------------------------

def test_the_regression_summary_names_its_baseline_and_reads_in_the_targets_units(mixed):
    root, outs = mixed
    line = next(x for x in outs["price"].splitlines() if x.startswith("test: "))
    metrics = json.loads((root / "runs" / "price" / "metrics.json").read_text())
    assert "(baseline 'training mean': r2=" in line and "r2=-0.0000" not in line
    rmse = metrics["mse"] ** 0.5
    assert re.search(r"rmse=([\d,.e+-]+) \(units of 'Price'\)", line)
    shown = float(re.search(r"rmse=([\d,.e+-]+)", line).group(1).replace(",", ""))
    assert shown == pytest.approx(rmse, rel=5e-4)  # rounded to 4 significant digits
    for number in re.findall(r"=(-?[\d.,]+(?:e[+-]\d+)?)", line):
        assert len(re.sub(r"[^\d]", "", number.split("e")[0]).lstrip("0")) <= 6, line  # no noise digits
    mse = float(re.search(r"  mse=([\d,.e+-]+)", line).group(1).replace(",", ""))
    assert mse == pytest.approx(metrics["mse"], rel=5e-4)


def test_eval_labels_the_confusion_matrix_with_the_class_names(mixed):
    root, _ = mixed
    code, out, err = call("eval", "--run", root / "runs" / "mlp-a")
    assert code == 0, err
    matrix = out.split("confusion matrix")[1].splitlines()[1:]
    assert matrix[0].split() == ["Adelie", "Chinstrap", "Gentoo"]
    cm = json.loads((root / "runs" / "mlp-a" / "metrics.json").read_text())["confusion_matrix"]
    for name, row, line in zip(["Adelie", "Chinstrap", "Gentoo"], cm, matrix[1:]):
        assert line.split() == [name, *map(str, row)]


def test_a_column_name_in_another_case_gets_a_did_you_mean(mixed, tmp_path, monkeypatch):
    root, _ = mixed
    monkeypatch.chdir(tmp_path)
    code, out, err = call("train", "--data", root / "peng.csv", "--target", "species", "--out", tmp_path / "o")
    one_line_error(code, err, "did you mean 'Species'")
    assert not (tmp_path / "o").exists() and not (tmp_path / "runs").exists()
    from dlnotes.errors import column_hint

    assert column_hint("flipper_len", ["Bill", "Flipper", "flipper_length"]) == "; did you mean 'flipper_length'?"
    assert column_hint("zzz", ["a", "b"]) == "; its columns are: a, b"


def test_a_stray_rank_neither_silences_nor_stops_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"name": "r", "data": {"name": "iris", "val_fraction": 0},
                                                     "model": {"name": "logistic_regression"}, "train": {"epochs": 1}}))
    code, out, err = call("train", "--config", tmp_path / "c.yaml")  # the default run folder too
    assert code == 0, err
    assert out.startswith("run: ") and "test: accuracy=" in out and "epoch 1/1" in err
    run = Path(out.splitlines()[0].removeprefix("run: "))
    assert (tmp_path / run / "metrics.json").is_file()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    one_line_error(*call("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "o")[::2],
                   "WORLD_SIZE=2", "torchrun")


def test_a_state_file_of_objects_is_refused_without_torchs_advice(mixed, tmp_path):
    import hashlib
    import shutil

    root, _ = mixed
    run = shutil.copytree(root / "runs" / "sine-4", tmp_path / "r")
    state = run / "checkpoint" / "state.pt"
    buf = io.BytesIO()
    torch.save({"epoch": 1, "thing": Path("x")}, buf)  # a pickled object: never loaded
    state.write_bytes(buf.getvalue())
    manifest = json.loads((run / "checkpoint" / "manifest.json").read_text())
    manifest["files"]["state.pt"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (run / "checkpoint" / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = call("train", "--resume", run, "train.epochs=2")
    line = one_line_error(code, err, "state.pt", "Python objects")
    assert "weights_only" not in line and "trusted" not in line
    state.write_bytes(b"\x80\x02garbage")
    line = one_line_error(*call("train", "--resume", run, "train.epochs=2")[::2], "state.pt")
    assert "weights_only" not in line


# -- item 16 -----------------------------------------------------------------------------------------

def test_independent_windows_are_drawn_apart_and_one_series_along_its_span(mixed, monkeypatch, tmp_path):
    from dlnotes import plots
    from dlnotes.run import Run
    from dlnotes.tasks.forecasting import one_series

    drawn = {}
    monkeypatch.setattr(plots, "forecasts", lambda *a, **k: drawn.setdefault("span", a) and a[-1])
    monkeypatch.setattr(plots, "window_forecasts", lambda *a, **k: drawn.setdefault("windows", a) and a[-1])
    root, _ = mixed
    run = Run.load(root / "runs" / "sine-4")
    run.plot()
    assert "span" not in drawn
    inputs, truth, pred, names, path = drawn["windows"]
    test = run.data.raw("test")
    assert 2 <= len(inputs) <= 6 and len(names) == len(inputs) and path.name == "forecasts.png"
    picked = [int(n.split()[2]) - 1 for n in names]  # "test window 7 of 12"
    assert torch.allclose(inputs.float(), test.x[picked, :, 0], atol=1e-5)  # each window's own input
    assert torch.allclose(truth.float(), test.y[picked], atol=1e-5)
    # windows cut from one series continue each other; sine's waves do not
    series = torch.arange(30.0)
    assert one_series(series.unfold(0, 5, 1), 1, {}) and one_series(series.unfold(0, 5, 2), 2, {})
    assert not one_series(torch.randn(10, 5), 1, {})
    monkeypatch.undo()  # the real figure, from what the task handed over
    out = plots.window_forecasts(inputs, truth, pred, names, tmp_path / "w.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
