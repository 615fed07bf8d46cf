"""Optimizers and learning-rate schedulers by name (``train.optimizer``, ``train.scheduler``)."""

from __future__ import annotations

import torch

from dlnotes.errors import UserError
from dlnotes.registry import OPTIMIZERS, SCHEDULERS


@OPTIMIZERS.register
def sgd(params, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
    """Stochastic gradient descent: w <- w - lr * dL/dw (with optional momentum)."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@OPTIMIZERS.register
def adam(params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, weight_decay: float = 0.0):
    """Adam (Kingma & Ba 2015): per-parameter steps from running moments of the gradient."""
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)


@OPTIMIZERS.register
def adamw(params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, weight_decay: float = 0.01):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay."""
    return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)


@SCHEDULERS.register
def none(optimizer, epochs):
    """A constant learning rate."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


@SCHEDULERS.register
def step(optimizer, epochs, step_size: int = 10, gamma: float = 0.1):
    """Multiplies the learning rate by gamma every step_size epochs."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


@SCHEDULERS.register
def cosine(optimizer, epochs, min_lr: float = 0.0):
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
def plateau(optimizer, epochs, factor: float = 0.1, patience: int = 5, threshold: float = 1e-4,
            min_lr: float = 0.0):
    """Multiplies the lr by factor when the validation loss has not improved for patience epochs.

    Krizhevsky et al. (2012), section 5: "divide the learning rate by 10 when the validation error
    rate stopped improving"; the trainer steps it with each epoch's validation loss."""
    if not 0 < factor < 1:
        raise UserError(f"train.scheduler.factor: must be in (0, 1), got {factor}")
    if patience < 0:
        raise UserError(f"train.scheduler.patience: must be >= 0, got {patience}")
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=factor, patience=patience,
                                                      threshold=threshold, min_lr=min_lr)
