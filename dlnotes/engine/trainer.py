"""The training process of the notes: for each epoch, for each batch, forward pass, loss,
back-propagation, optimizer step; then validate, log and checkpoint.

This is ``train.solver: gd``, gradient descent, for every model. Features wrap that loop through
small hooks rather than branches in it: ``autocast`` (bf16/fp16), the grad scaler, gradient clipping,
DDP. (The regression models' derived w/b gradients are an autograd Function in their own module.)
Losses stay on the device and are read once per progress refresh, never per step.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
import warnings
from typing import Any

import torch

from dlnotes.data.prepare import Prepared
from dlnotes.engine.batching import batches
from dlnotes.engine.device import rng_state, set_rng_state
from dlnotes.engine.evaluate import Evaluator
from dlnotes.engine.optim import PerStep, build_optimizer, build_scheduler
from dlnotes.engine.progress import Progress
from dlnotes.engine.resume import early_stop_due
from dlnotes.engine.threads import Threads
from dlnotes.engine.tracking import GradientTracker
from dlnotes.engine.weights import unwrap
from dlnotes.errors import ConvergenceWarning, Interrupted, RunFailure, UserError
from dlnotes.nn.losses import build_loss

__all__ = ["Trainer", "Interrupted"]

CONVERGED_TOL = 1e-3  # a loss falling by less than this fraction per epoch has converged (for this many epochs)
CONVERGED_WINDOW = 5
SAVE_EVERY_S = 2.0  # checkpoints at most this often; a faster epoch is kept in memory until the next
                    # save, the last epoch, an interrupt or a failure, so no finished epoch is lost


def still_falling(history: list[dict[str, Any]], key: str, window: int = CONVERGED_WINDOW) -> float | None:
    """The mean relative fall per epoch of ``history[key]`` over the last ``window`` epochs, when it is
    above CONVERGED_TOL (not converged); None when the loss has levelled off or there is too little history."""
    values = [row[key] for row in history if isinstance(row.get(key), (int, float))]
    k = min(window, len(values) - 1)
    if k < 1 or not all(math.isfinite(v) for v in values[-k - 1:]):
        return None
    start, end = values[-k - 1], values[-1]
    rate = (start - end) / (k * max(abs(start), 1e-12))
    return rate if rate > CONVERGED_TOL else None


def convergence_message(history: list[dict[str, Any]], epochs: int, lr: float) -> str | None:
    """scikit-learn's ConvergenceWarning for gradient descent: the training loss (and the validation
    loss, when there is one) still falling by more than CONVERGED_TOL per epoch when the epochs ran out.
    Given for convex models (linear and logistic regression, ``convex = True``), where it is meaningful."""
    rate = still_falling(history, "train_loss")
    if rate is None or ("val_loss" in history[-1] and still_falling(history, "val_loss") is None):
        return None
    k = min(CONVERGED_WINDOW, len(history) - 1)
    return (f"gradient descent has not converged: the training loss still fell by {rate:.1%} per epoch over the "
            f"last {k} epoch{'s' if k > 1 else ''}{' (the validation loss too)' if 'val_loss' in history[-1] else ''}; "
            f"raise train.epochs (now {epochs}) or train.optimizer.lr (now {lr:g})")


def _copy(obj):
    """Copies the tensors (and containers) of a state; scalars and strings are immutable already."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (torch.Tensor, dict, list, tuple)) for v in obj):
        return type(obj)(_copy(v) for v in obj)
    return list(obj) if isinstance(obj, list) else obj


