"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks",
section 3.3; fastai's and Lightning's ``lr_find``).

From the initial weights, train ``steps`` batches (100 by default) while the lr rises exponentially,
``lr_i = start_lr * (end_lr / start_lr) ** (i / (steps - 1))``, and record each batch's loss. The loss
is smoothed by a bias-corrected exponential average, beta = 1 - 30 / steps (0.7 for 100 batches): while
the test runs, forwards only, and the test stops when that average exceeds 4x its best (it diverged);
afterwards forwards and then backwards (zero phase, as scipy's ``filtfilt``), so that the smoothed curve
sits at the lr where each loss was measured instead of lagging behind it. (fastai's and Lightning's
forward-only average at beta = 0.98 lags by up to ~50 batches, several decades of lr at this density:
it put the steepest descent of LeNet on digits under Adam at lr 0.02, which kills its ReLUs; on the
zero-phase curve it is 0.0034, which trains it to about 99%.) One suggestion alone is unreliable (users of fastai's
and Lightning's finders say so; ktrain gives two), so there are two, by different rules:

- ``steepest``: the lr where the smoothed loss falls fastest against log lr (the most negative
  d loss / d log10 lr) on its way down to its minimum, leaving out the first tenth of the points (the
  average is still settling);
- ``min_div10``: the lr of the smoothed loss's minimum, divided by 10 (fastai's "minimum").

Nothing is kept: the weights, the optimizer's state, the data order and every RNG are put back as they
were, and no config or run is written. The batches, loss, augmentation, mixed precision and optimizer
are the training loop's own (a ``Trainer`` built from the config). Under torchrun each batch's loss is
averaged over the ranks, and rank 0 decides when to stop and what to suggest, and tells the others.
"""

from __future__ import annotations

import copy
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlnotes.errors import RunFailure, UserError

DIVERGED = 4.0  # stop when the smoothed loss exceeds this multiple of its best (Lightning's early_stop_threshold)
PNG, CSV = "lr_find.png", "lr_find.csv"


@dataclass
class Finding:
    """What a range test saw and what it suggests."""

    lrs: list[float]
    losses: list[float]  # each batch's loss (the mean over the ranks under torchrun)
    smoothed: list[float]  # zero phase: forwards and backwards
    steepest: float
    min_div10: float
    stopped: str  # "diverged" (the smoothed loss passed 4x its best) or "end" (every step ran)
    note: str = ""  # why the suggestions are not to be trusted, when they are not

    def as_dict(self) -> dict[str, Any]:
        return {"suggestions": {"steepest": self.steepest, "min_div10": self.min_div10}, "stopped": self.stopped,
                "note": self.note, "lr": self.lrs, "loss": self.losses, "smoothed_loss": self.smoothed}


def lr_schedule(start_lr: float, end_lr: float, steps: int) -> list[float]:
    """``start_lr * (end_lr / start_lr) ** (i / (steps - 1))`` for i = 0 .. steps - 1."""
    return [start_lr * (end_lr / start_lr) ** (i / (steps - 1)) for i in range(steps)]


def beta_for(steps: int) -> float:
    """The smoothing of a test of ``steps`` batches: 1 - 30 / steps, within [0.5, 0.98]."""
    return max(0.5, min(0.98, 1 - 30 / steps))


def smooth(losses: list[float], beta: float) -> list[float]:
    """The bias-corrected exponential average: a_i = beta a_(i-1) + (1 - beta) loss_i, shown as a_i / (1 - beta^(i+1))."""
    avg, out = 0.0, []
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def zero_phase(losses: list[float], beta: float) -> list[float]:
    """``smooth`` forwards, then the result backwards: no lag (scipy's ``filtfilt`` with this one-pole filter)."""
    return smooth(smooth(losses, beta)[::-1], beta)[::-1]


def suggest(lrs: list[float], smoothed: list[float], diverged: bool) -> tuple[float, float]:
    """(steepest, min_div10) from the smoothed curve: the steepest descent is looked for on the way down to
    the minimum (a loss falling again after a blow-up is no place to train), from the first tenth on."""
    import numpy as np

    n = len(smoothed)
    if n < 3:
        raise RunFailure(f"lr-find: the loss diverged after {n} batch{'es' if n != 1 else ''}; "
                         "give a lower --start-lr")
    lowest = int(np.argmin(smoothed[:n - 1] if diverged else smoothed))
    begin = n // 10 if lowest + 1 - n // 10 >= 3 else 0
    if lowest + 1 - begin < 3:  # the loss only rose: no descent to measure
        return float(lrs[lowest]), float(lrs[lowest] / 10)
    slope = np.gradient(np.asarray(smoothed[begin:lowest + 1]), np.log10(np.asarray(lrs[begin:lowest + 1])))
    return float(lrs[begin + int(np.argmin(slope))]), float(lrs[lowest] / 10)


def range_test(trainer, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100) -> Finding:
    """The range test on ``trainer``'s model, optimizer and batches; everything is restored afterwards."""
    kept = _keep(trainer)
    try:
        lrs, losses, diverged = _climb(trainer, lr_schedule(start_lr, end_lr, steps), beta_for(steps))
    finally:
        _restore(trainer, kept)
    smoothed = zero_phase(losses, beta_for(steps))
    rank0 = trainer.dist is None or trainer.dist.rank == 0
    steepest, min_div10 = suggest(lrs, smoothed, diverged) if rank0 else (0.0, 0.0)
    steepest, min_div10 = _from_rank0(trainer, [steepest, min_div10])
    note = "" if min(smoothed) < 0.98 * smoothed[0] else (
        "the smoothed loss never fell by 2% over the range: give more --steps or another --start-lr/--end-lr")
    return Finding(lrs, losses, smoothed, steepest, min_div10, "diverged" if diverged else "end", note)


def _climb(trainer, schedule: list[float], beta: float) -> tuple[list[float], list[float], bool]:
    """Trains one batch per lr of ``schedule`` until the smoothed loss diverges; the lrs and losses seen."""
    trainer.forward.train()
    lrs: list[float] = []
    losses: list[float] = []
    avg, best, diverged = 0.0, math.inf, False
    batches = _endless(trainer.batches)
    try:
        for lr in schedule:
            xb, yb = next(batches)
            for group in trainer.optimizer.param_groups:
                group["lr"] = lr
            with trainer.autocast():
                loss = trainer.loss_fn(trainer.forward(trainer.augment(xb)), yb)
            trainer.optimizer.zero_grad(set_to_none=True)
            trainer.backward(loss)
            trainer.step()
            value = loss.detach().float()
            if trainer.dist is not None:
                value = trainer.dist.sum(value) / trainer.dist.world
            value = float(value)
            if math.isfinite(value):
                lrs.append(lr)
                losses.append(value)
                avg = beta * avg + (1 - beta) * value
                smoothed = avg / (1 - beta ** len(losses))
                best = min(best, smoothed)
            diverged = not math.isfinite(value) or smoothed > DIVERGED * best
            if _from_rank0(trainer, [float(diverged)])[0]:
                diverged = True
                break
    finally:
        batches.close()
        trainer.optimizer.zero_grad(set_to_none=True)
    return lrs, losses, diverged


def _endless(batches):
    """The training batches, epoch after epoch (100 batches can outlast one epoch of a small set)."""
    while True:
        yield from batches


def _from_rank0(trainer, values: list[float]) -> list[float]:
    """``values`` as rank 0 has them (every rank's own outside torchrun)."""
    if trainer.dist is None:
        return values
    import torch
    import torch.distributed as tdist

    t = torch.tensor(values, dtype=torch.float64, device=trainer.device)
    tdist.broadcast(t, src=0)
    return t.tolist()


def _keep(trainer) -> dict[str, Any]:
    from dlnotes.engine.device import rng_state
    from dlnotes.engine.weights import unwrap

    model = unwrap(trainer.model)
    return {"weights": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "optimizer": copy.deepcopy(trainer.optimizer.state_dict()), "training": model.training,
            "rng": rng_state(), "data_order": trainer.generator.get_state(),
            "augment_order": trainer.augment_generator.get_state()}


def _restore(trainer, kept: dict[str, Any]) -> None:
    from dlnotes.engine.device import set_rng_state
    from dlnotes.engine.weights import unwrap

    model = unwrap(trainer.model)
    model.load_state_dict(kept["weights"])
    model.train(kept["training"])
    trainer.optimizer.load_state_dict(kept["optimizer"])
    set_rng_state(kept["rng"])
    trainer.generator.set_state(kept["data_order"])
    trainer.augment_generator.set_state(kept["augment_order"])


def lr_find(cfg, device: str | None = None, quiet: bool = False, start_lr: float = 1e-7, end_lr: float = 10.0,
            steps: int = 100) -> Finding:
    """The range test of a config's model on its data: the run's collect and build steps (nothing written),
    then ``range_test`` on a ``Trainer`` of that config."""
    from dlnotes import run
    from dlnotes.engine import distributed
    from dlnotes.engine.device import resolve_device, seed_everything
    from dlnotes.engine.progress import status
    from dlnotes.engine.trainer import Trainer

    if cfg.train.solver != "gd":
        raise UserError(f"train.solver: '{cfg.train.solver}' solves in closed form, with no learning rate to find")
    if not 0 < start_lr < end_lr:
        raise UserError(f"--start-lr {start_lr:g} and --end-lr {end_lr:g}: need 0 < start < end")
    dist = distributed.init()
    dev = distributed.device(dist) if dist else resolve_device(device or cfg.device)
    seed_everything(cfg.seed)
    s = run.Session(cfg, None, None, dev, dist, quiet or (dist is not None and dist.rank != 0))
    run.collect(s)
    run.build(s)  # s.status is None: the build step writes nothing
    status(f"lr-find: up to {steps} batches, lr {start_lr:g} -> {end_lr:g} ...", s.quiet)
    try:
        return range_test(Trainer(cfg, s.model, s.data, dev, quiet=True, dist=dist), start_lr, end_lr, steps)
    finally:
        if dist is not None:
            distributed.finish(dist)


def check_out(out: Path | None) -> None:
    """``--out DIR``: refused at once when it is a training run's folder or already holds a result."""
    from dlnotes.engine.rundir import RunDir

    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise UserError(f"--out '{out}' is a file; give a folder for {PNG} and {CSV}")
    rd = RunDir(out)
    if out.is_dir() and (rd.recorded() is not None or (out / RunDir.CONFIG).exists() or (out / RunDir.META).exists()):
        raise UserError(f"--out '{out}' holds a training run; lr-find writes into a folder of its own")
    for name in (PNG, CSV):
        if (out / name).exists() or (out / name).is_symlink():
            raise UserError(f"--out '{out}' already has {name}; lr-find never writes over a file: "
                            "give another folder")


def save(finding: Finding, cfg, out: Path | None) -> Path:
    """Writes ``lr_find.png`` and ``lr_find.csv`` into ``out`` (default: a new ``runs/<name>-lr_find-<time>/``),
    never over an existing file; returns the figure's path."""
    from dlnotes.atomic import write_new
    from dlnotes.tune.figures import lr_find_figure

    if out is None:
        from dlnotes.run import default_out

        out = default_out(cfg.model_copy(update={"name": f"{cfg.name}-lr_find"}))
    check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    rows.write("lr,loss,smoothed_loss\n")
    for lr, loss, sm in zip(finding.lrs, finding.losses, finding.smoothed):
        rows.write(f"{lr:.6g},{loss:.6g},{sm:.6g}\n")
    write_new(out / CSV, rows.getvalue().encode())
    write_new(out / PNG, lr_find_figure(finding))
    return out / PNG
