"""A series' gaps stay at their time (issue 26 items 9 and 10): an empty line or cell is a gap filled or
refused by ``data.missing`` naming its line, at training and at predict; values beyond float32 are refused
as data; the seasonal naive baseline reads the series' past, so ``data.period`` may exceed ``seq_len``;
a short series losing many windows to the split's gaps hears which seq_len keeps more."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from cli_in_process import call, one_line_error
from dlnotes.config import validate
from dlnotes.errors import UserError


def wave(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(10 + np.sin(np.arange(n) / 3) + rng.normal(0, 0.05, n), 4)


def write(path: Path, values, header: str | None = "v") -> Path:
    """One value per line; None writes an empty line."""
    lines = ([header] if header else []) + ["" if v is None else f"{v}" for v in values]
    path.write_text("\n".join(lines) + "\n")
    return path


def series_data(path, **data):
    from dlnotes.collect import load_data

    return load_data(validate({"data": {"name": "timeseries_csv", "path": str(path), "seq_len": 5,
                                        "val_fraction": 0, **data}, "model": {"name": "rnn"}}))


# -- training ---------------------------------------------------------------------------------------

def test_an_empty_line_is_a_gap_at_its_time(tmp_path):
    v = wave(40)
    written = [*v[:7], None, *v[8:]]  # value 8 (line 9 under the header) left empty
    with pytest.raises(UserError, match=r"line 9 \(value 8 of the series\) is missing.*data.missing: interpolate"):
        series_data(write(tmp_path / "s.csv", written))
    data = series_data(write(tmp_path / "s.csv", written + [None, None]), missing="interpolate")  # + 2 blank lines
    expect = v.copy()
    expect[7] = (v[6] + v[8]) / 2  # filled at its own time, not skipped
    assert len(data.dataset.x) == 40 - 5 - 1 + 1  # every line a time step; the blank lines at the end none
    first_windows = data.raw("train").raw[:4].numpy()
    assert np.allclose(first_windows, np.stack([expect[i:i + 5] for i in range(4)]), atol=1e-9)
    # the same in a column of a wider table, and an empty line in a table is a gap in every column
    (tmp_path / "t.csv").write_text("t,v\n" + "".join("\n" if i == 7 else f"{i},{x}\n" for i, x in enumerate(v)))
    with pytest.raises(UserError, match="line 9"):
        series_data(tmp_path / "t.csv", column="v")


@pytest.mark.parametrize("values,transform,culprits", [
    ([1.0, 2.0, "1e39", 4.0], "none", ["line 4", "1e39", "float32"]),
    ([1.0, "1e-310", 4.0, 5.0], "pct", ["line 4", "pct", "float32"]),
    ([1.0, "-3e38", "3e38", 5.0], "diff", ["line 4", "diff", "float32"]),
])
def test_values_beyond_float32_are_refused_as_data(tmp_path, monkeypatch, values, transform, culprits):
    """Not 'training diverged; try a lower learning rate': the line that holds the value is named."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "s.csv", [*values, *wave(30)])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": {"name": "timeseries_csv", "path": "s.csv", "seq_len": 5,
                                                              "transform": transform}, "model": {"name": "rnn"},
                                                     "train": {"epochs": 1}}))
    one_line_error(*call("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "out")[::2], *culprits)
    assert not (tmp_path / "out").exists()


# -- predict -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs on one series (seq_len 6): missing: error and missing: interpolate."""
    root = tmp_path_factory.mktemp("series")
    write(root / "s.csv", wave(80))
    made = {}
    for missing in ("error", "interpolate"):
        cfg = {"name": missing, "seed": 0, "data": {"name": "timeseries_csv", "path": str(root / "s.csv"),
                                                    "seq_len": 6, "missing": missing, "val_fraction": 0},
               "model": {"name": "rnn", "hidden_size": 4}, "train": {"epochs": 1}}
        (root / f"{missing}.yaml").write_text(yaml.safe_dump(cfg))
        code, _, err = call("train", "--config", root / f"{missing}.yaml", "--out", root / missing, "-q")
        assert code == 0, err
        made[missing] = root / missing
    return made


def forecast(run: Path, path: Path) -> list[str]:
    code, out, err = call("predict", "--run", run, "--input", path)
    assert code == 0, err
    return out.splitlines()[1:]


def test_gaps_inside_the_last_seq_len_values_are_refused_naming_the_line(runs, tmp_path):
    v = wave(20, seed=3)
    cases = [
        ([*v, "NA"], "line 21"),  # a trailing NA: the last value is missing, not trimmed away
        ([*v[:17], None, *v[17:]], "line 18"),  # an empty line among the last six
    ]
    for values, line in cases:
        code, out, err = call("predict", "--run", runs["error"], "--input", write(tmp_path / "p.csv", values, None))
        one_line_error(code, err, "p.csv", line, "missing", "data.missing: interpolate")
        assert out == ""
    # blank lines after the last value are not values; a gap long before the last six does not matter
    plain = forecast(runs["error"], write(tmp_path / "plain.csv", v[-6:], None))
    assert forecast(runs["error"], write(tmp_path / "blank.csv", [*v, None, None], None))[0].split(",")[1:] == \
        plain[0].split(",")[1:]
    assert forecast(runs["error"], write(tmp_path / "early.csv", [*v[:3], None, *v[3:]], None))[0].split(",")[1:] \
        == plain[0].split(",")[1:]
    code, _, err = call("predict", "--run", runs["error"], "--input",
                        write(tmp_path / "row.csv", [",".join([*map(str, v), "NA"])], None))
    one_line_error(code, err, "row.csv", "line 1, value 21")


def test_gaps_are_filled_under_interpolate_and_said(runs, tmp_path):
    v = wave(20, seed=4)
    gappy = [*v[:16], None, "NA", *v[18:]]
    filled = v.copy()
    filled[16:18] = np.interp([16, 17], [15, 18], [v[15], v[18]])
    code, out, err = call("predict", "--run", runs["interpolate"], "--input", write(tmp_path / "g.csv", gappy))
    assert code == 0, err
    assert "2 missing value(s) among the last 6" in err and "line 18" in err
    by_hand = forecast(runs["interpolate"], write(tmp_path / "f.csv", np.round(filled, 10)))
    assert out.splitlines()[1].split(",")[1:] == by_hand[0].split(",")[1:]


def test_a_predict_value_beyond_float32_names_its_line(runs, tmp_path):
    code, _, err = call("predict", "--run", runs["error"], "--input", write(tmp_path / "b.csv", [*wave(8), "1e39"]))
    one_line_error(code, err, "b.csv", "line 10", "1e39")


# -- item 10: seasons longer than the window; windows lost to the split's gaps --------------------------

def test_a_season_longer_than_the_window_reads_the_series_past(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    n, period, seq_len = 200, 30, 8
    v = np.round(5 + np.sin(2 * np.pi * np.arange(n) / period) + np.random.default_rng(0).normal(0, 0.1, n), 4)
    write(tmp_path / "s.csv", v)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "name": "p", "data": {"name": "timeseries_csv", "path": "s.csv", "seq_len": seq_len, "period": period,
                              "val_fraction": 0}, "model": {"name": "rnn", "hidden_size": 4}, "train": {"epochs": 1}}))
    code, _, err = call("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "r", "-q")
    assert code == 0, err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    n_test = json.loads((tmp_path / "r" / "meta.json").read_text())["dataset"]["sizes"]["test"]
    # by hand: the test windows are the last n_test; window j forecasts v[t + 1] from v[t + 1 - period]
    targets = np.arange(n - n_test, n)
    guess = v[targets - period]
    assert metrics["seasonal_baseline"]["name"] == f"seasonal naive (period {period})"
    assert metrics["seasonal_baseline"]["mse"] == pytest.approx(np.mean((guess - v[targets]) ** 2), rel=1e-5)
    with pytest.raises(UserError, match="data.period: 300"):
        series_data(tmp_path / "s.csv", period=300)


def test_a_short_series_hears_which_seq_len_keeps_more_windows(tmp_path):
    write(tmp_path / "s.csv", wave(60))
    data = series_data(tmp_path / "s.csv", seq_len=12, val_fraction=0.1)
    n = len(data.dataset.x)
    kept = data.size("train") + data.size("val") + data.size("test")
    assert f"the gaps take {1 - kept / n:.0%} of the windows" in data.note
    suggested = int(data.note.split("data.seq_len ")[1].split()[0])
    share = data.note.split("would keep ")[1].split("%")[0]
    other = series_data(tmp_path / "s.csv", seq_len=suggested, val_fraction=0.1)  # counted independently
    m = len(other.dataset.x)
    kept_then = other.size("train") + other.size("val") + other.size("test")
    assert suggested < 12 and int(share) == round(100 * kept_then / m) and kept_then / m > kept / n + 0.2
