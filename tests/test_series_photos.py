"""Users' own series and photos (issue 17): gaps, transforms inverted exactly, naive baselines, the
accepted predict layouts, and digits as people write them prepared the way the training digits were."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import dlnotes
from dlnotes.config import validate
from dlnotes.errors import UserError


# -- series ------------------------------------------------------------------------------------------
def trend_series(path: Path, n: int = 200, seed: int = 0, gaps: int = 10) -> np.ndarray:
    """A line plus a seasonal wave (period 12) with noise, written with ``gaps`` empty cells; returns the
    series as written (NaN at the gaps)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    v = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, n)
    v = np.round(v, 4)
    v[rng.choice(np.arange(5, n - 5), gaps, replace=False)] = np.nan
    path.write_text("week,co2\n" + "".join(f"{i},{'' if np.isnan(x) else x}\n" for i, x in enumerate(v)))
    return v


def series_cfg(path, **data):
    base = {"name": "ts", "path": str(path), "column": "co2", "seq_len": 12, "missing": "interpolate",
            "period": 12, "test_fraction": 0.2, "val_fraction": 0.0, "batch_size": 16}
    return validate({"name": "ts", "seed": 0, "data": {**base, "name": "timeseries_csv", **data},
                     "model": {"name": "lstm", "hidden_size": 16},
                     "train": {"epochs": 4, "optimizer": {"name": "adam", "lr": 0.02}}})


def interpolated(v: np.ndarray) -> np.ndarray:
    t = np.arange(len(v))
    ok = ~np.isnan(v)
    return np.interp(t, t[ok], v[ok])


@pytest.mark.parametrize("transform, relative", [("none", False), ("diff", False), ("log", False),
                                                 ("pct", False), ("none", True), ("diff", True)])
def test_transforms_invert_exactly_to_the_interpolated_series(tmp_path, transform, relative):
    from dlnotes.collect import load_data
    from dlnotes.tasks import get_task

    v = interpolated(trend_series(tmp_path / "s.csv"))
    data = load_data(series_cfg(tmp_path / "s.csv", transform=transform, relative=relative, horizon=3))
    pre, task = data.preprocess, get_task("forecasting")
    assert pre["transform"] == transform and pre["relative"] == relative and pre["missing"] == "interpolate"
    for part in (data.train, data.test):
        _, truth = task.in_units(part.y, part, pre)
        # each window's targets are the 3 values after its raw input window: find them in the series
        starts = [int(np.argmin(np.abs(v - float(r[0])))) for r in part.raw]
        expect = np.stack([v[s + 12:s + 15] for s in starts])
        assert np.allclose(truth.numpy(), expect, rtol=0, atol=1e-4)  # float32 model units, inverted
        assert np.allclose(part.raw.numpy(), np.stack([v[s:s + 12] for s in starts]), atol=1e-9)


def test_missing_error_names_the_value_and_the_key(tmp_path):
    from dlnotes.data.sequences import timeseries_csv

    v = trend_series(tmp_path / "s.csv")
    first = int(np.flatnonzero(np.isnan(v))[0]) + 1
    with pytest.raises(UserError, match=f"value {first} .*data.missing: interpolate"):
        timeseries_csv(path=str(tmp_path / "s.csv"), column="co2", missing="error")


def test_naive_and_seasonal_baselines_by_hand():
    from dlnotes.data.prepare import Split
    from dlnotes.tasks import get_task

    # two windows of 4 raw values, horizon 2, transform none, no standardisation
    raw = torch.tensor([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]], dtype=torch.float64)
    y = torch.tensor([[5.0, 7.0], [50.0, 10.0]])
    split = Split(raw.float().unsqueeze(-1), y, raw)
    task = get_task("forecasting")
    base = task.baseline(None, split, {}, 0)
    assert base["name"] == "last value"
    assert base["mse"] == pytest.approx(((5 - 4) ** 2 + (7 - 4) ** 2 + (50 - 40) ** 2 + (10 - 40) ** 2) / 4)
    # period 2: v_{t+1} = v_{t-1}, v_{t+2} = v_t
    season = task.seasonal_baseline(split, {"period": 2})
    assert season["mse"] == pytest.approx(((5 - 3) ** 2 + (7 - 4) ** 2 + (50 - 30) ** 2 + (10 - 40) ** 2) / 4)


