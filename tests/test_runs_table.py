"""``dlnotes runs`` tells experiments apart by what differs; ``dlnotes compare`` draws them together."""

from __future__ import annotations

import json

import pytest

from dlnotes.runs_table import collect_runs, differing_keys, flatten, format_table, readable_seconds

TINY_MLP = {"name": "mlp_breast_cancer", "seed": 0,
            "data": {"name": "breast_cancer", "batch_size": 64, "val_fraction": 0.1},
            "model": {"name": "mlp", "hidden_sizes": [8], "activation": "relu"},
            "train": {"epochs": 2, "optimizer": {"name": "adam", "lr": 0.01}}}


@pytest.fixture
def cli(in_process):
    """The CLI in this process: the table reads files only, no need for a fresh interpreter."""
    return in_process


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A relu run and a tanh run of the same config (a few hundred milliseconds each)."""
    import yaml

    import dlnotes

    root = tmp_path_factory.mktemp("runs")
    cfg = root / "mlp.yaml"
    cfg.write_text(yaml.safe_dump(TINY_MLP))
    for act in ("relu", "tanh"):
        dlnotes.train(dlnotes.load_config(cfg, [f"model.activation={act}"]), out=root / act, quiet=True)
    return root


def test_flatten_and_differing_keys():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
    rows = [{"damaged": None, "config": {"x": 1, "y": [1, 2], "z": "a"}},
            {"damaged": None, "config": {"x": 1, "y": [1, 3]}},
            {"damaged": "meta.json unreadable"}]
    assert differing_keys(rows) == ["y", "z"]  # z: set in one run, unset in the other


@pytest.mark.parametrize("seconds,text", [(0.25, "0.25 s"), (61.521, "61.5 s"), (123.4, "2 min 3 s"),
                                          (7384, "2 h 3 min"), (None, "-")])
def test_times_read_as_people_write_them(seconds, text):
    assert readable_seconds(seconds) == text


def test_relu_and_tanh_runs_differ_by_model_activation(two_runs, cli):
    r = cli("runs", two_runs)
    assert r.returncode == 0, r.stderr
    header, relu, tanh = r.stdout.strip().splitlines()
    assert header.split() == ["run", "model", "data", "model.activation", "epochs", "time", "accuracy", "baseline"]
    assert relu.split()[:5] == ["relu", "mlp", "breast_cancer", "relu", "2"]
    assert tanh.split()[:5] == ["tanh", "mlp", "breast_cancer", "tanh", "2"]
    metrics = json.loads((two_runs / "relu/metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in relu
    assert f"{metrics['baseline']['accuracy']:.4f} (majority class)" in relu
    assert " s " in relu and "." in relu.split(" s ")[0].split()[-1]  # a readable time, e.g. "0.41 s"

    rows = json.loads(cli("runs", two_runs / "relu", two_runs / "tanh", "--json").stdout)
    assert [(row["run"], row["differs"]) for row in rows] == [("relu", {"model.activation": "relu"}),
                                                              ("tanh", {"model.activation": "tanh"})]
    assert rows[0]["accuracy"] == metrics["accuracy"] and rows[0]["baseline"]["name"] == "majority class"


def test_one_run_directory_is_listed_not_searched(two_runs, cli):
    r = cli("runs", two_runs / "tanh")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("tanh")
    assert "model.activation" not in lines[0]  # nothing differs within one run


def test_sort_by_metric_and_by_config_key(two_runs):
    rows, keys = collect_runs([two_runs], sort="accuracy")
    accs = [r["value"] for r in rows]
    assert accs == sorted(accs, reverse=True)
    rows, _ = collect_runs([two_runs], sort="model.activation")
    assert [r["run"] for r in rows] == ["relu", "tanh"]
    from dlnotes.errors import UserError

    with pytest.raises(UserError, match="--sort 'lerning_rate'.*model.activation"):
        collect_runs([two_runs], sort="lerning_rate")


def test_a_damaged_run_is_listed_as_damaged(two_runs, tmp_path, cli):
    import shutil

    for name in ("relu", "tanh"):
        shutil.copytree(two_runs / name, tmp_path / name)
    (tmp_path / "relu/meta.json").write_text("{")
    (tmp_path / "tanh/config.yaml").write_text("- not\n- a mapping\n")
    (tmp_path / "empty").mkdir()  # not a run at all: not listed
    r = cli("runs", tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("relu") and "damaged:" in lines[1] and "meta.json" in lines[1]
    assert lines[2].startswith("tanh") and "damaged:" in lines[2] and "config.yaml" in lines[2]
    rows = json.loads(cli("runs", tmp_path, "--json").stdout)
    assert all(row["damaged"] for row in rows)


def test_no_runs_and_missing_folder(tmp_path, cli):
    assert format_table([], []) == "no runs found"
    r = cli("runs", tmp_path / "nowhere")
    assert r.returncode == 2 and "not found" in r.stderr


def test_compare_draws_the_runs_labelled_by_what_differs(two_runs, tmp_path, monkeypatch):
    from dlnotes import plots
    from dlnotes.runs_table import compare

    kept = []

    def keep(fig, path):
        kept.append(fig)
        fig.savefig(path)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    out = compare([two_runs / "relu", two_runs / "tanh"], tmp_path / "cmp.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = kept
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["model.activation=relu", "model.activation=tanh"]
    assert [ax.get_title() for ax in fig.axes] == ["validation loss", "validation accuracy"]
    assert all(len(line.get_xdata()) == 2 for ax in fig.axes for line in ax.get_lines())
    plots.plt.close(fig)
    from dlnotes.errors import UserError

    with pytest.raises(UserError, match="at least two runs"):
        compare([two_runs / "relu"], tmp_path / "one.png")
