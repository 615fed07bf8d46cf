"""Optimizers and learning-rate schedulers by name (``train.optimizer``, ``train.scheduler``)."""

from __future__ import annotations

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
    """Multiplies the learning rate by gamma every step_size epochs."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


@SCHEDULERS.register
def cosine(optimizer, epochs, min_lr: Annotated[float, Interval(0, None)] = 0.0):
    """Cosine annealing from lr to min_lr over the run's epochs."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=min_lr)


def build_optimizer(cfg, params):
    opt = cfg.train.optimizer
    kwargs = dict(opt.model_extra or {})
    return OPTIMIZERS.get(opt.name, where="train.optimizer.name")(params, lr=opt.lr, **kwargs)


def build_scheduler(cfg, optimizer):
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
