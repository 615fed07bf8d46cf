"""The last layer of every whole model: a network's raw outputs as the answers ``dlnotes predict`` gives
(and ``WholeModel``, the whole models' base).

    classification  probabilities = softmax(z), or [1 - sigma(z), sigma(z)] for one binary logit;
                    label = argmax, or p(class 1) >= the model's threshold for two classes
    regression      y = z * y_std + y_mean: the training targets' standardisation undone, in their units
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class WholeModel(nn.Module):
    """A network with its preprocessing and answer layer: what an exported file holds. ``by_name``: forward
    takes the dict of its named inputs (tables), not its one input tensor."""

    by_name = False


class ClassAnswer(nn.Module):
    """(probabilities (N, K) float32, label (N,) int64) from logits (N, K) or (N, 1)."""

    def __init__(self, threshold: float = 0.5):
        super().__init__()
        self.threshold = float(threshold)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] == 1:
            p = torch.sigmoid(logits.float())
            return torch.cat([1 - p, p], dim=-1)
        return torch.softmax(logits.float(), dim=-1)

    def label(self, probs: torch.Tensor) -> torch.Tensor:
        if probs.shape[-1] == 2:
            return (probs[:, 1] >= self.threshold).to(torch.int64)
        return probs.argmax(-1)

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self.probabilities(logits)
        return probs, self.label(probs)


class ValueAnswer(nn.Module):
    """Values (N, K) float32 in the targets' units."""

    def __init__(self, pre: dict[str, Any]):
        super().__init__()
        scaled = "y_mean" in pre
        self.register_buffer("mean", torch.tensor(pre["y_mean"] if scaled else [0.0], dtype=torch.float32))
        self.register_buffer("std", torch.tensor(pre["y_std"] if scaled else [1.0], dtype=torch.float32))

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        out = out.float()
        return out.reshape(out.shape[0], -1) * self.std + self.mean


def answer(task: str, pre: dict[str, Any], threshold: float) -> nn.Module:
    """The answer layer of ``task`` (classification or regression)."""
    return {"classification": lambda: ClassAnswer(threshold), "regression": lambda: ValueAnswer(pre)}[task]()
