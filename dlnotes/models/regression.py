"""Chapters 1-2 of the notes: linear regression and logistic regression.

Linear regression predicts y_hat = X w + b and is fitted three ways (``train.solver``): ``grid``
(exhaustive search over (w, b)), ``least_squares`` (set the partial derivatives of the squared error to zero
and solve the normal equations) and ``gd`` (gradient descent). Logistic regression predicts
p = sigma(X w + b) (softmax for several classes) and learns by the cross-entropy's gradient.

With ``train.gradient: manual`` the linear map is ``DerivedLinear``, an autograd Function whose
backward is the derived rule dL/dw = X^T dL/dy_hat, dL/db = sum dL/dy_hat, so an SGD step is the
notes' update w <- w - lr * dL/dw, b <- b - lr * dL/db with no graph through the linear layer.
``manual_gradients`` states the whole formula for each loss (tests check both against autograd).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dlnotes.constraints import Interval
from dlnotes.models.base import Model
from dlnotes.registry import MODELS


class DerivedLinear(torch.autograd.Function):
    """y_hat = X w^T + b forward; backward by the notes' derivation instead of autograd's graph:

        dL/dw = (dL/dy_hat)^T X,   dL/db = sum_i dL/dy_hat_i,   (dL/dX is not needed: X is data)

    With the squared error L = 1/n sum (y_hat - y)^2 the incoming dL/dy_hat is 2/n (y_hat - y), which
    gives dL/dw = 2/n X^T (y_hat - y); with the cross-entropy of sigma(z) or softmax(z) it is
    1/n (p - y), which gives dL/dw = 1/n X^T (p - y): the w/b update rules of the notes.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        return None, grad_out.T @ x, grad_out.sum(0)


class _Linear(Model):
    """Shared by both models: ``linear`` (torch's layout) applied with autograd or the derived rule."""

    convex = True  # one minimum, so "gradient descent has not converged yet" means something (the trainer warns)

    def __init__(self, in_features: int, out_features: int, gradient: str):
        super().__init__()
        self.gradient = gradient
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.gradient == "manual" and torch.is_grad_enabled():
            return DerivedLinear.apply(x, self.linear.weight, self.linear.bias)
        return self.linear(x)


class LinearRegression(_Linear):
    """y_hat = X w + b; loss L = 1/n sum (y_hat - y)^2."""

    def __init__(self, in_features: int, out_features: int = 1, gradient: str = "autograd"):
        super().__init__(in_features, out_features, gradient)

    def manual_gradients(self, x: torch.Tensor, y: torch.Tensor, y_hat: torch.Tensor) -> None:
        """dL/dw = 2/n X^T (y_hat - y),  dL/db = 2/n sum (y_hat - y)   (L the mean over all outputs)."""
        x = x.flatten(1)
        err = (y_hat - y.reshape(y_hat.shape)) * (2.0 / y_hat.numel())
        self.linear.weight.grad = err.T @ x
        self.linear.bias.grad = err.sum(0)

    def fitted_line(self) -> tuple[float, float] | None:
        """(w, b) when there is one of each (one feature, one output)."""
        if self.linear.weight.numel() != 1:
            return None
        return self.linear.weight.item(), self.linear.bias.item()

    def trace(self) -> dict[str, float]:
        """(w, b) after each epoch when there is one of each: the path gradient descent takes."""
        line = self.fitted_line()
        return {} if line is None else {"w": line[0], "b": line[1]}


class LogisticRegression(_Linear):
    """Binary: p = sigma(x w + b), one logit. Several classes: p = softmax(x W^T + b).

    ``forward`` returns the logits; the loss applies sigmoid / softmax.
    """

    def __init__(self, in_features: int, num_classes: int = 2, threshold: float = 0.5, gradient: str = "autograd"):
        super().__init__(in_features, 1 if num_classes == 2 else num_classes, gradient)
        self.num_classes, self.threshold = num_classes, threshold

    def manual_gradients(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> None:
        """Cross-entropy gradients: dL/dw = 1/n X^T (p - y), dL/db = 1/n sum (p - y), y one-hot for several classes."""
        x = x.flatten(1)
        if self.num_classes == 2:
            err = torch.sigmoid(logits) - y.reshape(-1, 1).to(logits.dtype)
        else:
            err = torch.softmax(logits, dim=1) - nn.functional.one_hot(y, self.num_classes).to(logits.dtype)
        err = err / len(x)
        self.linear.weight.grad = err.T @ x
        self.linear.bias.grad = err.sum(0)


@MODELS.register
def linear_regression(in_features: Annotated[int, Interval(1, None)] = 1,
                      out_features: Annotated[int, Interval(1, 100_000)] = 1,
                      gradient: Literal["autograd", "manual"] = "autograd") -> nn.Module:
    """Linear regression y = Xw + b, solved by grid search, least squares or gradient descent."""
    return LinearRegression(in_features, out_features, gradient)


@MODELS.register
def logistic_regression(in_features: Annotated[int, Interval(1, None)] = 2,
                        num_classes: Annotated[int, Interval(2, 100_000)] = 2,
                        threshold: Annotated[float, Interval(0, 1, closed="neither")] = 0.5,
                        gradient: Literal["autograd", "manual"] = "autograd") -> nn.Module:
    """Logistic regression: sigmoid (2 classes) or softmax, trained on the cross-entropy."""
    return LogisticRegression(in_features, num_classes, threshold, gradient)
