"""dlnotes export: the exported file is the whole model. onnxruntime alone (a process that never imports torch
nor dlnotes' model code), fed by ``dlnotes.inputs.prepare``, answers what ``dlnotes predict`` answers: a table
with missing cells and a category never seen (classes and regression), a series forecast (diff transform, gaps),
an image model on uint8 pixels. ``torch.export`` and TorchScript files take the same inputs (a table's text as
codes) and give the same answers on any batch size.

Reference: ``Run.predict`` (the rows ``dlnotes predict`` writes), checked against the CLI once.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dlnotes import inputs
from dlnotes.config import validate
from dlnotes.errors import UserError
from dlnotes.run import Run, train

pytestmark = pytest.mark.usefixtures("no_figures")  # runs here skip their figures: tests/figures_off.py

ROOT = Path(__file__).resolve().parents[1]
PENGUINS = ROOT / "examples" / "penguins.csv"


def table_cfg(target, one_hot_max=10):
    return validate({"name": "t", "seed": 0, "model": {"name": "mlp", "hidden_sizes": [8]},
                     "train": {"epochs": 8, "optimizer": {"name": "adam", "lr": 0.03}},
                     "data": {"name": "csv", "path": str(PENGUINS), "target": target, "val_fraction": 0.0,
                              "one_hot_max": one_hot_max}})


def series_file(path: Path) -> Path:
    t = np.arange(160)
    v = np.round(50 + 0.4 * t + 4 * np.sin(2 * np.pi * t / 12), 4).astype(object)
    v[[30, 90, 157]] = ""  # gaps, one among the last values predict reads
    path.write_text("co2\n" + "".join(f"{x}\n" for x in v))
    return path


def series_cfg(path):
    return validate({"name": "s", "seed": 0, "model": {"name": "gru", "hidden_size": 8}, "train": {"epochs": 2},
                     "data": {"name": "timeseries_csv", "path": str(path), "seq_len": 8, "horizon": 2,
                              "transform": "diff", "missing": "interpolate", "val_fraction": 0.0}})


def digit_photos(folder: Path) -> Path:
    """Dark digits on light paper, one sub-folder per digit, as people photograph them."""
    from PIL import Image, ImageDraw, ImageFont

    for d in "0123456789":
        (folder / d).mkdir(parents=True)
        img = Image.new("L", (70, 90), 235)
        ImageDraw.Draw(img).text((12, 4), d, fill=20, font=ImageFont.load_default(size=64))
        img.save(folder / d / f"{d}.png")
    return folder


def raw_rows(target: str, path: Path) -> Path:
    """40 penguins without the target, with an island never seen and missing cells of every type."""
    rows = pd.read_csv(PENGUINS).iloc[::8].head(40).drop(columns=[target]).reset_index(drop=True)
    rows.loc[0, "island"] = "Atlantis"
    rows.loc[1, "sex"] = None
    rows.loc[2, "bill_length_mm"] = None
    rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_lenet):
    """Four trained runs (image classifier, table classifier with an embedded category, table regression,
    series forecaster) and a raw input file for each."""
    tmp = tmp_path_factory.mktemp("export")
    series = series_file(tmp / "co2.csv")
    out = {"image": (validate({**tiny_lenet, "train": {"epochs": 1}}), digit_photos(tmp / "photos")),
           "table": (table_cfg("species", one_hot_max=2), raw_rows("species", tmp / "rows.csv")),
           "regression": (table_cfg("body_mass_g"), raw_rows("body_mass_g", tmp / "rows_mass.csv")),
           "series": (series_cfg(series), series)}
    return {kind: (Run.load(train(cfg, out=tmp / kind, quiet=True).path), raw) for kind, (cfg, raw) in out.items()}


@pytest.fixture(scope="module")
def onnx_files(runs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onnx")
    return {kind: run.export("onnx", tmp / f"{kind}.onnx") for kind, (run, _) in runs.items()}


ORT_ALONE = """
import json, sys
import onnxruntime as ort
from dlnotes import inputs
out = {}
for kind, (model, raw) in json.loads(sys.argv[1]).items():
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["dlnotes"])
    answers = session.run(None, inputs.prepare(meta, raw))
    out[kind] = {o.name: a.tolist() for o, a in zip(session.get_outputs(), answers)}
