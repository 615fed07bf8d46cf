"""What a convolutional network computes, layer by layer: the feature maps of every convolution and
pooling layer, the first layer's filters, and what Local Response Normalization does to a map.

Feature maps are each layer's output for one input (a convolution's before its activation), with the
output shape the conv arithmetic gives for it (``dlnotes.summary.formula_shape``, the shape ``dlnotes
summary`` prints), so every picture can be checked against the formula
``out = floor((in + 2 p - d (k - 1) - 1) / s) + 1``.

Local contrast (for LRN). LRN (Krizhevsky et al. 2012, 3.3) divides each unit by the activity of the
n channels around it at the same position. How much a unit stands out among those neighbours is
measured here as the coefficient of variation over that window, averaged over every channel and
position where the window is not all zero:

    contrast = mean_{i,x,y} std_{j in window(i)} a_j(x, y) / mean_{j in window(i)} a_j(x, y)

It does not change when the whole map is scaled, so LRN's constant part (the division by k^beta)
leaves it alone and only the normalization by the neighbours' activity moves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlnotes.explain.layers import CONV, LRN, POOL, first, leaves, out_of_place, outputs


@dataclass
class FeatureMaps:
    """One layer's output for one input: ``maps`` (channels, height, width)."""

    name: str
    kind: str  # the module's class name: Conv2d, MaxPool2d...
    maps: np.ndarray
    formula_shape: tuple[int, ...] | None  # by the conv arithmetic, from the shape the layer received


def mapped_layers(model: nn.Module) -> list[str]:
    """The convolution and pooling layers, in model order."""
    return [n for n, m in leaves(model).items() if isinstance(m, CONV + POOL) and not isinstance(m, nn.Conv1d)]


@dataclass
class Inside:
    """One forward pass seen from inside: the model's output, every conv/pool layer's maps, every LRN's effect."""

    output: torch.Tensor
    maps: list["FeatureMaps"]
    lrn: list["LRNEffect"]


@torch.no_grad()
def inside(model: nn.Module, x: torch.Tensor) -> Inside:
    """The output for ``x`` (N, C, H, W), and the maps and LRN effects of its first input, in one pass."""
    found = leaves(model)
    mapped, norms = mapped_layers(model), [n for n, m in found.items() if isinstance(m, LRN)]
    model.eval()
    with out_of_place(model), outputs(model, mapped + norms, inputs=True) as got:
        out = model(x)
    return Inside(out, [_maps(name, found[name], *got[name]) for name in mapped],
                  [_effect(name, found[name].size, *got[name]) for name in norms])


def _maps(name: str, layer: nn.Module, given, result) -> "FeatureMaps":
    from dlnotes.summary import formula_shape

    shape = formula_shape(layer, tuple(first(given).shape[1:]))
    return FeatureMaps(name, type(layer).__name__, first(result)[0].float().cpu().numpy(),
                       tuple(shape) if shape is not None else None)


def feature_maps(model: nn.Module, x: torch.Tensor) -> list[FeatureMaps]:
    """Each conv and pool layer's output for the first input of ``x`` (N, C, H, W), in model order."""
    return inside(model, x).maps


def first_filters(model: nn.Module) -> np.ndarray | None:
    """The first convolution's kernels, (out_channels, in_channels, kh, kw); None without a convolution."""
    for m in leaves(model).values():
        if isinstance(m, nn.Conv2d):
            return m.weight.detach().float().cpu().numpy()
    return None


def local_contrast(a: torch.Tensor | np.ndarray, size: int = 5) -> float:
    """The mean coefficient of variation of ``a`` (C, H, W) over the ``size`` channels around each unit
    (the window LRN normalizes over: ``size // 2`` channels before, ``(size - 1) // 2`` after, clipped
    at the edges), over the channels and positions whose window is not all zero."""
    a = torch.as_tensor(a, dtype=torch.float64)
    c = a.shape[0]
    pad = [0, 0] * (a.dim() - 1) + [size // 2, (size - 1) // 2]
    ones = F.pad(torch.ones_like(a), pad)
    s1, s2 = F.pad(a, pad), F.pad(a * a, pad)
    count = sum(ones[j:j + c] for j in range(size))
    mean = sum(s1[j:j + c] for j in range(size)) / count
    var = (sum(s2[j:j + c] for j in range(size)) / count - mean ** 2).clamp_min(0)
    live = mean.abs() > 1e-12
    return float((var[live].sqrt() / mean[live].abs()).mean()) if live.any() else 0.0


@dataclass
class LRNEffect:
    """One LRN layer's input and output for one input, and their local contrast."""

    name: str
    before: np.ndarray  # (C, H, W): the map LRN receives
    after: np.ndarray
    contrast_before: float
    contrast_after: float
    divisor: tuple[float, float]  # the smallest and largest (k + alpha sum a^2)^beta, read off as before / after


def _effect(name: str, size: int, given, result) -> "LRNEffect":
    before, after = first(given)[0].float().cpu(), first(result)[0].float().cpu()
    live = before.abs() > 1e-6
    ratio = (before[live] / after[live]).double() if live.any() else torch.ones(1, dtype=torch.float64)
    return LRNEffect(name, before.numpy(), after.numpy(), local_contrast(before, size), local_contrast(after, size),
                     (float(ratio.min()), float(ratio.max())))


def lrn_effect(model: nn.Module, x: torch.Tensor) -> list[LRNEffect]:
    """For each LRN layer: its input and output maps (first input of ``x``) and their local contrast."""
    return inside(model, x).lrn
