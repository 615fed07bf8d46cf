"""Users' columns typed as they meant them (issue 26 items 5, 6 and 7): ids with gaps left out, dates read
into calendar parts, and the one-hot width bounded.

Every test writes its own file. References: pandas' calendar arithmetic (``DatetimeIndex.year`` ...),
the dates and ids the test generated.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dlnotes.collect import load_data
from dlnotes.config import validate
from dlnotes.data.table_source import csv
from dlnotes.errors import UserError

N = 60


def cfg(path, target="y", model="logistic_regression", epochs=3, **data):
    return validate({"name": "t", "seed": 0,
                     "data": {"name": "csv", "path": str(path), "target": target, "val_fraction": 0.0, **data},
                     "model": {"name": model}, "train": {"epochs": epochs, "optimizer": {"name": "adam", "lr": 0.05}}})


def write_frame(tmp_path, frame: pd.DataFrame, name="d.csv"):
    p = tmp_path / name
    frame.to_csv(p, index=False)
    return p


# -- item 5: identifiers ---------------------------------------------------------------------------------

def test_ids_with_gaps_are_left_out_before_rows_are_dropped(tmp_path, capsys):
    """A PassengerId whose rows with no target are dropped, a filtered export's row numbers, a shuffled
    customer id: none standardised into the model's input (before: only consecutive numbers were ids)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"PassengerId": np.arange(1, N + 1), "n": np.cumsum(rng.integers(1, 9, N)) + 1000,
                          "customer_id": rng.permutation(N) * 7 + 3, "year": np.arange(1950, 1950 + N),
                          "x": rng.normal(size=N), "y": np.where(rng.random(N) < 0.5, "a", "b").astype(object)})
    frame.loc[frame.index % 4 == 1, "y"] = None  # dropped rows leave gaps in the ids
    data = load_data(cfg(write_frame(tmp_path, frame)))
    tab = data.preprocess["tabular"]
    assert set(tab["ignored"]) == {"PassengerId", "n", "customer_id"}
    assert tab["types"] == {"year": "number", "x": "number"}  # a year counts time, not rows
    err = capsys.readouterr().err
    assert "column 'PassengerId' left out" in err and "data.columns.n: number or category to use it" in err


