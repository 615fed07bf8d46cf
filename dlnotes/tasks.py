"""The four tasks of the notes, one object each: classification, regression, forecasting, language.

A task owns everything that differs between them: the default loss, the model's output size, the
statistics of its targets, its metrics and their one-line summary, how a trained model's outputs
become prediction rows, and which figures a run draws. The engine, ``predict``, ``evaluate``, the
figures and the config checks ask the task object (``get_task(name)``) instead of comparing names.

    classification  cross-entropy; accuracy, precision, recall, F1 from TP/TN/FP/FN; class + probability
    regression      MSE on standardised targets; mse, mae, r2 in the data's units; a value per row
    forecasting     MSE on the series' standardised values; mse, mae; values rolled out step by step
    language        per-step cross-entropy over characters; accuracy, perplexity; a sampled continuation
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlnotes.errors import UserError


@dataclass
class Spec:
    """What applying a trained model needs to know about its data, read from the run's meta.json."""

    task: "Task"
    kind: Any  # dlnotes.data.kinds.InputKind
    pre: dict[str, Any]  # the recorded preprocessing (normalisation statistics, image size, vocabulary...)
    dataset: dict[str, Any]  # meta.json's dataset section: classes, feature_names, input_shape
    threshold: float = 0.5  # binary classifiers: p(class 1) at which to say 1
    seed: int = 0  # text generation samples with this seed

    @classmethod
    def from_meta(cls, meta: dict[str, Any], threshold: float = 0.5, seed: int = 0) -> "Spec":
        from dlnotes.data.kinds import input_kind

        ds = meta["dataset"]
        return cls(get_task(ds["task"]), input_kind(ds["kind"]), meta["preprocess"], ds, threshold, seed)

    @property
    def classes(self) -> list[str]:
        return self.dataset.get("classes") or []


@dataclass
class Report:
    """What a run's figures are drawn from: nothing here is recomputed by the figures themselves."""

    history: list[dict[str, Any]]  # one row per epoch (history.csv)
    metrics: dict[str, Any]  # the test metrics
    test: Any  # the normalised test Split (x, y)
    outputs: torch.Tensor  # the model's raw outputs on test.x
    spec: Spec
    data: Any = None  # the Prepared splits (data.train, normalised when first read), for the descent surface
    line: tuple[float, float] | None = None  # (w, b) of a one-feature linear model
    surface: dict[str, torch.Tensor] | None = None  # the grid solver's loss surface (loss, w, b)


