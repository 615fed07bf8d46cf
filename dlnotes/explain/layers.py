"""Layers by name, and what they output during one forward pass (forward hooks, removed afterwards).

A layer's output is read by a forward hook on the module ``model.named_modules()`` names. In-place
activations (AlexNet's ``ReLU(inplace=True)``) would overwrite a convolution's output after its hook
saw it, and break gradients taken with respect to it (Captum asks for out-of-place modules too), so
``out_of_place`` turns them off while a model is explained and back on afterwards.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from dlnotes.errors import UserError
from dlnotes.nn.lrn import LocalResponseNorm

CONV = (nn.Conv1d, nn.Conv2d)
POOL = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
LRN = (LocalResponseNorm, nn.LocalResponseNorm)


def leaves(model: nn.Module) -> dict[str, nn.Module]:
    """The modules without children, by name, in model order (the rows of ``dlnotes summary``)."""
    return {name: m for name, m in model.named_modules() if name and not list(m.children())}


def layer(model: nn.Module, name: str, flag: str = "--layer") -> nn.Module:
    """The module called ``name``; an unknown name is one line listing the names there are."""
    found = leaves(model)
    if name not in found:
        shown = ", ".join(list(found)[:40]) + (" ..." if len(found) > 40 else "")
        raise UserError(f"{flag} '{name}': no such layer in this model; its layers are: {shown}")
    return found[name]


def conv_layers(model: nn.Module) -> list[str]:
    return [n for n, m in leaves(model).items() if isinstance(m, nn.Conv2d)]


def last_conv_maps(model: nn.Module) -> str:
    """Grad-CAM's default layer: the last convolution's rectified maps, i.e. the activation that directly
    follows it when one does (Selvaraju et al.'s code reads VGG-16's relu5_3), else the convolution."""
    names = list(leaves(model))
    convs = conv_layers(model)
    if not convs:
        raise UserError("this model has no convolution layer: Grad-CAM needs one (saliency works without)")
    i = names.index(convs[-1])
    after = leaves(model)[names[i + 1]] if i + 1 < len(names) else None
    return names[i + 1] if after is not None and is_activation(after) else convs[-1]


def is_activation(m: nn.Module) -> bool:
    return isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh)) or \
        type(m).__module__ == "dlnotes.nn.activations"


@contextlib.contextmanager
def out_of_place(model: nn.Module) -> Iterator[nn.Module]:
    """Every ``inplace=True`` module computes out of place inside the block (restored after it)."""
    changed = [m for m in model.modules() if getattr(m, "inplace", None) is True]
    for m in changed:
        m.inplace = False
    try:
        yield model
    finally:
        for m in changed:
            m.inplace = True


@contextlib.contextmanager
def outputs(model: nn.Module, names: list[str], inputs: bool = False) -> Iterator[dict[str, tuple]]:
    """Records ``{name: (input, output)}`` of the named layers during the forward passes in the block
    (tensors as the graph holds them: gradients can be taken with respect to them)."""
    got: dict[str, tuple] = {}
    modules = {n: layer(model, n) for n in names}

    def hook(name):
        def record(module, args, out):
            got[name] = (args[0] if inputs and args else None, out)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in modules.items()]
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


def first(x: torch.Tensor | tuple) -> torch.Tensor:
    while isinstance(x, (tuple, list)):
        x = x[0]
    return x
