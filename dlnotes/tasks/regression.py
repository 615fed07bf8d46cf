"""Regression: MSE on standardised targets; mse, mae and r2 in the data's units; a value per row."""

from __future__ import annotations

from pathlib import Path

import torch

from dlnotes.tasks.base import Report, Task, number


class Regression(Task):
    name = "regression"
    metric, higher_is_better = "r2", True
    shown = ("r2", "mse", "mae", "loss")  # the summary adds rmse after mse
    r2 = True  # the coefficient of determination is reported


    def answer(self, row):
        """The predicted values as JSON numbers (predict writes "3.14159", or "1.5;2" for several targets)."""
        parts = [float(p) for p in str(row["prediction"]).split(";")]
        return {"prediction": parts[0] if len(parts) == 1 else parts}
    def versus(self, metrics):
        """`` (baseline 'training mean': r2=0.0000)``: named as a baseline, so that it is not read as the mean."""
        found = [b for b in (metrics.get("baseline"), metrics.get("seasonal_baseline")) if b and self.metric in b]
        if not found:
            return ""
        return (f" (baseline{'s' if len(found) > 1 else ''} "
                + ", ".join(f"'{b['name']}': {self.metric}={number(self.metric, b[self.metric])}" for b in found) + ")")

    def model_outputs(self, ds):
        return {"num_classes": 0, "out_features": int(ds.y.shape[1]) if ds.y.dim() > 1 else 1}

    def target_stats(self, y, x_mean, x_std):
        from dlnotes.data.prepare import stats

        y_mean, y_std = stats(y, [0])
        return {"y_mean": y_mean.tolist(), "y_std": y_std.tolist()}

    def metrics(self, out, y, pre, num_classes, threshold, loss):
        from dlnotes.data.prepare import denormalize_y
        from dlnotes.engine.metrics import regression_metrics

        return regression_metrics(denormalize_y(out.reshape(y.shape), pre), denormalize_y(y, pre),
                                  with_r2=self.r2)

    def baseline(self, train_y, test, pre, num_classes):
        """Always the training mean."""
        from dlnotes.data.prepare import denormalize_y
        from dlnotes.engine.metrics import regression_metrics

        y = denormalize_y(test.y, pre).double()
        mean = train_y.double().reshape(len(train_y), -1).mean(0)
        return {"name": "training mean", **regression_metrics(mean.expand_as(y.reshape(len(y), -1)).reshape(y.shape),
                                                              y, with_r2=self.r2)}

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8, probabilities=False):
        from dlnotes.engine.predict import value_rows

        names, values = self._outputs(model, inputs, spec, device)  # in the targets' units
        return value_rows(names, values)

    def _test_in_units(self, report: Report) -> tuple[torch.Tensor, torch.Tensor]:
        from dlnotes.data.prepare import denormalize_y

        pre, y = report.spec.pre, report.test.y
        return denormalize_y(report.outputs.reshape(y.shape), pre), denormalize_y(y, pre)

    def figures(self, report, out):
        from dlnotes import plots

        paths = super().figures(report, out)
        pred, truth = self._test_in_units(report)
        paths.append(plots.predicted_vs_true(pred, truth, out / "predicted_vs_true.png"))
        if report.line is not None and "x_mean" not in report.spec.pre:
            paths.append(plots.fitted_line(report.test.x, truth, *report.line, out / "fit.png"))
        if report.history and "w" in report.history[0] and "b" in report.history[0] and report.data is not None:
            paths.append(self._descent(report, out / "loss_surface.png"))
        if report.surface is not None:
            best = (report.line or (0.0, 0.0))
            paths.append(plots.loss_surface(report.surface["loss"], report.surface["w"], report.surface["b"],
                                            best, out / "loss_surface.png"))
        return paths

    @staticmethod
    def _descent(report: Report, path: Path) -> Path:
        """The loss surface around the path gradient descent took (by exhaustive search), and the path."""
        from dlnotes import plots
        from dlnotes.engine.solvers import grid_search

        ws, bs = [h["w"] for h in report.history], [h["b"] for h in report.history]

        def span(v):
            pad = max(max(v) - min(v), 1e-3) * 0.35
            return min(v) - pad, max(v) + pad

        (w_min, w_max), (b_min, b_max) = span(ws), span(bs)
        train = report.data.train
        g = grid_search(train.x, train.y, w_min, w_max, b_min, b_max, steps=121)
        return plots.loss_surface(g["surface"], g["ws"], g["bs"], (ws[-1], bs[-1]), path, descent=(ws, bs))