def test_gap_windows_are_counted(tmp_path):
    from dlnotes.collect import load_data

    trend_series(tmp_path / "s.csv", n=259, gaps=3)
    data = load_data(series_cfg(tmp_path / "s.csv", seq_len=50, val_fraction=0.1))
    n = 259 - 51 + 1
    dropped = n - len(data.train) - len(data.val) - len(data.test)
    assert dropped == 2 * 50  # split_gap windows before the validation part and before the test part
    assert data.note.startswith(f"timeseries_csv: 259 values (3 missing, interpolated) -> {n} windows; "
                                f"{len(data.train)} train, {len(data.val)} validation, {len(data.test)} test; "
                                f"{dropped} windows dropped as gaps between train/validation/test so that no value "
                                f"is seen twice; the gaps take {dropped / n:.0%} of the windows: data.seq_len ")


@pytest.mark.slow
def test_diff_lstm_beats_naive_and_none_warns(tmp_path):
    """Done-when: a trend with gaps; the differenced LSTM beats the last value, the level one is warned."""
    import warnings

    from dlnotes.errors import BaselineWarning

    trend_series(tmp_path / "s.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diff = dlnotes.train(series_cfg(tmp_path / "s.csv", transform="diff"), out=tmp_path / "diff")
    assert diff.metrics["mse"] < diff.metrics["baseline"]["mse"]
    assert not [w for w in caught if issubclass(w.category, BaselineWarning)]
    with pytest.warns(BaselineWarning, match="worse than the last value baseline.*data.transform: diff"):
        level = dlnotes.train(series_cfg(tmp_path / "s.csv", transform="none"), out=tmp_path / "none")
    assert level.metrics["mse"] > level.metrics["baseline"]["mse"]
    assert "seasonal naive (period 12)" in level.task.summary(level.metrics)
    assert (tmp_path / "diff" / "plots" / "forecasts.png").is_file()


def test_worse_than_naive_is_one_warning_line():
    from dlnotes.tasks import get_task

    task = get_task("forecasting")
    base = {"name": "last value", "mse": 0.26, "mae": 0.4}
    assert task.warnings({"mse": 0.2, "baseline": base}, "test") == []
    (line,) = task.warnings({"mse": 15.0, "baseline": base}, "test")
    assert line.startswith("warning: on the test part the model is worse than the last value baseline (mse 15 vs 0.26)")
    assert "\n" not in line
    metrics = {"mse": 0.2, "mae": 0.3, "loss": 0.1, "baseline": base,
               "seasonal_baseline": {"name": "seasonal naive (period 52)", "mse": 0.5, "mae": 0.6}}
    assert task.summary(metrics, "co2") == ("mse=0.2000 (baselines 'last value': mse=0.2600, 'seasonal naive "
                                            "(period 52)': mse=0.5000)  rmse=0.4472 (units of 'co2')  mae=0.3000  "
                                            "loss=0.1000")


def test_run_records_the_series_preprocessing_and_baselines(series_run):
    import json

    run, _ = series_run
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["baseline"]["name"] == "last value" and metrics["seasonal_baseline"]["mse"] > 0
    pre = json.loads((run.path / "meta.json").read_text())["preprocess"]
    assert {"transform": "diff", "relative": False, "missing": "interpolate", "period": 12}.items() <= pre.items()
    assert (run.path / "plots" / "forecasts.png").is_file()


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    v = trend_series(folder / "s.csv")
    cfg = series_cfg(folder / "s.csv", transform="diff")
    cfg.train.epochs = 1
    return dlnotes.train(cfg, out=folder / "run"), interpolated(v)


def test_predict_reads_every_documented_layout_alike(series_run, tmp_path):
    run, v = series_run
    tail = v[-40:]
    files = {"col.csv": "".join(f"{x}\n" for x in tail), "head.csv": "co2\n" + "".join(f"{x}\n" for x in tail),
             "row.csv": ",".join(map(str, tail)) + "\n",
             "two.csv": "week,co2\n" + "".join(f"{i},{x}\n" for i, x in enumerate(tail))}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    np.save(tmp_path / "s.npy", tail)
    gappy = tail.copy()
    gappy[3] = np.nan  # before the 13 values (12 + 1 for diff) the model reads: ignored
    (tmp_path / "gap.csv").write_text("co2\n" + "".join(f"{'' if np.isnan(x) else x}\n" for x in gappy))
    answers = {n: [r["prediction"] for r in run.predict(tmp_path / n, steps=3)]
               for n in [*files, "s.npy", "gap.csv"]}
    assert len(set(map(tuple, answers.values()))) == 1, answers
    # a gap inside the window read: interpolated, as the run was trained (data.missing: interpolate)
    inside = tail.copy()
    inside[-2] = np.nan
    (tmp_path / "inside.csv").write_text("".join(f"{'' if np.isnan(x) else x}\n" for x in inside))
    assert len(run.predict(tmp_path / "inside.csv", steps=2)) == 2


def test_predict_rollout_inverts_the_diff_by_hand(series_run, tmp_path):
    run, v = series_run
    from dlnotes.data.series_transform import series_values, to_input

    tail = v[-13:]
    np.save(tmp_path / "s.npy", tail)
    got = [float(r["prediction"]) for r in run.predict(tmp_path / "s.npy", steps=2)]
    pre = run.meta["preprocess"]
    s = torch.from_numpy(np.diff(tail)).view(1, 12)
    with torch.no_grad():
        d1 = series_values(run.model(to_input(s, pre).float()), to_input(s, pre).float(), pre)
        s2 = torch.cat([s[:, 1:], d1], dim=1)
        d2 = series_values(run.model(to_input(s2, pre).float()), to_input(s2, pre).float(), pre)
    assert got[0] == pytest.approx(tail[-1] + float(d1), rel=1e-5)
    assert got[1] == pytest.approx(tail[-1] + float(d1) + float(d2), rel=1e-5)


def test_predict_figure_goes_only_where_asked(series_run, tmp_path, in_process):
    run, v = series_run
    (tmp_path / "hist.csv").write_text("".join(f"{x}\n" for x in v[-30:]))
    r = in_process("predict", "--run", run.path, "--input", tmp_path / "hist.csv", "--steps", 5,
            "--output", tmp_path / "out.csv")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hist.csv", "out.csv"]  # no figure unless asked
    r = in_process("predict", "--run", run.path, "--input", tmp_path / "hist.csv", "--steps", 5,
            "--figure", tmp_path / "f.png")
    assert r.returncode == 0, r.stderr
    figure = tmp_path / "f.png"
    assert figure.read_bytes()[:4] == b"\x89PNG" and str(figure) in r.stderr
    assert len(r.stdout.splitlines()) == 6


def test_datasets_command_documents_the_predict_layouts(in_process):
    r = in_process("datasets", "timeseries_csv")
    assert r.returncode == 0, r.stderr
    for words in ("one column with or without header", "one row", ".npy", "gaps before those values are ignored",
                  "missing: empty cells", "transform:", "period:"):
        assert words in " ".join(r.stdout.split()), words


# -- photos ------------------------------------------------------------------------------------------
def test_mnist_preparation_against_a_hand_computed_example():
    from dlnotes.data.digit_photos import centre_of_mass, prepare_photo

    # a dark 40 x 10 bar on light paper, far from the centre of a 100 x 80 canvas
    img = np.full((100, 80), 0.9)
    img[10:50, 5:15] = 0.1
    out = prepare_photo(img, "mnist")
    assert out.shape == (28, 28) and out.max() == pytest.approx(1.0)
    rows = np.flatnonzero(out.sum(1) > 0.5)
    cols = np.flatnonzero(out.sum(0) > 0.5)
    assert len(rows) == 20 and len(cols) == 5  # 40x10 fitted in 20x20 keeping the aspect ratio: 20x5
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    inverted = prepare_photo(1.0 - img, "mnist")  # white ink on black: the same
    np.testing.assert_allclose(inverted, out, atol=1e-6)


def test_digits_preparation_counts_4x4_blocks_of_a_32x32_bitmap():
    from dlnotes.data.digit_photos import prepare_photo

    img = np.ones((120, 90))
    img[20:100, 30:70] = 0.0  # an ink block 80 tall, 40 wide -> 32 x 16 in the 32x32 bitmap, centred
    out = prepare_photo(img, "digits")
    expect = np.zeros((8, 8))
    expect[:, 2:6] = 1.0  # columns 8..23 of the bitmap: blocks 2..5 full (16/16), the others empty
    np.testing.assert_array_equal(out, expect)


def test_foreign_images_are_warned_about(capsys):
    from dlnotes.data.kinds import _warn_foreign

    x = torch.zeros(2, 1, 8, 8)
    x[0, 0, 2:6, 2:6] = 1.0  # ink on black: brightness 0.25, contrast sqrt(0.25 * 0.75)
    x[1] = 1.0 - x[0]  # the same inverted
    stats = {"mean": 0.25, "mean_sd": 0.05, "contrast": math.sqrt(0.25 * 0.75), "contrast_sd": 0.05}
    _warn_foreign(["ok.png", "inverted.png"], x, stats)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "'inverted.png' looks unlike the training images (brightness 0.75" in err[0]


def test_folder_labels_only_when_every_sub_folder_is_a_class(tmp_path):
    from dlnotes.tasks import folder_labels

    names = [str(tmp_path / "3" / "a.png"), str(tmp_path / "7" / "b.png")]
    assert folder_labels(tmp_path, names, ["3", "7"]) == ["3", "7"]
    assert folder_labels(tmp_path, names + [str(tmp_path / "c.png")], ["3", "7"]) is None
    assert folder_labels(tmp_path, names, ["cat", "dog"]) is None


def _arc(cx, cy, rx, ry, a0, a1, n=24):
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


STROKES = {  # each digit as pen strokes in a unit box, y downwards
    "0": [_arc(0.5, 0.5, 0.36, 0.5, 0, 360)],
    "1": [[(0.3, 0.22), (0.55, 0.0), (0.55, 1.0)]],
    "2": [_arc(0.5, 0.28, 0.38, 0.28, 200, 380) + [(0.08, 1.0), (0.95, 1.0)]],
    "3": [_arc(0.48, 0.25, 0.36, 0.25, 200, 450), _arc(0.48, 0.73, 0.4, 0.27, -90, 160)],
    "4": [[(0.7, 1.0), (0.7, 0.0), (0.05, 0.68), (0.95, 0.68)]],
    "5": [[(0.88, 0.0), (0.2, 0.0), (0.14, 0.45)] + _arc(0.5, 0.68, 0.4, 0.32, 220, 510)],
    "6": [[(0.78, 0.02)] + _arc(0.62, 0.7, 0.5, 0.7, 250, 180) + _arc(0.5, 0.72, 0.36, 0.28, 180, 540)],
    "7": [[(0.05, 0.0), (0.95, 0.0), (0.4, 1.0)], [(0.35, 0.5), (0.9, 0.5)]],  # crossed, as the UCI writers do
    "8": [_arc(0.5, 0.24, 0.3, 0.24, 90, 450), _arc(0.5, 0.73, 0.38, 0.27, -90, 270)],
    "9": [_arc(0.5, 0.3, 0.36, 0.3, 0, 360), [(0.86, 0.3), (0.75, 1.0)]],
}


def render_digits(folder: Path) -> Path:
    """Dark strokes on light paper with wide margins: three pen widths, upright and slanted, plus Pillow's
    own font at a large size; one sub-folder per digit."""
    from PIL import Image, ImageDraw, ImageFont

    def pen(d, width, slant):
        img = Image.new("L", (140, 180), 235)
        draw = ImageDraw.Draw(img)
        for stroke in STROKES[d]:
            pts = [(30 + (x + slant * (1 - y)) * 80, 30 + y * 120) for x, y in stroke]
            draw.line(pts, fill=20, width=width, joint="curve")
            for px, py in (pts[0], pts[-1]):
                draw.ellipse([px - width / 2, py - width / 2, px + width / 2, py + width / 2], fill=20)
        return img

    def font(d):
        img = Image.new("L", (160, 200), 240)
        ImageDraw.Draw(img).text((40, 20), d, fill=10, font=ImageFont.load_default(size=120))
        return img

    for d in "0123456789":
        (folder / d).mkdir(parents=True)
        variants = [pen(d, w, s) for w in (6, 10, 16) for s in (0.0, 0.15)] + [font(d)]
        for k, img in enumerate(variants):
            img.save(folder / d / f"{d}_{k}.png")
    return folder


@pytest.fixture(scope="session")
def digits_lenet(tmp_path_factory):
    """A LeNet trained once per session on configs/lenet_digits.yaml (10 of its 20 epochs)."""
    root = Path(__file__).resolve().parents[1]
    return dlnotes.train(root / "configs" / "lenet_digits.yaml", out=tmp_path_factory.mktemp("lenet") / "run",
                         overrides=["train.epochs=10"])


@pytest.mark.slow
def test_lenet_reads_digits_as_people_write_them(digits_lenet, tmp_path, in_process):
    """Done-when: >= 80% of the rendered photos right via predict; the same inverted by hand alike."""
    from PIL import Image, ImageOps

    photos = render_digits(tmp_path / "photos")
    for p in photos.rglob("*.png"):
        q = tmp_path / "inverted" / p.relative_to(photos)
        q.parent.mkdir(parents=True, exist_ok=True)
        ImageOps.invert(Image.open(p)).save(q)
    rows = digits_lenet.predict(photos)
    inverted = digits_lenet.predict(tmp_path / "inverted")
    truth = [Path(r["input"]).parent.name for r in rows]
    right = sum(r["prediction"] == t for r, t in zip(rows, truth))
    assert right / len(rows) >= 0.8, [(t, r["prediction"]) for r, t in zip(rows, truth)]
    assert [r["prediction"] for r in inverted] == [r["prediction"] for r in rows]
    r = in_process("predict", "--run", digits_lenet.path, "--input", photos)
    assert r.returncode == 0 and f"accuracy {right / len(rows):.4f}" in r.stderr
