"""Optimizers and learning-rate schedulers by name (``train.optimizer``, ``train.scheduler``).

Every schedule is a closed form ``lr(epoch) = base_lr * factor(epoch, epochs)`` run by ``LambdaLR``,
never torch's chained forms that multiply the last lr: a resumed run sets ``last_epoch`` and the
(possibly new) base lr and gets exactly the lr its schedule gives at that epoch, so a finished cosine
run resumed to more epochs re-anneals from a non-zero lr instead of staying at 0.

Schedules defined per optimizer step (``onecycle``, ``warmup_cosine``) take ``steps``, the run's
total number of steps, instead of ``epochs``, and are ``PerStep``: the trainer steps them after every
batch, and ``lr(s)`` is a closed form of the global step ``s`` (PyTorch's ``OneCycleLR`` formula, not
its chained state), so a run resumed at an epoch end continues at exactly the lr of its next step.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch

from dlnotes.constraints import Interval
from dlnotes.registry import OPTIMIZERS, SCHEDULERS


@OPTIMIZERS.register
def sgd(params, lr: float = 0.01, momentum: Annotated[float, Interval(0, 1, closed="left")] = 0.0,
        weight_decay: Annotated[float, Interval(0, None)] = 0.0, nesterov: bool = False):
    """Stochastic gradient descent: w <- w - lr * dL/dw (with optional momentum)."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@OPTIMIZERS.register
def adam(params, lr: float = 1e-3, beta1: Annotated[float, Interval(0, 1, closed="left")] = 0.9,
         beta2: Annotated[float, Interval(0, 1, closed="left")] = 0.999,
         weight_decay: Annotated[float, Interval(0, None)] = 0.0):
    """Adam (Kingma & Ba 2015): per-parameter steps from running moments of the gradient."""
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)


@OPTIMIZERS.register
def adamw(params, lr: float = 1e-3, beta1: Annotated[float, Interval(0, 1, closed="left")] = 0.9,
          beta2: Annotated[float, Interval(0, 1, closed="left")] = 0.999,
          weight_decay: Annotated[float, Interval(0, None)] = 0.01):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay."""
    return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)


@SCHEDULERS.register
def none(optimizer, epochs):
    """A constant learning rate."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


@SCHEDULERS.register
def step(optimizer, epochs, step_size: Annotated[int, Interval(1, None)] = 10,
         gamma: Annotated[float, Interval(0, None, closed="neither")] = 0.1):
    """Multiplies the learning rate by gamma every step_size epochs: lr_e = lr * gamma^floor(e / step_size)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: gamma ** (epoch // step_size))


@SCHEDULERS.register
def cosine(optimizer, epochs, min_lr: Annotated[float, Interval(0, None)] = 0.0):
    """Cosine annealing from lr to min_lr over the run's epochs:
    lr_e = min_lr + (lr - min_lr) * (1 + cos(pi * e / epochs)) / 2."""
    def factor(epoch: int, base: float) -> float:
        return (min_lr + (base - min_lr) * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)) / 2) / base

    lrs = [g["lr"] for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, [lambda e, b=b: factor(e, b) for b in lrs])


def build_optimizer(cfg, params):
    opt = cfg.train.optimizer
    kwargs = dict(opt.model_extra or {})
    return OPTIMIZERS.get(opt.name, where="train.optimizer.name")(params, lr=opt.lr, **kwargs)


def build_scheduler(cfg, optimizer, steps_per_epoch: int = 1):
    """The schedule of ``cfg`` over ``cfg.train.epochs`` (a per-step one over epochs * steps_per_epoch
    steps), from the optimizer's lr (set it before building)."""
    sch = cfg.train.scheduler
    fn, extra = SCHEDULERS.get(sch.name, where="train.scheduler.name"), dict(sch.model_extra or {})
    if "steps" in SCHEDULERS.params(sch.name):
        return fn(optimizer, steps=cfg.train.epochs * steps_per_epoch, **extra)
    return fn(optimizer, cfg.train.epochs, **extra)


class PerStep(torch.optim.lr_scheduler.LambdaLR):
    """A ``LambdaLR`` whose ``last_epoch`` counts optimizer steps: stepped after every batch."""


