"""What every task is: the ``Task`` interface, and the ``Spec`` and ``Report`` handed to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class Spec:
    """What applying a trained model needs to know about its data, read from the run's meta.json."""

    task: "Task"
    kind: Any  # dlnotes.data.kinds.InputKind
    pre: dict[str, Any]  # the recorded preprocessing (normalisation statistics, image size, vocabulary...)
    dataset: dict[str, Any]  # meta.json's dataset section: classes, feature_names, input_shape
    threshold: float = 0.5  # binary classifiers: p(class 1) at which to say 1
    seed: int = 0  # text generation samples with this seed

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
    draws_predictions = False  # predict --figure draws what it answered (forecasting: history and forecast)

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

    def interpret(self, metrics: dict[str, Any], classes: list[str]) -> dict[str, Any]:
        """More metrics read from the others (classification: the most-confused pairs); none by default."""
        return {}

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

        paths = [plots.learning_curves(report.history, self.metric, out / "learning_curves.png"),
                 plots.gradients(report.history, out / "gradients.png")]  # with train.track_gradients
        return [p for p in paths if p is not None]
