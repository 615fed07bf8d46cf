"""Which features a model on a table uses.

Linear and logistic regression: the score is a sum over features, y^c = sum_i w_ci x_i + b_c, so each
feature's contribution to one prediction is exactly w_ci x_i (x as the model sees it: standardised,
one-hot), and the contributions and the bias add up to the score (a logit for logistic regression;
a binary model's one logit counts for class 1 and against class 0).

Other models: permutation importance (Breiman 2001; scikit-learn's ``permutation_importance``, used
as it is): how much the test score drops when one feature's column is shuffled, breaking its link to
the target while keeping its distribution, averaged over ``repeats`` shuffles.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn


def is_linear(model: nn.Module) -> bool:
    """Linear or logistic regression (``dlnotes.models.regression``): a score that is a sum over features."""
    from dlnotes.models.regression import LinearRegression, LogisticRegression

    return isinstance(model, (LinearRegression, LogisticRegression))


def contributions(model: nn.Module, x: torch.Tensor, target: int) -> tuple[np.ndarray, float]:
    """w_ci x_i for each row of ``x`` (N, F) and output ``target`` (a class, or a regression output),
    and the bias b_c: ``contrib.sum(1) + bias`` is the model's score."""
    from dlnotes.models.regression import LogisticRegression

    if not is_linear(model):
        raise ValueError(f"{type(model).__name__} is not a linear model; use permutation importance")
    w, b = model.linear.weight.detach(), model.linear.bias.detach()
    x = x.detach().flatten(1).to(w.dtype)
    row = 0 if w.shape[0] == 1 else target
    sign = -1.0 if isinstance(model, LogisticRegression) and w.shape[0] == 1 and target == 0 else 1.0
    return (sign * x * w[row]).cpu().numpy(), float(sign * b[row])


class _Trained:
    """scikit-learn asks for an estimator with ``fit``; the model is trained already."""

    def fit(self, x, y):
        return self


def permutation_importance(score: Callable[[np.ndarray, np.ndarray], float], x: np.ndarray, y: np.ndarray,
                           repeats: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over ``repeats`` shuffles of score(x, y) - score(x with column i
    shuffled, y), per column; ``score`` is higher for better predictions."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    found = sk_permutation_importance(_Trained(), x, y, scoring=lambda est, a, b: score(a, b), n_repeats=repeats,
                                      random_state=seed)
    return found.importances_mean, found.importances_std
