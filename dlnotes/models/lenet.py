"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition").

Two convolution + subsampling stages (6 and 16 maps, 5x5 kernels) and three fully connected layers
(120, 84, classes). The paper used sigmoid-like squashing and average pooling; the modern variant
uses ReLU and max pooling. As in d2l, the first convolution pads by 2 so a 28x28 image behaves like
the paper's 32x32 input.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dlnotes.models.base import Model
from dlnotes.constraints import Interval
from dlnotes.nn.activations import activation as make_activation
from dlnotes.nn.conv import conv_output_size
from dlnotes.registry import MODELS


class LeNet(Model):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 activation: str = "sigmoid", pool: str = "avg"):
        super().__init__()
        Pool = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), make_activation(activation), Pool(2, 2),
            nn.Conv2d(6, 16, kernel_size=5), make_activation(activation), Pool(2, 2),
        )
        n = image_size
        for k, p, s in ((5, 2, 1), (2, 0, 2), (5, 0, 1), (2, 0, 2)):
            n = conv_output_size(n, k, p, s)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * max(n, 1) ** 2, 120), make_activation(activation),
            nn.Linear(120, 84), make_activation(activation),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register
def lenet(in_channels: Annotated[int, Interval(1, 256)] = 1, num_classes: Annotated[int, Interval(2, 100_000)] = 10,
          image_size: Annotated[int, Interval(1, 1024)] = 28,
          activation: Literal["sigmoid", "tanh", "relu", "leaky_relu"] = "sigmoid",
          pool: Literal["avg", "max"] = "avg") -> nn.Module:
    """LeNet-5 (LeCun 1998): conv 6@5x5, pool, conv 16@5x5, pool, fc 120, fc 84, fc classes."""
    return LeNet(in_channels, num_classes, image_size, activation, pool)
