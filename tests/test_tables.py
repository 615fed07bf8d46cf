"""Users' own tables (issue 16): types, missing values, categories, fitting on the training rows only,
predict on raw rows, the quick start, and hostile CSVs refused before a run directory exists.

References: scikit-learn's SimpleImputer / StandardScaler / OneHotEncoder / LogisticRegression on the
same rows; torch's nn.Embedding looked up by hand.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dlnotes.config import load_config, validate
from dlnotes.collect import load_data
from dlnotes.data.prepare import training_rows
from dlnotes.data.sampling import split_indices
from dlnotes.data.column_types import infer_types
from dlnotes.data.tabular import TabularTransform
from dlnotes.errors import UserError
from dlnotes.run import Run, train

pytestmark = pytest.mark.usefixtures("no_figures")  # runs here skip their figures: tests/figures_off.py

ROOT = Path(__file__).resolve().parents[1]
PENGUINS = ROOT / "examples" / "penguins.csv"


def _passengers(n: int, seed: int = 0) -> str:
    spec = importlib.util.spec_from_file_location("make_passengers", ROOT / "examples" / "make_passengers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.passengers(n, seed)


@pytest.fixture(scope="module")
def passengers(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("passengers") / "passengers.csv"
    p.write_text(_passengers(2000, seed=1))
    return p


def table_cfg(path, target, model="logistic_regression", epochs=60, **data):
    return validate({"name": "t", "seed": 0,
                     "data": {"name": "csv", "path": str(path), "target": target, "val_fraction": 0.0,
                              "batch_size": 1024, **data},
                     "model": {"name": model}, "train": {"epochs": epochs, "optimizer": {"name": "adam", "lr": 0.1}}})


# -- types and the transform against scikit-learn ------------------------------------------------------


def test_types_are_inferred_and_overridable(capsys):
    n = 30
    frame = pd.DataFrame({"id": np.arange(1, n + 1), "x": np.linspace(0, 1, n), "name": [f"p{i}" for i in range(n)],
                          "smoker": ["yes", "no"] * 15, "port": ["S", "C", "Q"] * 10, "grade": [1, 2, 3] * 10})
    types = infer_types(frame, list(frame.columns), {"grade": "category"})
    assert types == {"id": "ignore", "x": "number", "name": "ignore", "smoker": "boolean", "port": "category",
                     "grade": "category"}
    err = capsys.readouterr().err
    assert "column 'name' looks like an identifier" in err and "column 'id' left out" in err


def test_transform_equals_sklearn_imputer_scaler_onehot():
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    age = rng.normal(30, 10, 40)
    age[[3, 7, 20]] = np.nan
    port = rng.choice(["S", "C", "Q"], 40).astype(object)
    port[[5, 11]] = None
    train = pd.DataFrame({"age": age, "port": port})
    test = pd.DataFrame({"age": [np.nan, 50.0, 12.5], "port": ["Q", "X", None]})  # X: never seen in training
    t = TabularTransform({"age": "number", "port": "category"}).fit(train)
    t = TabularTransform.from_dict(json.loads(json.dumps(t.to_dict())))  # as meta.json holds it
    got = t.transform(test)
    imp = SimpleImputer(strategy="median", add_indicator=True).fit(train[["age"]])
    scaler = StandardScaler().fit(imp.transform(train[["age"]])[:, :1])
    num = imp.transform(test[["age"]])
    cat_imp = SimpleImputer(strategy="most_frequent").fit(train[["port"]])
    onehot = OneHotEncoder(handle_unknown="ignore").fit(cat_imp.transform(train[["port"]]))
    want = np.hstack([scaler.transform(num[:, :1]), num[:, 1:],
                      onehot.transform(cat_imp.transform(test[["port"]])).toarray()])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert t.unseen == {"port": 1}
    assert t.outputs() == ["age", "age (missing)", "port=C", "port=Q", "port=S"]


def test_missing_level_and_boolean_encoding():
    train = pd.DataFrame({"smoker": ["yes", "no", None, "no"], "colour": ["red", None, "blue", "red"]})
    t = TabularTransform({"smoker": "boolean", "colour": "category"}, {"category": "missing_level"}).fit(train)
    out = t.transform(pd.DataFrame({"smoker": ["yes", None], "colour": [None, "blue"]}))
    # smoker (missing -> most frequent 'no' -> 0), then colour one-hot over (missing), blue, red
    np.testing.assert_array_equal(out, [[1, 1, 0, 0], [0, 0, 1, 0]])


def test_embedded_categories_are_codes_looked_up_in_their_table():
    from dlnotes.models.mlp import mlp

    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "city": ["a", "b", "c", "a"]})
    t = TabularTransform({"x": "number", "city": "category"}, one_hot_max=2, embed="auto").fit(train)
    x = torch.from_numpy(t.transform(pd.DataFrame({"x": [2.0, 5.0], "city": ["c", "zz"]})))
    assert t.embedded() == [4] and x[:, -1].tolist() == [3.0, 0.0]  # 0: the unknown slot
    torch.manual_seed(0)
    model = mlp(in_features=1, num_classes=2, hidden_sizes=[3], categories=[4])
    emb, first = model.embeddings[0], model.net[1]
    want = model.net[2:](first(torch.cat([x[:, :1], emb.weight[x[:, 1].long()]], 1)))
    torch.testing.assert_close(model(x), want)


# -- whole runs: accuracy beside scikit-learn, predict on raw rows ---------------------------------------


def sklearn_accuracy(cfg) -> float:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ds = load_data(cfg).dataset
    rows = training_rows(ds, cfg, stratify=True)
    _, test = split_indices(len(ds.y), cfg.data.test_fraction, cfg.seed, ds.y.numpy())
    types = ds.table.transform.types
    num = [c for c, t in types.items() if t == "number"]
    cat = [c for c, t in types.items() if t != "number"]
    x = ds.table.frame[num + cat].copy()
    for c in cat:
        x[c] = x[c].astype(str).where(x[c].notna(), np.nan)
    pipe = make_pipeline(ColumnTransformer([
        ("n", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), num),
        ("c", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat)]),
        LogisticRegression(max_iter=2000))
    y = ds.y.numpy()
    pipe.fit(x.iloc[rows], y[rows])
    return float((pipe.predict(x.iloc[test]) == y[test]).mean())


@pytest.mark.parametrize("table", ["penguins", "passengers"])
def test_raw_table_accuracy_matches_sklearn_pipeline(table, passengers, tmp_path):
    cfg = table_cfg(PENGUINS, "species") if table == "penguins" else \
        table_cfg(passengers, "Survived", columns={"Pclass": "category"})
    run = train(cfg, out=tmp_path / "r")
    ref = sklearn_accuracy(cfg)
    assert abs(run.metrics["accuracy"] - ref) <= 0.01, (run.metrics["accuracy"], ref)
    assert run.metrics["baseline"]["name"] == "majority class"
    assert run.metrics["accuracy"] > run.metrics["baseline"]["accuracy"] + 0.15


@pytest.fixture(scope="module")
def passenger_mlp(passengers, tmp_path_factory):
    """An mlp with Embarked (3 levels) embedded (one_hot_max: 2), trained on raw passenger rows."""
    out = tmp_path_factory.mktemp("runs") / "mlp"
    cfg = table_cfg(passengers, "Survived", model="mlp", epochs=30, one_hot_max=2)
    return train(cfg, out=out)


def test_predict_on_raw_rows_gives_the_test_predictions(passenger_mlp, tmp_path, capsys):
    run = Run.load(passenger_mlp.path)
    assert run.model.embeddings[0].num_embeddings == 4  # C, Q, S + unknown; Sex stays one-hot (2 levels)
    ds = run.data.dataset
    _, test = split_indices(len(ds.y), 0.2, 0, ds.y.numpy())
    raw = ds.table.frame.iloc[test].drop(columns=["Survived"])
    raw.iloc[0, raw.columns.get_loc("Embarked")] = "Atlantis"  # a port never seen in training
    p = tmp_path / "raw.csv"
    raw.to_csv(p, index=False)
    rows = run.predict(p)
    out = run.evaluate("test")
    want = run._outputs["test"].argmax(1)
    got = torch.tensor([run.spec.classes.index(r["prediction"]) for r in rows])
    assert len(rows) == len(test) and out["accuracy"] == passenger_mlp.metrics["accuracy"]
    assert (got[1:] == want[1:]).all()
    assert "1 value(s) not seen in training, mapped to 'unknown': Embarked: 1 (e.g. 'Atlantis')" in \
        capsys.readouterr().err


def test_meta_and_export_metadata_describe_the_preprocessing(passenger_mlp):
    meta = json.loads((passenger_mlp.path / "meta.json").read_text())
    tab = meta["preprocess"]["tabular"]
    assert tab["types"]["Pclass"] == "number" and "Name" not in tab["types"] and "Ticket" not in tab["types"]
    assert tab["stats"]["Age"]["indicator"] and "Age (missing)" in tab["outputs"]
    assert meta["dataset"]["input_shape"] == [len(tab["outputs"])]
    assert "x_mean" not in meta["preprocess"]  # the table's own scaling, not a second one
    from dlnotes.export import metadata

    info = metadata(meta, "mlp", 0.5, "onnx")
    assert info["preprocess"]["tabular"]["outputs"] == tab["outputs"] and "Embarked" in info["dataset"]["feature_names"]


def test_the_reader_returns_raw_rows_and_prepare_a_whole_dataset(passengers):
    """Read -> type -> fit (issue 24): the csv constructor returns the typed rows and nothing fitted;
    the collect step returns a Dataset whose inputs are built, never one with a placeholder x."""
    from dlnotes.data.base import Dataset
    from dlnotes.data.table_source import TableSource
    from dlnotes.registry import DATASETS

    source = DATASETS.get("csv")(path=str(passengers), target="Survived")
    assert isinstance(source, TableSource) and not isinstance(source, Dataset) and source.transform.stats == {}
    data = load_data(table_cfg(passengers, "Survived"))
    ds = data.dataset
    assert isinstance(ds, Dataset) and ds.x.shape == (len(source.y), len(ds.table.transform.outputs()))
    assert torch.isfinite(ds.x).all() and ds.x.abs().sum() > 0


def test_fitted_on_training_rows_only(passengers):
    cfg = table_cfg(passengers, "Survived")
    ds = load_data(cfg).dataset
    rows = training_rows(ds, cfg, stratify=True)
    age = pd.to_numeric(ds.table.frame["Age"]).iloc[rows]
    assert ds.table.transform.stats["Age"]["fill"] == pytest.approx(float(age.median()))
    assert ds.table.transform.stats["Fare"]["mean"] != pytest.approx(float(ds.table.frame["Fare"].mean()), abs=1e-9)


# -- the quick start and the config ---------------------------------------------------------------------


def test_quick_start_trains_and_its_config_reruns(in_process, tmp_path):
    r = in_process("train", "--data", PENGUINS, "--target", "species", "--model", "logistic_regression", "--out",
                   tmp_path / "q", "-q", "train.epochs=5", "data.batch_size=512", "train.optimizer.lr=0.1")
    assert r.returncode == 0, r.stderr
    assert "test: accuracy=" in r.stdout and "(majority class 0.4" in r.stdout
    cfg = (tmp_path / "q" / "config.yaml").read_text()
    assert "name: csv" in cfg and "target: species" in cfg and "one_hot_max: 10" in cfg
    again = train(load_config(tmp_path / "q" / "config.yaml"), out=tmp_path / "again")
    assert again.metrics["accuracy"] == json.loads((tmp_path / "q" / "metrics.json").read_text())["accuracy"]


def test_quick_config_for_a_folder_and_its_refusals(tmp_path):
    from dlnotes.config import quick_config

    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    cfg = quick_config(tmp_path / "imgs", None, None, ["data.image_size=16"])
    assert (cfg.data.name, cfg.model.name, cfg.extras("data")["image_size"]) == ("image_folder", "lenet", 16)
    with pytest.raises(UserError, match="--target: name the column"):
        quick_config(PENGUINS, None, None, [])
    with pytest.raises(UserError, match="unknown model 'mpl'"):
        quick_config(PENGUINS, "species", "mpl", [])


def test_new_data_name_starts_from_that_datasets_defaults():
    cfg = load_config(ROOT / "configs" / "mlp_breast_cancer.yaml",
                      ["data.path=examples/penguins.csv", "data.name=csv", "data.target=species"])
    assert cfg.data.name == "csv" and cfg.extras("data") == {"path": "examples/penguins.csv", "target": "species"}
    assert cfg.data.batch_size == 32  # the generic keys stay


def test_shipped_table_configs_load():
    for name in ("mlp_penguins", "logreg_passengers"):
        cfg = load_config(ROOT / "configs" / f"{name}.yaml")
        assert Path(ROOT / cfg.extras("data")["path"]).is_file()


def test_datasets_csv_describes_every_key(in_process):
    r = in_process("datasets", "csv")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    keys = [ln.split(" = ")[0].strip() for ln in lines if " = " in ln]
    assert {"path", "target", "columns", "missing", "one_hot_max", "encoding"} <= set(keys)
    for i, ln in enumerate(lines):
        if " = " in ln:
            assert lines[i + 1].startswith("      ") and len(lines[i + 1].strip()) > 10, ln


# -- missing values, hostile files ----------------------------------------------------------------------


def write(tmp_path, text: str, name="d.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def numbers(n=12, target=lambda i: "ab"[i % 2]):
    return "x,z,y\n" + "".join(f"{i * 0.5},{i % 3},{target(i)}\n" for i in range(n))


@pytest.mark.parametrize("text, data, message", [
    ("x,y\n1,a\n", {}, "1 usable data row(s)"),
    (numbers(target=lambda i: "a"), {}, "one class only ('a')"),
    (numbers(target=lambda i: ""), {}, "no value in the target column 'y' on any row"),
    ("x,x,y\n1,2,a\n3,4,b\n", {}, "two columns named 'x'"),
    (numbers(), {"features": ["x", "y"]}, "'y' is the target; it cannot also be a feature"),
    (numbers().replace("\n1.0,", "\n1e308,"), {}, "line 4, column 'x': 1e+308 does not fit in float32"),
    (numbers().replace("\n1.0,", "\n,"), {"missing": {"number": "error"}}, "line 4, column 'x': missing value"),
    ("x,y\n1,a\n2,b\n3,a,7\n", {}, "line 4 has 3 fields, the header has 2"),
    (numbers(3), {}, "leave no test row"),
])
def test_hostile_csv_refused_before_a_run_exists(tmp_path, text, data, message):
    cfg = table_cfg(write(tmp_path, text), "y", **data)
    with pytest.raises(UserError, match=None) as e:
        train(cfg, out=tmp_path / "run")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("data, message", [
    ({"columns": {"x": "datum"}}, "data.columns.x: 'datum' is not allowed; did you mean 'date'?"),
    ({"missing": {"number": "mode"}}, "data.missing.number: 'mode' is not allowed; allowed: drop, error, mean"),
    ({"missing": {"numbers": "mean"}}, "data.missing.numbers: not a key here; did you mean 'number'?"),
    ({"missing": {"date": "mean"}}, "data.missing.date: 'mean' is not allowed"),
    ({"one_hot_max": -1}, "data.one_hot_max: must be in [0, 100000] (got -1)"),
    ({"one_hot_limit": 0}, "data.one_hot_limit: must be in [1, 1000000] (got 0)"),
    ({"features": ["x", 3]}, "data.features: item 1 must be a string"),
])
def test_csv_options_refused_at_config_load(tmp_path, data, message):
    """The readers' option bounds are declared beside the parameters (constraints) and read at load."""
    with pytest.raises(UserError) as e:
        table_cfg(write(tmp_path, numbers()), "y", **data)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_targets_dropped_with_a_count_never_a_class(tmp_path, capsys):
    text = numbers(40).replace(",a\n", ",\n", 3)
    ds = load_data(table_cfg(write(tmp_path, text), "y")).dataset
    assert ds.classes == ["a", "b"] and len(ds.y) == 37
    assert "dropped 3 row(s)" in capsys.readouterr().err


