"""Every run explains itself: figures on disk, and a table of runs."""

import json

PNG = b"\x89PNG\r\n\x1a\n"


def test_classification_and_regression_runs_write_figures_and_are_listed(tmp_path, in_process):
    runs = tmp_path / "runs"
    import dlnotes

    dlnotes.train("configs/lenet_digits.yaml", out=runs / "lenet", quiet=True,
                  overrides=["train.epochs=2", "data.image_size=16"])  # in process: the figures are the point
    dlnotes.train("configs/linreg_synthetic_grid.yaml", out=runs / "grid", quiet=True)
    pngs = list(runs.glob("*/plots/*.png"))
    names = {p.name for p in pngs}
    assert {"learning_curves.png", "confusion_matrix.png", "top_losses.png", "loss_surface.png", "fit.png"} <= names
    assert all(p.read_bytes()[:8] == PNG and p.stat().st_size > 5000 for p in pngs)
    r = in_process("runs", runs, "--json")
    rows = json.loads(r.stdout)
    assert {row["run"] for row in rows} == {"lenet", "grid"}
    table = in_process("runs", runs, "--sort", "accuracy").stdout.splitlines()  # one table per task/model/dataset
    assert table[0] == "classification: lenet on digits (1 run)" and table[2].startswith("lenet")
    assert "regression: linear_regression on synthetic_linear (1 run)" in table
    (runs / "lenet/plots/confusion_matrix.png").unlink()
    r = in_process("plot", "--run", runs / "lenet")
    assert r.returncode == 0 and (runs / "lenet/plots/confusion_matrix.png").is_file()


def test_gradient_descent_path_is_drawn_on_the_loss_surface(tmp_path, in_process):
    out = tmp_path / "gd"
    r = in_process("train", "--config", "configs/linreg_synthetic_gd.yaml", "--out", out, "-q", "train.epochs=40")
    assert r.returncode == 0, r.stderr
    header, *rows = (out / "history.csv").read_text().strip().splitlines()
    assert header.split(",")[-2:] == ["w", "b"] or {"w", "b"} <= set(header.split(","))
    cols = header.split(",")
    ws = [float(row.split(",")[cols.index("w")]) for row in rows]
    assert abs(ws[-1] - 3.0) < abs(ws[0] - 3.0)  # the path heads for the true w = 3
    assert (out / "plots/loss_surface.png").read_bytes()[:8] == PNG


def test_plot_activations_without_a_run(tmp_path, in_process):
    r = in_process("plot", "--activations", "--output", tmp_path / "act.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "act.png").read_bytes()[:8] == PNG
    assert in_process("plot").returncode == 2


def test_tensorboard_scalars(tmp_path, write_config, tiny_lenet, in_process):
    import pytest

    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = {**tiny_lenet, "train": {**tiny_lenet["train"], "tensorboard": True}}
    out = tmp_path / "run"
    r = in_process("train", "--config", write_config(cfg), "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]
    assert len(acc.Scalars("val/accuracy")) == 2
