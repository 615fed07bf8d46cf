"""Losses of the notes, selectable by name (``train.loss``); ``auto`` picks by task.

All take the model's raw outputs (logits for classifiers) and the targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlnotes.registry import LOSSES


@LOSSES.register
def mse():
    """Mean squared error: L = 1/n sum (y_hat - y)^2."""
    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out, y.reshape(out.shape).to(out.dtype))
    return loss


@LOSSES.register
def cross_entropy():
    """Cross-entropy of softmax(logits): L = -1/n sum log p_y. One logit = binary (sigmoid) cross-entropy."""
    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if out.dim() == 3:  # (batch, time, vocab): per-step classification (language models)
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        if out.shape[-1] == 1:
            return _bce(out, y)
        return F.cross_entropy(out, y)
    return loss


@LOSSES.register
def bce():
    """Binary cross-entropy on a logit z, p = sigma(z): L = -1/n sum [y log p + (1 - y) log(1 - p)]."""
    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if out.shape[-1] == 2:  # two logits: the binary logit is their difference
            out = (out[:, 1] - out[:, 0]).unsqueeze(1)
        return _bce(out, y)
    return loss


def _bce(logit: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logit.reshape(-1), y.reshape(-1).to(logit.dtype))


def build_loss(name: str, task):
    """The loss ``name``; ``auto`` is the task's own (``task.loss``, the task object handed down)."""
    return LOSSES.get(task.loss if name == "auto" else name, where="train.loss")()
