"""The quick start on a table: never worse than a linear model on its own validation split.

``dlnotes train --data FILE.csv --target COL`` trains an ``mlp`` (early stopping that keeps the best
validation epoch: ``config.quick_config``). A network can still lose to the linear model a table's
signal may be (a survey whose answer is a weighted sum of its columns), so, with a validation split
and no model named, the quick start tries both, the way one would by hand:

1. the linear candidate (``logistic_regression`` for classes, ``linear_regression`` for values) is
   trained in memory, nothing written, on the same data, split and seed, and scored on the
   validation split;
2. the ``mlp`` is trained as an ordinary run into the run directory, and scored the same way;
3. the lower validation loss is kept (the simpler model on a tie): if the linear model wins, the
   network's run is taken back and the linear model trained as the ordinary run in its place (the
   same training as step 1, so the same weights and score).

The loss decides, not the accuracy: it is what both were trained and early-stopped on, and on a
small validation split it is far steadier (240 rows move accuracy in steps of 0.004 and swing it by
points between two equally good models, while the mean log-loss of the same rows barely moves).

What is left is one ordinary run directory whose config.yaml names the kept model, so ``--config``
reproduces it and ``--resume`` continues it; one line on stderr says which model was kept and both
scores.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from dlnotes.config import Config, validate
from dlnotes.errors import ConvergenceWarning, UserError


def quick_train(cfg: Config, out: str | Path, device: str | None = None, quiet: bool = False,
                compare: bool = True):
    """Trains the quick start's ``cfg`` into ``out``; with ``compare`` (a table, a validation split, no model
    named), against the linear candidate first, keeping the better on validation. Returns the Run."""
    from dlnotes.run import train

    if not compare or cfg.data.name != "csv" or cfg.data.val_fraction <= 0:
        return train(cfg, out=out, device=device, quiet=quiet)
    linear, linear_scores, task = _linear_candidate(cfg, device, quiet)
    run = train(cfg, out=out, device=device, quiet=quiet)
    scores = {cfg.model.name: run.evaluate("val"), linear.model.name: linear_scores}
    better = scores[cfg.model.name]["loss"] < linear_scores["loss"]
    kept, other = (cfg.model.name, linear.model.name) if better else (linear.model.name, cfg.model.name)
    if not better:
        _take_back(run.path)
        run = train(linear, out=out, device=device, quiet=quiet)
    shown = {k: f"loss {v['loss']:.4f}, {task.metric} {v[task.metric]:.4f}" for k, v in scores.items()}
    print(f"quick start: kept {kept} (validation {shown[kept]}) over {other} ({shown[other]})", file=sys.stderr)
    return run


def linear_config(cfg: Config, classification: bool) -> Config:
    """``cfg`` with the linear model of its task in place of the network (the model's own keys dropped)."""
    d = cfg.to_dict()
    d["model"] = {"name": "logistic_regression" if classification else "linear_regression"}
    d["name"] = f"{d['model']['name']}_{cfg.name.split('_', 1)[-1]}" if "_" in cfg.name else d["model"]["name"]
    return validate(d, source="quick start")


def _linear_candidate(cfg: Config, device: str | None, quiet: bool):
    """(the linear config, its validation metrics, the task): trained in memory like an ordinary run."""
    from dlnotes.collect import load_data
    from dlnotes.engine.device import resolve_device, seed_everything
    from dlnotes.engine.progress import status
    from dlnotes.engine.trainer import Trainer
    from dlnotes.models import build_model, model_args

    linear = linear_config(cfg, classification=True)  # the data is the same for both linear models
    status(f"quick start: training {linear.model.name} first, to compare with {cfg.model.name} ...", quiet)
    seed_everything(linear.seed)
    data = load_data(linear)
    if data.dataset.classes is None:  # values, not classes
        linear = linear_config(cfg, classification=False)
    args = model_args(linear.model.name, {}, {**data.model_inputs(), "gradient": linear.train.gradient})
    dev = resolve_device(device or linear.device)
    trainer = Trainer(linear, build_model(linear.model.name, args), data, dev, quiet=True)
    with warnings.catch_warnings():  # a candidate's convergence is not the user's concern
        warnings.simplefilter("ignore", ConvergenceWarning)
        trainer.fit()
    metrics, _ = trainer.evaluator(trainer.model, data.val)
    return linear, metrics, data.task


def _take_back(path: Path) -> None:
    """Removes the run this quick start just wrote (all of it is listed in its ledger), leaving the folder empty."""
    from dlnotes.engine.rundir import RunDir

    rd = RunDir(path)
    rd.lock()
    try:
        rd.reset()
        rd.abandon("empty")
    finally:
        rd.release()
    if any(rd.path.iterdir()):  # pragma: no cover - something not ours appeared meanwhile
        raise UserError(f"--out '{path}': could not take back the network's run to keep the linear model")