loaded = [m for m in sys.modules if m == "torch" or m.startswith(("dlnotes.models", "dlnotes.export", "dlnotes.nn"))]
assert not loaded, loaded
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def ort_answers(runs, onnx_files):
    """What onnxruntime answers in a process of its own, fed by dlnotes.inputs.prepare from the raw files."""
    pytest.importorskip("onnxruntime")
    jobs = {kind: (str(onnx_files[kind]), str(raw)) for kind, (_, raw) in runs.items()}
    r = subprocess.run([sys.executable, "-c", ORT_ALONE, json.dumps(jobs)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return {kind: {k: np.array(v) for k, v in answers.items()} for kind, answers in json.loads(r.stdout).items()}


def test_onnxruntime_alone_gives_predicts_classes_and_probabilities_on_a_raw_table(runs, ort_answers):
    run, raw = runs["table"]
    rows = run.predict(raw, probabilities=True)
    got = ort_answers["table"]
    assert [run.spec.classes[i] for i in got["label"]] == [r["prediction"] for r in rows]
    want = np.array([[r["probabilities"][c] for c in run.spec.classes] for r in rows])
    assert np.abs(got["probabilities"] - want).max() < 1e-4
    assert run.model.embeddings[0].num_embeddings == 4  # island embedded (3 levels + unknown), sex one-hot


def test_onnxruntime_alone_gives_predicts_regression_in_grams(runs, ort_answers):
    run, raw = runs["regression"]
    want = np.array([float(r["prediction"]) for r in run.predict(raw)])
    got = ort_answers["regression"]["prediction"][:, 0]
    assert np.allclose(got, want, rtol=1e-4, atol=0) and 2000 < want.mean() < 7000  # grams, not standardised


def test_onnxruntime_alone_gives_predicts_forecast(runs, ort_answers, in_process):
    run, raw = runs["series"]
    rows = run.predict(raw)
    want = np.array([float(r["prediction"]) for r in rows])
    assert np.allclose(ort_answers["series"]["forecast"].reshape(-1), want, rtol=1e-4, atol=0)
    r = in_process("predict", "--run", run.path, "--input", raw)  # the CLI writes the rows Run.predict gives
    assert r.returncode == 0
    assert [line.split(",")[-1] for line in r.stdout.split()[1:]] == [r["prediction"] for r in rows]


def test_onnxruntime_alone_gives_predicts_answers_on_a_folder_of_digit_photos(runs, ort_answers):
    run, photos = runs["image"]
    rows = run.predict(photos, probabilities=True)
    got = ort_answers["image"]
    assert [run.spec.classes[i] for i in got["label"]] == [r["prediction"] for r in rows]
    want = np.array([[r["probabilities"][c] for c in run.spec.classes] for r in rows])
    assert len(rows) == 10 and np.abs(got["probabilities"] - want).max() < 1e-4


def test_image_graph_takes_uint8_pixels_and_answers_probabilities(runs, onnx_files):
    """The ONNX graph on pixels equals the run's model on (pixels / 255 - mean) / std, softmaxed."""
    ort = pytest.importorskip("onnxruntime")
    run, _ = runs["image"]
    session = ort.InferenceSession(str(onnx_files["image"]), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [("pixels", "tensor(uint8)")]
    pre = run.meta["preprocess"]
    for batch in (1, 7):
        g = torch.Generator().manual_seed(batch)
        pixels = torch.randint(0, 256, (batch, 1, 16, 16), dtype=torch.uint8, generator=g)
        probs, label = session.run(None, {"pixels": pixels.numpy()})
        x = (pixels.float() / 255 - pre["x_mean"][0]) / pre["x_std"][0]
        with torch.inference_mode():
            ref = torch.softmax(run.model(x), -1).numpy()
        assert np.abs(probs - ref).max() < 1e-5 and (label == ref.argmax(1)).all()


@pytest.mark.parametrize("category_missing", ["most_frequent", "missing_level"])
def test_table_graph_computes_what_the_fitted_transform_computes(category_missing):
    """TableModel.features (the graph) against TabularTransform.transform (training's numpy) on new rows with
    missing cells, a level never seen in a category, a one-hot and an embedded category, a boolean word never
    seen; and a date column."""
    from dlnotes.data.tabular import TabularTransform
    from dlnotes.export.answers import ValueAnswer
    from dlnotes.export.tables import TableModel

    rng = np.random.default_rng(0)
    n = 80
    rows = pd.DataFrame({"age": rng.normal(40, 12, n), "smoker": rng.choice(["yes", "no"], n),
                         "port": rng.choice(list("SCQ"), n), "cabin": rng.choice([f"c{i}" for i in range(15)], n)})
    rows.loc[::7, "age"], rows.loc[::9, "port"] = np.nan, None
    types = {"age": "number", "smoker": "boolean", "port": "category", "cabin": "category"}
    rows["when"] = pd.Series(pd.to_datetime(rng.uniform(0, 2e9, n).round(), unit="s").strftime("%Y-%m-%d %H:%M"))
    rows.loc[::11, "when"] = None
    types["when"] = "date"
    t = TabularTransform(types, {"category": category_missing}, 5, "auto").fit(rows)
    new = rows.head(16).copy()
    new.loc[0, "port"], new.loc[1, "cabin"], new.loc[2, "smoker"], new.loc[3, "age"] = "Atlantis", "c99", "maybe", None
    meta = {"dataset": {"kind": "tabular", "task": "regression", "feature_names": list(types)},
            "preprocess": {"tabular": t.to_dict()}}
    feed = inputs.codes(meta, inputs.prepare(meta, new))
    whole = TableModel(torch.nn.Identity(), meta, ValueAnswer({}))
    got = whole.features({k: torch.as_tensor(v) for k, v in feed.items()})
    assert t.stats["cabin"]["embed"] and not t.stats["port"]["embed"]
    np.testing.assert_array_equal(got.numpy(), t.transform(new))


@pytest.mark.parametrize("kind", ["table", "series"])
@pytest.mark.parametrize("fmt", ["torch_export", "torchscript"])
def test_torch_files_take_the_same_inputs_and_answer_alike(runs, ort_answers, kind, fmt, tmp_path):
    """A table's text as the codes of inputs.codes, a dict of tensors by column; any batch size."""
    import warnings

    run, raw = runs[kind]
    path = run.export(fmt, tmp_path / ("model.pt2" if fmt == "torch_export" else "model.pt"))
    files = {"dlnotes.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation note
        module = torch.export.load(str(path), extra_files=files).module() if fmt == "torch_export" else \
            torch.jit.load(str(path), _extra_files=files)
    meta = json.loads(files["dlnotes.json"])
    feed = {k: torch.as_tensor(v) for k, v in inputs.codes(meta, inputs.prepare(meta, raw)).items()}
    got = module(feed) if kind == "table" else module(feed["values"])
    want = ort_answers[kind]["probabilities" if kind == "table" else "forecast"]
    got = got[0] if isinstance(got, tuple) else got
    assert np.abs(got.detach().numpy() - want).max() < 1e-4 * max(1.0, np.abs(want).max())
    one = {k: v[:1] for k, v in feed.items()}
    first = module(one) if kind == "table" else module(one["values"])
    first = first[0] if isinstance(first, tuple) else first
    assert torch.allclose(first.detach(), got[:1].detach(), rtol=1e-5, atol=1e-6)
    assert "string" not in {i["dtype"] for i in meta["contract"]["inputs"]}  # codes, not text, for torch files


def test_contract_names_every_input_and_output(runs, onnx_files):
    ort = pytest.importorskip("onnxruntime")
    run, _ = runs["table"]
    session = ort.InferenceSession(str(onnx_files["table"]), providers=["CPUExecutionProvider"])
    contract = inputs.contract(run.meta)
    assert [i.name for i in session.get_inputs()] == [i["name"] for i in contract["inputs"]]
    assert {i.name: i.type for i in session.get_inputs()}["island"] == "tensor(string)"
    assert [o.name for o in session.get_outputs()] == ["probabilities", "label"]


def test_prepare_refuses_a_lacking_column_and_a_bad_meta(runs):
    run, raw = runs["table"]
    with pytest.raises(UserError, match="lacks the feature column"):
        inputs.prepare(run.meta, pd.read_csv(raw).drop(columns=["island"]))
    with pytest.raises(UserError, match="meta.json"):
        inputs.prepare({"model": "mlp"}, raw)


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite", "--output", "m.tflite"], "allowed: onnx, torch_export, torchscript"),
])
def test_export_refuses_bad_arguments(runs, in_process, args, message, tmp_path):
    r = in_process("export", "--run", runs["table"][0].path, *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(UserError, match="is a directory"):
        runs["table"][0].export("onnx", tmp_path)
