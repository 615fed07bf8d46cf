"""What a recurrent layer does over a sequence: the LSTM's and GRU's gates, the cell and the hidden state
at every step, from the notes' equations (``dlnotes.nn.cells``) run with the model's own weights.

    LSTM  i = sigma(.), f = sigma(.), g = tanh(.), o = sigma(.);  c' = f c + i g;  h' = o tanh(c')
    GRU   r = sigma(.), z = sigma(.), n = tanh(W_in x + b_in + r (W_hn h + b_hn));  h' = (1 - z) n + z h
    RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)   (no gates: the hidden state only)

Keys (each layers x time x hidden; a bidirectional layer gives two rows, forward then backward):
``gate_input``, ``gate_forget``, ``gate_output``, ``candidate``, ``cell`` (LSTM); ``gate_reset``,
``gate_update``, ``candidate`` (GRU); ``hidden`` for all three. A fused model (``impl: fused``,
torch's cuDNN kernels) is first run as the scratch ``dlnotes.nn.cells.Recurrent`` with the same weights
and the two outputs are checked equal; the recorded states are then checked against the model's own
output, so the pictures show what the model computed, not a re-derivation that might differ.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlnotes.errors import RunFailure
from dlnotes.nn.cells import Recurrent

TOLERANCE = 1e-5  # largest difference allowed between the recorded states and the model's own


def mode_of(rnn: nn.Module) -> str:
    """``lstm``, ``gru`` or ``rnn`` for torch's fused modules and for ``dlnotes.nn.cells.Recurrent``."""
    if isinstance(rnn, Recurrent):
        return rnn.mode
    return {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}[type(rnn)]


def as_scratch(rnn: nn.Module) -> Recurrent:
    """The scratch ``Recurrent`` with ``rnn``'s weights (the same object when it is one already)."""
    if isinstance(rnn, Recurrent):
        return rnn
    scratch = Recurrent(mode_of(rnn), rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.bias, True,
                        rnn.dropout, rnn.bidirectional, getattr(rnn, "nonlinearity", "tanh"))
    scratch.load_state_dict(rnn.state_dict())
    return scratch.to(next(rnn.parameters()).device).eval()


def _step(mode: str, gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh, b_hh, nonlinearity: str):
    """One step: the new (h, c) and the named gate values, the equations of ``dlnotes.nn.cells``."""
    hh = nn.functional.linear(h, w_hh, b_hh)
    if mode == "lstm":
        i, f, g, o = (gx + hh).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c, {"gate_input": i, "gate_forget": f, "gate_output": o, "candidate": g, "cell": c}
    if mode == "gru":
        (xr, xz, xn), (hr, hz, hn) = gx.chunk(3, dim=-1), hh.chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h, c, {"gate_reset": r, "gate_update": z, "candidate": n}
    pre = gx + hh
    return (torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)), c, {}


def _direction(rnn: Recurrent, x: torch.Tensor, suffix: str, reverse: bool) -> dict[str, torch.Tensor]:
    """Every step of one layer and direction over ``x`` (B, T, F): each state (B, T, H). ``suffix``
    names the weights as torch does (``_l0``, ``_l1_reverse``)."""
    w_ih, w_hh = getattr(rnn, f"weight_ih{suffix}"), getattr(rnn, f"weight_hh{suffix}")
    b_ih, b_hh = (getattr(rnn, f"bias_ih{suffix}"), getattr(rnn, f"bias_hh{suffix}")) if rnn.bias else (None, None)
    gx = nn.functional.linear(x, w_ih, b_ih)
    h = c = x.new_zeros(x.shape[0], rnn.hidden_size)
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    rows: dict[str, list] = {}
    for t in steps:
        h, c, gates = _step(rnn.mode, gx[:, t], h, c, w_hh, b_hh, rnn.nonlinearity)
        for k, v in {**gates, "hidden": h}.items():
            rows.setdefault(k, [None] * x.shape[1])[t] = v
    return {k: torch.stack(v, dim=1) for k, v in rows.items()}


@torch.no_grad()
def gates_over_time(rnn: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The gates, cell and hidden state of every layer at every step for the first sequence of ``x``
    (B, T, F), each (layers x directions, T, hidden), checked against ``rnn``'s own output."""
    rnn.eval()
    scratch = as_scratch(rnn)
    expected, _ = rnn(x)
    if scratch is not rnn:
        _check("the scratch cells' output", scratch(x)[0], expected, "the fused module's")
    states: dict[str, list[torch.Tensor]] = {}
    inp = x
    for layer in range(scratch.num_layers):
        outs = []
        for d, suffix in enumerate([f"_l{layer}", f"_l{layer}_reverse"][:2 if scratch.bidirectional else 1]):
            got = _direction(scratch, inp, suffix, reverse=d == 1)
            for k, v in got.items():
                states.setdefault(k, []).append(v[0])
            outs.append(got["hidden"])
        inp = torch.cat(outs, dim=-1)
    _check("the hidden state recorded step by step", inp, expected, "the model's")
    return {k: torch.stack(v).float().cpu().numpy() for k, v in states.items()}


def _check(what: str, got: torch.Tensor, expected: torch.Tensor, other: str) -> None:
    diff = float((got - expected).detach().abs().max()) if got.numel() else 0.0
    if not diff <= TOLERANCE:
        raise RunFailure(f"{what} differs from {other} output by {diff:.3g} (more than {TOLERANCE:g}): "
                         "the pictures would not show what the model computed")


def recurrent_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What a ``RecurrentNet``'s recurrent layers read for input ``x``: the embedded characters of a
    language model, a (B, T) series as (B, T, 1), else ``x`` itself."""
    if model.language:
        return model.embed(x)
    return x.unsqueeze(-1) if x.dim() == 2 else x
