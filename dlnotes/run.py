"""The pipeline of the notes: collect -> build -> train -> test -> apply, and the ``Run`` it leaves.

    run = dlnotes.train(config)          # or dlnotes.train("configs/lenet_digits.yaml")
    run.metrics["accuracy"]; run.evaluate("val"); run.predict("digit.png")
    run = dlnotes.Run.load("runs/lenet_digits-20260101-120000")
"""

from __future__ import annotations

import platform
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from dlnotes.config import TRAIN_PROVIDED, Config, dump, load_config, resolved
from dlnotes.engine.rundir import RunDir
from dlnotes.errors import UserError


def default_out(cfg: Config) -> Path:
    return Path("runs") / f"{cfg.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


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
                    "target_name": ds.target_name, "sizes": {"train": len(data.train),
                    "val": len(data.val) if data.val is not None else 0, "test": len(data.test)}},
        "preprocess": data.preprocess,
        "seed": cfg.seed,
        "solver": cfg.train.solver,
        "device": str(device),
        "distributed": {"world_size": dist.world, "backend": dist.backend} if dist else {"world_size": 1},
        "versions": _versions(),
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def train(config: Config | str | Path, out: str | Path | None = None, device: str | None = None,
          resume: str | Path | None = None, overrides: list[str] | None = None, quiet: bool = True) -> "Run":
    """Trains a model from a config (object or YAML path) and returns the finished ``Run``."""
    import torch

    from dlnotes.data.prepare import prepare
    from dlnotes.engine import distributed
    from dlnotes.engine.device import resolve_device, seed_everything
    from dlnotes.models import build_model, model_args

    if resume is not None:
        rd = RunDir.open(resume)
        cfg = load_config(rd / RunDir.CONFIG, overrides)
        out = rd.path
    else:
        cfg = config if isinstance(config, Config) else load_config(config, overrides)
        out = Path(out) if out is not None else default_out(cfg)
        if distributed.launched_rank() == 0 and (out / RunDir.META).exists():  # rank 0 alone: it writes meta
            raise UserError(f"--out '{out}' already holds a run; continue it with --resume {out} or choose another --out")
        rd = RunDir(out)
    dist = distributed.init()
    dev = distributed.device(dist) if dist else resolve_device(device or cfg.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True

    seed_everything(cfg.seed)
    data = prepare(cfg)  # collect
    args = model_args(cfg.model.name, cfg.extras("model"), {**data.dataset.model_inputs(),
                                                              "gradient": cfg.train.gradient})
    model = build_model(cfg.model.name, args)  # build
    from dlnotes.data.kinds import input_kind
    from dlnotes.summary import check_fits
    if input_kind(data.dataset.kind).image:
        check_fits(model, data.dataset.input_shape)

    rank0 = dist is None or dist.rank == 0
    config_dict = resolved(cfg)
    config_dict["model"].update({k: v for k, v in args.items()  # what the data fixed, for the record
                                 if k not in config_dict["model"] and k not in TRAIN_PROVIDED})
    meta = _meta(cfg, data, cfg.model.name, args, dev, dist)
    if resume is not None:
        old = rd.meta()
        meta["files"] = old.get("files", {})
        meta["created"] = old.get("created", meta["created"])
    created = rank0 and resume is None and not rd.path.exists()
    try:
        return _train(cfg, rd, data, model, meta, config_dict, dev, dist, resume, quiet, rank0)
    except UserError:
        if created and rd.path.exists():  # bad input found late: leave nothing half-written behind
            import shutil
            shutil.rmtree(rd.path, ignore_errors=True)
        raise


def _train(cfg, rd, data, model, meta, config_dict, dev, dist, resume, quiet, rank0) -> "Run":
    from dlnotes.engine import distributed
    from dlnotes.engine.checkpoint import load_state, load_weights

    if rank0:
        rd.path.mkdir(parents=True, exist_ok=True)
        from dlnotes.engine.checkpoint import atomic_write
        atomic_write(rd / RunDir.CONFIG, dump(config_dict))
        rd.write_meta(meta)

    started = time.perf_counter()
    if cfg.train.solver != "gd":  # train: closed form / exhaustive search (engine/solvers.py)
        if dist is not None:
            raise UserError(f"train.solver: '{cfg.train.solver}' runs in one process; launch it without torchrun")
        from dlnotes.engine.solvers import solve
        extra = solve(cfg, model, data)
        history = []
        meta.update(extra.get("meta", {}))
        if rank0:
            rd.save_checkpoint(model, {"epoch": 1, "history": "[]"}, meta)
            if "surface" in extra:
                from dlnotes.engine.checkpoint import save_state
                save_state({"epoch": 0, **extra["surface"]}, rd / RunDir.SURFACE)
    else:
        from dlnotes.engine.trainer import Trainer

        def save(m, state, hist):
            if rank0:
                rd.save_checkpoint(m, state, meta)
                rd.write_history(hist)

        log = _tensorboard(rd) if cfg.train.tensorboard and rank0 else None
        trainer = Trainer(cfg, model, data, dev, save=save, quiet=quiet, dist=dist, log=log)
        if resume is not None:
            load_weights(model, rd / RunDir.WEIGHTS, meta["files"].get(RunDir.WEIGHTS))
            trainer.load_state(load_state(rd / RunDir.STATE, meta["files"].get(RunDir.STATE)))
            if trainer.epoch >= cfg.train.epochs:
                raise UserError(f"--resume {rd.path}: the run already has {trainer.epoch} epochs; "
                                f"raise train.epochs (e.g. train.epochs={trainer.epoch + 5}) to continue")
        history = trainer.fit()
        model = trainer.model
    seconds = time.perf_counter() - started

    run = Run(rd.path, cfg, meta, model=model, data=data, device=dev)
    metrics = run.evaluate("test")  # test
    metrics["train_seconds"] = round(seconds, 3)
    metrics["epochs"] = len(history) if history else None
    run.metrics = metrics  # before plotting: the figures reuse them (and the test outputs) instead of testing again
    if rank0:
        from dlnotes.engine.checkpoint import write_json
        write_json(rd / RunDir.METRICS, metrics)
        try:
            run.plot()
        except ImportError:  # matplotlib missing: figures are optional
            pass
    if dist is not None:
        distributed.finish(dist)
    return run


def _tensorboard(rd: RunDir):
    """Per-epoch scalars to RUN/tensorboard/ (``tensorboard --logdir runs``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("train.tensorboard: install the extra first: pip install 'dlnotes[tensorboard]'") from None
    writer = SummaryWriter(log_dir=str(rd / "tensorboard"))

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

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "Run":
        rd = RunDir.open(path)
        cfg = load_config(rd / RunDir.CONFIG)
        meta = rd.meta()
        if not (rd / RunDir.WEIGHTS).is_file():
            raise UserError(f"'{rd / RunDir.WEIGHTS}' not found; the run did not finish its first checkpoint")
        run = cls(rd.path, cfg, meta)
        run._device_spec = device
        m = rd / RunDir.METRICS
        if m.is_file():
            from dlnotes.engine.checkpoint import read_json
            run.metrics = read_json(m)
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
            from dlnotes.engine.checkpoint import load_weights
            from dlnotes.engine.device import resolve_device
            from dlnotes.models import build_model

            self.device = self.device or resolve_device(getattr(self, "_device_spec", None) or "cpu")
            model = build_model(self.meta["model"]["name"], self.meta["model"]["args"])
            load_weights(model, self.path / RunDir.WEIGHTS, self.meta.get("files", {}).get(RunDir.WEIGHTS))
            self._model = model.to(self.device).eval()
        return self._model

    @property
    def data(self):
        if self._data is None:
            from dlnotes.data.prepare import prepare
            from dlnotes.engine.device import seed_everything

            seed_everything(self.config.seed)
            self._data = prepare(self.config)
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
        baseline = self.task.baseline(self.data.train.y, part, self.meta["preprocess"],
                                      len(self.meta["dataset"].get("classes") or []))
        if baseline is not None:
            metrics["baseline"] = baseline
        return metrics

    def predict(self, inputs, top_k: int = 0, steps: int = 0, temperature: float = 0.8,
                seed: int | None = None) -> list[dict[str, Any]]:
        """Applies the model to raw inputs (paths, arrays or text); rows of ``input, prediction, ...``.
        ``seed`` (default: the run's) drives text sampling."""
        import dataclasses

        from dlnotes.engine.predict import predict

        spec = self.spec if seed is None else dataclasses.replace(self.spec, seed=seed)
        return predict(self.model, inputs, spec, self.device, top_k=top_k, steps=steps, temperature=temperature)

    def plot(self) -> list[Path]:
        """Draws the figures of the run's task into RUN/plots/ from its history and test outputs."""
        from dlnotes.engine.checkpoint import load_state, unwrap
        from dlnotes.tasks import Report

        rd = RunDir(self.path)
        metrics = self.metrics
        if "test" not in self._outputs:  # a loaded run: test once, for the outputs the figures show
            fresh = self.evaluate("test")
            metrics = metrics or fresh
        lin = getattr(unwrap(self.model), "linear", None)
        line = (lin.weight.item(), lin.bias.item()) if lin is not None and lin.weight.numel() == 1 else None
        surface = load_state(rd / RunDir.SURFACE) if (rd / RunDir.SURFACE).is_file() else None
        report = Report(rd.read_history(), metrics, self.data.test, self._outputs["test"], self.spec,
                        train=self.data.train, line=line, surface=surface)
        return self.task.figures(report, rd / RunDir.PLOTS)
