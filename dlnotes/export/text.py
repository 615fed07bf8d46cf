"""The whole language model: a window of character indices in, the next character's probabilities out.

    ids (N, seq_len) int64 -> network -> logits of the last step (N, V) -> softmax

Sampling a continuation asks it again for every new character, on the window moved by one.
"""

from __future__ import annotations

import torch
from torch import nn

from dlnotes.export.answers import WholeModel


class TextModel(WholeModel):
    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.network(ids)[:, -1].float(), dim=-1)
