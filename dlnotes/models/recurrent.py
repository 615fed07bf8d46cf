"""Recurrent networks: RNN, LSTM and GRU over (batch, time, features) sequences.

``impl: fused`` uses ``torch.nn.RNN/LSTM/GRU`` (cuDNN on a GPU); ``impl: scratch`` uses the cells of
``dlnotes.nn.cells`` written from the gate equations. Both keep the recurrent layers under the name
``rnn`` with torch's parameter names, so a run trained with one loads into the other.

Heads: a classifier or forecaster reads the sequence through ``head`` (``last``: the final hidden
state of each direction; ``mean``/``max``: pooled over time; ``flatten``: every step's state, as the
MNIST-1D paper's GRU), then one linear layer to ``num_classes`` logits or ``horizon`` future values.
With ``vocab_size`` > 0 the network is a character-level language model: an embedding in, a
prediction of the next token at every step out.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import nn

from dlnotes.models.base import Model
from dlnotes.constraints import Interval
from dlnotes.nn.cells import Recurrent
from dlnotes.registry import MODELS

FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentNet(Model):
    def __init__(self, mode: str, input_size: int, out_features: int, hidden_size: int, num_layers: int,
                 bidirectional: bool, dropout: float, head: str, impl: str, seq_len: int = 0,
                 vocab_size: int = 0, embed_dim: int = 32, nonlinearity: str = "tanh"):
        super().__init__()
        self.mode, self.head, self.language = mode, head, vocab_size > 0
        self.embed = nn.Embedding(vocab_size, embed_dim) if self.language else None
        width_in = embed_dim if self.language else input_size
        kwargs = dict(num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
                      dropout=dropout if num_layers > 1 else 0.0)
        if mode == "rnn":
            kwargs["nonlinearity"] = nonlinearity
        if impl == "fused":
            self.rnn = FUSED[mode](width_in, hidden_size, **kwargs)
        else:
            self.rnn = Recurrent(mode, width_in, hidden_size, **kwargs)
        width = hidden_size * (2 if bidirectional else 1)
        if head == "flatten" and not self.language:
            width *= seq_len
        self.fc = nn.Linear(width, vocab_size if self.language else out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.language:
            return self.fc(self.rnn(self.embed(x))[0])  # (B, T, vocab): the next token at every step
        if x.dim() == 2:  # (B, T): one feature per step
            x = x.unsqueeze(-1)
        out, state = self.rnn(x)
        if self.head == "last":
            h_n = state[0] if isinstance(state, tuple) else state
            dirs = 2 if self.rnn.bidirectional else 1
            feats = h_n[-dirs:].transpose(0, 1).flatten(1)  # the top layer's final state, each direction
        elif self.head == "mean":
            feats = out.mean(dim=1)
        elif self.head == "max":
            feats = out.amax(dim=1)
        else:
            feats = out.flatten(1)
        return self.fc(feats)


def recurrent(mode: Literal["rnn", "lstm", "gru"], input_size: Annotated[int, Interval(1, 65_536)] = 1,
              num_classes: Annotated[int, Interval(0, 100_000)] = 0, horizon: Annotated[int, Interval(1, 100_000)] = 1,
              vocab_size: Annotated[int, Interval(0, 1_000_000)] = 0, seq_len: Annotated[int, Interval(0, 1_000_000)] = 0,
              hidden_size: Annotated[int, Interval(1, 65_536)] = 64, num_layers: Annotated[int, Interval(1, 64)] = 1,
              bidirectional: bool = False, dropout: Annotated[float, Interval(0, 1, closed="left")] = 0.0,
              head: Literal["last", "mean", "max", "flatten"] = "last", impl: Literal["fused", "scratch"] = "fused",
              embed_dim: Annotated[int, Interval(1, 65_536)] = 32,
              nonlinearity: Literal["tanh", "relu"] = "tanh") -> RecurrentNet:
    """A recurrent network: classifier, forecaster or language model (``rnn``, ``lstm``, ``gru`` below).

    Args:
        input_size: features per step (from the data).
        num_classes: classes to predict (from the data; 0 for forecasting).
        horizon: values to forecast per window (from the data).
        vocab_size: characters of a text dataset; > 0 makes a language model.
        seq_len: steps per window (from the data; head flatten needs it).
        hidden_size: units of each recurrent layer.
        num_layers: stacked recurrent layers.
        bidirectional: also read each sequence backwards (not for language models).
        dropout: between stacked layers.
        head: how a classifier or forecaster reads the sequence: last, mean, max or flatten.
        impl: fused (torch's nn.RNN/LSTM/GRU, cuDNN on a GPU) or scratch (dlnotes.nn.cells).
        embed_dim: size of a language model's character embeddings.
        nonlinearity: rnn only: tanh or relu.
    """
    if vocab_size > 0 and bidirectional:
        raise ValueError("a language model reads left to right: bidirectional must be false for text")
    if head == "flatten" and vocab_size == 0 and seq_len < 1:
        raise ValueError("head 'flatten' needs the sequence length (seq_len), which the data provides")
    out = num_classes if num_classes > 0 else horizon
    return RecurrentNet(mode, input_size, out, hidden_size, num_layers, bidirectional, dropout, head, impl,
                        seq_len, vocab_size, embed_dim, nonlinearity)


rnn = MODELS.variant(recurrent, "rnn", doc="Elman RNN, h_t = tanh(W_ih x_t + W_hh h_{t-1} + b): classifier, "
                     "forecaster or language model.", mode="rnn")
lstm = MODELS.variant(recurrent, "lstm", doc="LSTM: input, forget and output gates around a cell state; "
                      "classifier, forecaster or language model.", mode="lstm", nonlinearity="tanh")
gru = MODELS.variant(recurrent, "gru", doc="GRU: update and reset gates, no separate cell; classifier, "
                     "forecaster or language model.", mode="gru", nonlinearity="tanh")
