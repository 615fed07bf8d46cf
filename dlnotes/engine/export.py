"""Taking a trained model elsewhere: ONNX (onnxruntime, TensorRT, browsers), a ``torch.export`` program
(PyTorch 2's successor to TorchScript: ``torch.export.load`` in Python, AOTInductor / ExecuTorch beyond)
or TorchScript (C++, mobile; deprecated by PyTorch, whose ``torch.jit.load`` warns so).

Every file takes a batch of any size and carries the run's preprocessing as metadata (``dlnotes`` key:
JSON with the input shape, normalisation statistics, class names), because the model expects
normalised inputs: ``(x - x_mean) / x_std`` per channel for images, per feature for tables.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch

from dlnotes.errors import UserError

FORMATS = ("onnx", "torch_export", "torchscript")
SUFFIX = {"onnx": "onnx", "torch_export": "pt2", "torchscript": "pt"}


def run_metadata(model_name: str, spec) -> dict:
    """What a user of the exported file needs to prepare inputs and read outputs (``spec``: a tasks.Spec)."""
    ds = spec.dataset
    return {"model": model_name, "task": spec.task.name, "kind": spec.kind.name, "input_shape": ds["input_shape"],
            "classes": ds.get("classes"), "feature_names": ds.get("feature_names"), "preprocess": spec.pre}


def export(model, model_name: str, spec, fmt: str, output: str | Path) -> Path:
    """Writes ``model`` to ``output`` as ``fmt`` (onnx | torch_export | torchscript), atomically; returns the path."""
    from dlnotes.engine.weights import unwrap

    if fmt not in FORMATS:
        raise UserError(f"--format: '{fmt}' is not allowed; allowed: {', '.join(FORMATS)}")
    output = Path(output)
    if output.is_dir():
        raise UserError(f"--output '{output}' is a directory; give a file name, e.g. model.{SUFFIX[fmt]}")
    model = unwrap(model).cpu().eval()
    shape = spec.dataset["input_shape"]
    info = json.dumps(run_metadata(model_name, spec))
    with warnings.catch_warnings():  # torch's own deprecation notes about its exporters: nothing to act on
        warnings.simplefilter("ignore")
        return _export(model, spec.kind.example(shape), spec.kind.example(shape, 5), info, fmt, output)


def _export(model, x: torch.Tensor, x_check: torch.Tensor, info: str, fmt: str, output: Path) -> Path:
    from dlnotes.atomic import atomic_write

    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(model, x, check_inputs=[x_check])
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={"dlnotes.json": info})
        atomic_write(output, buf.getvalue())
        return output
    if fmt == "torch_export":
        return _torch_export(model, x, info, output)
    return _onnx(model, x, info, output)


def _torch_export(model, x: torch.Tensor, info: str, output: Path) -> Path:
    """``torch.export.export`` with a dynamic batch dimension, saved with ``torch.export.save``;
    read back with ``torch.export.load(path, extra_files={"dlnotes.json": ""}).module()``."""
    from dlnotes.atomic import atomic_write

    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files={"dlnotes.json": info})
    atomic_write(output, buf.getvalue())
    return output


def _onnx(model, x: torch.Tensor, info: str, output: Path) -> Path:
    try:
        import onnx
    except ImportError:
        raise UserError("--format onnx needs the export extra: pip install 'dlnotes[export]'") from None
    from dlnotes.atomic import atomic_write

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["output"],
                          dynamic_shapes=({0: batch},), dynamo=True, external_data=False, verbose=False)
        proto = onnx.load(path)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "dlnotes", info
    atomic_write(output, proto.SerializeToString())
    return output
