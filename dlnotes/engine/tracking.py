"""What training does to each layer (``train.track_gradients: true``): history.csv columns per epoch.

    grad_norm.<layer>   the mean over the epoch's steps of ||dL/dW||_2, the gradient of the layer's weight
                        (Frobenius norm, before clipping, unscaled under fp16), for every weight of two or
                        more dimensions, in model order (input to output)
    dead_relu.<layer>   the fraction of a ReLU's units (each output element: channel x position) that gave
                        0 for every training example of the epoch: no gradient flows through them
    saturated.<layer>   the fraction of a sigmoid's outputs below 0.01 or above 0.99 (its derivative
                        sigma (1 - sigma) < 0.01), or of a tanh's with |tanh| > 0.99 (1 - tanh^2 < 0.02)

A deep sigmoid network shows the vanishing gradient here: each layer multiplies the gradient going back
by sigma' <= 1/4 times its weights, so the first layer's norm is a small fraction of the last's
(``configs/mlp_sigmoid_deep_digits.yaml`` against its ReLU twin). Only training passes count
(``module.training``); every number stays on the device until the epoch's one read.
"""

from __future__ import annotations

import torch
from torch import nn

RELU = ("ReLU",)
SQUASHING = {"Sigmoid": (0.01, 0.99), "Tanh": (-0.99, 0.99)}  # outside (low, high) is saturated


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(layer name, weight) for every weight of 2+ dimensions, in model order: ``net.1`` for
    ``net.1.weight``; a recurrent weight keeps its own name (``rnn.weight_ih_l0``)."""
    return [(name.removesuffix(".weight"), p) for name, p in model.named_parameters()
            if p.dim() >= 2 and p.requires_grad and name.rsplit(".", 1)[-1].startswith("weight")]


class GradientTracker:
    """Per-epoch gradient norms and activation statistics of ``model``: call ``after_backward`` after each
    backward pass and ``epoch_row`` at the end of each epoch (its history.csv columns)."""

    def __init__(self, model: nn.Module):
        self.weights = weight_layers(model)
        self.activations = [(n, m) for n, m in model.named_modules()
                            if n and type(m).__name__ in RELU + tuple(SQUASHING) and not list(m.children())]
        self._handles = [m.register_forward_hook(self._hook(n, type(m).__name__)) for n, m in self.activations]
        self._reset()

    def _reset(self) -> None:
        self.norms: torch.Tensor | float = 0.0
        self.steps = 0
        self.alive: dict[str, torch.Tensor] = {}  # ReLU: whether each unit was ever > 0 this epoch
        self.saturated: dict[str, list] = {}  # sigmoid/tanh: [saturated count, outputs seen]

    def _hook(self, name: str, kind: str):
        def record(module, args, out):
            if not module.training or not torch.is_tensor(out):
                return
            with torch.no_grad():
                if kind in RELU:
                    fired = (out > 0).flatten(1).any(0) if out.dim() > 1 else (out > 0).reshape(1)
                    seen = self.alive.get(name)
                    self.alive[name] = fired if seen is None or seen.shape != fired.shape else seen | fired
                else:
                    low, high = SQUASHING[kind]
                    count = self.saturated.setdefault(name, [0, 0])
                    count[0] = count[0] + ((out < low) | (out > high)).sum()
                    count[1] += out.numel()
        return record

    def after_backward(self, scaler=None) -> None:
        """Adds this step's weight-gradient norms (divided by the fp16 loss scale, when one is in use)."""
        grads = [p.grad for _, p in self.weights]
        norms = torch.stack([torch.linalg.vector_norm(g.float()) if g is not None else
                             torch.zeros((), device=p.device) for g, (_, p) in zip(grads, self.weights)])
        if scaler is not None and scaler.is_enabled():
            norms = norms / scaler.get_scale()
        self.norms = self.norms + norms
        self.steps += 1

    def epoch_row(self) -> dict[str, float]:
        """``grad_norm.*``, ``dead_relu.*``, ``saturated.*`` for the epoch just trained; starts the next."""
        row: dict[str, float] = {}
        if self.steps and self.weights:
            mean = (self.norms / self.steps).tolist()
            row.update({f"grad_norm.{name}": v for (name, _), v in zip(self.weights, mean)})
        for name, _ in self.activations:
            if name in self.alive:
                row[f"dead_relu.{name}"] = 1.0 - float(self.alive[name].float().mean())
            elif name in self.saturated and self.saturated[name][1]:
                count, total = self.saturated[name]
                row[f"saturated.{name}"] = float(count) / total
        self._reset()
        return row

    def close(self) -> None:
        for h in self._handles:
            h.remove()
