"""The task objects and the structure they allow: one place per task-specific decision."""

import ast
import re
from pathlib import Path

import pytest
import torch

from dlnotes.errors import UserError
from dlnotes.tasks import TASKS, get_task

PACKAGE = Path(__file__).resolve().parents[1] / "dlnotes"


def test_every_task_names_its_loss_metric_and_summary():
    for name, task in TASKS.items():
        assert task.name == name and task.loss in ("mse", "cross_entropy")
        line = task.summary({k: 0.5 for k in task.shown})
        assert all(f"{k}=0.5000" in line for k in task.shown)
    with pytest.raises(UserError, match="unknown task 'bogus'"):
        get_task("bogus")


def test_classification_metrics_are_the_confusion_matrix_ones():
    out = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])  # predicts 0, 1, 0, 1
    y = torch.tensor([0, 1, 1, 1])
    m = get_task("classification").metrics(out, y, {}, 2, 0.5, 0.0)
    assert m["confusion_matrix"] == [[1, 0], [1, 2]]
    assert m["accuracy"] == pytest.approx(0.75) and m["precision"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(2 / 3)


def test_regression_metrics_are_in_the_data_units():
    pre = {"y_mean": [10.0], "y_std": [2.0]}
    out, y = torch.tensor([[0.5], [-0.5]]), torch.tensor([[0.0], [0.0]])  # 11 and 9 against 10 and 10
    m = get_task("regression").metrics(out, y, pre, 0, 0.5, 0.0)
    assert m["mse"] == pytest.approx(1.0) and m["mae"] == pytest.approx(1.0)
    assert "r2" not in get_task("forecasting").metrics(out, y, pre, 0, 0.5, 0.0)


def _python_files(*parts):
    return sorted((PACKAGE.joinpath(*parts)).rglob("*.py"))


def test_task_and_kind_decisions_live_in_the_task_objects():
    """At most a handful of comparisons with a task's or an input kind's name outside dlnotes/tasks/
    (issue 13): `task == "classification"`, `kind != "text"`, `.task in (...)`. (Other things called kind,
    a sweep's distribution or an inspect.Parameter's, are not decisions on the data.)"""
    names = "classification|regression|forecasting|language|image|tabular|sequence|series|text"
    pattern = re.compile(rf"(task|kind)\s*[!=]=\s*[\"']({names})[\"']|\.(task|kind) in \(\s*[\"']")
    hits = [f"{p.name}:{n}" for p in _python_files() if p.parent.name != "tasks"
            for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert len(hits) <= 5, hits


def test_data_never_imports_the_engine_and_figures_only_draw():
    for path in _python_files("data"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("dlnotes.engine"), f"{path.name} imports {node.module}"
    plots = (PACKAGE / "plots.py").read_text()
    for forbidden in ("predict_outputs", "load_state", "RunDir", "SimpleNamespace", "read_history", ".model("):
        assert forbidden not in plots, forbidden


@pytest.mark.parametrize("name, y", [
    ("linear_regression", torch.randn(16, 1)),
    ("logistic_regression", torch.randint(0, 2, (16,))),
])
def test_derived_gradient_function_equals_autograd(name, y):
    """train.gradient: manual goes through DerivedLinear, whose backward is the notes' rule."""
    from dlnotes.models import build_model
    from dlnotes.nn.losses import build_loss

    x = torch.randn(16, 3)
    task = "regression" if name == "linear_regression" else "classification"
    grads = []
    for gradient in ("autograd", "manual"):
        torch.manual_seed(0)
        model = build_model(name, {"in_features": 3, "gradient": gradient})
        build_loss("auto", get_task(task))(model(x), y).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        if gradient == "manual":  # the formula stated in manual_gradients gives the same numbers
            model.zero_grad()
            model.manual_gradients(x, y, model(x).detach())
            grads.append([p.grad.clone() for p in model.parameters()])
    for a, b, c in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)


def test_renamed_settings_point_to_their_new_names():
    from dlnotes.config import validate

    base = {"data": {"name": "digits"}, "model": {"name": "lenet"}}
    with pytest.raises(UserError, match=r"train.precision was renamed: use train.amp"):
        validate({**base, "train": {"precision": "bf16"}})
    assert validate({**base, "train": {"amp": "bf16"}}).train.amp == "bf16"
    reg = {"data": {"name": "diabetes"}, "model": {"name": "linear_regression"}}
    for solver in ("least_squares", "lstsq"):
        assert validate({**reg, "train": {"solver": solver}}).train.solver == solver
    with pytest.raises(UserError, match="model.gradient|unknown key 'gradient'"):
        validate({"data": {"name": "diabetes"}, "model": {"name": "linear_regression", "gradient": "manual"}})


def test_baselines_are_the_trivial_predictors_on_the_same_split():
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.metrics import accuracy_score, mean_squared_error

    from dlnotes.data.prepare import Split

    g = torch.Generator().manual_seed(0)
    y_train = torch.tensor([0, 1, 1, 2, 1, 0])
    test = Split(torch.zeros(5, 2), torch.tensor([1, 1, 0, 2, 2]))
    base = get_task("classification").baseline(y_train, test, {}, 3)
    ref = DummyClassifier(strategy="most_frequent").fit(torch.zeros(6, 1), y_train).predict(torch.zeros(5, 1))
    assert base["name"] == "majority class" and base["accuracy"] == pytest.approx(accuracy_score(test.y, ref))
    pre = {"y_mean": [3.0], "y_std": [2.0]}
    yn_train, yn_test = torch.randn(20, 1, generator=g), torch.randn(7, 1, generator=g)
    y_train, y_test = yn_train * 2 + 3, yn_test * 2 + 3
    base = get_task("regression").baseline(y_train, Split(torch.zeros(7, 2), yn_test), pre, 0)
    ref = DummyRegressor().fit(torch.zeros(20, 1), y_train).predict(torch.zeros(7, 1))
    assert base["mse"] == pytest.approx(mean_squared_error(y_test, ref), rel=1e-5)
    line = get_task("classification").summary({"accuracy": 0.9, "loss": 0.1,
                                               "baseline": {"name": "majority class", "accuracy": 0.25}})
    assert line.startswith("accuracy=0.9000 (majority class 0.2500)")


def test_manual_gradient_needs_a_model_with_derived_rules():
    from dlnotes.config import validate

    with pytest.raises(UserError, match="exists for linear_regression and logistic_regression only, not 'mlp'"):
        validate({"data": {"name": "iris"}, "model": {"name": "mlp"}, "train": {"gradient": "manual"}})
