"""Taking a trained model elsewhere: ONNX (onnxruntime, TensorRT, browsers) or TorchScript (C++, mobile).

Both files take a batch of any size and carry the run's preprocessing as metadata (``dlnotes`` key:
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

FORMATS = ("onnx", "torchscript")


def example_input(meta: dict, batch: int = 2) -> torch.Tensor:
    shape = meta["dataset"]["input_shape"]
    if meta["dataset"]["kind"] == "text":
        return torch.zeros((batch, *shape), dtype=torch.long)
    return torch.randn((batch, *shape), generator=torch.Generator().manual_seed(0))


def run_metadata(meta: dict) -> dict:
    ds = meta["dataset"]
    return {"model": meta["model"]["name"], "task": ds["task"], "kind": ds["kind"], "input_shape": ds["input_shape"],
            "classes": ds.get("classes"), "feature_names": ds.get("feature_names"), "preprocess": meta["preprocess"]}


def export(run, fmt: str, output: str | Path) -> Path:
    """Writes the run's model to ``output`` as ``fmt`` (onnx | torchscript), atomically; returns the path."""
    from dlnotes.engine.checkpoint import unwrap

    if fmt not in FORMATS:
        raise UserError(f"--format: '{fmt}' is not allowed; allowed: {', '.join(FORMATS)}")
    output = Path(output)
    if output.is_dir():
        raise UserError(f"--output '{output}' is a directory; give a file name, e.g. model.{fmt.replace('torchscript', 'pt')}")
    model = unwrap(run.model).cpu().eval()
    x = example_input(run.meta)
    with warnings.catch_warnings():  # torch's own deprecation notes about its exporters: nothing to act on
        warnings.simplefilter("ignore")
        return _export(model, x, run.meta, fmt, output)


def _export(model, x: torch.Tensor, meta: dict, fmt: str, output: Path) -> Path:
    from dlnotes.engine.checkpoint import atomic_write

    info = json.dumps(run_metadata(meta))
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(model, x, check_inputs=[example_input(meta, 5)])
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={"dlnotes.json": info})
        atomic_write(output, buf.getvalue())
        return output
    return _onnx(model, x, info, output)


def _onnx(model, x: torch.Tensor, info: str, output: Path) -> Path:
    try:
        import onnx
    except ImportError:
        raise UserError("--format onnx needs the export extra: pip install 'dlnotes[export]'") from None
    from dlnotes.engine.checkpoint import atomic_write

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
