"""A model's layer table: each layer's output shape from the conv/pool arithmetic, checked against a
real forward pass, and its parameter count. Also the check that refuses an input too small for a
network before any training starts.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlnotes.errors import UserError
from dlnotes.nn.conv import conv_output_size


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def formula_shape(layer: nn.Module, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The output shape (without the batch) of ``layer`` for input ``shape``, by formula; None if unknown."""
    from dlnotes.nn.lrn import LocalResponseNorm

    if shape is None:
        return None
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding)
        d = _pair(getattr(layer, "dilation", 1))
        if getattr(layer, "ceil_mode", False):
            return None
        c = layer.out_channels if isinstance(layer, nn.Conv2d) else shape[0]
        return (c, conv_output_size(shape[1], k[0], p[0], s[0], d[0]), conv_output_size(shape[2], k[1], p[1], s[1], d[1]))
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        return (shape[0], *_pair(layer.output_size))
    if isinstance(layer, nn.Flatten):
        return (math.prod(shape),)
    if isinstance(layer, nn.Linear):
        return (*shape[:-1], layer.out_features)
    if isinstance(layer, (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.Dropout, nn.LocalResponseNorm,
                          LocalResponseNorm, nn.BatchNorm2d, nn.BatchNorm1d, nn.Identity)) or \
            type(layer).__module__ == "dlnotes.nn.activations":
        return shape
    return None


def _leaves(model: nn.Module):
    return [(name, m) for name, m in model.named_modules() if name and not list(m.children())]


def check_fits(model: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Refuses (exit 2) an image too small for the network, naming the layer where a size reaches 0."""
    shape: tuple[int, ...] | None = tuple(input_shape)
    for name, layer in _leaves(model):
        new = formula_shape(layer, shape)
        if new is not None and len(new) == 3 and min(new[1:]) < 1:
            raise UserError(f"data.image_size: a {input_shape[-1]}x{input_shape[-2]} input is too small for this "
                            f"network: at layer '{name}' ({type(layer).__name__}) the feature map would be "
                            f"{new[1]}x{new[2]}; use a larger image_size")
        if new is not None:  # layers we cannot compute keep the last known shape
            shape = new


def layer_table(model: nn.Module, input_shape: tuple[int, ...], dtype=torch.float32) -> dict:
    """``{"layers": [{"name", "type", "output_shape", "params"}], "total_params"}``, shapes checked by a forward pass.

    Each layer's output shape is computed by formula from the input it really received (so reshapes
    done in ``forward``, like a recurrent net's head, do not confuse it) and must equal the real one.
    """
    leaves = _leaves(model)
    seen: dict[str, tuple[tuple[int, ...] | None, tuple[int, ...]]] = {}
    def record(name):
        def hook(module, inputs, output):  # returns None: the output is left as it is
            given = tuple(inputs[0].shape[1:]) if inputs and torch.is_tensor(inputs[0]) else None
            seen.setdefault(name, (given, tuple(_first(output).shape[1:])))
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in leaves]
    try:
        model.eval()
        with torch.no_grad():
            x = torch.zeros((1, *input_shape), dtype=dtype)
            model(x)
    finally:
        for h in hooks:
            h.remove()
    rows, shape = [], tuple(input_shape)
    for name, layer in leaves:
        given, real = seen.get(name, (shape, None))
        by_formula = formula_shape(layer, given if given is not None else shape)
        if by_formula is not None and real is not None and tuple(by_formula) != tuple(real):
            raise AssertionError(f"layer {name}: formula gives {by_formula}, forward pass {real}")
        shape = real if real is not None else by_formula
        rows.append({"name": name, "type": type(layer).__name__,
                     "output_shape": list(shape) if shape is not None else None,
                     "params": sum(p.numel() for p in layer.parameters(recurse=False))})
    return {"layers": rows, "total_params": sum(p.numel() for p in model.parameters())}


def _first(o):
    while isinstance(o, (tuple, list)):
        o = o[0]
    return o


def config_summary(cfg) -> dict:
    """The layer table of a config's model. Image models take their input shape from the config
    (``data.image_size``, ``data.channels``) so that no data needs to be present; others load the dataset."""
    from dlnotes.config import DATA_PROVIDED
    from dlnotes.data.kinds import input_kind
    from dlnotes.models import build_model, model_args
    from dlnotes.registry import MODELS

    given, data_keys = cfg.extras("model"), cfg.extras("data")
    hint = {}
    if "image_size" in data_keys:
        hint["image_size"] = data_keys["image_size"]
    if "channels" in data_keys:
        hint["in_channels"] = data_keys["channels"]
    params = MODELS.params(cfg.model.name)
    needed = [k for k in DATA_PROVIDED if k in params and k not in given and k not in hint]
    if needed:
        from dlnotes.collect import load_data

        data = load_data(cfg)
        from_data, shape, kind = data.model_inputs(), data.dataset.input_shape, data.kind
    else:
        from_data = hint
        args0 = {**hint, **given}
        shape, kind = (args0.get("in_channels", 1), args0["image_size"], args0["image_size"]), input_kind("image")
    args = model_args(cfg.model.name, given, from_data)
    model = build_model(cfg.model.name, args)
    if kind.image:
        check_fits(model, shape)
    table = layer_table(model, shape, dtype=kind.dtype)
    table["input_shape"] = list(shape)
    if "augment_recipe" in data_keys or cfg.data.name == "image_folder":
        from dlnotes.data.transforms import describe

        t = cfg.train
        opt = ", ".join(f"{k} {v:g}" for k, v in {"lr": t.optimizer.lr, **cfg.extras("train.optimizer")}.items()
                        if isinstance(v, (int, float)))
        sch = ", ".join(f"{k} {v:g}" for k, v in cfg.extras("train.scheduler").items() if isinstance(v, (int, float)))
        table["recipe"] = (f"data: {describe(data_keys.get('augment_recipe', 'none'), data_keys.get('image_size', 64), data_keys.get('ten_crop', False))}"
                           f"; batch {cfg.data.batch_size}; {t.optimizer.name} ({opt}); scheduler {t.scheduler.name}"
                           f"{f' ({sch})' if sch else ''}; {t.epochs} epochs")
    return table
