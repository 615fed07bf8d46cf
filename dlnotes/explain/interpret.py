"""A classifier's worst mistakes, from the outputs its test already produced (fastai's
``ClassificationInterpretation``: ``top_losses`` and ``most_confused``); nothing is run again.

    loss_n = -log p_n(y_n)      the cross-entropy of example n: large when the model was sure and wrong
    top losses                  the examples with the largest loss_n, with their true and predicted class
                                and the probability the model gave its prediction
    most confused               the off-diagonal cells of the confusion matrix, largest first:
                                (true class, predicted class, how many test examples)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def example_losses(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-log p(y) per example, from logits (K outputs) or one binary logit, in log space (never inf - inf)."""
    outputs, y = outputs.float().cpu(), y.reshape(-1).long().cpu()
    if outputs.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(outputs[:, 0], y.float(), reduction="none")
    return F.cross_entropy(outputs, y, reduction="none")


@dataclass
class TopLosses:
    index: torch.Tensor  # positions in the test split, largest loss first
    loss: torch.Tensor
    truth: torch.Tensor
    predicted: torch.Tensor
    probability: torch.Tensor  # of the predicted class


def top_losses(outputs: torch.Tensor, y: torch.Tensor, k: int = 25, threshold: float = 0.5) -> TopLosses:
    """The ``k`` test examples with the largest loss (ties: the earlier example first)."""
    from dlnotes.engine.metrics import labels, probabilities

    loss = example_losses(outputs, y)
    index = torch.sort(loss, descending=True, stable=True).indices[:k]
    probs = probabilities(outputs.float().cpu())[index]
    pred = labels(outputs.float().cpu(), threshold)[index]
    return TopLosses(index, loss[index], y.reshape(-1).long().cpu()[index], pred,
                     probs.gather(1, pred.reshape(-1, 1)).squeeze(1))


def most_confused(cm: list[list[int]], classes: list[str], limit: int = 10) -> list[dict]:
    """The most frequent mistakes: ``[{"true", "predicted", "count"}]``, largest count first (ties in
    the order of the classes), at most ``limit``, none with a count of 0."""
    pairs = [(-n, i, j) for i, row in enumerate(cm) for j, n in enumerate(row) if i != j and n > 0]
    name = (lambda c: classes[c]) if len(classes) == len(cm) else str
    return [{"true": name(i), "predicted": name(j), "count": -n} for n, i, j in sorted(pairs)[:limit]]
