"""Fully connected networks: Linear -> activation (-> dropout) repeated, then an output layer.

Works on any input by flattening it first (tables, MNIST-1D, images).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dlnotes.constraints import Interval, Items
from dlnotes.nn.activations import activation as make_activation
from dlnotes.registry import MODELS


class MLP(nn.Module):
    def __init__(self, in_features: int, out_features: int, hidden_sizes=(128, 64), activation: str = "relu",
                 dropout: float = 0.0, slope: float = 0.01):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden_sizes:
            layers += [nn.Linear(width, h), make_activation(activation, slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@MODELS.register
def mlp(in_features: Annotated[int, Interval(1, None)] = 784, num_classes: Annotated[int, Interval(0, 100_000)] = 10,
        out_features: Annotated[int, Interval(1, 100_000)] = 1,
        hidden_sizes: Annotated[list, Items(int, Interval(1, 65_536), max_len=64)] = (128, 64),
        activation: Literal["sigmoid", "tanh", "relu", "leaky_relu"] = "relu",
        dropout: Annotated[float, Interval(0, 1, closed="left")] = 0.0, slope: Annotated[float, Interval(0, 1)] = 0.01) -> nn.Module:
    """Multilayer perceptron: hidden_sizes fully connected layers with an activation, then the output.

    ``num_classes`` 0 (regression) gives ``out_features`` outputs.
    """
    return MLP(in_features, num_classes if num_classes > 0 else out_features, [int(h) for h in hidden_sizes],
               activation, dropout, slope)