class Task:
    name = ""
    loss = "mse"  # the loss `train.loss: auto` picks
    metric, higher_is_better = "mse", False  # what learning curves and run tables rank by
    shown: tuple[str, ...] = ("mse", "mae", "loss")  # the one-line summary after training
    stratify = False  # split so that each class keeps its share
    plain_text = False  # predict prints the prediction itself, not a CSV table, unless --output asks for one

    # -- data and model -------------------------------------------------------------------------
    def model_outputs(self, ds) -> dict[str, int]:
        """Model constructor arguments that follow from the targets (``num_classes``, ``horizon``...)."""
        return {"num_classes": 0}

    def target_stats(self, y: torch.Tensor, x_mean: torch.Tensor, x_std: torch.Tensor) -> dict[str, Any]:
        """Normalisation of the targets, fitted on the training split (none by default)."""
        return {}

    # -- testing --------------------------------------------------------------------------------
    def metrics(self, out: torch.Tensor, y: torch.Tensor, pre: dict[str, Any], num_classes: int,
                threshold: float, loss: float) -> dict[str, Any]:
        raise NotImplementedError

    def split_metrics(self, out: torch.Tensor, split, pre: dict[str, Any], num_classes: int, threshold: float,
                      loss: float) -> dict[str, Any]:
        """The metrics of ``out`` on a whole split (forecasting also needs its windows to invert transforms)."""
        return self.metrics(out, split.y.to(out.device), pre, num_classes, threshold, loss)

    def warnings(self, metrics: dict[str, Any], split: str) -> list[str]:
        """One line when the model does worse than its trivial baseline on ``split``."""
        base, key = metrics.get("baseline") or {}, self.metric
        if key not in metrics or key not in base:
            return []
        worse = metrics[key] < base[key] if self.higher_is_better else metrics[key] > base[key]
        if not worse:
            return []
        return [f"warning: on the {split} part the model is worse than the {base['name']} baseline "
                f"({key} {metrics[key]:.4g} vs {base[key]:.4g})" + self.advice]

    advice = ""

    def baseline(self, train_y: torch.Tensor, test, pre: dict[str, Any], num_classes: int) -> dict[str, Any] | None:
        """The metrics of the trivial predictor on ``test`` (the normalised split), with its ``name``;
        ``train_y``: the training targets in the data's units. None when a task has no meaningful one.
        Stored as ``metrics["baseline"]``."""
        return None

    def seasonal_baseline(self, test, pre: dict[str, Any]) -> dict[str, Any] | None:
        """A second trivial predictor where the task has one (forecasting with ``data.period``: the value
        one season back); stored as ``metrics["seasonal_baseline"]``."""
        return None

    def summary(self, metrics: dict[str, Any]) -> str:
        """``accuracy=0.9750 (majority class 0.1017)  f1=...``: the main metric beside its baseline."""
        base = metrics.get("baseline") or {}

        def shown(k):
            text = f"{k}={metrics[k]:.4f}"
            return f"{text} ({base['name']} {base[k]:.4f})" if k == self.metric and k in base else text
        return "  ".join(shown(k) for k in self.shown if k in metrics)

    # -- applying -------------------------------------------------------------------------------
    def predict(self, model, inputs, spec: Spec, device, top_k: int = 0, steps: int = 0,
                temperature: float = 0.8) -> list[dict[str, Any]]:
        raise NotImplementedError

    def prediction_figure(self, model, inputs, spec: Spec, device, steps: int, path: Path) -> Path | None:
        """A figure of what ``predict`` answered (forecasting: history and forecast); None for other tasks."""
        return None

    @staticmethod
    def _outputs(model, inputs, spec: Spec, device) -> tuple[list[str], torch.Tensor]:
        """Reads raw inputs the way the model's input kind does, normalises them, runs the model."""
        from dlnotes.data.prepare import normalize
        from dlnotes.engine.evaluate import predict_outputs

        names, x = spec.kind.read(Path(inputs), spec.dataset, spec.pre)
        return names, predict_outputs(model, normalize(x, spec.pre), 256, device).cpu()

    # -- figures --------------------------------------------------------------------------------
    def figures(self, report: Report, out: Path) -> list[Path]:
        from dlnotes import plots

        path = plots.learning_curves(report.history, self.metric, out / "learning_curves.png")
        return [path] if path is not None else []


class Classification(Task):
    name, loss = "classification", "cross_entropy"
    metric, higher_is_better = "accuracy", True
    shown = ("accuracy", "f1", "loss")
    stratify = True

    def model_outputs(self, ds):
        return {"num_classes": len(ds.classes or [])}

    def metrics(self, out, y, pre, num_classes, threshold, loss):
        from dlnotes.engine.metrics import classification_metrics, confusion_matrix, labels

        return classification_metrics(confusion_matrix(labels(out, threshold), y, num_classes))

    def baseline(self, train_y, test, pre, num_classes):
        """Always the most frequent training class."""
        from dlnotes.engine.metrics import classification_metrics, confusion_matrix

        majority = int(torch.bincount(train_y.reshape(-1).long(), minlength=num_classes).argmax())
        cm = confusion_matrix(torch.full_like(test.y, majority), test.y, num_classes)
        m = classification_metrics(cm)
        return {"name": "majority class", **{k: m[k] for k in ("accuracy", "precision", "recall", "f1")}}

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8):
        from dlnotes.engine.predict import class_rows

        names, out = self._outputs(model, inputs, spec, device)
        rows = class_rows(names, out, spec.classes, top_k, spec.threshold)
        truth = folder_labels(Path(inputs), names, spec.classes)
        if truth is not None:  # a folder with one sub-folder per class: say how many were right
            import sys

            right = sum(r["prediction"] == t for r, t in zip(rows, truth))
            print(f"accuracy {right / len(rows):.4f} ({right} of {len(rows)} right; the sub-folder names of "
                  f"'{inputs}' are the classes)", file=sys.stderr)
        return rows

    def figures(self, report, out):
        from dlnotes import plots
        from dlnotes.engine.metrics import labels

        paths = super().figures(report, out)
        classes = report.spec.classes
        if "confusion_matrix" in report.metrics:
            paths.append(plots.confusion(report.metrics["confusion_matrix"], classes, out / "confusion_matrix.png"))
        if report.spec.kind.image and torch.is_tensor(report.test.x):  # not for a streamed folder
            pred = labels(report.outputs, report.spec.threshold)
            paths.append(plots.misclassified(report.test.x, report.test.y, pred, classes, out / "misclassified.png"))
        return [p for p in paths if p is not None]


