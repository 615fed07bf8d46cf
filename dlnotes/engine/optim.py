"""Optimizers and learning-rate schedulers by name (``train.optimizer``, ``train.scheduler``).

Every schedule is a closed form ``lr(epoch) = base_lr * factor(epoch, epochs)`` run by ``LambdaLR``,
never torch's chained forms that multiply the last lr: a resumed run sets ``last_epoch`` and the
(possibly new) base lr and gets exactly the lr its schedule gives at that epoch, so a finished cosine
run resumed to more epochs re-anneals from a non-zero lr instead of staying at 0.
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


def build_scheduler(cfg, optimizer):
    """The schedule of ``cfg`` over ``cfg.train.epochs``, from the optimizer's lr (set it before building)."""
    sch = cfg.train.scheduler
    return SCHEDULERS.get(sch.name, where="train.scheduler.name")(optimizer, cfg.train.epochs, **(sch.model_extra or {}))


@SCHEDULERS.register
def plateau(optimizer, epochs, factor: Annotated[float, Interval(0, 1, closed="neither")] = 0.1,
            patience: Annotated[int, Interval(0, None)] = 5, threshold: Annotated[float, Interval(0, None)] = 1e-4,
            min_lr: Annotated[float, Interval(0, None)] = 0.0):
    """Multiplies the lr by factor when the validation loss has not improved for patience epochs.

    Krizhevsky et al. (2012), section 5: "divide the learning rate by 10 when the validation error
    rate stopped improving"; the trainer steps it with each epoch's validation loss."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=factor, patience=patience,
                                                      threshold=threshold, min_lr=min_lr)
