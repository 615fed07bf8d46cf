"""Forecasting: MSE on the series' standardised values; mse and mae in the user's units; values rolled out."""

from __future__ import annotations

from typing import Any

import torch

from dlnotes.tasks.base import Task
from dlnotes.tasks.regression import Regression


class Forecasting(Regression):
    """Series: everything in the user's units through ``data.series_transform.in_user_units``.

    The model learns the standardised, maybe transformed (diff, log, pct) and maybe relative series;
    metrics, the baselines (last value; seasonal naive with ``data.period``), prediction rows, roll-outs
    and figures undo all of it with the one inverse, using each window's last observed level.
    """

    name = "forecasting"
    metric, higher_is_better = "mse", False
    shown = ("mse", "mae", "loss")
    r2 = False
    draws_predictions = True
    model_keys, column_types = ("horizon", "out_features"), ()

    def describe(self, ds):
        return "the data is a series to forecast"
    advice = "; a trend that leaves the training range needs data.transform: diff (or data.relative: true)"

    def model_outputs(self, ds):
        horizon = int(ds.y.shape[1]) if ds.y.dim() > 1 else 1
        return {"num_classes": 0, "horizon": horizon, "out_features": horizon}

    def target_stats(self, y, x_mean, x_std):
        """The targets' own mean (0-ish when relative), on the inputs' scale: later values of the same series."""
        return {"y_mean": [float(y.double().mean())], "y_std": [x_std.item()]}

    def split_metrics(self, out, split, pre, num_classes, threshold, loss):
        from dlnotes.engine.metrics import regression_metrics

        pred, truth = self.in_units(out, split, pre)
        return regression_metrics(pred, truth, with_r2=False)

    @staticmethod
    def in_units(out, split, pre) -> tuple[torch.Tensor, torch.Tensor]:
        """(forecasts, truth) of a split's windows in the user's units, (N, horizon) float64."""
        from dlnotes.data.series_transform import anchors, in_user_units

        x, a = split.x.to(out.device), anchors(split, pre).to(out.device)
        return in_user_units(out, x, a, pre), in_user_units(split.y.to(out.device), x, a, pre)

    def baseline(self, train_y, test, pre, num_classes):
        """The last observed value, repeated (the naive forecast)."""
        from dlnotes.data.series_transform import anchors
        from dlnotes.engine.metrics import regression_metrics

        truth = self.in_units(test.y, test, pre)[1]
        naive = anchors(test, pre).reshape(-1, 1).expand_as(truth)
        return {"name": "last value", **regression_metrics(naive, truth, with_r2=False)}

    def seasonal_baseline(self, test, pre) -> dict[str, Any] | None:
        """The value one period back (seasonal naive), when ``data.period`` was given: read from each window's
        past in the series (which reaches a season back), over the windows that have a season of past."""
        from dlnotes.data.series_transform import history, seasonal_naive
        from dlnotes.engine.metrics import regression_metrics

        period = pre.get("period")
        if not period:
            return None
        truth = self.in_units(test.y, test, pre)[1]
        past = history(test, pre)
        if past.shape[1] < period:  # a run from before the past reached a season back
            return None
        guess = seasonal_naive(past, truth.shape[1], period).to(truth.device)
        ok = torch.isfinite(guess).all(1)
        if not bool(ok.any()):
            return None
        name = f"seasonal naive (period {period})" + ("" if bool(ok.all()) else
                                                        f" on {int(ok.sum())} of {len(ok)} windows")
        return {"name": name, **regression_metrics(guess[ok], truth[ok], with_r2=False)}

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8, probabilities=False):
        names, _, values = self.forecast_series(model, inputs, spec, device, steps)
        return [{"input": n, "step": k + 1, "prediction": f"{float(v):.6g}"}
                for n, row in zip(names, values) for k, v in enumerate(row)]

    def forecast_series(self, model, inputs, spec, device, steps=0):
        """(names, the values read (S, L), forecasts (S, steps)) in the user's units: the whole forecaster
        (``dlnotes.export.series``: transform, model, roll-out, inverse) on each series' last values."""
        names, feed = self._read(inputs, spec)
        return names, torch.from_numpy(feed["values"]), self._answer(model, feed, spec, device, steps)

    def prediction_figure(self, model, inputs, spec, device, steps, path):
        from dlnotes import plots

        names, hist, values = self.forecast_series(model, inputs, spec, device, steps)
        return plots.history_forecast(hist, values, names, path)

    def figures(self, report, out):
        from dlnotes import plots
        from dlnotes.data.series_transform import anchors, raw_windows

        paths = Task.figures(self, report, out)
        pre, test = report.spec.pre, report.test
        pred, truth = self.in_units(report.outputs, test, pre)
        paths.append(plots.predicted_vs_true(pred, truth, out / "predicted_vs_true.png"))
        stride = int(report.spec.dataset.get("args", {}).get("stride", 1))
        inputs = raw_windows(test, pre)
        if one_series(inputs, stride, pre):  # the test span of one series, forecast along it
            paths.append(plots.forecasts(inputs[0], truth, pred, anchors(test, pre), stride, out / "forecasts.png"))
        else:  # independent windows: a few, each apart
            pick = torch.linspace(0, len(inputs) - 1, min(SHOWN_WINDOWS, len(inputs))).round().long().unique()
            paths.append(plots.window_forecasts(inputs[pick], truth[pick], pred[pick],
                                                [f"test window {int(i) + 1} of {len(inputs)}" for i in pick],
                                                out / "forecasts.png"))
        return paths


SHOWN_WINDOWS = 6  # independent windows drawn in forecasts.png


def one_series(inputs: torch.Tensor, stride: int, pre: dict[str, Any]) -> bool:
    """Whether the windows are cut from one series in order: each window's values continue the previous
    one's, ``stride`` steps on (a user's series, ``timeseries_csv``), as opposed to independent windows
    (``sine``: one wave each), which joined into one line would draw a series that never existed."""
    t = inputs.shape[1]
    if len(inputs) < 2 or stride >= t:
        return "column" in pre  # nothing overlaps to tell by: a series read from a file's column is one
    a, b = inputs[1:, :t - stride], inputs[:-1, stride:]
    return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6 * float(inputs.abs().max().clamp_min(1.0))))
