"""Metrics of the notes, from the confusion matrix (TP, TN, FP, FN) and from residuals.

Classification, for each class c: precision = TP / (TP + FP), recall = TP / (TP + FN),
F1 = 2 * precision * recall / (precision + recall), accuracy = (TP + TN) / all. Two classes report
the positive class (label 1), more classes the macro average (mean over classes), as scikit-learn's
``average='binary'`` and ``average='macro'``; a ratio with a zero denominator is 0.
Regression: mse = mean (y_hat - y)^2, mae = mean |y_hat - y|, r2 = 1 - SS_res / SS_tot.
"""

from __future__ import annotations

import torch


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """cm[i, j] = how many samples of true class i were predicted as j (computed on the device)."""
    idx = target.reshape(-1).long() * num_classes + pred.reshape(-1).long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))


def classification_metrics(cm: torch.Tensor) -> dict:
    cm = cm.double().cpu()
    tp = cm.diag()
    fp = cm.sum(0) - tp  # predicted c, truly another class
    fn = cm.sum(1) - tp  # truly c, predicted another class
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    if len(cm) == 2:
        p, r, f = precision[1], recall[1], f1[1]
    else:
        p, r, f = precision.mean(), recall.mean(), f1.mean()
    return {
        "accuracy": (tp.sum() / cm.sum().clamp_min(1)).item(),
        "precision": p.item(),
        "recall": r.item(),
        "f1": f.item(),
        "confusion_matrix": cm.long().tolist(),
    }


def regression_metrics(pred: torch.Tensor, target: torch.Tensor, with_r2: bool = True) -> dict:
    pred, target = pred.double().reshape(target.shape), target.double()
    err = pred - target
    out = {"mse": err.pow(2).mean().item(), "mae": err.abs().mean().item()}
    if with_r2:
        ss_res = err.pow(2).sum(0)
        ss_tot = (target - target.mean(0)).pow(2).sum(0)
        out["r2"] = (1 - ss_res / ss_tot.clamp_min(1e-300)).mean().item()
    return out


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities: softmax over K logits, or [1 - sigma(z), sigma(z)] for one binary logit."""
    if logits.shape[-1] == 1:
        p = torch.sigmoid(logits.float())
        return torch.cat([1 - p, p], dim=-1)
    return torch.softmax(logits.float(), dim=-1)


def labels(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Predicted classes: argmax, or p(class 1) >= threshold for binary problems."""
    probs = probabilities(logits)
    if probs.shape[-1] == 2:
        return (probs[..., 1] >= threshold).long()
    return probs.argmax(-1)
