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
import time
from typing import Any

import torch
from tqdm.auto import tqdm

from dlnotes.data.prepare import Prepared
from dlnotes.engine.batching import Batches, place
from dlnotes.engine.checkpoint import unwrap
from dlnotes.engine.device import rng_state, set_rng_state
from dlnotes.engine.evaluate import evaluate
from dlnotes.engine.optim import build_optimizer, build_scheduler
from dlnotes.data.kinds import input_kind
from dlnotes.errors import Interrupted, RunFailure, UserError
from dlnotes.nn.losses import build_loss
from dlnotes.tasks import get_task

__all__ = ["Trainer", "Interrupted"]

REFRESH_STEPS = 25  # how often (in steps) the progress bar shows the loss and NaNs are looked for
SAVE_EVERY_S = 2.0  # checkpoints at most this often; a faster epoch is kept in memory until the next
                    # save, the last epoch, an interrupt or a failure, so no finished epoch is lost


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
                 save=None, quiet: bool = False, dist=None, log=None):
        self.cfg, self.data, self.device = cfg, data, device
        self.task = get_task(data.dataset.task)
        self.save = save  # callable(model, state, history) -> None, or None (nothing written)
        self.log = log  # callable(row) -> None after every epoch (TensorBoard), or None
        self.dist = dist  # dlnotes.engine.distributed.Dist, or None
        self.quiet = quiet or (dist is not None and dist.rank != 0)
        t = cfg.train
        self.model = model.to(device)
        if t.channels_last and input_kind(data.dataset.kind).image:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss_fn = build_loss(t.loss, self.task)
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.scheduler = build_scheduler(cfg, self.optimizer)
        self.scaler = torch.amp.GradScaler(device.type, enabled=t.amp == "fp16" and device.type == "cuda")
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.augment_generator = torch.Generator().manual_seed(cfg.seed + 1)
        world, rank = (dist.world, dist.rank) if dist else (1, 0)
        if cfg.data.batch_size % world:
            raise UserError(f"data.batch_size: {cfg.data.batch_size} is the global batch and must divide "
                            f"evenly over {world} processes")
        x, y = place(data.train.x, device), place(data.train.y, device)
        if t.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        self.batches = Batches(x, y, cfg.data.batch_size // world, True, self.generator, rank, world, device)
        self.forward = self.model
        if t.compile:
            self.forward = torch.compile(self.model)
        if dist is not None:
            self.forward = dist.wrap(self.forward, device)
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.best = (math.inf, 0)  # (best val loss, epoch) for early stopping
        self._signal: int | None = None
        self._pending = None  # a finished epoch not yet on disk (see SAVE_EVERY_S)

    # -- hooks ------------------------------------------------------------------------------------
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

    # -- the loop ---------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, bar) -> float:
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
            self.step()
            loss = loss.detach()
            loss_sum += loss * len(xb)
            first_bad = torch.where(~torch.isfinite(loss) & (first_bad < 0), step, first_bad)
            count += len(xb)
            if step % REFRESH_STEPS == 0 or step == n_steps:
                self._check_finite(int(first_bad), epoch)
                bar.update(step - bar.n)
                bar.set_postfix(loss=f"{loss_sum.item() / count:.4f}", refresh=False)
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
        t = self.cfg.train
        self._pending = None
        with self._signals(), tqdm(total=t.epochs, initial=self.epoch, desc="epochs", unit="epoch",
                                   disable=self.quiet, position=0, dynamic_ncols=True) as overall:
            if self.epoch == 0 and self.save is not None:
                self.save(self.model, self.state(), self.history)  # so Ctrl-C in epoch 1 can resume too
            last_save = time.perf_counter()
            try:
                for epoch in range(self.epoch + 1, t.epochs + 1):
                    start = time.perf_counter()
                    with tqdm(total=len(self.batches), desc=f"epoch {epoch}", unit="batch", leave=False,
                              disable=self.quiet, position=1, dynamic_ncols=True) as bar:
                        row: dict[str, Any] = {"epoch": epoch, "train_loss": self.train_epoch(epoch, bar)}
                    row.update(self.validate())
                    row["lr"] = self.optimizer.param_groups[0]["lr"]
                    row.update(getattr(unwrap(self.model), "trace", dict)())  # e.g. w, b of a 1-D fit
                    self.scheduler.step()
                    row["seconds"] = time.perf_counter() - start
                    self.history.append(row)
                    self.epoch = epoch
                    if self.log is not None:
                        self.log(row)
                    stop = self._early_stop(row)
                    if self.save is not None:
                        if stop or epoch == t.epochs or time.perf_counter() - last_save >= SAVE_EVERY_S:
                            self._pending = None
                            self.save(self.model, self.state(), self.history)
                            last_save = time.perf_counter()
                        else:
                            self._pending = self._snapshot()
                    overall.update(1)
                    overall.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k in ("train_loss", "val_loss")})
                    if stop:
                        break
            except (Interrupted, RunFailure):
                self._flush()  # the last finished epoch reaches the disk before we stop
                raise
        return self.history

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
        metrics, _ = evaluate(self.forward, self.data.val, self.task, self.loss_fn, self.cfg.data.batch_size,
                              self.device, self.data.preprocess, len(self.data.dataset.classes or []),
                              getattr(unwrap(self.model), "threshold", 0.5))
        return {f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)}

    def stopped_early(self) -> bool:
        """Whether the state (e.g. a loaded checkpoint) ends in an early stop under the current patience."""
        es = self.cfg.train.early_stopping
        return es.patience > 0 and bool(self.history) and self.epoch - self.best[1] >= es.patience

    def _early_stop(self, row: dict[str, Any]) -> bool:
        es = self.cfg.train.early_stopping
        if es.patience == 0 or "val_loss" not in row:
            return False
        if row["val_loss"] < self.best[0] - es.min_delta:
            self.best = (row["val_loss"], row["epoch"])
            return False
        return row["epoch"] - self.best[1] >= es.patience

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
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])  # moments; its lr is replaced just below
        self.set_epoch_lr(int(state["epoch"]))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["data_order"])
        self.augment_generator.set_state(state["augment_order"])
        set_rng_state(state["rng"])
        self.history = json.loads(state["history"])
        self.best = tuple(state["best"])
        self.epoch = int(state["epoch"])

    def set_epoch_lr(self, epoch: int) -> None:
        """The lr the config's schedule gives after ``epoch`` epochs, from the config's (maybe new) lr:
        closed form, so nothing chains from the lr a checkpoint happened to hold."""
        base = self.cfg.train.optimizer.lr
        self.scheduler.base_lrs = [base for _ in self.optimizer.param_groups]
        self.scheduler.last_epoch = epoch
        for group, factor in zip(self.optimizer.param_groups, self.scheduler.lr_lambdas):
            group["initial_lr"], group["lr"] = base, base * factor(epoch)
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
