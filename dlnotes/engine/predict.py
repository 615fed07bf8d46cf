"""Applying a trained model to raw inputs, with exactly the preprocessing recorded in meta.json.

``dlnotes.inputs`` reads the user's inputs into the arrays the exported graph takes, the run's whole
model (``dlnotes.export.whole_model``: the preprocessing, the network and the answer layer, as the
exported file holds them) answers them, and the task turns the answers into rows (``dlnotes.tasks``).
This module holds what the tasks share: running a whole model in batches, rows and CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import torch


def predict(model, inputs, spec, device, top_k: int = 0, steps: int = 0, temperature: float = 0.8,
            probabilities: bool = False) -> list[dict[str, Any]]:
    """Rows ``input, prediction, ...`` of ``model`` on raw ``inputs`` (``spec``: a ``dlnotes.tasks.Spec``)."""
    return spec.task.predict(model, inputs, spec, device, top_k=top_k, steps=steps, temperature=temperature,
                             probabilities=probabilities)


@torch.inference_mode()
def whole_outputs(whole, feed: dict[str, Any], device, batch_size: int = 256):
    """A whole model's answers (a tensor, or a tuple of them) for a feed of named arrays (numpy or torch,
    N rows each), batch by batch on ``device``, gathered on the CPU. The model takes its one tensor, or
    (``by_name``: a table model) the dict of its columns."""
    whole = whole.to(device).eval()
    tensors = {k: torch.as_tensor(v) for k, v in feed.items()}
    n = len(next(iter(tensors.values())))
    parts = []
    for start in range(0, n, batch_size):
        batch = {k: v[start:start + batch_size].to(device) for k, v in tensors.items()}
        out = whole(batch) if whole.by_name else whole(*batch.values())
        parts.append(tuple(o.cpu() for o in out) if isinstance(out, tuple) else out.cpu())
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(column) for column in zip(*parts))
    return torch.cat(parts)


def class_rows(names, probs: torch.Tensor, labels: torch.Tensor, classes: list[str], top_k: int,
               every: bool = False) -> list[dict[str, Any]]:
    """One row per input: the predicted class and its probability, then the next ``top_k - 1`` classes;
    ``every``: also ``probabilities``, a dict of every class's probability."""
    k = min(max(top_k, 0), probs.shape[-1])
    top_p, top_i = probs.topk(k, dim=-1) if k > 1 else (None, None)
    rows = []
    for n, (name, c) in enumerate(zip(names, labels.tolist())):
        row = {"input": name, "prediction": classes[c], "probability": round(float(probs[n, c]), 6)}
        for r in range(1, k):
            row[f"top{r + 1}"] = classes[int(top_i[n, r])]
            row[f"top{r + 1}_probability"] = round(float(top_p[n, r]), 6)
        if every:
            row["probabilities"] = {name: round(float(p), 6) for name, p in zip(classes, probs[n].tolist())}
        rows.append(row)
    return rows


def value_rows(names, values: torch.Tensor) -> list[dict[str, Any]]:
    """One row per input: its predicted value(s), several outputs joined by ';'."""
    return [{"input": n, "prediction": _num(v)} for n, v in zip(names, values.tolist())]


def _num(v):
    if isinstance(v, list):
        return ";".join(f"{x:.6g}" for x in v) if len(v) > 1 else f"{v[0]:.6g}"
    return f"{v:.6g}"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()
