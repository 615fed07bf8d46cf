"""Whole models for inputs that are arrays: images (uint8 pixels) and sequences to classify (float values).

    pixels (N, C, S, S) uint8 -> x = pixels / 255 -> (x - mean_c) / std_c per channel -> network -> answer
    values (N, T, F) float32  -> (x - mean) / std -> network -> answer

A ten-crop run (``data.ten_crop``) takes (N, 10, C, S, S) and answers the probabilities averaged over the
crops (Krizhevsky et al. 2012, section 4.1).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dlnotes.export.answers import WholeModel


class ArrayModel(WholeModel):
    def __init__(self, network: nn.Module, pre: dict[str, Any], answer: nn.Module, graph_input: dict[str, Any]):
        """``graph_input``: the graph's input as ``dlnotes.inputs.contract`` describes it (uint8: pixels)."""
        super().__init__()
        self.network, self.answer, self.pixels = network, answer, graph_input["dtype"] == "uint8"
        rank = len(graph_input["shape"])
        self.crops = rank == 5
        shape = (1, -1, *([1] * (rank - 2))) if rank < 5 else (1, 1, -1, 1, 1)
        scaled = "x_mean" in pre
        self.register_buffer("mean", torch.tensor(pre["x_mean"] if scaled else 0.0, dtype=torch.float32).reshape(shape))
        self.register_buffer("std", torch.tensor(pre["x_std"] if scaled else 1.0, dtype=torch.float32).reshape(shape))

    def forward(self, x: torch.Tensor):
        x = x.to(torch.float32)
        if self.pixels:
            x = x / 255.0
        x = (x - self.mean) / self.std
        if not self.crops:
            return self.answer(self.network(x))
        n, k = x.shape[0], x.shape[1]
        probs = self.answer.probabilities(self.network(x.flatten(0, 1))).reshape(n, k, -1).mean(1)
        return probs, self.answer.label(probs)
