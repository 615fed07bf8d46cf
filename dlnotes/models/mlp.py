"""Fully connected networks: Linear -> activation (-> dropout) repeated, then an output layer.

Works on any input by flattening it first (tables, MNIST-1D, images).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

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
def mlp(in_features: int = 784, num_classes: int = 10, out_features: int = 1, hidden_sizes: list = (128, 64),
        activation: Literal["sigmoid", "tanh", "relu", "leaky_relu"] = "relu", dropout: float = 0.0,
        slope: float = 0.01) -> nn.Module:
    """Multilayer perceptron: hidden_sizes fully connected layers with an activation, then the output."""
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if any(int(h) < 1 for h in hidden_sizes):
        raise ValueError("hidden_sizes must all be >= 1")
    return MLP(in_features, num_classes if num_classes > 0 else out_features, [int(h) for h in hidden_sizes],
               activation, dropout, slope)
