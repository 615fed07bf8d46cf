"""The regression chapter against scikit-learn and hand-derived numbers."""

import csv
import io
import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, r2_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from dlnotes.config import validate
from dlnotes.engine.solvers import least_squares
from dlnotes.models.regression import LinearRegression as OurLinear, LogisticRegression as OurLogistic
from dlnotes.run import train


def write_csv(path, x, y, names, target="target"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(names) + [target])
        for row, t in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [t])


@pytest.fixture(scope="module")
def diabetes_csvs(tmp_path_factory):
    d = load_diabetes()
    xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.25, random_state=0)
    root = tmp_path_factory.mktemp("diabetes")
    write_csv(root / "train.csv", xtr, ytr, d.feature_names)
    write_csv(root / "test.csv", xte, yte, d.feature_names)
    ref = r2_score(yte, LinearRegression().fit(xtr, ytr).predict(xte))
    return root, ref


def csv_config(root, **train):
    return {"data": {"name": "csv", "train_path": str(root / "train.csv"), "test_path": str(root / "test.csv"),
                     "target": "target", "val_fraction": 0.0, "batch_size": 512},
            "model": {"name": "linear_regression"}, "train": train}


def test_lstsq_equals_sklearn_on_diabetes_csv(diabetes_csvs, tmp_path):
    root, ref = diabetes_csvs
    run = train(validate(csv_config(root, solver="lstsq")), out=tmp_path / "r")
    assert run.metrics["r2"] == pytest.approx(ref, abs=1e-6)


def test_gd_close_to_sklearn_on_diabetes_csv(diabetes_csvs, tmp_path):
    root, ref = diabetes_csvs
    run = train(validate(csv_config(root, solver="gd", gradient="manual", epochs=300,
                                    optimizer={"name": "sgd", "lr": 0.1}, loss="mse")), out=tmp_path / "r")
    assert abs(run.metrics["r2"] - ref) < 0.01


def test_grid_finds_the_line(tmp_path):
    run = train("configs/linreg_synthetic_grid.yaml", out=tmp_path / "g")
    best = run.meta["grid_best"]
    x, y = run.data.train.x.double().numpy().ravel(), run.data.train.y.double().numpy().ravel()
    w_ls, b_ls = np.polyfit(x, y, 1)  # the grid's best point is the least-squares line, to one grid step
    step = 20 / 400
    assert abs(best["w"] - w_ls) <= step and abs(best["b"] - b_ls) <= step
    # 160 points with noise 1: the standard errors of w and b are about 0.03 and 0.08
    assert abs(best["w"] - 3) < 0.1 and abs(best["b"] - 2) < 0.25
    assert (tmp_path / "g/checkpoint/surface.pt").is_file()


def test_gd_manual_finds_the_line(tmp_path):
    run = train("configs/linreg_synthetic_gd.yaml", out=tmp_path / "g")
    lin = run.model.linear
    assert abs(lin.weight.item() - 3) < 0.1 and abs(lin.bias.item() - 2) < 0.15


def test_grid_too_large_is_refused(in_process, tmp_path):
    r = in_process("train", "--config", "configs/linreg_synthetic_grid.yaml", "--out", tmp_path / "x",
                   "train.grid.steps=100000")
    assert r.returncode == 2 and "MB" in r.stderr and "train.grid" in r.stderr
    assert not (tmp_path / "x").exists()


def test_least_squares_falls_back_on_collinear_features():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 3, generator=g, dtype=torch.float64)
    x = torch.cat([x, x[:, :1] * 2], 1)  # a column that is twice another: X^T X is singular
    y = x[:, :3] @ torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64) + 0.5
    w, b, method = least_squares(x, y)
    assert method == "lstsq"
    pred = x @ w.T + b
    assert torch.allclose(pred, y, atol=1e-8)
    ref = LinearRegression().fit(x.numpy(), y.numpy())
    assert np.allclose(pred.numpy(), ref.predict(x.numpy()), atol=1e-8)


def test_least_squares_chunking_does_not_change_the_answer():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(1000, 5, generator=g), torch.randn(1000, 1, generator=g)
    w1, b1, _ = least_squares(x, y, chunk=1000)
    w2, b2, _ = least_squares(x, y, chunk=7)
    assert torch.allclose(w1, w2, atol=1e-10) and torch.allclose(b1, b2, atol=1e-10)


@pytest.mark.parametrize("model, y", [
    (OurLinear(4, 1), torch.randn(32, 1)),
    (OurLogistic(4, 2), torch.randint(0, 2, (32,))),
    (OurLogistic(4, 3), torch.randint(0, 3, (32,))),
])
def test_manual_gradients_equal_autograd(model, y):
    from dlnotes.nn.losses import build_loss

    x = torch.randn(32, 4)
    loss_fn = build_loss("mse" if isinstance(model, OurLinear) else "cross_entropy", "classification")
    out = model(x)
    loss_fn(out, y).backward()
    auto = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.manual_gradients(x, y, out.detach())
    for a, m in zip(auto, model.parameters()):
        assert torch.allclose(a, m.grad, atol=1e-6)