def one_cycle_lr(step: int, steps: int, max_lr: float, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4) -> float:
    """The lr of step ``step`` (0-based) of ``steps`` under Smith's one-cycle policy, as
    ``torch.optim.lr_scheduler.OneCycleLR`` (cosine annealing, two phases) computes it:

        initial = max_lr / div_factor, final = initial / final_div_factor, e = pct_start * steps - 1
        s <= e:  lr = cos_anneal(initial, max_lr, s / e)
        s >  e:  lr = cos_anneal(max_lr, final, (s - e) / (steps - 1 - e))
        cos_anneal(a, b, p) = b + (a - b) * (1 + cos(pi * p)) / 2

    Steps past the end keep the last step's lr (torch refuses them)."""
    initial = max_lr / div_factor
    final = initial / final_div_factor
    end_up = float(pct_start * steps) - 1
    s = min(step, steps - 1)
    if s <= end_up:
        start, end, pct = initial, max_lr, s / end_up if end_up > 0 else 1.0
    else:
        start, end, pct = max_lr, final, (s - end_up) / (steps - 1 - end_up) if steps - 1 > end_up else 1.0
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


@SCHEDULERS.register
def onecycle(optimizer, steps, max_lr: Annotated[float | None, Interval(0, None, closed="neither")] = None,
             pct_start: Annotated[float, Interval(0, 1, closed="neither")] = 0.3,
             div_factor: Annotated[float, Interval(1, None)] = 25.0,
             final_div_factor: Annotated[float, Interval(1, None)] = 1e4):
    """One cycle per run, stepped per batch (Smith & Topin 2018; torch's OneCycleLR): up from
    max_lr / div_factor to max_lr over pct_start of the steps, then down to max_lr / div_factor /
    final_div_factor, both by half cosines. max_lr defaults to train.optimizer.lr. The lr only: momentum
    is not cycled (torch's cycle_momentum=False)."""
    def factor(s: int, base: float) -> float:
        return one_cycle_lr(s, steps, max_lr or base, pct_start, div_factor, final_div_factor) / base

    lrs = [g["lr"] for g in optimizer.param_groups]
    return PerStep(optimizer, [lambda s, b=b: factor(s, b) for b in lrs])


def warmup_cosine_lr(step: int, steps: int, lr: float, warmup_steps: int, min_lr: float = 0.0) -> float:
    """Linear warmup, then cosine annealing, at step ``s`` (0-based) of ``steps`` (W = warmup_steps):

        s < W:   lr_s = lr * (s + 1) / W
        s >= W:  lr_s = min_lr + (lr - min_lr) * (1 + cos(pi * min(s - W, steps - W) / (steps - W))) / 2"""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if steps <= warmup_steps:
        return lr
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * min(step - warmup_steps, steps - warmup_steps)
                                                  / (steps - warmup_steps))) / 2


@SCHEDULERS.register
def warmup_cosine(optimizer, steps, warmup_steps: Annotated[int, Interval(0, None)] = 100,
                  min_lr: Annotated[float, Interval(0, None)] = 0.0):
    """Stepped per batch: the lr rises linearly to train.optimizer.lr over warmup_steps steps, then
    falls by a cosine to min_lr at the run's last step: lr_s = lr (s + 1) / W for s < W, then
    min_lr + (lr - min_lr) (1 + cos(pi (s - W) / (steps - W))) / 2."""
    def factor(s: int, base: float) -> float:
        return warmup_cosine_lr(s, steps, base, warmup_steps, min_lr) / base

    lrs = [g["lr"] for g in optimizer.param_groups]
    return PerStep(optimizer, [lambda s, b=b: factor(s, b) for b in lrs])


@SCHEDULERS.register
def plateau(optimizer, epochs, factor: Annotated[float, Interval(0, 1, closed="neither")] = 0.1,
            patience: Annotated[int, Interval(0, None)] = 5, threshold: Annotated[float, Interval(0, None)] = 1e-4,
            min_lr: Annotated[float, Interval(0, None)] = 0.0):
    """Multiplies the lr by factor when the validation loss has not improved for patience epochs.

    Krizhevsky et al. (2012), section 5: "divide the learning rate by 10 when the validation error
    rate stopped improving"; the trainer steps it with each epoch's validation loss."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=factor, patience=patience,
                                                      threshold=threshold, min_lr=min_lr)