def test_missing_drop_strategy_and_encodings(tmp_path, capsys):
    text = numbers(40).replace("\n1.0,", "\n,")
    ds = load_data(table_cfg(write(tmp_path, text, "semi.csv"), "y", missing={"number": "drop"})).dataset
    assert len(ds.y) == 39 and "dropped 1 row(s)" in capsys.readouterr().err
    semi = "\ufeff" + numbers(40).replace(",", ";")  # BOM, semicolons
    ds = load_data(table_cfg(write(tmp_path, semi, "bom.csv"), "y")).dataset
    assert ds.feature_names == ["x", "z"] and ds.x.shape == (40, 2)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(("x,c,y\n" + "".join(f"{i},{'éè'[i % 2]},{'ab'[i % 2]}\n" for i in range(20))).encode("latin-1"))
    with pytest.raises(UserError, match="set data.encoding"):
        load_data(table_cfg(latin, "y")).dataset
    ds = load_data(table_cfg(latin, "y", encoding="latin-1")).dataset
    assert ds.table.transform.stats["c"]["levels"] == ["è", "é"]


def test_predict_refuses_a_float32_overflow(passenger_mlp, tmp_path, in_process):
    header = "Pclass,Sex,Age,SibSp,Parch,Fare,Embarked\n"
    p = write(tmp_path, header + "3,male,22,1,0,7.25,S\n1,female,1e39,1,0,71.3,C\n", "big.csv")
    r = in_process("predict", "--run", passenger_mlp.path, "--input", p)
    assert r.returncode == 2 and "line 3, column 'Age': 1e+39 does not fit in float32" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    rows = Run.load(passenger_mlp.path).predict(write(tmp_path, header + "3,male,,1,0,7.25,\n", "o.csv"))
    assert len(rows) == 1 and rows[0]["prediction"] in ("0", "1")  # missing age and port: imputed
