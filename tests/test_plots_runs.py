"""Every run explains itself: figures on disk, and a table of runs."""

import json

PNG = b"\x89PNG\r\n\x1a\n"


def test_classification_and_regression_runs_write_figures_and_are_listed(cli, tmp_path):
    runs = tmp_path / "runs"
    assert cli("train", "--config", "configs/lenet_digits.yaml", "--out", runs / "lenet", "-q",
               "train.epochs=2", "data.image_size=16").returncode == 0
    assert cli("train", "--config", "configs/linreg_synthetic_grid.yaml", "--out", runs / "grid", "-q").returncode == 0
    pngs = list(runs.glob("*/plots/*.png"))
    names = {p.name for p in pngs}
    assert {"learning_curves.png", "confusion_matrix.png", "loss_surface.png", "fit.png"} <= names
    assert all(p.read_bytes()[:8] == PNG and p.stat().st_size > 5000 for p in pngs)
    r = cli("runs", runs, "--json")
    rows = json.loads(r.stdout)
    assert {row["run"] for row in rows} == {"lenet", "grid"}
    assert cli("runs", runs, "--sort", "accuracy").stdout.splitlines()[1].startswith("lenet")
    (runs / "lenet/plots/confusion_matrix.png").unlink()
    r = cli("plot", "--run", runs / "lenet")
    assert r.returncode == 0 and (runs / "lenet/plots/confusion_matrix.png").is_file()
