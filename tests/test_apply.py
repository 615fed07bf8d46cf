"""Apply (issue 27): runs that work from any folder, and ``Run.predict`` on every documented kind of input.

References: the run's own test metrics (eval from another folder recomputes them), and the rows of the same
inputs given as files (a CSV, a .npy), which ``dlnotes predict`` reads.
"""

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dlnotes.collect import load_data
from dlnotes.config import load_config, validate
from dlnotes.errors import ConvergenceWarning, UserError
from dlnotes.run import Run, train

ROOT = Path(__file__).resolve().parents[1]
PENGUINS = ROOT / "examples" / "penguins.csv"


def quick(data: dict, model: dict, epochs: int = 1) -> dict:
    return {"name": "q", "seed": 0, "data": {"val_fraction": 0.0, **data}, "model": model,
            "train": {"epochs": epochs, "optimizer": {"name": "adam", "lr": 0.03}}}


def image_folder(root: Path) -> Path:
    """Two classes of 8x8 grey PNGs: a bright square top left, or bottom right."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, (r, c) in (("a", (0, 0)), ("b", (4, 4))):
        (root / cls).mkdir(parents=True)
        for i in range(8):
            img = rng.integers(0, 40, (8, 8)).astype(np.uint8)
            img[r:r + 4, c:c + 4] = 220
            Image.fromarray(img).save(root / cls / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def moved_runs(tmp_path_factory):
    """A CSV, a text and an image-folder run, each trained from a project folder with relative data paths."""
    project = tmp_path_factory.mktemp("project")
    shutil.copy(PENGUINS, project / "penguins.csv")
    (project / "notes.txt").write_text("the quick brown fox jumps over the lazy dog. " * 30)
    image_folder(project / "shapes")
    cfgs = {"csv": quick({"name": "csv", "path": "penguins.csv", "target": "species"},
                         {"name": "logistic_regression"}, 20),
            "text": quick({"name": "text", "path": "notes.txt", "seq_len": 16}, {"name": "gru", "hidden_size": 8}),
            "image_folder": quick({"name": "image_folder", "root": "shapes", "image_size": 8, "channels": 1,
                                   "test_fraction": 0.25}, {"name": "mlp", "hidden_sizes": [8]}, 3)}
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one-epoch runs: only their paths matter here
        mp.chdir(project)
        runs = {k: train(validate(cfg), out=project / "runs" / k, quiet=True) for k, cfg in cfgs.items()}
    return runs


@pytest.mark.parametrize("kind, key, name", [("csv", "path", "penguins.csv"), ("text", "path", "notes.txt"),
                                             ("image_folder", "root", "shapes")])
def test_a_run_records_its_data_paths_absolute(moved_runs, kind, key, name):
    run = moved_runs[kind]
    meta = json.loads((run.path / "meta.json").read_text())
    written = load_config(run.path / "config.yaml")
    assert Path(meta["dataset"]["args"][key]).is_absolute() and Path(meta["dataset"]["args"][key]).name == name
    assert written.extras("data")[key] == meta["dataset"]["args"][key]


@pytest.mark.parametrize("kind", ["text", "image_folder"])
def test_a_run_evaluates_from_another_folder(moved_runs, kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = moved_runs[kind]
    metrics = Run.load(run.path).evaluate("test")
    assert metrics["accuracy"] == pytest.approx(run.metrics["accuracy"], abs=1e-9)
    load_data(load_config(run.path / "config.yaml"))  # the written config reproduces the run from here too


def test_dlnotes_eval_from_another_folder_on_a_csv_run(moved_runs, cli, tmp_path):
    r = cli("eval", "--run", moved_runs["csv"].path, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(moved_runs["csv"].metrics["accuracy"], abs=1e-9)


def test_not_found_names_what_the_path_was_resolved_against(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = validate(quick({"name": "csv", "path": "nowhere/penguins.csv", "target": "species"}, {"name": "mlp"}))
    with pytest.raises(UserError, match=rf"'nowhere/penguins.csv' not found \(relative to the working directory "
                                        rf"{tmp_path}\)"):
        load_data(cfg)


# -- Run.predict on every documented input ---------------------------------------------------------------------


def test_predict_reads_a_table_as_a_csv_a_dataframe_a_dict_and_row_dicts(moved_runs, tmp_path):
    run = Run.load(moved_runs["csv"].path)
    rows = pd.read_csv(PENGUINS).iloc[::20].drop(columns=["species"]).reset_index(drop=True)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    want = run.predict(tmp_path / "rows.csv")
    assert run.predict(rows) == want
    assert run.predict({c: rows[c].tolist() for c in rows}) == want
    assert run.predict(rows.to_dict("records")) == want
    assert run.predict(rows.iloc[3].to_dict())[0] == {**want[3], "input": "0"}  # one row as a dict of values
    assert run.predict(str(tmp_path / "rows.csv"), probabilities=True)[0]["probabilities"][want[0]["prediction"]] == \
        want[0]["probability"]


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("series")
    v = 10 + np.arange(120) * 0.2 + np.sin(np.arange(120) / 3)
    (tmp / "s.csv").write_text("v\n" + "".join(f"{x:.6f}\n" for x in v))
    cfg = quick({"name": "timeseries_csv", "path": str(tmp / "s.csv"), "seq_len": 10, "horizon": 2,
                 "transform": "diff"}, {"name": "gru", "hidden_size": 8}, 2)
    return train(validate(cfg), out=tmp / "run", quiet=True), np.round(v, 6)


def test_predict_reads_a_series_as_a_file_a_list_an_array_and_a_tensor(series_run, tmp_path):
    run, v = series_run
    run = Run.load(run.path)
    np.save(tmp_path / "s.npy", v)
    want = [r["prediction"] for r in run.predict(tmp_path / "s.npy", steps=3)]
    for given in (v.tolist(), v, torch.from_numpy(v), v[-11:].tolist()):
        assert [r["prediction"] for r in run.predict(given, steps=3)] == want
    two = run.predict(np.stack([v[-20:], v[-30:-10]]), steps=1)
    assert [r["input"] for r in two] == ["0", "1"] and two[0]["prediction"] == want[0]


def test_predict_continues_several_prompts(moved_runs):
    run = Run.load(moved_runs["text"].path)
    rows = run.predict(["the quick", "lazy dog"], steps=5, seed=1)
    assert [r["input"] for r in rows] == ["the quick", "lazy dog"] and all(len(r["prediction"]) == 5 for r in rows)
    assert rows[0] == run.predict("the quick", steps=5, seed=1)[0]


def test_predict_reads_images_as_files_pil_images_arrays_and_tensors(moved_runs):
    from PIL import Image

    run = Run.load(moved_runs["image_folder"].path)
    files = sorted((Path(run.meta["dataset"]["args"]["root"]) / "a").glob("*.png"))[:3]
    want = [r["prediction"] for r in run.predict([str(f) for f in files])]
    pils = [Image.open(f) for f in files]
    arrays = [np.asarray(p) for p in pils]
    assert [r["prediction"] for r in run.predict(pils)] == want
    assert [r["prediction"] for r in run.predict(arrays)] == want
    assert [r["prediction"] for r in run.predict(np.stack(arrays)[..., None])] == want  # a batch (N, H, W, C)
    assert [r["prediction"] for r in run.predict(torch.from_numpy(np.stack(arrays)[:, None]))] == want  # N, C, H, W
    assert [r["input"] for r in run.predict(pils)] == ["0", "1", "2"]


@pytest.mark.parametrize("kind, given, message", [
    ("csv", 3.5, "a table model reads a CSV file"),
    ("csv", {"island": ["Biscoe"]}, "lacks the feature column"),
    ("series", ["a", "b"], "give numbers"),
    ("series", [1.0, 2.0], "too short"),
])
def test_predict_refuses_what_it_cannot_read_in_one_line(moved_runs, series_run, kind, given, message):
    run = Run.load((series_run[0] if kind == "series" else moved_runs[kind]).path)
    with pytest.raises(UserError, match=message) as e:
        run.predict(given)
    assert "\n" not in str(e.value)
