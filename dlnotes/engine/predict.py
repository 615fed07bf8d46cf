"""Applying a trained model to raw inputs, with exactly the preprocessing recorded in meta.json.

The run's input kind reads the user's files (``dlnotes.data.kinds``: images of any size or colour,
a CSV with the training feature columns, ``.npy``/``.csv`` sequences); its task turns the outputs
into rows (``dlnotes.tasks``). This module holds what the tasks share: rows and CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import torch


def predict(model, inputs, spec, device, top_k: int = 0, steps: int = 0,
            temperature: float = 0.8) -> list[dict[str, Any]]:
    """Rows ``input, prediction, ...`` of ``model`` on raw ``inputs`` (``spec``: a ``dlnotes.tasks.Spec``)."""
    return spec.task.predict(model, inputs, spec, device, top_k=top_k, steps=steps, temperature=temperature)


def class_rows(names, logits: torch.Tensor, classes: list[str], top_k: int, threshold: float) -> list[dict[str, Any]]:
    """One row per input: the predicted class and its probability, then the next ``top_k - 1`` classes."""
    from dlnotes.engine.metrics import labels, probabilities

    probs = probabilities(logits)
    pred = labels(logits, threshold)
    k = min(max(top_k, 0), probs.shape[-1])
    top_p, top_i = probs.topk(k, dim=-1) if k > 1 else (None, None)
    rows = []
    for n, (name, c) in enumerate(zip(names, pred.tolist())):
        row = {"input": name, "prediction": classes[c], "probability": round(float(probs[n, c]), 6)}
        for r in range(1, k):
            row[f"top{r + 1}"] = classes[int(top_i[n, r])]
            row[f"top{r + 1}_probability"] = round(float(top_p[n, r]), 6)
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
