"""Fully connected networks: Linear -> activation (-> dropout) repeated, then an output layer.

Works on any input by flattening it first (tables, MNIST-1D, images). On tables, categories with
many levels can enter as learned embeddings (Guo & Berkhahn 2016, "Entity embeddings of categorical
variables"): the last ``len(categories)`` input columns are integer codes (0 = a level not seen in
training), each looked up in its own table of min(50, (levels + 1) // 2)-dimensional vectors, the
size rule of fast.ai's early tabular models, and concatenated with the other inputs.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dlnotes.models.base import Model
from dlnotes.constraints import Interval, Items
from dlnotes.nn.activations import activation as make_activation
from dlnotes.registry import MODELS


def embedding_size(levels: int) -> int:
    return max(1, min(50, (levels + 1) // 2))


class MLP(Model):
    def __init__(self, in_features: int, out_features: int, hidden_sizes=(128, 64), activation: str = "relu",
                 dropout: float = 0.0, slope: float = 0.01, categories=()):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(int(n), embedding_size(int(n))) for n in categories)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features + sum(e.embedding_dim for e in self.embeddings)
        for h in hidden_sizes:
            layers += [nn.Linear(width, h), make_activation(activation, slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.embeddings):  # tables: (N, F) with the codes last
            k = len(self.embeddings)
            codes = x[:, -k:].long()
            # codes outside a table (e.g. export's random example batch) read the unknown slot's neighbours
            looked = [e(codes[:, i].clamp(0, e.num_embeddings - 1)) for i, e in enumerate(self.embeddings)]
            x = torch.cat([x[:, :-k], *looked], dim=1)
        return self.net(x)


@MODELS.register
def mlp(in_features: Annotated[int, Interval(1, None)] = 784, num_classes: Annotated[int, Interval(0, 100_000)] = 10,
        out_features: Annotated[int, Interval(1, 100_000)] = 1,
        hidden_sizes: Annotated[list, Items(int, Interval(1, 65_536), max_len=64)] = (128, 64),
        activation: Literal["sigmoid", "tanh", "relu", "leaky_relu"] = "relu",
        dropout: Annotated[float, Interval(0, 1, closed="left")] = 0.0, slope: Annotated[float, Interval(0, 1)] = 0.01,
        embed_categories: Literal["auto", "all", "none"] = "auto", categories: list = ()) -> nn.Module:
    """Multilayer perceptron: hidden_sizes fully connected layers with an activation, then the output.

    ``num_classes`` 0 (regression) gives ``out_features`` outputs. ``embed_categories`` (tables): ``auto``
    embeds the categories with more than ``data.one_hot_max`` levels, ``all`` every category, ``none`` none
    (all one-hot). ``categories`` (from the data) are the embedding tables' sizes.
    """
    return MLP(in_features, num_classes if num_classes > 0 else out_features, [int(h) for h in hidden_sizes],
               activation, dropout, slope, [int(n) for n in categories])
