"""The pipeline of the notes: collect -> build -> train -> test -> apply, and the ``Run`` it leaves.

    run = dlnotes.train(config)          # or dlnotes.train("configs/lenet_digits.yaml")
    run.metrics["accuracy"]; run.evaluate("val"); run.predict("digit.png")
    run = dlnotes.Run.load("runs/lenet_digits-20260101-120000")
"""

from __future__ import annotations

import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from dlnotes.config import TRAIN_PROVIDED, Config, dump, load_config, resolved
from dlnotes.engine.rundir import RunDir, check_resume_overrides, safe_name
from dlnotes.errors import UserError


def default_out(cfg: Config) -> Path:
    """``runs/<name>-<time>``; the config's name becomes one file-name component (``../x`` stays in runs/)."""
    return Path("runs") / f"{safe_name(cfg.name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _versions() -> dict[str, str]:
    import numpy
    import torch

    from dlnotes import __version__

    return {"dlnotes": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def _meta(cfg: Config, data, model_name: str, args: dict[str, Any], device, dist) -> dict[str, Any]:
    ds = data.dataset
    return {
        "model": {"name": model_name, "args": args},
        "dataset": {"name": cfg.data.name, "args": cfg.extras("data"), "task": ds.task, "kind": ds.kind,
                    "input_shape": list(ds.input_shape), "classes": ds.classes, "feature_names": ds.feature_names,
                    "target_name": ds.target_name, "sizes": {"train": data.size("train"),
                    "val": data.size("val"), "test": data.size("test")}},
        "preprocess": data.preprocess,
        "seed": cfg.seed,
        "solver": cfg.train.solver,
        "device": str(device),
        "distributed": {"world_size": dist.world, "backend": dist.backend} if dist else {"world_size": 1},
        "versions": _versions(),
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def train(config: Config | str | Path, out: str | Path | None = None, device: str | None = None,
          resume: str | Path | None = None, overrides: list[str] | None = None, quiet: bool = False) -> "Run":
    """Trains a model from a config (object or YAML path) and returns the finished ``Run``.

    Progress goes to stderr (bars in a terminal, one line per epoch elsewhere); ``quiet=True`` silences it.

    ``resume=RUN`` continues RUN from its newest checkpoint; everything (overrides, weights, state,
    data identity) is checked before anything in RUN is written, so a refused resume changes nothing.
    """
    import torch

    from dlnotes.data.prepare import prepare
    from dlnotes.engine import distributed
    from dlnotes.engine.device import resolve_device, seed_everything
    from dlnotes.engine.progress import status
    from dlnotes.models import build_model, model_args

    rank0 = distributed.launched_rank() == 0  # under torchrun only rank 0 writes the run directory
    if resume is not None:
        rd = RunDir.open(resume)
        cfg = load_config(rd.config_path, overrides)
        check_resume_overrides(resolved(load_config(rd.config_path)), resolved(cfg), rd.path)
    else:
        cfg = config if isinstance(config, Config) else load_config(config, overrides)
        rd = RunDir(Path(out) if out is not None else default_out(cfg))
    resuming = resume is not None and rd.newest() is not None  # else a never-checkpointed run restarts
    claim = rd.claim(resume=resume is not None) if rank0 else None
    try:
        dist = distributed.init()
        dev = distributed.device(dist) if dist else resolve_device(device or cfg.device)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True

        quiet = quiet or (dist is not None and dist.rank != 0)
        seed_everything(cfg.seed)
        status(f"loading data: {cfg.data.name} ...", quiet)
        data = prepare(cfg, rd.meta()["preprocess"] if resuming else None, quiet=quiet)  # collect
        if data.dataset.loading:  # which path (in memory or streamed) and why; also in meta.json
            status(f"{cfg.data.name}: {data.dataset.loading}", quiet)
        if data.note and not quiet:  # e.g. how many windows of a series the leakage gaps cost
            print(data.note, file=sys.stderr)
        args = model_args(cfg.model.name, cfg.extras("model"), {**data.dataset.model_inputs(),
                                                                  "gradient": cfg.train.gradient})
        status(f"building {cfg.model.name} ({data.size('train'):,} training samples) ...", quiet)
        model = build_model(cfg.model.name, args)  # build
        from dlnotes.data.kinds import input_kind
        from dlnotes.summary import check_fits
        if input_kind(data.dataset.kind).image:
            check_fits(model, data.dataset.input_shape)

        config_dict = resolved(cfg)
        config_dict["model"].update({k: v for k, v in args.items()  # what the data fixed, for the record
                                     if k not in config_dict["model"] and k not in TRAIN_PROVIDED})
        meta = _meta(cfg, data, cfg.model.name, args, dev, dist)
        return _train(cfg, rd, data, model, meta, config_dict, dev, dist, resuming, quiet, rank0)
    except UserError as e:
        if claim in ("absent", "empty"):  # a new run
            if rd.newest() is not None:  # e.g. an unreadable test image found after the training: keep the work
                raise UserError(f"{e}; the trained checkpoint is kept: fix that and finish with "
                                f"dlnotes train --resume {rd.path}") from None
            import shutil  # bad input found before any checkpoint: leave the folder as it was

            if claim == "absent":
                shutil.rmtree(rd.path, ignore_errors=True)
            else:
                rd.reset()
                rd.release()
        raise
    finally:
        rd.unlock()


def _same_run(old: dict[str, Any], new: dict[str, Any], rd: RunDir) -> None:
    """A resume continues the same model on the same data: refuses one whose identity changed."""
    import json

    from dlnotes.registry import DATASETS, MODELS, REQUIRED

    def full(section: str, meta: dict[str, Any]) -> dict[str, Any]:  # the constructor's defaults filled in
        registry, name = (MODELS if section == "model" else DATASETS), meta[section]["name"]
        params = registry.params(name) if name in registry else {}
        defaults = {k: p.default for k, p in params.items() if p.default is not REQUIRED}
        return json.loads(json.dumps({**defaults, **meta[section]["args"]}))

    for section, key in (("model", "name"), ("model", "args"), ("dataset", "name"), ("dataset", "args"),
                         ("dataset", "input_shape"), ("dataset", "classes")):
        was, now = old[section].get(key), json.loads(json.dumps(new[section].get(key)))
        if key == "args":
            was, now = full(section, old), full(section, new)
        if was != now:
            raise UserError(f"--resume {rd.path}: {section}.{key} was {was!r} and is now {now!r}; a run continues "
                            "only with the same model and data; start a new run instead")


def _train(cfg, rd, data, model, meta, config_dict, dev, dist, resuming, quiet, rank0) -> "Run":
    from dlnotes.engine import distributed

    if resuming:  # everything is checked before the first write
        old = rd.meta()
        _same_run(old, meta, rd)
        meta = {**old, **meta, "created": old.get("created", meta["created"])}
    started = time.perf_counter()
    if cfg.train.solver != "gd":  # train: closed form / exhaustive search (engine/solvers.py)
        if dist is not None:
            raise UserError(f"train.solver: '{cfg.train.solver}' runs in one process; launch it without torchrun")
        if resuming:  # solved already; only the test and the figures can be missing
            state = rd.load_checkpoint(model)
            if rd.read_metrics():
                raise UserError(f"--resume {rd.path}: the {cfg.train.solver} run is complete; nothing to resume")
            seconds = float(state.get("train_seconds", 0.0))
        else:
            from dlnotes.engine.progress import status
            from dlnotes.engine.solvers import solve
            status(f"solving: {cfg.train.solver} ...", quiet)
            extra = solve(cfg, model, data)
            meta.update(extra.get("meta", {}))
            seconds = time.perf_counter() - started
        history = []
        if rank0:
            rd.write_config(dump(config_dict))
            rd.write_meta(meta)
            if not resuming:
                surface = {RunDir.SURFACE: {"epoch": 0, **extra["surface"]}} if "surface" in extra else None
                rd.commit(model, {"epoch": 1, "history": "[]", "train_seconds": seconds}, surface)
    else:
        from dlnotes.engine.trainer import Trainer

        def save(m, state, hist):
            if rank0:
                rd.commit(m, state)
                rd.write_history(hist)

        trainer = Trainer(cfg, model, data, dev, save=save, quiet=quiet, dist=dist, log=None)
        done = False
        if resuming:
            trainer.load_state(rd.load_checkpoint(trainer.model))
            done = trainer.epoch >= cfg.train.epochs or trainer.stopped_early()
            if done and rd.read_metrics():
                if trainer.epoch < cfg.train.epochs:
                    raise UserError(f"--resume {rd.path}: the run stopped early at epoch {trainer.epoch}; raise "
                                    "train.early_stopping.patience (or set it to 0) to continue")
                raise UserError(f"--resume {rd.path}: the run already has {trainer.epoch} epochs; "
                                f"raise train.epochs (e.g. train.epochs={trainer.epoch + 5}) to continue")
        if rank0:
            rd.write_config(dump(config_dict))
            rd.write_meta(meta)
            rd.clear_metrics()  # they described the weights before this training
            if resuming:  # what a kill between a commit and its follow-up writes left one step behind
                rd.sync_weights()
                rd.write_history(trainer.history)
            trainer.log = _tensorboard(rd) if cfg.train.tensorboard else None
        history = trainer.fit() if not done else trainer.history
        model = trainer.model
        seconds = sum(float(row.get("seconds", 0.0)) for row in history)  # every session's epochs

    run = Run(rd.path, cfg, meta, model=model, data=data, device=dev)
    metrics = run.evaluate("test")  # test
    metrics["train_seconds"] = round(seconds, 3)
    metrics["epochs"] = len(history) if history else None
    run.metrics = metrics  # before plotting: the figures reuse them (and the test outputs) instead of testing again
    if rank0:
        try:
            run.plot()
        except ImportError:  # matplotlib missing: figures are optional
            pass
        rd.write_metrics(metrics)  # last: a run with metrics.json has its test and figures
    if dist is not None:
        distributed.finish(dist)
    return run


def _tensorboard(rd: RunDir):
    """Per-epoch scalars to RUN/tensorboard/ (``tensorboard --logdir runs``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("train.tensorboard: install the extra first: pip install 'dlnotes[tensorboard]'") from None
    writer = SummaryWriter(log_dir=str(rd.tensorboard_dir))

    def log(row: dict[str, Any]) -> None:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                writer.add_scalar(key.replace("_", "/", 1) if key.startswith(("train_", "val_")) else key,
                                  value, row["epoch"])
        writer.flush()
    return log


class Run:
    """A finished (or loaded) run: its config, metadata, model and the data it was trained on."""

    def __init__(self, path, cfg: Config, meta: dict, model=None, data=None, device=None):
        self.path, self.config, self.meta = Path(path), cfg, meta
        self._model, self._data, self.device = model, data, device
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
        cfg = load_config(rd.config_path)
        meta = rd.meta()
        if rd.newest() is None:
            raise UserError(f"'{rd.path}' has no checkpoint: the run stopped before its first one; "
                            f"start it again with: dlnotes train --resume {rd.path}")
        run = cls(rd.path, cfg, meta)
        run._device_spec = device
        run.metrics = rd.read_metrics()
        return run

    @property
    def spec(self):
        """The task, input kind and preprocessing that applying the model needs (``dlnotes.tasks.Spec``)."""
        from dlnotes.engine.checkpoint import unwrap
        from dlnotes.tasks import Spec

        return Spec.from_meta(self.meta, getattr(unwrap(self.model), "threshold", 0.5), self.config.seed)

    @property
    def task(self):
        from dlnotes.tasks import get_task

        return get_task(self.meta["dataset"]["task"])

    @property
    def model(self):
        if self._model is None:
            from dlnotes.engine.device import resolve_device
            from dlnotes.models import build_model

            self.device = self.device or resolve_device(getattr(self, "_device_spec", None) or "cpu")
            model = build_model(self.meta["model"]["name"], self.meta["model"]["args"])
            RunDir(self.path).load_weights(model)
            self._model = model.to(self.device).eval()
        return self._model

    @property
    def data(self):
        if self._data is None:
            from dlnotes.data.prepare import prepare
            from dlnotes.engine.device import seed_everything

            seed_everything(self.config.seed)
            self._data = prepare(self.config, self.meta["preprocess"])
        return self._data

    def evaluate(self, split: str = "test") -> dict[str, Any]:
        """Recomputes the metrics of ``split`` (test, val or train) from the saved weights and data."""
        from dlnotes.engine.checkpoint import unwrap
        from dlnotes.engine.evaluate import evaluate
        from dlnotes.nn.losses import build_loss

        model = unwrap(self.model)
        part = self.data.split(split)
        metrics, out = evaluate(model, part, self.task, build_loss(self.config.train.loss, self.task),
                                self.config.data.batch_size, self.device, self.meta["preprocess"],
                                len(self.meta["dataset"].get("classes") or []), getattr(model, "threshold", 0.5))
        self._outputs[split] = out.cpu()
        baseline = self.task.baseline(self.data.raw("train").y, part, self.meta["preprocess"],
                                      len(self.meta["dataset"].get("classes") or []))
        if baseline is not None:
            metrics["baseline"] = baseline
        seasonal = self.task.seasonal_baseline(part, self.meta["preprocess"])
        if seasonal is not None:  # forecasting with data.period
            metrics["seasonal_baseline"] = seasonal
        import warnings

        from dlnotes.errors import BaselineWarning

        for line in self.task.warnings(metrics, split):  # the CLI shows each as one "warning: ..." line
            warnings.warn(line.removeprefix("warning: "), BaselineWarning, stacklevel=2)
        return metrics

    def predict(self, inputs, top_k: int = 0, steps: int = 0, temperature: float = 0.8,
                seed: int | None = None) -> list[dict[str, Any]]:
        """Applies the model to raw inputs (paths, arrays or text); rows of ``input, prediction, ...``.
        ``seed`` (default: the run's) drives text sampling."""
        import dataclasses

        from dlnotes.engine.predict import predict

        spec = self.spec if seed is None else dataclasses.replace(self.spec, seed=seed)
        return predict(self.model, inputs, spec, self.device, top_k=top_k, steps=steps, temperature=temperature)

    def predict_figure(self, inputs, path: str | Path, steps: int = 0) -> Path | None:
        """The figure of a prediction (forecasting: the series read and its forecast) at ``path``, or None."""
        return self.task.prediction_figure(self.model, inputs, self.spec, self.device, steps, Path(path))

    def plot(self) -> list[Path]:
        """Draws the figures of the run's task into RUN/plots/ from its history and test outputs."""
        from dlnotes.engine.checkpoint import unwrap
        from dlnotes.tasks import Report

        rd = RunDir(self.path)
        metrics = self.metrics
        if "test" not in self._outputs:  # a loaded run: test once, for the outputs the figures show
            fresh = self.evaluate("test")
            metrics = metrics or fresh
        lin = getattr(unwrap(self.model), "linear", None)
        line = (lin.weight.item(), lin.bias.item()) if lin is not None and lin.weight.numel() == 1 else None
        surface = rd.read_surface()
        report = Report(rd.read_history(), metrics, self.data.test, self._outputs["test"], self.spec,
                        data=self.data, line=line, surface=surface)
        return self.task.figures(report, rd.plots_dir)
