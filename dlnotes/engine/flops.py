"""Forward FLOPs of a model on a few rows, counted from its layers' shapes by forward hooks.

Why not ``torch.utils.flop_counter.FlopCounterMode`` alone: it counts the ops it has a formula for, and on a
CPU torch's LSTM runs as one fused op it has none for. It counted a 64-unit LSTM on MNIST-1D (batch 128) as
0.2 MFLOP, its linear head, where the layer does 171 MFLOP (1,348 with two bidirectional layers), so
``engine/threads.py`` gave every LSTM one thread's worth of work. It is also a dispatch mode, whose first
use imports ``torch._dynamo`` (1.5-1.8 s; a training run pays that anyway, torch.optim imports it).

The layers dlnotes' models do their multiply-adds in are few, and their counts follow from shapes with the
formulas flop_counter uses (2 FLOPs per multiply-add of a matrix product or a convolution; element-wise
ops, pooling and normalisation count 0):

    Linear             2 * numel(output) * in_features
    Conv1d/2d/3d       2 * numel(output) * numel(weight[0])       (in_channels / groups * kernel)
    RNN, LSTM, GRU     2 * steps * sum of numel(W) over its 2-D weights (W_ih, W_hh, W_hr; every layer and
    and their cells    direction), steps = numel(input) / input_size (batch x time, packed or not):
                       torch's layers and dlnotes.nn.cells, which share torch's parameter names

A model with a 2-D parameter outside those layers (a matrix it multiplies by hand) is counted by
FlopCounterMode instead, so an unknown layer is never counted as free. ``tests/test_threads.py`` checks
the two counts are equal on every registered model (torch's LSTM against its step-by-step twin).
"""

from __future__ import annotations

import torch
from torch import nn

COUNT_ROWS = 4  # rows the FLOPs are counted on; scaled to the batch size (FLOPs grow linearly with rows)
CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
FREE = (nn.Embedding, nn.EmbeddingBag)  # 2-D weights that are looked up, not multiplied


def _linear(m: nn.Linear, x: torch.Tensor, out: torch.Tensor) -> float:
    return 2.0 * out.numel() * m.in_features


def _conv(m: nn.Module, x: torch.Tensor, out: torch.Tensor) -> float:
    return 2.0 * out.numel() * m.weight[0].numel()


def _recurrent(m: nn.Module, x, out) -> float:
    data = x.data if isinstance(x, nn.utils.rnn.PackedSequence) else x
    steps = data.numel() // m.input_size
    return 2.0 * steps * sum(p.numel() for name, p in m.named_parameters(recurse=False)
                             if name.startswith("weight_") and p.dim() == 2)


def _formula(m: nn.Module):
    """The FLOP formula of a layer, or None where it has none here."""
    if isinstance(m, nn.Linear):
        return _linear
    if isinstance(m, CONVS):
        return _conv
    if hasattr(m, "input_size") and any(n.startswith("weight_hh") for n, _ in m.named_parameters(recurse=False)):
        return _recurrent  # torch.nn.RNN/LSTM/GRU and their cells, dlnotes.nn.cells: torch's parameter names
    return None


def _hooked_count(model: nn.Module, rows: torch.Tensor) -> float | None:
    """FLOPs of ``model(rows)`` from the layers' hooks; None when a 2-D parameter lies outside them."""
    formulas = {m: _formula(m) for m in model.modules()}
    for m, f in formulas.items():
        if f is None and not isinstance(m, FREE) and any(p.dim() >= 2 for p in m.parameters(recurse=False)):
            return None
    total = [0.0]

    def hook(m, args, kwargs, out):
        x = args[0] if args else next(iter(kwargs.values()))  # the input, positional or by name
        total[0] += formulas[m](m, x, out)

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m, f in formulas.items() if f is not None]
    try:
        model(rows)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def _dispatch_count(model: nn.Module, rows: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(rows)
    return float(counter.get_total_flops())


def forward_flops(model: nn.Module, x: torch.Tensor, batch_size: int, *, dispatch: bool = False) -> float:
    """FLOPs of one forward pass over ``batch_size`` rows, counted on the first COUNT_ROWS rows of ``x``
    (eval mode, no grad: no dropout draw nor batch-norm statistic changes). ``dispatch=True`` counts with
    FlopCounterMode whatever the layers (the reference the tests compare with)."""
    rows = x[:COUNT_ROWS]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            flops = None if dispatch else _hooked_count(model, rows)
            if flops is None:
                flops = _dispatch_count(model, rows)
    finally:
        model.train(was_training)
    return flops * batch_size / max(1, len(rows))
