"""The pipeline of the notes: collect -> build -> train -> test -> apply, and the ``Run`` it leaves.

    run = dlnotes.train(config)          # or dlnotes.train("configs/lenet_digits.yaml")
    run.metrics["accuracy"]; run.evaluate("val"); run.predict("digit.png")
    run = dlnotes.Run.load("runs/lenet_digits-20260101-120000")

``train`` reads as the notes' training process. ``start`` takes the config and the run directory
(``RunDir.begin`` decides, in one place, whether and from what this training may write); then
``collect`` (the data, and the task and input kind it holds, resolved once and handed down),
``build`` (the model, and the run's record of itself), ``fit`` (train: gradient descent, or a
closed-form solver: the one place they differ) and ``test``. Apply is ``Run.predict``. Each step
reads and fills one ``Session``.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dlnotes.collect import load_data
from dlnotes.config import TRAIN_PROVIDED, Config, dump, load_config, resolved
from dlnotes.engine.resume import Resume
from dlnotes.engine.rundir import RunDir, safe_name
from dlnotes.errors import UserError
from dlnotes.fit_checks import check_fit
from dlnotes.trained import Run


@dataclass
class Session:
    """One training as it goes through the steps; each step reads what the earlier ones filled in."""

    cfg: Config
    rd: RunDir
    resume: Resume | None  # what --resume continues from (None: from epoch 0)
    device: Any
    dist: Any  # dlnotes.engine.distributed.Dist under torchrun, else None
    quiet: bool
    status: str | None = None  # what RunDir.begin found; None in the processes that do not write (rank > 0)
    data: Any = None  # dlnotes.data.prepare.Prepared, with .task and .kind
    model: Any = None
    args: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    threads: Any = None  # dlnotes.engine.threads.Threads: gradient descent's intra-op threads, chosen in build
    on_epoch: Any = None  # callable(history row) -> bool after each epoch; True stops training there (sweeps)

    @property
    def writer(self) -> bool:
        return self.status is not None


def train(config: Config | str | Path | None = None, out: str | Path | None = None, device: str | None = None,
          resume: str | Path | None = None, overrides: list[str] | None = None, quiet: bool = False,
          on_epoch=None) -> "Run":
    """Trains a model from a config (object or YAML path), or continues the run ``resume``; returns the Run.

    Progress goes to stderr (bars in a terminal, one line per epoch elsewhere); ``quiet=True`` silences it.
    Everything a resume depends on is checked before anything in the run is written. ``on_epoch(row)``
    is called with each epoch's history row; returning True stops training there (a sweep's pruner).
    """
    s = start(config, out, device, resume, overrides, quiet)
    s.on_epoch = on_epoch
    try:
        collect(s)
        build(s)
        fit(s)
        return test(s)
    except UserError as e:
        if s.writer and s.status in ("absent", "empty") and s.rd.newest() is not None:
            raise UserError(f"{e}; the trained checkpoint is kept: fix that and finish with "
                            f"dlnotes train --resume {s.rd.path}") from None
        if s.writer:
            s.rd.abandon(s.status)  # a new run refused before its first checkpoint: the folder as it was
        raise
    finally:
        s.rd.unlock()


def start(config, out, device, resume, overrides, quiet) -> Session:
    """The config, the device and the run directory: a new run's folder, or the run to continue."""
    import torch

    from dlnotes.engine import distributed
    from dlnotes.engine.device import resolve_device, seed_everything
    from dlnotes.engine.launch import under_launcher

    previous = None
    if resume is not None:
        rd = RunDir.open(resume)
        previous = Resume.read(rd)
        if previous is None and not rd.config_path.is_file():
            raise UserError(f"--resume {rd.path}: the run stopped before writing its config; start it again "
                            f"with: dlnotes train --config FILE --out {rd.path}")
        cfg = previous.config(overrides) if previous else load_config(rd.config_path, overrides)
        if previous:
            previous.check_more_to_do(cfg)
    else:
        cfg = config if isinstance(config, Config) else load_config(config, overrides)
        rd = RunDir(Path(out) if out is not None else default_out(cfg))
    if cfg.train.solver != "gd" and under_launcher():  # before joining the group: no rank waits for this one
        raise UserError(f"train.solver: '{cfg.train.solver}' runs in one process; launch it without torchrun")
    dist = distributed.init()
    dev = distributed.device(dist) if dist else resolve_device(device or cfg.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    s = Session(cfg, rd, previous, dev, dist, quiet or (dist is not None and dist.rank != 0))
    if distributed.launched_rank() == 0:  # under torchrun only rank 0 writes the run directory
        s.status = rd.begin(resume=resume is not None)
    seed_everything(cfg.seed)
    return s


def collect(s: Session) -> None:
    """Collect: the config's data, split and normalised, with its task and input kind."""
    from dlnotes.engine.progress import status

    status(f"loading data: {s.cfg.data.name} ...", s.quiet)
    s.data = load_data(s.cfg, s.resume.meta["preprocess"] if s.resume else None, quiet=s.quiet)
    check_fit(s.cfg, s.data)  # the config against the data, before the run holds anything of it
    if s.data.dataset.loading:  # which path (in memory or streamed) and why; also in meta.json
        status(f"{s.cfg.data.name}: {s.data.dataset.loading}", s.quiet)
    if s.data.note and not s.quiet:  # e.g. how many windows of a series the leakage gaps cost
        print(s.data.note, file=sys.stderr)


def build(s: Session) -> None:
    """Build: the model the config names, sized by the data; the run's config and meta.json written."""
    from dlnotes.data_paths import absolute as absolute_paths
    from dlnotes.engine.progress import status
    from dlnotes.engine.threads import Threads
    from dlnotes.models import build_model, model_args
    from dlnotes.summary import check_fits

    if s.resume is None:  # a new run records its data paths absolute, to work from any folder
        s.cfg = absolute_paths(s.cfg)
    data, cfg = s.data, s.cfg
    s.args = model_args(cfg.model.name, cfg.extras("model"), {**data.model_inputs(), "gradient": cfg.train.gradient})
    status(f"building {cfg.model.name} ({data.size('train'):,} training samples) ...", s.quiet)
    s.model = build_model(cfg.model.name, s.args)
    if data.kind.image:
        check_fits(s.model, data.dataset.input_shape)
    if cfg.train.solver == "gd":  # by the model's work per step and the free CPUs, again every epoch
        batch = cfg.data.batch_size // (s.dist.world if s.dist else 1)
        s.threads = Threads.for_training(cfg.train.threads, s.model, data.train.x, batch, s.device)
    config = resolved(cfg)
    config["model"].update({k: v for k, v in s.args.items()  # what the data fixed, for the record
                            if k not in config["model"] and k not in TRAIN_PROVIDED})
    s.meta = {**describe(s), "config": config}  # what was trained: --resume and eval compare with it
    if s.resume:
        s.meta = s.resume.check_same_run(s.meta)
    if s.writer:
        s.rd.record(RunDir.CONFIG, RunDir.META)  # one ledger write for both
        s.rd.write_config(dump(config))
        s.rd.write_meta(s.meta)
        s.rd.clear_metrics()  # a resumed run's metrics described the weights before this training


def fit(s: Session) -> None:
    """Train: gradient descent (the training loop) or a closed-form solver; both commit checkpoints."""
    s.history, s.seconds = (_gradient_descent if s.cfg.train.solver == "gd" else _closed_form)(s)


def _gradient_descent(s: Session) -> tuple[list[dict[str, Any]], float]:
    from dlnotes.engine.trainer import Trainer

    def save(model, state, history):
        if s.writer:
            s.rd.commit(model, state)
            s.rd.write_history(history)

    trainer = Trainer(s.cfg, s.model, s.data, s.device, save=save, quiet=s.quiet, dist=s.dist, threads=s.threads,
                      on_epoch=s.on_epoch)
    done = False
    if s.resume:
        trainer.load_state(s.rd.load_checkpoint(trainer.model))
        done = s.resume.finished(s.cfg)
        if s.writer:
            s.rd.write_history(trainer.history)  # what a kill between a commit and its history left behind
    if s.writer and s.cfg.train.tensorboard:
        trainer.log, trainer.log_step = _tensorboard(s.rd)
    history = trainer.history if done else trainer.fit()
    s.model = trainer.model
    return history, sum(float(row.get("seconds", 0.0)) for row in history)  # every session's epochs


def _closed_form(s: Session) -> tuple[list[dict[str, Any]], float]:
    from dlnotes.engine.progress import status
    from dlnotes.engine.solvers import solve

    if s.resume:  # solved already; only the test and the figures can be missing
        return [], float(s.rd.load_checkpoint(s.model).get("train_seconds", 0.0))
    status(f"solving: {s.cfg.train.solver} ...", s.quiet)
    started = time.perf_counter()
    extra = solve(s.cfg, s.model, s.data)
    seconds = time.perf_counter() - started
    if s.writer:
        if extra.get("meta"):
            s.meta.update(extra["meta"])
            s.rd.write_meta(s.meta)
        surface = {RunDir.SURFACE: {"epoch": 0, **extra["surface"]}} if "surface" in extra else None
        s.rd.commit(s.model, {"epoch": 1, "history": "[]", "train_seconds": seconds}, surface)
    return [], seconds


def test(s: Session) -> "Run":
    """Test: the test split's metrics beside the task's baseline, the figures, then metrics.json (last:
    a run with metrics.json is complete)."""
    from dlnotes.engine import distributed

    run = Run(s.rd.path, s.cfg, s.meta, model=s.model, data=s.data, device=s.device)
    metrics = run.evaluate("test")
    metrics["train_seconds"] = round(s.seconds, 3)
    metrics["epochs"] = len(s.history) if s.history else None
    run.metrics = metrics  # before plotting: the figures reuse them (and the test outputs) instead of testing again
    if s.writer:
        s.rd.record(RunDir.PLOTS, RunDir.METRICS)
        try:
            run.plot()
        except ImportError:  # matplotlib missing: figures are optional
            pass
        s.rd.write_metrics(metrics)
    if s.dist is not None:
        distributed.finish(s.dist)
    return run


_RESERVED: set[Path] = set()  # default run folders this process created (removed again if the run is refused)


def default_out(cfg: Config) -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>``, made now so that runs started in the same second get their own
    (``-2``, ``-3``...); the config's name becomes one file-name component (``../x`` stays in runs/)."""
    base = Path("runs") / f"{safe_name(cfg.name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        _RESERVED.add(path.resolve())
        return path
    raise UserError(f"'{base}': no free run folder name; give --out")


def describe(s: Session) -> dict[str, Any]:
    """meta.json: what the run is (model, data identity, preprocessing) and where it ran."""
    import numpy
    import torch

    from dlnotes.version import __version__

    ds, data = s.data.dataset, s.data
    return {
        "model": {"name": s.cfg.model.name, "args": s.args},
        "dataset": {"name": s.cfg.data.name, "args": s.cfg.extras("data"), "task": ds.task, "kind": ds.kind,
                    "input_shape": list(ds.input_shape), "classes": ds.classes, "feature_names": ds.feature_names,
                    "target_name": ds.target_name, "sizes": {k: data.size(k) for k in ("train", "val", "test")}},
        "data": data.identity(),
        "preprocess": data.preprocess,
        "seed": s.cfg.seed,
        "solver": s.cfg.train.solver,
        "device": str(s.device),
        **({"threads": s.threads.describe()} if s.threads else {}),  # intra-op threads at the start, and why
        "distributed": {"world_size": s.dist.world, "backend": s.dist.backend} if s.dist else {"world_size": 1},
        "versions": {"dlnotes": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
                     "python": platform.python_version()},
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def _tensorboard(rd: RunDir):
    """Per-epoch scalars to RUN/tensorboard/ (``tensorboard --logdir runs``), and a per-step schedule's lr
    at every step (``lr/step``); returns the two loggers. The folder is made at the first scalar, after the
    first checkpoint."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("train.tensorboard: install the extra first: pip install 'dlnotes[tensorboard]'") from None
    writers: list = []

    def writer():
        if not writers:
            writers.append(SummaryWriter(log_dir=str(rd.tensorboard_dir)))
        return writers[0]

    def log_step(step: int, lr: float) -> None:
        writer().add_scalar("lr/step", lr, step)

    def log(row: dict[str, Any]) -> None:
        writer()
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                writers[0].add_scalar(key.replace("_", "/", 1) if key.startswith(("train_", "val_")) else key,
                                      value, row["epoch"])
        writers[0].flush()
    return log, log_step


__all__ = ["train", "Run", "Session", "start", "collect", "build", "fit", "test", "load_data", "default_out"]
