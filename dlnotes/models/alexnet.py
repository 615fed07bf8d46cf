"""AlexNet as in Krizhevsky, Sutskever & Hinton (2012), "ImageNet classification with deep
convolutional neural networks" (NIPS), not torchvision's "one weird trick" variant:

    conv1 96@11x11/4 (pad 2) - ReLU - LRN - maxpool 3/2
    conv2 256@5x5 (pad 2)    - ReLU - LRN - maxpool 3/2
    conv3 384@3x3, conv4 384@3x3, conv5 256@3x3 (pad 1) - ReLU each - maxpool 3/2
    fc 4096 - ReLU - dropout 0.5 - fc 4096 - ReLU - dropout 0.5 - fc classes

LRN uses the paper's k = 2, n = 5, alpha = 1e-4, beta = 0.75 (section 3.3); pooling overlaps
(3x3 windows, stride 2; section 3.4). ``groups: 2`` is the paper's network as trained: conv2, conv4
and conv5 split into two halves that see only their own half of the previous layer, as on its two
GPUs (60,965,224 parameters at 224x224x3 and 1,000 classes). The default ``groups: 1`` is the
single-device equivalent that needs no split, and its 62,378,344 parameters are the count usually
quoted for AlexNet; the feature maps are 55, 27, 13, 6 either way.
``width`` scales every channel count and the fully connected size, so a small AlexNet trains on CPU.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dlnotes.models.base import Model
from dlnotes.constraints import Interval
from dlnotes.nn.conv import conv_output_size
from dlnotes.nn.lrn import LocalResponseNorm
from dlnotes.registry import MODELS


class AlexNet(Model):
    def __init__(self, in_channels: int = 3, num_classes: int = 1000, image_size: int = 224, groups: int = 1,
                 width: float = 1.0, dropout: float = 0.5):
        super().__init__()
        c = [max(groups, int(round(ch * width / groups)) * groups) for ch in (96, 256, 384, 384, 256)]
        fc = max(1, int(round(4096 * width)))
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c[0], kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(c[0], c[1], kernel_size=5, padding=2, groups=groups), nn.ReLU(inplace=True),
            LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(c[1], c[2], kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], kernel_size=3, padding=1, groups=groups), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], kernel_size=3, padding=1, groups=groups), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        n = image_size
        for k, p, s in ((11, 2, 4), (3, 0, 2), (5, 2, 1), (3, 0, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 0, 2)):
            n = conv_output_size(n, k, p, s)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(c[4] * max(n, 1) ** 2, fc), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(fc, fc), nn.ReLU(inplace=True),
            nn.Linear(fc, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register
def alexnet(in_channels: Annotated[int, Interval(1, 256)] = 3, num_classes: Annotated[int, Interval(2, 100_000)] = 1000,
            image_size: Annotated[int, Interval(1, 1024)] = 224, groups: Literal[1, 2] = 1,
            width: Annotated[float, Interval(0, 4, closed="right")] = 1.0,
            dropout: Annotated[float, Interval(0, 1, closed="left")] = 0.5) -> nn.Module:
    """AlexNet (Krizhevsky et al. 2012): 5 conv layers with LRN and overlapping pooling, 3 FC layers."""
    return AlexNet(in_channels, num_classes, image_size, groups, width, dropout)
