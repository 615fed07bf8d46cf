"""``Run``: a trained run, fresh from ``dlnotes.train`` or loaded from its directory; test and apply.

    run = dlnotes.Run.load("runs/lenet_digits-20260101-120000")
    run.evaluate("test"); run.predict("digit.png"); run.plot()

The model, the data and the task are resolved once (from the training, or from meta.json for a
loaded run) and handed to evaluation, prediction and the figures.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from dlnotes.config import Config, load_config
from dlnotes.engine.rundir import RunDir
from dlnotes.errors import BaselineWarning, UserError


class Run:
    """A finished (or loaded) run: its config, metadata, model and the data it was trained on."""

    def __init__(self, path, cfg: Config, meta: dict, model=None, data=None, device=None):
        from dlnotes.tasks import get_task

        self.path, self.config, self.meta = Path(path), cfg, meta
        self.task = data.task if data is not None else get_task(meta["dataset"]["task"])
        self._model, self._data, self.device = model, data, device
        self._device_spec: str | None = None
        self.metrics: dict[str, Any] = {}
        self._outputs: dict[str, Any] = {}  # split -> the model's raw outputs, kept by evaluate for figures

    def __repr__(self) -> str:
        metric = self.task.metric
        value = self.metrics.get(metric)
        shown = f", test {metric}={value:.4f}" if isinstance(value, (int, float)) else ""
        return (f"Run(path='{self.path}', model={self.meta['model']['name']!r}, "
                f"dataset={self.meta['dataset']['name']!r}{shown})")

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "Run":
        rd = RunDir.open(path)
        if rd.newest() is None:
            raise UserError(f"'{rd.path}' has no checkpoint: the run stopped before its first one; "
                            f"start it again with: dlnotes train --resume {rd.path}")
        from dlnotes.engine.resume import check_config_unchanged

        meta, cfg = rd.meta(), load_config(rd.config_path)
        check_config_unchanged(meta, cfg, rd.path)
        run = cls(rd.path, cfg, meta)
        run._device_spec = device
        run.metrics = rd.read_metrics()
        return run

    @property
    def spec(self):
        """The task, input kind and preprocessing that applying the model needs (``dlnotes.tasks.Spec``)."""
        from dlnotes.engine.weights import unwrap
        from dlnotes.tasks import spec_from_meta

        return spec_from_meta(self.meta, unwrap(self.model).threshold, self.config.seed)

    @property
    def model(self):
        if self._model is None:
            from dlnotes.engine.device import resolve_device
            from dlnotes.models import build_model

            self.device = self.device or resolve_device(self._device_spec or "cpu")
            model = build_model(self.meta["model"]["name"], self.meta["model"]["args"])
            RunDir(self.path).load_weights(model)
            self._model = model.to(self.device).eval()
        return self._model

    @property
    def data(self):
        if self._data is None:
            from dlnotes.collect import load_data
            from dlnotes.engine.device import seed_everything

            from dlnotes.engine.resume import check_same_data

            seed_everything(self.config.seed)
            data = load_data(self.config, self.meta["preprocess"])
            check_same_data(self.meta, data.identity(), f"run '{self.path}'")
            self._data = data
        return self._data

    def evaluate(self, split: str = "test") -> dict[str, Any]:
        """Recomputes the metrics of ``split`` (test, val or train) from the saved weights and data."""
        from dlnotes.engine.evaluate import Evaluator
        from dlnotes.engine.weights import unwrap
        from dlnotes.nn.losses import build_loss

        model, data = unwrap(self.model), self.data
        part = data.split(split)
        evaluator = Evaluator(data, build_loss(self.config.train.loss, self.task), self.config.data.batch_size,
                              self.device)
        metrics, out = evaluator(model, part)
        self._outputs[split] = out.cpu()
        num_classes = len(self.meta["dataset"].get("classes") or [])
        baseline = self.task.baseline(data.raw("train").y, part, self.meta["preprocess"], num_classes)
        if baseline is not None:
            metrics["baseline"] = baseline
        metrics.update(self.task.interpret(metrics, self.meta["dataset"].get("classes") or []))  # most_confused
        seasonal = self.task.seasonal_baseline(part, self.meta["preprocess"])
        if seasonal is not None:  # forecasting with data.period
            metrics["seasonal_baseline"] = seasonal
        for line in self.task.warnings(metrics, split):  # the CLI shows each as one "warning: ..." line
            warnings.warn(line.removeprefix("warning: "), BaselineWarning, stacklevel=2)
        return metrics

    def predict(self, inputs, top_k: int = 0, steps: int = 0, temperature: float = 0.8,
                seed: int | None = None, probabilities: bool = False) -> list[dict[str, Any]]:
        """Applies the model to raw inputs; the rows ``dlnotes predict`` writes (``input, prediction, ...``).

        ``inputs`` (``dlnotes.inputs.prepare`` reads them, as the exported file takes them): images as files,
        folders, PIL images, numpy arrays or torch tensors (one image, or a 4-D batch), or a list of those;
        tables as a CSV file, a pandas DataFrame, a dict of columns or a list of row dicts; series as a
        .csv/.npy file or a list of numbers (rows: several series); text as a prompt or a list of prompts.
        ``probabilities``: classifier rows also hold every class's probability. ``seed`` (default: the
        run's) drives text sampling."""
        import dataclasses

        from dlnotes.engine.predict import predict

        spec = self.spec if seed is None else dataclasses.replace(self.spec, seed=seed)
        return predict(self.model, inputs, spec, self.device, top_k=top_k, steps=steps, temperature=temperature,
                       probabilities=probabilities)

    def export(self, fmt: str, output: str | Path, steps: int = 0) -> Path:
        """Writes the whole model (raw inputs in, answers in the user's units out) as ``fmt`` (onnx,
        torch_export, torchscript) to ``output``; ``steps``: a forecaster's roll-out (default its horizon)."""
        from dlnotes.engine.weights import unwrap
        from dlnotes.export import check, export

        check(fmt, output)
        return export(self.model, self.meta, fmt, output, unwrap(self.model).threshold, steps)

    def predict_figure(self, inputs, path: str | Path, steps: int = 0) -> Path | None:
        """The figure of a prediction (forecasting: the series read and its forecast) at ``path``, or None."""
        return self.task.prediction_figure(self.model, inputs, self.spec, self.device, steps, Path(path))

    def plot(self) -> list[Path]:
        """Draws the figures of the run's task into RUN/plots/ from its history and test outputs."""
        from dlnotes.engine.weights import unwrap
        from dlnotes.tasks import Report

        rd = RunDir(self.path)
        metrics = self.metrics
        if "test" not in self._outputs:  # a loaded run: test once, for the outputs the figures show
            fresh = self.evaluate("test")
            metrics = metrics or fresh
        report = Report(rd.read_history(), metrics, self.data.test, self._outputs["test"], self.spec,
                        data=self.data, line=unwrap(self.model).fitted_line(), surface=rd.read_surface())
        return self.task.figures(report, rd.plots_dir)
