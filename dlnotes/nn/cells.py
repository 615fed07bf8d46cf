"""Recurrent cells written from the notes' equations, with ``torch.nn``'s parameter layout.

Each cell keeps ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih`` and ``bias_hh`` (G*H,)
where G is the number of gates stacked in torch's order, so a state dict moves between
``RNNCell``/``LSTMCell``/``GRUCell`` here and ``torch.nn.RNNCell``/``LSTMCell``/``GRUCell`` unchanged.
``Recurrent`` stacks them into layers and directions with the names of ``torch.nn.RNN/LSTM/GRU``
(``weight_ih_l0``, ``weight_hh_l1_reverse``...), so a trained stack loads into the fused module too.

The step functions are plain functions of tensors: the cells call them one step at a time and
``Recurrent`` calls them along a sequence after projecting every input step at once.
"""

from __future__ import annotations

import math

import torch
from torch import nn

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def rnn_step(gx: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
             nonlinearity: str = "tanh") -> torch.Tensor:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh); ``gx`` is the input part W_ih x + b_ih."""
    pre = gx + _affine(h, w_hh, b_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor,
              b_hh: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM's gates, stacked (i, f, g, o) as in torch:

    i = sigma(W_ii x + b_ii + W_hi h + b_hi)      input gate: how much of the candidate to write
    f = sigma(W_if x + b_if + W_hf h + b_hf)      forget gate: how much of the old cell to keep
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)       candidate cell value
    o = sigma(W_io x + b_io + W_ho h + b_ho)      output gate: how much of the cell to show
    c' = f * c + i * g                            the cell state
    h' = o * tanh(c')
    """
    i, f, g, o = (gx + _affine(h, w_hh, b_hh)).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(gx: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None) -> torch.Tensor:
    """The GRU's gates, stacked (r, z, n) as in torch:

    r = sigma(W_ir x + b_ir + W_hr h + b_hr)         reset gate: how much of h the candidate sees
    z = sigma(W_iz x + b_iz + W_hz h + b_hz)         update gate: how much of h to keep
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))    candidate state
    h' = (1 - z) * n + z * h
    """
    xr, xz, xn = gx.chunk(3, dim=-1)
    hr, hz, hn = _affine(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)  # = (1 - z) * n + z * h


def _affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return torch.addmm(b, x, w.t()) if b is not None and x.dim() == 2 else nn.functional.linear(x, w, b)


def _init_uniform(params, hidden_size: int) -> None:
    """torch's initialisation for recurrent weights: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


class _Cell(nn.Module):
    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        g = GATES[self.mode]
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(g * hidden_size)) if bias else None
        _init_uniform(self.parameters(), hidden_size)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return _affine(x, self.weight_ih, self.bias_ih)

    def _zeros(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_Cell):
    """Elman cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or ReLU); same layout as ``torch.nn.RNNCell``."""

    mode = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self._zeros(x) if h is None else h
        return rnn_step(self._input(x), h, self.weight_hh, self.bias_hh, self.nonlinearity)


class LSTMCell(_Cell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    i = sigma(W_ii x + b_ii + W_hi h + b_hi),  f = sigma(W_if x + b_if + W_hf h + b_hf),
    g = tanh(W_ig x + b_ig + W_hg h + b_hg),   o = sigma(W_io x + b_io + W_ho h + b_ho),
    c' = f * c + i * g,  h' = o * tanh(c').  Same layout as ``torch.nn.LSTMCell`` (gates i, f, g, o).
    """

    mode = "lstm"

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        h, c = (self._zeros(x), self._zeros(x)) if state is None else state
        return lstm_step(self._input(x), h, c, self.weight_hh, self.bias_hh)


class GRUCell(_Cell):
    """Gated recurrent unit (Cho et al. 2014).

    r = sigma(W_ir x + b_ir + W_hr h + b_hr),  z = sigma(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h.
    Same layout as ``torch.nn.GRUCell`` (gates r, z, n).
    """

    mode = "gru"

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self._zeros(x) if h is None else h
        return gru_step(self._input(x), h, self.weight_hh, self.bias_hh)


class Recurrent(nn.Module):
    """Layers x directions of cells over a (batch, time, features) sequence, from the step functions.

    A drop-in for ``torch.nn.RNN/LSTM/GRU(batch_first=True)``: the same parameter names and shapes,
    the same ``(output, h_n)`` / ``(output, (h_n, c_n))`` result, dropout between layers. Each layer
    projects all its input steps in one matrix product; only the W_hh h part runs step by step.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh"):
        super().__init__()
        if mode not in GATES:
            raise ValueError(f"mode must be one of {sorted(GATES)}, got {mode!r}")
        if not batch_first:
            raise ValueError("Recurrent works on (batch, time, features): batch_first must be True")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.dropout = num_layers, bias, dropout
        self.bidirectional, self.nonlinearity, self.batch_first = bidirectional, nonlinearity, True
        g = GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * dirs
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", nn.Parameter(torch.empty(g, width)))
                setattr(self, f"weight_hh{suffix}", nn.Parameter(torch.empty(g, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih{suffix}", nn.Parameter(torch.empty(g)))
                    setattr(self, f"bias_hh{suffix}", nn.Parameter(torch.empty(g)))
        _init_uniform(self.parameters(), hidden_size)

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def _params(self, suffix: str):
        get = lambda n: getattr(self, f"{n}{suffix}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _direction(self, x: torch.Tensor, suffix: str, reverse: bool, h0, c0):
        w_ih, w_hh, b_ih, b_hh = self._params(suffix)
        gx = nn.functional.linear(x, w_ih, b_ih)  # every step's input projection at once: (B, T, G*H)
        steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        h, c, outs = h0, c0, [None] * x.shape[1]
        for t in steps:
            if self.mode == "lstm":
                h, c = lstm_step(gx[:, t], h, c, w_hh, b_hh)
            elif self.mode == "gru":
                h = gru_step(gx[:, t], h, w_hh, b_hh)
            else:
                h = rnn_step(gx[:, t], h, w_hh, b_hh, self.nonlinearity)
            outs[t] = h
        return torch.stack(outs, dim=1), h, c

    def forward(self, x: torch.Tensor, state=None):
        dirs = 2 if self.bidirectional else 1
        n = self.num_layers * dirs
        zeros = x.new_zeros(n, x.shape[0], self.hidden_size)
        if self.mode == "lstm":
            h0, c0 = state if state is not None else (zeros, zeros)
        else:
            h0, c0 = (state if state is not None else zeros), zeros
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                k = layer * dirs + d
                out, h, c = self._direction(x, suffix, d == 1, h0[k], c0[k])
                outs.append(out)
                hs.append(h)
                cs.append(c)
            x = torch.cat(outs, dim=-1) if dirs == 2 else outs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = nn.functional.dropout(x, self.dropout, training=True)
        h_n = torch.stack(hs)
        return (x, (h_n, torch.stack(cs))) if self.mode == "lstm" else (x, h_n)

    def extra_repr(self) -> str:
        s = f"{self.mode}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        return s + (", bidirectional=True" if self.bidirectional else "")
