"""The model protocol: what the engine reads from every model of the zoo.

Every registered constructor returns a ``Model``, an ``nn.Module`` that also declares, as plain
attributes and methods, the few facts the training loop, evaluation and the figures need. The engine
reads them directly; nothing probes a model with ``getattr`` and a fallback.

    threshold      binary classifiers with one logit: p(class 1) at which to say "1" (0.5)
    convex         the training loss is convex in the parameters (linear and logistic regression): only
                   then does "gradient descent has not converged" mean something, so only then it is said
    trace()        values recorded in history.csv after each epoch (w and b of a one-feature fit)
    fitted_line()  (w, b) of a one-feature linear model, drawn over the data; None for every other model
"""

from __future__ import annotations

from torch import nn


class Model(nn.Module):
    threshold: float = 0.5
    convex: bool = False

    def trace(self) -> dict[str, float]:
        return {}

    def fitted_line(self) -> tuple[float, float] | None:
        return None
