"""What ``GET /info`` says about a served run: its model, task, input contract, classes and test metrics.

The input contract is what a request's ``inputs`` hold for this run, read from meta.json:
    image      {"kind": "image", "image_size": S, "channels": C, "style": ...}: one {"image": base64} each
    tabular    {"kind": "tabular", "columns": [{"name", "type", "fill", "levels"}]}: one object of column values
               each (``fill``: what a missing value becomes; ``levels``: a category's training values)
    series     {"kind": "series", "length": L, "horizon": H}: a list of numbers each, of which the last L
               are read; the forecast has H steps unless the request asks for ``steps``
    sequence   {"kind": "sequence", "steps": T, "features": F}: T numbers (F = 1) or T lists of F numbers each
    text       {"kind": "text", "window": W, "vocabulary_size": V, "vocabulary": "..."}: a prompt of at least
               W characters of the vocabulary each
"""

from __future__ import annotations

from typing import Any


def describe(name: str, run) -> dict[str, Any]:
    """The /info entry of ``run`` (a loaded ``dlnotes.trained.Run``) served as ``name``."""
    meta = run.meta
    return {"name": name, "model": meta["model"]["name"], "dataset": meta["dataset"]["name"],
            "task": meta["dataset"]["task"], "input": contract(meta), "classes": meta["dataset"].get("classes"),
            "metrics": scalar_metrics(run.metrics)}


def kind(meta: dict[str, Any]) -> str:
    """image, tabular, series (a forecaster's), sequence (a sequence classifier's) or text."""
    k = meta["dataset"]["kind"]
    return "series" if k == "sequence" and meta["dataset"]["task"] == "forecasting" else k


def contract(meta: dict[str, Any]) -> dict[str, Any]:
    """The input contract of the run described by ``meta`` (see the module docstring)."""
    ds, pre, k = meta["dataset"], meta["preprocess"], kind(meta)
    if k == "image":
        return {"kind": k, "image_size": int(pre["image_size"]), "channels": int(pre["channels"]),
                "style": pre.get("style")}
    if k == "tabular":
        return {"kind": k, "columns": columns(meta)}
    if k == "series":
        from dlnotes.inputs.series import need

        return {"kind": k, "length": need(meta), "horizon": int(pre.get("horizon", 1))}
    if k == "sequence":
        return {"kind": k, "steps": int(ds["input_shape"][0]), "features": int(ds["input_shape"][-1])}
    vocab = pre["vocab"]
    return {"kind": k, "window": int(ds["input_shape"][0]), "vocabulary_size": len(vocab), "vocabulary": "".join(vocab)}


def columns(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Each training column: name, type (number, category, boolean, date), the value a missing cell takes
    (``fill``) and, for categories and booleans, the levels seen in training."""
    from dlnotes.inputs.tables import columns as types

    stats = (meta["preprocess"].get("tabular") or {}).get("stats", {})
    out = []
    for name, t in types(meta).items():
        s = stats.get(name, {})
        col = {"name": name, "type": t, "fill": s.get("fill")}
        if "levels" in s:
            col["levels"] = list(s["levels"])
        out.append(col)
    return out


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The test metrics without the confusion matrix (a thousand classes make a million numbers)."""
    return {k: v for k, v in metrics.items() if k != "confusion_matrix"}


__all__ = ["describe", "contract", "kind"]