def test_an_id_named_by_the_user_is_kept(tmp_path):
    frame = pd.DataFrame({"id": np.arange(N), "x": np.linspace(-1, 1, N) ** 2, "y": ["a", "b"] * (N // 2)})
    data = load_data(cfg(write_frame(tmp_path, frame), columns={"id": "number"}))
    assert data.preprocess["tabular"]["types"] == {"id": "number", "x": "number"}


# -- item 6: dates ---------------------------------------------------------------------------------------

STAMPS = pd.date_range("2013-01-01 06:30", periods=N, freq="37h")
FORMS = {
    "iso date-time Z": ("%Y-%m-%dT%H:%M:%SZ", True),
    "iso date": ("%Y-%m-%d", False),
    "iso space": ("%Y-%m-%d %H:%M", True),
    "day first": ("%d/%m/%Y", False),
    "dots": ("%d.%m.%Y", False),
    "month name": ("%d %b %Y", False),
    "US long": ("%B %d, %Y", False),
    "US time": ("%m/%d/%Y %I:%M %p", True),
}


@pytest.mark.parametrize("form", FORMS)
def test_date_forms_become_calendar_parts(tmp_path, form):
    """Before: a date column was a category of as many levels as days."""
    fmt, timed = FORMS[form]
    frame = pd.DataFrame({"when": STAMPS.strftime(fmt), "x": np.linspace(0, 1, N), "y": ["a", "b", "b"] * (N // 3)})
    data = load_data(cfg(write_frame(tmp_path, frame)))
    tab = data.preprocess["tabular"]
    assert tab["types"]["when"] == "date"
    x, outputs = data.dataset.x.numpy().astype(np.float64), tab["outputs"]
    stats = tab["stats"]["when"]
    for part, ref in (("year", STAMPS.year), ("month", STAMPS.month), ("day", STAMPS.day),
                      ("weekday", STAMPS.day_of_week)):
        got = x[:, outputs.index(f"when ({part})")] * stats["std"][part] + stats["mean"][part]
        np.testing.assert_allclose(got, np.asarray(ref, dtype=float), atol=1e-3)
    month = np.asarray(STAMPS.month, dtype=float)
    np.testing.assert_allclose(x[:, outputs.index("when (month sin)")], np.sin(2 * np.pi * (month - 1) / 12), atol=1e-6)
    assert ("when (hour)" in outputs) == timed and "when (hour cos)" in outputs if timed else True
    if timed:
        hour = np.asarray(STAMPS.hour + STAMPS.minute / 60, dtype=float)
        np.testing.assert_allclose(x[:, outputs.index("when (hour cos)")], np.cos(2 * np.pi * hour / 24), atol=1e-5)


def test_months_are_dates_too(tmp_path):
    months = pd.date_range("1949-01-01", periods=N, freq="MS")
    frame = pd.DataFrame({"month": months.strftime("%Y-%m"), "y": np.arange(N) * 2.5 + 100})
    tab = load_data(cfg(write_frame(tmp_path, frame), model="linear_regression")).preprocess["tabular"]
    assert tab["types"] == {"month": "date"} and tab["stats"]["month"]["format"] == "%Y-%m"


def test_dates_are_applied_by_predict_and_recorded_as_plain_data(tmp_path):
    from dlnotes.engine.metrics import labels
    from dlnotes.run import Run, train

    rng = np.random.default_rng(1)
    weekend = STAMPS.day_of_week >= 5
    frame = pd.DataFrame({"when": STAMPS.strftime("%Y-%m-%dT%H:%M:%SZ"), "x": rng.normal(size=N),
                          "y": np.where(weekend, "rest", "work")})
    frame.loc[3, "when"] = None  # a missing date: the training median and an indicator
    run = train(cfg(write_frame(tmp_path, frame), epochs=40), out=tmp_path / "run", quiet=True)
    meta = json.loads((run.path / "meta.json").read_text())
    stats = meta["preprocess"]["tabular"]["stats"]["when"]
    assert stats["format"] == "ISO8601" and stats["indicator"] and isinstance(stats["fill"], float)
    loaded = Run.load(run.path)
    rows = loaded.predict(write_frame(tmp_path, frame.drop(columns=["y"]), "raw.csv"))
    x = loaded.data.dataset.x
    with torch.no_grad():
        want = labels(loaded.model(x), loaded.model.threshold)
    assert [r["prediction"] for r in rows] == [loaded.spec.classes[i] for i in want.tolist()]


def test_date_overrides_and_a_stray_cell(tmp_path):
    frame = pd.DataFrame({"when": STAMPS.strftime("%d.%m.%Y"), "x": np.linspace(0, 1, N), "y": ["a", "b"] * (N // 2)})
    path = write_frame(tmp_path, frame)
    assert load_data(cfg(path, columns={"when": "category"})).preprocess["tabular"]["types"]["when"] == "category"
    assert "when" not in load_data(cfg(path, columns={"when": "ignore"})).preprocess["tabular"]["types"]
    frame.loc[7, "when"] = "31.02.2013"  # no such day
    with pytest.raises(UserError, match=r"line 9, column 'when': '31.02.2013' is not a date in the column's form"):
        csv(path=str(write_frame(tmp_path, frame, "odd.csv")), target="y")
    frame["when"] = "soon"
    with pytest.raises(UserError, match=r"data.columns.when: date, but 'soon' is not in a date form"):
        load_data(cfg(write_frame(tmp_path, frame, "words.csv"), columns={"when": "date"}))


# -- item 7: the one-hot width ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """4,000 rows of a 1,500-level category (a third of the rows distinct: not an identifier)."""
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame({"city": [f"city_{k}" for k in rng.integers(0, 1500, n)], "x": rng.normal(size=n),
                          "y": np.where(rng.random(n) < 0.5, "a", "b")})
    return write_frame(tmp_path_factory.mktemp("wide"), frame)


def test_a_wide_category_is_refused_one_hot_with_what_to_do(wide):
    with pytest.raises(UserError) as e:
        load_data(cfg(wide))
    message = str(e.value)
    assert message.startswith("data.one_hot_limit: column 'city' has 1,3") and "over the limit of 1,000" in message
    assert "train model mlp" in message and "data.columns.city: ignore" in message


def test_a_wide_category_is_embedded_by_mlp_or_allowed_by_a_higher_limit(wide):
    data = load_data(cfg(wide, model="mlp"))
    assert data.model_inputs()["categories"][0] > 1000 and data.dataset.x.shape[1] == 2
    assert load_data(cfg(wide, one_hot_limit=2000)).dataset.x.shape[1] > 1000
