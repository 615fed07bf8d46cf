"""Issue 25: a run's files and a user's files are never overwritten, and run files are believed only after
checking. Each case writes its own files, runs the command in this process, and checks the exit code,
the one-line message and that every file it was not asked to write is byte for byte as it was.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
import yaml

from cli_in_process import call

IRIS = {"name": "iris", "seed": 0, "data": {"name": "iris", "batch_size": 32},
        "model": {"name": "logistic_regression"}, "train": {"epochs": 2, "optimizer": {"name": "sgd", "lr": 0.1}}}
SINE = {"name": "sine", "seed": 0, "data": {"name": "sine", "n_samples": 120, "seq_len": 12, "horizon": 2},
        "model": {"name": "lstm", "hidden_size": 4}, "train": {"epochs": 1}}




def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders), the lock file aside."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*")) if p.name != ".lock"}


def refused(code: int, err: str, *culprits: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for c in culprits:
        assert c in lines[0], f"{c!r} not in {lines[0]}"


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("trained")
    made = {}

    def get(kind: str) -> Path:
        if kind not in made:
            (base / f"{kind}.yaml").write_text(yaml.safe_dump({"iris": IRIS, "sine": SINE}[kind]))
            code, _, err = call("train", "--config", base / f"{kind}.yaml", "--out", base / kind, "-q")
            assert code == 0, err
            made[kind] = base / kind
        return made[kind]
    return get


@pytest.fixture
def run(trained, work):
    """A copy of a finished iris run, to damage."""
    return Path(shutil.copytree(trained("iris"), work / "run"))


# -- 1. a user's folder is never taken for an untrained run ------------------------------------------------


def test_a_folder_that_looks_like_a_run_is_refused_untouched(work):
    user = work / "u"
    (user / "plots").mkdir(parents=True)
    (user / "config.yaml").write_text("mine\n")
    (user / "meta.json").write_text("{}")
    (user / "plots" / "holiday.png").write_bytes(b"photo")
    (work / "c.yaml").write_text(yaml.safe_dump(IRIS))
    before = snapshot(user)
    refused(*call("train", "--config", work / "c.yaml", "--out", user)[::2], "not a dlnotes run")
    refused(*call("train", "--resume", user)[::2], "not a dlnotes run")
    assert snapshot(user) == before


def test_a_users_file_inside_an_untrained_run_is_never_removed(work):
    from dlnotes.engine.rundir import RunDir

    out = work / "r"
    rd = RunDir(out)
    rd.begin()  # a run started, killed before its first checkpoint
    rd.record(RunDir.CONFIG)
    (out / "config.yaml").write_text(yaml.safe_dump(IRIS))
    rd.unlock()
    (out / "plots").mkdir()
    (out / "plots" / "holiday.png").write_bytes(b"photo")
    before = snapshot(out)
    (work / "c.yaml").write_text(yaml.safe_dump(IRIS))
    refused(*call("train", "--config", work / "c.yaml", "--out", out)[::2], "'plots' was not written by dlnotes")
    assert snapshot(out) == before
    shutil.rmtree(out / "plots")  # without the stranger it restarts
    code, _, err = call("train", "--config", work / "c.yaml", "--out", out, "-q")
    assert code == 0 and "restarting it from epoch 0" in err, err


def test_a_run_killed_between_config_and_meta_restarts_and_resumes(work):
    from dlnotes.engine.rundir import RunDir

    out = work / "r"
    rd = RunDir(out)
    rd.begin()
    rd.record(RunDir.CONFIG, RunDir.META)
    (out / "config.yaml").write_text(yaml.safe_dump(IRIS))
    rd.unlock()
    assert rd.status() == "untrained"
    code, _, err = call("train", "--resume", out, "-q")
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.5


# -- 2. outputs never point into a run or at their input ----------------------------------------------------


@pytest.mark.parametrize("target", ["meta.json", "model.safetensors", "checkpoint/manifest.json", "config.yaml",
                                    "plots/learning_curves.png", ".dlnotes"])
def test_outputs_never_replace_a_runs_files(run, work, target):
    before = snapshot(run)
    rows = work / "rows.csv"
    rows.write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n")
    link = work / "link.csv"
    link.symlink_to(run / target)
    for args in (["predict", "--run", run, "--input", rows, "--output", run / target],
                 ["predict", "--run", run, "--input", rows, "--output", link],
                 ["export", "--run", run, "--format", "torchscript", "--output", run / target],
                 ["compare", run, run, "--output", run / target],
                 ["plot", "--run", run, "--activations", "--output", run / target]):
        refused(*call(*args)[::2], "is a file of the run")
    assert snapshot(run) == before


def test_predict_never_writes_over_its_input(run, work):
    rows = work / "x.csv"
    rows.write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n")
    before = rows.read_bytes()
    refused(*call("predict", "--run", run, "--input", rows, "--output", rows)[::2], "is the input")
    assert rows.read_bytes() == before
    code, _, err = call("predict", "--run", run, "--input", rows, "--output", run / "predictions.csv")
    assert code == 0, err  # a new file beside the run's own is fine


# -- 3. predict writes a figure only where asked, all or nothing -------------------------------------------


def test_predict_figure_only_where_asked_and_never_over_a_file(trained, work):
    run = trained("sine")
    (work / "hist.csv").write_text("".join(f"{math.sin(i / 3):.4f}\n" for i in range(12)))
    code, out, err = call("predict", "--run", run, "--input", work / "hist.csv", "--steps", 3)
    assert code == 0 and len(out.splitlines()) == 4, err
    assert sorted(p.name for p in work.iterdir()) == ["hist.csv"]  # nothing beside the input
    (work / "f.png").write_bytes(b"mine")
    refused(*call("predict", "--run", run, "--input", work / "hist.csv", "--figure", work / "f.png")[::2],
            "exists; dlnotes does not write over it")
    assert (work / "f.png").read_bytes() == b"mine"


def test_predict_writes_all_of_its_outputs_or_none(trained, work, monkeypatch):
    from dlnotes import atomic

    run = trained("sine")
    (work / "hist.csv").write_text("".join(f"{math.sin(i / 3):.4f}\n" for i in range(12)))
    real = atomic.atomic_write

    def full(path, data):
        if str(path).endswith(".csv"):
            raise atomic.RunFailure(f"disk full: could not write '{path}'")
        real(path, data)

    monkeypatch.setattr(atomic, "atomic_write", full)
    code, out, err = call("predict", "--run", run, "--input", work / "hist.csv", "--steps", 3,
                          "--figure", work / "f.png", "--output", work / "out.csv")
    assert code == 1 and out == "" and "disk full" in err
    assert sorted(p.name for p in work.iterdir()) == ["hist.csv"]  # the figure written first was taken back
    ro = work / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        refused(*call("predict", "--run", run, "--input", work / "hist.csv", "--figure", ro / "f.png")[::2],
                "no permission")
    finally:
        ro.chmod(0o700)


# -- 5. default run folders are unique ---------------------------------------------------------------------


def _make_default(barrier, queue):
    from dlnotes.config import validate
    from dlnotes.run import default_out

    barrier.wait()
    queue.put(str(default_out(validate(IRIS))))


def test_runs_started_together_get_their_own_folders(work):
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_make_default, args=(barrier, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    got = sorted(queue.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(30)
    assert len(set(got)) == 3 and all((work / g).is_dir() for g in got)


# -- 6, 7. meta.json and the weights are checked before they are believed ----------------------------------


META_EDITS = [
    (lambda m: m["model"]["args"].update(bogus=1), "model.args.bogus"),
    (lambda m: m.update(preprocess={}), "preprocess.kind"),
    (lambda m: m["preprocess"].pop("x_mean"), "preprocess.x_mean"),
    (lambda m: m["dataset"].update(task="regression"), "dataset.task"),
    (lambda m: m["model"]["args"].update(in_features=2_000_000_000_000), "model.args.in_features"),
    (lambda m: m["preprocess"].update(x_mean=["a", "b", "c", "d"]), "preprocess.x_mean"),
    (lambda m: m["preprocess"].update(x_std=[0.0, 1.0, 1.0, 1.0]), "preprocess.x_std"),
    (lambda m: m["preprocess"].update(x_std=[float("nan"), 1.0, 1.0, 1.0]), "preprocess.x_std"),
    (lambda m: m["preprocess"].update(kind="image"), "preprocess.kind"),
    (lambda m: m["dataset"].update(kind="image"), "preprocess.kind"),
    (lambda m: m["model"].update(name="mlp"), "dataset.input_shape"),
]


@pytest.mark.parametrize("edit, field", META_EDITS, ids=[f for _, f in META_EDITS])
def test_an_edited_meta_json_is_refused_naming_the_field(run, work, edit, field):
    meta = json.loads((run / "meta.json").read_text())
    edit(meta)
    (run / "meta.json").write_text(json.dumps(meta))
    rows = work / "rows.csv"
    rows.write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n")
    for args in (["eval", "--run", run], ["predict", "--run", run, "--input", rows]):
        code, _, err = call(*args)
        if field == "dataset.input_shape" and "model.args" in err:  # mlp: the first contradiction found
            field = "model.args"
        refused(code, err, "meta.json field", field)


def test_non_finite_weights_are_refused_and_json_output_stays_json(run, work):
    from safetensors.torch import load, save

    from dlnotes.atomic import sha256_bytes

    state = load((run / "model.safetensors").read_bytes())
    state["linear.weight"][0, 0] = float("nan")
    data = save(state)
    for folder in (run, run / "checkpoint"):
        (folder / "model.safetensors").write_bytes(data)
    manifest = json.loads((run / "checkpoint/manifest.json").read_text())
    manifest["files"]["model.safetensors"] = sha256_bytes(data)
    (run / "checkpoint/manifest.json").write_text(json.dumps(manifest))
    refused(*call("eval", "--run", run)[::2], "NaN or infinite")
    refused(*call("export", "--run", run, "--format", "torchscript", "--output", work / "m.pt")[::2], "NaN")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["accuracy"] = float("nan")
    (run / "metrics.json").write_text(json.dumps(metrics))
    code, out, err = call("runs", run, "--json")
    assert code == 0, err
    rows = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON output"))
    assert rows[0]["accuracy"] is None


# -- 8. the config and the data a run was trained on ----------------------------------------------------------


@pytest.mark.parametrize("key, value", [("seed", 5), ("data.test_fraction", 0.3), ("data.batch_size", 8)])
def test_an_edited_config_yaml_is_refused_by_resume_and_eval(run, key, value):
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    section, _, name = key.rpartition(".")
    (cfg[section] if section else cfg)[name] = value
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    before = snapshot(run)
    refused(*call("train", "--resume", run, "train.epochs=4")[::2], "was edited", key)
    refused(*call("eval", "--run", run)[::2], "was edited", key)
    assert snapshot(run) == before


def _csv_run(work: Path, rows: list[str]) -> Path:
    (work / "t.csv").write_text("a,b,y\n" + "".join(rows))
    cfg = {"name": "t", "data": {"name": "csv", "path": str(work / "t.csv"), "target": "y", "val_fraction": 0},
           "model": {"name": "logistic_regression"}, "train": {"epochs": 1}}
    (work / "t.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = call("train", "--config", work / "t.yaml", "--out", work / "run", "-q")
    assert code == 0, err
    return work / "run"


@pytest.mark.parametrize("change", ["reshuffled", "edited", "shortened"])
def test_data_changed_under_a_run_is_refused_by_resume_and_eval(work, change):
    rows = [f"{i % 7},{(i * 3) % 5},{'yes' if i % 3 else 'no'}\n" for i in range(60)]
    run = _csv_run(work, rows)
    changed = {"reshuffled": rows[::-1], "edited": rows[:10] + ["9,9,yes\n"] + rows[11:], "shortened": rows[:50]}
    (work / "t.csv").write_text("a,b,y\n" + "".join(changed[change]))
    before = snapshot(run)
    refused(*call("eval", "--run", run)[::2], "split")
    refused(*call("train", "--resume", run, "train.epochs=3")[::2], "split")
    assert snapshot(run) == before


# -- 9. every YAML dlnotes reads goes through the safe loader ---------------------------------------------


def test_runs_lists_a_run_with_a_yaml_bomb_as_damaged(run, work):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    (run / "config.yaml").write_text(bomb)
    code, out, err = call("runs", run, "--json")
    assert code == 0, err
    assert "aliases" in json.loads(out)[0]["damaged"]