def test_logistic_regression_matches_sklearn_and_predict_agrees(tmp_path, in_process):
    run = train("configs/logreg_breast_cancer.yaml", out=tmp_path / "lr")
    # the same split, standardised with training statistics, fitted by scikit-learn
    d = load_breast_cancer()
    raw = train(validate({"seed": 0, "data": {"name": "breast_cancer", "val_fraction": 0.0, "standardize": False},
                          "model": {"name": "logistic_regression"}, "train": {"epochs": 1}}), out=tmp_path / "raw")
    xtr, ytr = raw.data.train.x.numpy(), raw.data.train.y.numpy()
    xte, yte = raw.data.test.x.numpy(), raw.data.test.y.numpy()
    scaler = StandardScaler().fit(xtr)
    sk = LogisticRegression(max_iter=5000).fit(scaler.transform(xtr), ytr)
    ref = accuracy_score(yte, sk.predict(scaler.transform(xte)))
    assert abs(run.metrics["accuracy"] - ref) <= 0.01 + 1e-9
    # predict on the raw test rows as a CSV of feature columns; metrics must equal sklearn's on them
    path = tmp_path / "test.csv"
    write_csv(path, xte, yte, d.feature_names)
    r = in_process("predict", "--run", tmp_path / "lr", "--input", path)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["input", "prediction", "probability"]
    classes = run.meta["dataset"]["classes"]
    pred = np.array([classes.index(row["prediction"]) for row in rows])
    m = json.loads((tmp_path / "lr/metrics.json").read_text())
    assert m["accuracy"] == pytest.approx(accuracy_score(yte, pred))
    assert m["precision"] == pytest.approx(precision_score(yte, pred))
    assert m["recall"] == pytest.approx(recall_score(yte, pred))
    assert m["f1"] == pytest.approx(f1_score(yte, pred))


@pytest.mark.parametrize("content, key, message", [
    ("a,b\n1,2\n", "target", "column 'y' is not in"),
    ("a,y\n1,2\n1e39,3\n", None, "line 3, column 'a': 1e+39 does not fit in float32"),
    ("", None, "is empty"),
    ("a,y\n", None, "no data rows"),
])
def test_csv_errors_are_clear(tmp_path, write_config, content, key, message, in_process):
    p = tmp_path / "d.csv"
    p.write_text(content)
    cfg = write_config({"data": {"name": "csv", "path": str(p), "target": "y"}, "model": {"name": "linear_regression"}})
    r = in_process("train", "--config", cfg, "--out", tmp_path / "out")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_predict_csv_errors_name_the_file_and_column(tmp_path):
    """In process (predict's CLI adds only the "error: " prefix and exit 2, tested elsewhere)."""
    import dlnotes
    from dlnotes.errors import UserError

    run = dlnotes.train("configs/logreg_iris.yaml", out=tmp_path / "r", quiet=True, overrides=["train.epochs=2"])
    cols = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)"
    cases = [("a,b\n1,2\n", "lacks the feature column(s)"),
             (f"{cols}\n5.1,3.5,1.4,0.2\n6,x,4,1\n", "line 3, column 'sepal width (cm)': 'x' is not a number"),
             (f"{cols}\n", "no data rows")]
    for i, (content, message) in enumerate(cases):
        p = tmp_path / f"{i}.csv"
        p.write_text(content)
        with pytest.raises(UserError) as e:
            run.predict(p)
        assert message in str(e.value) and str(p) in str(e.value)


def test_least_squares_equals_sklearn_with_large_offsets_and_chunks():
    # float32 data far from the origin: the shifted sums must not lose the spread to cancellation
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(5000, 6, generator=g) * torch.tensor([1.0, 0.1, 10, 3, 1, 0.5]) + 1e4).float()
    f64 = torch.float64
    y = x.double() @ torch.randn(6, 2, generator=g, dtype=f64) + torch.randn(5000, 2, generator=g, dtype=f64)
    ref = LinearRegression().fit(x.double().numpy(), y.numpy())
    for chunk in (5000, 333):
        w, b, method = least_squares(x, y.float(), chunk=chunk)
        assert method == "cholesky"
        pred = (x.double() @ w.T + b).numpy()
        assert np.allclose(pred, ref.predict(x.double().numpy()), rtol=0, atol=2e-3 * y.std().item())
        assert np.allclose(w.numpy(), ref.coef_, rtol=1e-3, atol=1e-3)


def test_least_squares_gives_zero_weight_to_a_constant_feature():
    g = torch.Generator().manual_seed(3)
    x = torch.cat([torch.randn(300, 2, generator=g, dtype=torch.float64),
                   torch.full((300, 1), 7.0, dtype=torch.float64)], 1)
    y = x[:, :2] @ torch.tensor([[2.0], [-1.0]], dtype=torch.float64) + 4
    w, b, method = least_squares(x, y)
    assert method == "lstsq"
    assert torch.allclose(w, torch.tensor([[2.0, -1.0, 0.0]], dtype=torch.float64), atol=1e-9)
    assert torch.allclose(b, torch.tensor([4.0], dtype=torch.float64), atol=1e-9)


def test_lstsq_standardised_and_raw_runs_predict_the_same(tmp_path):
    base = {"seed": 0, "data": {"name": "synthetic_linear", "n_samples": 3000, "n_features": 4, "x_min": 100,
                                "x_max": 110, "val_fraction": 0.0}, "model": {"name": "linear_regression"},
            "train": {"solver": "lstsq"}}
    std = train(validate(base), out=tmp_path / "std")
    raw = train(validate({**base, "data": {**base["data"], "standardize": False}}), out=tmp_path / "raw")
    assert "x_mean" in std.meta["preprocess"] and "x_mean" not in raw.meta["preprocess"]
    assert std.metrics["r2"] == pytest.approx(raw.metrics["r2"], abs=1e-6)
    x = raw.data.test.x.double().numpy()
    ref = LinearRegression().fit(raw.data.train.x.double().numpy(), raw.data.train.y.double().numpy())
    write_csv(tmp_path / "new.csv", x[:20], [0] * 20, [f"x{i}" for i in range(4)], target="y")
    rows = std.predict(tmp_path / "new.csv")  # raw rows in, the folded statistics applied by predict
    assert np.allclose([float(r["prediction"]) for r in rows], ref.predict(x[:20]).ravel(), rtol=1e-5)
