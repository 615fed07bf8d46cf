"""After training: a run's model as a whole model, raw values in and answers in the user's units out.

``whole_model`` wraps a trained network with everything ``dlnotes predict`` does around it, as torch
operations: the input's normalisation, the table's imputation and encoding, the series' transform and its
inverse, the softmax, the de-standardisation. ``Run.predict`` runs it on what ``dlnotes.inputs.prepare``
makes of the user's inputs, and ``export`` writes it as a file, so the file answers what predict answers:

    kind        graph inputs (by name)                   module
    images      pixels uint8 (N, C, S, S)                arrays.py
    sequences   values float32 (N, T, F)                 arrays.py
    tables      one (N,) input per training column       tables.py
    series      values float64 (N, L), raw               series.py
    text        ids int64 (N, T)                         text.py

    outputs: classifiers probabilities (N, K) float32 and label (N,) int64; regression prediction (N, K)
    float32; forecasters forecast (N, steps) float64; language models the next character's probabilities.

Formats (``formats.py``): ONNX (onnxruntime, TensorRT, browsers: tables take their text columns as strings,
through ONNX-ML label encoders), a ``torch.export`` program and TorchScript (their tables take a dict of
tensors, text columns as the integer codes of ``dlnotes.inputs.codes``: neither can take strings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from dlnotes.errors import UserError

FORMATS = ("onnx", "torch_export", "torchscript")
SUFFIX = {"onnx": "onnx", "torch_export": "pt2", "torchscript": "pt"}


def whole_model(network: nn.Module, meta: dict[str, Any], threshold: float = 0.5, steps: int = 0) -> nn.Module:
    """The whole model of a run (``meta``: its meta.json) around its trained ``network``, in eval mode.
    ``steps``: a forecaster's roll-out length (default: its horizon). Chosen by task where the task decides
    (language, forecasting), else by the kind of input."""
    from dlnotes.export.answers import answer
    from dlnotes.export.arrays import ArrayModel
    from dlnotes.export.series import SeriesModel
    from dlnotes.export.tables import TableModel
    from dlnotes.export.text import TextModel
    from dlnotes.inputs import contract

    ds, pre = meta["dataset"], meta["preprocess"]
    graph_input = contract(meta)["inputs"][0]
    by_task = {"language": lambda: TextModel(network),
               "forecasting": lambda: SeriesModel(network, pre, ds["input_shape"][0], steps)}
    by_kind = {"tabular": lambda: TableModel(network, meta, answer(ds["task"], pre, threshold)),
               "image": lambda: ArrayModel(network, pre, answer(ds["task"], pre, threshold), graph_input),
               "sequence": lambda: ArrayModel(network, pre, answer(ds["task"], pre, threshold), graph_input)}
    build = by_task.get(ds["task"]) or by_kind.get(ds["kind"])
    if build is None:
        raise UserError(f"export: no whole model for {ds['task']} on {ds['kind']} inputs")
    return build().eval()


def metadata(meta: dict[str, Any], model_name: str, threshold: float, fmt: str, steps: int = 0) -> dict[str, Any]:
    """What an exported file carries as ``dlnotes`` metadata: enough for ``dlnotes.inputs.prepare`` (the
    ``dataset`` and ``preprocess`` sections of meta.json) and the graph's inputs and outputs."""
    from dlnotes.inputs import contract

    ds = meta["dataset"]
    keep = ("name", "task", "kind", "input_shape", "classes", "feature_names", "target_name")
    info = {"model": model_name, "format": fmt, "threshold": threshold,
            "dataset": {k: ds.get(k) for k in keep}, "preprocess": meta["preprocess"],
            "contract": contract(meta, steps)}
    if fmt != "onnx" and ds["kind"] == "tabular":  # torch files take text columns as codes
        for item in info["contract"]["inputs"]:
            if item["dtype"] == "string":
                item["dtype"] = "int64"
    return info


def check(fmt: str, output: str | Path) -> Path:
    """Refuses an unknown format or an output that is a folder, before anything is loaded."""
    if fmt not in FORMATS:
        raise UserError(f"--format: '{fmt}' is not allowed; allowed: {', '.join(FORMATS)}")
    output = Path(output)
    if output.is_dir():
        raise UserError(f"--output '{output}' is a directory; give a file name, e.g. model.{SUFFIX[fmt]}")
    return output


def export(network: nn.Module, meta: dict[str, Any], fmt: str, output: str | Path, threshold: float = 0.5,
           steps: int = 0) -> Path:
    """Writes the whole model of a run as ``fmt`` (onnx | torch_export | torchscript) to ``output``,
    atomically, with its ``dlnotes`` metadata; returns the path."""
    import json

    from dlnotes.engine.weights import unwrap
    from dlnotes.export.formats import write

    output = check(fmt, output)
    whole = whole_model(unwrap(network).cpu().eval(), meta, threshold, steps)
    info = metadata(meta, meta["model"]["name"], threshold, fmt, steps)
    return write(whole, meta, info["contract"], json.dumps(info), fmt, output)


__all__ = ["FORMATS", "SUFFIX", "whole_model", "metadata", "check", "export"]