class Trainer:
    def __init__(self, cfg, model: torch.nn.Module, data: Prepared, device: torch.device, *,
                 save=None, quiet: bool = False, dist=None, log=None, threads: Threads | None = None,
                 on_epoch=None):
        self.cfg, self.data, self.device = cfg, data, device
        self.task = data.task  # resolved once by the collect step
        self.save = save  # callable(model, state, history) -> None, or None (nothing written)
        self.log = log  # callable(row) -> None after every epoch (TensorBoard), or None
        self.log_step = None  # callable(step, lr) -> None after every step of a per-step schedule, or None
        self.on_epoch = on_epoch  # callable(row) -> bool after every epoch; True stops there (a sweep's pruner)
        self.dist = dist  # dlnotes.engine.distributed.Dist, or None
        self.quiet = quiet or (dist is not None and dist.rank != 0)
        t = cfg.train
        self.model = model.to(device)
        if t.channels_last and data.kind.image:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = build_loss(t.loss, self.task)
        self.evaluator = Evaluator(data, self.loss_fn, cfg.data.batch_size, device)
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.scaler = torch.amp.GradScaler(device.type, enabled=t.amp == "fp16" and device.type == "cuda")
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.augment_generator = torch.Generator().manual_seed(cfg.seed + 1)
        world, rank = (dist.world, dist.rank) if dist else (1, 0)
        if cfg.data.batch_size % world:
            raise UserError(f"data.batch_size: {cfg.data.batch_size} is the global batch and must divide "
                            f"evenly over {world} processes")
        self.batches = batches(data.train, cfg.data.batch_size // world, device, shuffle=True,
                               generator=self.generator, augment_generator=self.augment_generator, rank=rank,
                               world=world, channels_last=t.channels_last, report=not self.quiet)
        self.threads = threads or Threads.for_training(  # dlnotes/engine/threads.py; update() every epoch
            t.threads, self.model, data.train.x, cfg.data.batch_size // world, device)
        self._schedule(cfg, data)
        self.tracker = GradientTracker(unwrap(self.model)) if t.track_gradients else None  # per-layer statistics
        self.forward = self.model
        if t.compile:
            self.forward = torch.compile(self.model)
        if dist is not None:
            self.forward = dist.wrap(self.forward, device)
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.best = (math.inf, 0)  # (best val loss, epoch) for early stopping and restore_best
        self.best_weights: dict[str, torch.Tensor] | None = None  # that epoch's weights (restore_best)
        self.last_weights: dict[str, torch.Tensor] | None = None  # the last epoch's, when the best were restored
        self.restored = False
        self._signal: int | None = None
        self._pending = None  # a finished epoch not yet on disk (see SAVE_EVERY_S)

    # -- hooks ------------------------------------------------------------------------------------

    def _schedule(self, cfg, data: Prepared) -> None:
        """The lr schedule: stepped after every batch (onecycle, warmup_cosine) or every epoch."""
        self.scheduler = build_scheduler(cfg, self.optimizer, len(self.batches))
        self.per_step = isinstance(self.scheduler, PerStep)
        self.step_lr = None  # the lr of the last optimizer step
        self.plateau = isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if self.plateau and data.val is None:
            raise UserError("train.scheduler: 'plateau' lowers the lr when the validation loss stops improving "
                            "and needs a validation split; set data.val_fraction > 0")
    def autocast(self):
        amp = self.cfg.train.amp
        if amp == "none":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)

    def augment(self, xb: torch.Tensor) -> torch.Tensor:
        if not self.cfg.data.augment or xb.dim() != 4:
            return xb
        from dlnotes.data.augment import random_affine

        return random_affine(xb, self.augment_generator)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self) -> None:
        if self.cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step_lr = self.optimizer.param_groups[0]["lr"]
        if self.per_step:  # the next step's lr, in closed form of the global step
            if self.log_step is not None:
                self.log_step(self.scheduler.last_epoch, self.step_lr)
            self.scheduler.step()

    # -- the loop ---------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, progress: Progress) -> float:
        self.forward.train()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        first_bad = torch.full((), -1, device=self.device)
        count, n_steps = 0, len(self.batches)
        for step, (xb, yb) in enumerate(self.batches, 1):
            xb = self.augment(xb)
            with self.autocast():
                out = self.forward(xb)
                loss = self.loss_fn(out, yb)
            self.optimizer.zero_grad(set_to_none=True)
            self.backward(loss)
            if self.tracker is not None:
                self.tracker.after_backward(self.scaler)
            self.step()
            loss = loss.detach()
            loss_sum += loss * len(xb)
            first_bad = torch.where(~torch.isfinite(loss) & (first_bad < 0), step, first_bad)
            count += len(xb)
            if step == n_steps or progress.due():  # by time: no host sync on the other steps
                self._check_finite(int(first_bad), epoch)
                progress.step(step, loss_sum.item() / count)
            if self._signal is not None:
                raise Interrupted(self._signal, epoch - 1)
        if self.dist is not None:
            loss_sum, count = self.dist.sum(loss_sum), self.dist.sum(torch.tensor(float(count), device=self.device))
            count = float(count)
        return loss_sum.item() / count

    def _check_finite(self, bad_step: int, epoch: int) -> None:
        if bad_step >= 0:
            lr = self.optimizer.param_groups[0]["lr"]
            raise RunFailure(f"training diverged: the loss became NaN or infinite at epoch {epoch}, step {bad_step}; "
                             f"try a lower learning rate (train.optimizer.lr is {lr:g})")

    def fit(self) -> list[dict[str, Any]]:
        """Trains from ``self.epoch`` to ``train.epochs`` (or an early stop); returns the history."""
        t = self.cfg.train
        self._pending, stop = None, False
        progress = Progress(t.epochs, self.epoch, len(self.batches), self.task.metric, quiet=self.quiet)
        with self._signals(), contextlib.closing(progress):
            if self.epoch == 0 and self.save is not None:
                self.save(self.model, self.state(), self.history)  # so Ctrl-C in epoch 1 can resume too
            self._last_save = time.perf_counter()
            self._continue_from_last()
            try:
                for epoch in range(self.epoch + 1, t.epochs + 1):
                    row = self.run_epoch(epoch, progress)
                    stop = self._early_stop(row)
                    if self.on_epoch is not None and self.on_epoch(row):
                        stop = True
                    if stop or epoch == t.epochs:
                        self._restore_best()
                    self._keep(stop or epoch == t.epochs)
                    progress.epoch_end(row)
                    if stop:
                        break
            except (Interrupted, RunFailure):
                self._flush()  # the last finished epoch reaches the disk before we stop
                raise
        if self.restored and not self.quiet:
            print(f"kept the weights of epoch {self.best[1]}, the best validation loss ({self.best[0]:.4g}), not "
                  f"the last epoch's (train.early_stopping.restore_best)", file=sys.stderr)
        self._warn_if_not_converged(stop)
        return self.history

    def run_epoch(self, epoch: int, progress: Progress) -> dict[str, Any]:
        """One epoch: train, validate, step the schedule; its row of history.csv."""
        start = time.perf_counter()
        self.threads.update()  # fewer threads while other processes want the CPUs
        progress.epoch_start(epoch)
        row: dict[str, Any] = {"epoch": epoch, "train_loss": self.train_epoch(epoch, progress)}
        row.update(self.validate())
        row["lr"] = self.step_lr if self.per_step else self.optimizer.param_groups[0]["lr"]  # per step: the last
        row.update(unwrap(self.model).trace())  # e.g. w, b of a 1-D fit
        if self.tracker is not None:
            row.update(self.tracker.epoch_row())  # grad_norm.<layer>, dead_relu.<layer>, saturated.<layer>
        if self.plateau:  # divided when the validation loss stops improving (Krizhevsky 2012, 5)
            self.scheduler.step(row["val_loss"])
        elif not self.per_step:
            self.scheduler.step()
        row["seconds"] = time.perf_counter() - start
        self.history.append(row)
        self.epoch = epoch
        if self.log is not None:
            self.log(row)
        return row

    def _keep(self, now: bool) -> None:
        """Commits the finished epoch (at least every SAVE_EVERY_S, and when ``now``), else snapshots it."""
        if self.save is None:
            return
        if now or time.perf_counter() - self._last_save >= SAVE_EVERY_S:
            self._pending = None
            self.save(self.model, self.state(), self.history)
            self._last_save = time.perf_counter()
        else:
            self._pending = self._snapshot()

    def _warn_if_not_converged(self, stopped_early: bool) -> None:
        t = self.cfg.train
        convex = unwrap(self.model).convex  # a network's loss keeps creeping down: no warning
        if convex and not stopped_early and self.history and not (self.dist is not None and self.dist.rank != 0):
            message = convergence_message(self.history, t.epochs, t.optimizer.lr)
            if message:
                warnings.warn(message, ConvergenceWarning, stacklevel=3)

    def _snapshot(self) -> tuple:
        """A copy of everything a checkpoint holds, taken now and written later."""
        weights = {k: v.detach().to("cpu", copy=True) for k, v in unwrap(self.model).state_dict().items()}
        return weights, _copy(self.state()), list(self.history)

    def _flush(self) -> None:
        if self._pending is not None and self.save is not None:
            self.save(*self._pending)
        self._pending = None

    def validate(self) -> dict[str, float]:
        if self.data.val is None:
            return {}
        metrics, _ = self.evaluator(self.forward, self.data.val)
        return {f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)}

    def _early_stop(self, row: dict[str, Any]) -> bool:
        """Keeps the best validation epoch (and its weights, for restore_best); True when patience ran out."""
        es = self.cfg.train.early_stopping
        if "val_loss" not in row:
            return False
        if row["val_loss"] < self.best[0] - es.min_delta:
            self.best = (row["val_loss"], row["epoch"])
            if es.restore_best:
                self.best_weights = self._weights()
            return False
        return early_stop_due(row["epoch"], self.best[1], es.patience)

    # -- restore_best: the best validation epoch's weights kept at the end --------------------------
    def _weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(self.model).state_dict().items()}

    def _restore_best(self) -> None:
        """At the last epoch: the best validation epoch's weights become the model's. The last epoch's
        are kept in the checkpoint's state, so that --resume with more epochs continues from them."""
        if not self.cfg.train.early_stopping.restore_best or self.best_weights is None or self.best[1] == self.epoch:
            return
        self.last_weights = self._weights()
        unwrap(self.model).load_state_dict(self.best_weights)
        self.restored = True

    def _continue_from_last(self) -> None:
        """A resumed run whose best weights were restored trains on from its last epoch's weights."""
        if self.last_weights is not None:
            unwrap(self.model).load_state_dict(self.last_weights)
            self.last_weights = None

    # -- state for checkpoints and --resume -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "data_order": self.generator.get_state(),
            "augment_order": self.augment_generator.get_state(),
            "rng": rng_state(),
            "history": json.dumps(self.history),  # one string: pickling 100s of small dicts is slow
            "best": list(self.best),
            **({"best_weights": self.best_weights} if self.best_weights is not None else {}),
            **({"last_weights": self.last_weights} if self.last_weights is not None else {}),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])  # moments; its lr is replaced just below
        if self.plateau:  # no closed form: its lr follows the validation history, saved with it
            self.scheduler.load_state_dict(state["scheduler"])
        else:
            self.set_epoch_lr(int(state["epoch"]))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["data_order"])
        self.augment_generator.set_state(state["augment_order"])
        set_rng_state(state["rng"])
        self.history = json.loads(state["history"])
        self.best = tuple(state["best"])
        self.best_weights, self.last_weights = state.get("best_weights"), state.get("last_weights")
        self.epoch = int(state["epoch"])

    def set_epoch_lr(self, epoch: int) -> None:
        """The lr the config's schedule gives after ``epoch`` epochs (a per-step schedule: after
        ``epoch * steps per epoch`` steps), from the config's (maybe new) lr: closed form, so nothing
        chains from the lr a checkpoint happened to hold."""
        base = self.cfg.train.optimizer.lr
        step = epoch * len(self.batches) if self.per_step else epoch
        self.scheduler.base_lrs = [base for _ in self.optimizer.param_groups]
        self.scheduler.last_epoch = step
        for group, factor in zip(self.optimizer.param_groups, self.scheduler.lr_lambdas):
            group["initial_lr"], group["lr"] = base, base * factor(step)
        self.scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    @contextlib.contextmanager
    def _signals(self):
        """First SIGINT/SIGTERM: stop after the current step. A second one: the default (immediate) action."""
        def handler(signum, frame):
            self._signal = signum
            signal.signal(signum, previous[signum])

        previous = {}
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                previous[s] = signal.signal(s, handler)
        except ValueError:  # not the main thread: leave signals alone
            previous = {}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
