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

    @property
    def meta(self) -> dict[str, Any]:
        """The sections of meta.json that ``dlnotes.inputs`` and ``dlnotes.export`` read."""
        return {"dataset": self.dataset, "preprocess": self.pre}


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


RATIOS = ("accuracy", "precision", "recall", "f1", "r2")  # shown with 4 decimals; everything else to 4 digits


def number(key: str, value: float) -> str:
    """A metric as people read it: ratios (accuracy, r2) to 4 decimals, never ``-0.0000``; errors and
    losses to 4 significant digits (``5.701e+08``, not ``570057827.1323``), whole below a million."""
    if key in RATIOS:
        return f"{value:.4f}" if round(value, 4) != 0 else "0.0000"
    if 1e4 <= abs(value) < 1e6:
        return f"{value:,.0f}"  # 23,876 rather than 2.388e+04
    return f"{value:#.4g}"


def target_words(ds) -> str:
    return f"the target '{ds.target_name}'" if ds.target_name else "the data's target"


LOSS_WORDS = {"mse": "the squared error of numbers", "cross_entropy": "the cross-entropy of class probabilities",
              "bce": "binary cross-entropy (for two classes)"}


class Task:
    name = ""
    loss = "mse"  # the loss `train.loss: auto` picks
    metric, higher_is_better = "mse", False  # what learning curves and run tables rank by
    shown: tuple[str, ...] = ("mse", "mae", "loss")  # the one-line summary after training
    stratify = False  # split so that each class keeps its share
    plain_text = False  # predict prints the prediction itself, not a CSV table, unless --output asks for one
    draws_predictions = False  # predict --figure draws what it answered (forecasting: history and forecast)
    losses: tuple[str, ...] = ("mse",)  # the losses (train.loss) that can train this task
    model_keys: tuple[str, ...] = ("out_features",)  # a model does this task when its constructor takes one of these
    column_types: tuple[str, ...] = ("number",)  # the data.columns types that agree with this task's target

    # -- data and model -------------------------------------------------------------------------

    def answer(self, row: dict[str, Any]) -> dict[str, Any]:
        """A served prediction (``dlnotes serve``'s JSON) from one row ``Run.predict`` answered."""
        return {"prediction": row["prediction"]}
    def model_outputs(self, ds) -> dict[str, int]:
        """Model constructor arguments that follow from the targets (``num_classes``, ``horizon``...)."""
        return {"num_classes": 0}

    def describe(self, ds) -> str:
        """The data in words, for a message that names both sides: ``the target 'price' holds numbers``."""
        return f"{target_words(ds)} holds numbers (a regression)"

    def loss_problem(self, loss: str, ds) -> str | None:
        """Why ``train.loss: <loss>`` cannot train this task on ``ds`` (it completes "train.loss: 'bce' ..."),
        or None when it can."""
        if loss in self.losses:
            return None
        return f"is {LOSS_WORDS.get(loss, 'not a loss for ' + self.name)}"

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

    def summary(self, metrics: dict[str, Any], target: str | None = None) -> str:
        """``accuracy=0.9750 (majority class 0.1017)  f1=...``: the main metric beside its baseline(s);
        with an ``mse``, its root beside it in the units of ``target`` (the target column's name)."""
        parts = []
        for k in self.shown:
            if k not in metrics:
                continue
            parts.append(f"{k}={number(k, metrics[k])}" + (self.versus(metrics) if k == self.metric else ""))
            if k == "mse" and metrics[k] >= 0:
                unit = f"units of '{target}'" if target else "the target's units"
                parts.append(f"rmse={number('rmse', metrics[k] ** 0.5)} ({unit})")
        return "  ".join(parts)

    def versus(self, metrics: dict[str, Any]) -> str:
        """`` (majority class 0.1017)``: the main metric's baseline, after the main metric."""
        base, k = metrics.get("baseline") or {}, self.metric
        return f" ({base['name']} {number(k, base[k])})" if k in base else ""

    # -- applying -------------------------------------------------------------------------------
    def predict(self, model, inputs, spec: Spec, device, top_k: int = 0, steps: int = 0,
                temperature: float = 0.8, probabilities: bool = False) -> list[dict[str, Any]]:
        """Rows ``input, prediction, ...`` for raw ``inputs``; ``probabilities``: classifiers add every class's."""
        raise NotImplementedError

    def prediction_figure(self, model, inputs, spec: Spec, device, steps: int, path: Path) -> Path | None:
        """A figure of what ``predict`` answered (forecasting: history and forecast); None for other tasks."""
        return None

    @staticmethod
    def _outputs(model, inputs, spec: Spec, device, steps: int = 0) -> tuple[list[str], Any]:
        """(names, answers) of the run's whole model on the raw ``inputs`` (``_read``, then ``_answer``)."""
        names, feed = Task._read(inputs, spec)
        return names, Task._answer(model, feed, spec, device, steps)

    @staticmethod
    def _read(inputs, spec: Spec) -> tuple[list[str], dict[str, Any]]:
        """(names, feed): what ``dlnotes.inputs`` makes of the raw ``inputs``, the arrays an exported file takes."""
        from dlnotes import inputs as raw

        names, feed = raw.read(spec.meta, inputs)
        spec.kind.check_inputs(names, feed, spec.pre)  # e.g. images that look unlike the training images
        return names, feed

    @staticmethod
    def _answer(model, feed: dict[str, Any], spec: Spec, device, steps: int = 0) -> Any:
        """The answers of the run's whole model (``dlnotes.export.whole_model``: the recorded preprocessing, the
        network, the answer layer; what an exported file holds) to ``feed`` (text columns as their codes)."""
        from dlnotes import inputs as raw
        from dlnotes.engine.predict import whole_outputs
        from dlnotes.engine.weights import unwrap
        from dlnotes.export import whole_model

        whole = whole_model(unwrap(model), spec.meta, spec.threshold, steps)
        return whole_outputs(whole, raw.codes(spec.meta, feed, warn=True), device)

    # -- figures --------------------------------------------------------------------------------
    def figures(self, report: Report, out: Path) -> list[Path]:
        from dlnotes import plots

        paths = [plots.learning_curves(report.history, self.metric, out / "learning_curves.png"),
                 plots.gradients(report.history, out / "gradients.png")]  # with train.track_gradients
        return [p for p in paths if p is not None]