def folder_labels(root: Path, names: list[str], classes: list[str]) -> list[str] | None:
    """The class of each input read from ``root``/CLASS/..., when every input lies in a sub-folder named
    after one of ``classes`` (the layout ``image_folder`` trains on); None otherwise."""
    if not root.is_dir() or not names:
        return None
    labels = []
    for name in names:
        parts = Path(name).relative_to(root).parts
        if len(parts) < 2 or parts[0] not in classes:
            return None
        labels.append(parts[0])
    return labels


class Regression(Task):
    name = "regression"
    metric, higher_is_better = "r2", True
    shown = ("r2", "mse", "mae", "loss")
    r2 = True  # the coefficient of determination is reported

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

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8):
        from dlnotes.data.prepare import denormalize_y
        from dlnotes.engine.predict import value_rows

        names, out = self._outputs(model, inputs, spec, device)
        return value_rows(names, denormalize_y(out, spec.pre))

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
        """The value one period back (seasonal naive), when ``data.period`` was given."""
        from dlnotes.data.series_transform import raw_windows, seasonal_naive
        from dlnotes.engine.metrics import regression_metrics

        period = pre.get("period")
        if not period:
            return None
        truth = self.in_units(test.y, test, pre)[1]
        guess = seasonal_naive(raw_windows(test, pre), truth.shape[1], period)
        return {"name": f"seasonal naive (period {period})", **regression_metrics(guess, truth, with_r2=False)}

    def summary(self, metrics):
        """``mse=0.30 (last value 3.8, seasonal naive (period 12) 36.5)  mae=...``."""
        season, base = metrics.get("seasonal_baseline"), metrics.get("baseline")
        if not (season and base and self.metric in metrics):
            return super().summary(metrics)
        head = (f"{self.metric}={metrics[self.metric]:.4f} ({base['name']} {base[self.metric]:.4f}, "
                f"{season['name']} {season[self.metric]:.4f})")
        return "  ".join([head] + [f"{k}={metrics[k]:.4f}" for k in self.shown if k in metrics and k != self.metric])

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8):
        names, _, values = self.forecast_series(model, inputs, spec, device, steps)
        return [{"input": n, "step": k + 1, "prediction": f"{float(v):.6g}"}
                for n, row in zip(names, values) for k, v in enumerate(row)]

    def forecast_series(self, model, inputs, spec, device, steps=0):
        """(names, histories read (S, L), forecasts (S, steps)) in the user's units."""
        from dlnotes.data.sequence_files import read_series
        from dlnotes.data.series_transform import lost
        from dlnotes.data.series_transform import transform as apply_transform
        from dlnotes.engine.forecast import forecast

        pre = spec.pre
        seq_len, how = spec.dataset["input_shape"][0], pre.get("transform", "none")
        names, hist = read_series(Path(inputs), seq_len + lost(how), pre.get("column"), pre.get("missing", "error"))
        s = torch.from_numpy(np.stack([apply_transform(h, how, f"--input '{n}'") for n, h in zip(names, hist)]))
        values = forecast(model, s.unsqueeze(-1), torch.from_numpy(hist[:, -1]), steps or pre.get("horizon", 1),
                          pre, device)
        return names, torch.from_numpy(hist), values

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
        paths.append(plots.forecasts(raw_windows(test, pre)[0], truth, pred, anchors(test, pre),
                                     int(report.spec.dataset.get("args", {}).get("stride", 1)), out / "forecasts.png"))
        return paths


class Language(Task):
    name, loss = "language", "cross_entropy"
    metric, higher_is_better = "accuracy", True
    shown = ("accuracy", "perplexity", "loss")
    plain_text = True  # a continuation is read, not parsed: printed as it is, line breaks and all

    def metrics(self, out, y, pre, num_classes, threshold, loss):
        return {"accuracy": (out.argmax(-1) == y).double().mean().item(),
                "perplexity": float(torch.exp(torch.tensor(loss)))}

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8):
        """One row: the prompt and ``steps`` (default 200) characters sampled after it with ``spec.seed``."""
        from dlnotes.engine.forecast import generate

        text = generate(model, str(inputs), spec.pre["vocab"], steps or 200, device, temperature, spec.seed)
        return [{"input": str(inputs), "prediction": text}]


TASKS = {t.name: t for t in (Classification(), Regression(), Forecasting(), Language())}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise UserError(f"unknown task '{name}'; allowed: {', '.join(TASKS)}")
    return TASKS[name]
