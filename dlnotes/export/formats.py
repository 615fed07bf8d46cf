"""Writing a whole model to a file: ONNX, a ``torch.export`` program, or TorchScript.

    onnx          ``torch.onnx.export`` (the dynamo exporter, onnxscript), then, for tables, ONNX-ML
                  label encoders in front of the text columns; runs in onnxruntime, TensorRT, browsers
    torch_export  ``torch.export.export`` + ``torch.export.save`` (a .pt2 file): PyTorch 2's successor to
                  TorchScript; ``torch.export.load(path, extra_files={"dlnotes.json": ""}).module()``
    torchscript   ``torch.jit.trace`` (C++, mobile; deprecated by PyTorch, whose ``torch.jit.load`` warns)

Every file takes a batch of any size and carries the run's description as
``dlnotes`` metadata (JSON: the dataset and preprocess sections of meta.json and the graph's contract),
which ``dlnotes.inputs.prepare`` reads. Files are written atomically.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from dlnotes.errors import UserError

DTYPES = {"uint8": torch.uint8, "float32": torch.float32, "float64": torch.float64, "int64": torch.int64,
          "string": torch.int64}  # a text column reaches a torch graph as its codes


def example(meta: dict[str, Any], contract: dict[str, Any], batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random batch of the graph's inputs, by name (codes within each text column's levels)."""
    g = torch.Generator().manual_seed(seed)
    stats = (meta["preprocess"].get("tabular") or {}).get("stats", {})
    out = {}
    for item in contract["inputs"]:
        shape = [batch if d == "N" else int(d) for d in item["shape"]]
        dtype = DTYPES[item["dtype"]]
        if dtype == torch.uint8:
            out[item["name"]] = torch.randint(0, 256, shape, dtype=dtype, generator=g)
        elif dtype == torch.int64:
            top = len(stats[item["name"]]["levels"]) + 1 if item["name"] in stats else \
                len(meta["preprocess"].get("vocab") or [1])
            out[item["name"]] = torch.randint(0, top, shape, dtype=dtype, generator=g)
        else:
            out[item["name"]] = torch.randn(shape, generator=g).to(dtype)
    return out


def _dynamic(contract: dict[str, Any]) -> list[dict[int, Any]]:
    """One dict per input: its batch dimension free."""
    batch = torch.export.Dim("batch", min=1)
    return [{i: batch for i, d in enumerate(item["shape"]) if d == "N"} for item in contract["inputs"]]


def write(whole, meta: dict[str, Any], contract: dict[str, Any], info: str, fmt: str, output: Path) -> Path:
    from dlnotes.atomic import atomic_write

    x = example(meta, contract, 2)
    with warnings.catch_warnings():  # torch's own notes about its exporters: nothing for the user to act on
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            data = _onnx(whole, meta, contract, x, info)
        elif fmt == "torch_export":
            data = _program(whole, meta, contract, x, info)
        else:
            data = _script(whole, meta, contract, x, info)
    atomic_write(output, data)
    return output


def _args(whole, x: dict[str, torch.Tensor]) -> tuple:
    """The forward arguments: a dict of columns for a table model, else the one tensor."""
    return (x,) if whole.by_name else tuple(x.values())


def _program(whole, meta, contract, x, info: str) -> bytes:
    dynamic = _dynamic(contract)
    args = _args(whole, x)
    shapes = ({name: d for name, d in zip(x, dynamic)},) if isinstance(args[0], dict) else tuple(dynamic)
    program = torch.export.export(whole, args, dynamic_shapes=shapes)
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files={"dlnotes.json": info})
    return buf.getvalue()


def _script(whole, meta, contract, x, info: str) -> bytes:
    check = example(meta, contract, 5, seed=1)
    with torch.no_grad():
        traced = torch.jit.trace(whole, _args(whole, x), check_inputs=[_args(whole, check)])
    buf = io.BytesIO()
    torch.jit.save(traced, buf, _extra_files={"dlnotes.json": info})
    return buf.getvalue()


def _onnx(whole, meta, contract, x, info: str) -> bytes:
    try:
        import onnx
    except ImportError:
        raise UserError("--format onnx needs the export extra: pip install 'dlnotes[export]'") from None
    from dlnotes.export.tables import Positional, text_inputs

    table = whole.by_name
    model = Positional(whole) if table else whole
    names = [item["name"] for item in contract["inputs"]]
    dynamic = tuple(_dynamic(contract))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        torch.onnx.export(model, tuple(x[n] for n in names), path, input_names=names,
                          output_names=[item["name"] for item in contract["outputs"]],
                          dynamic_shapes=(dynamic,) if table else dynamic, dynamo=True, external_data=False,
                          verbose=False)
        proto = onnx.load(path)
    text_inputs(proto, meta)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "dlnotes", info
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
