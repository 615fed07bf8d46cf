"""The figures of lr-find and sweeps (matplotlib, Agg), returned as PNG bytes: the callers write them
as new files (``atomic.write_new``), never over an existing one.

lr_find.png  the loss against the lr (log scale): each batch's and the smoothed one, both suggestions marked
sweep.png    the metric of every trial in order (best so far as a line), and against each parameter
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def lr_find_figure(finding) -> bytes:
    """Loss against lr: the batches' losses faint, the smoothed loss bold, ``steepest`` and ``min_div10``
    as vertical lines. The y axis stops a little above the first smoothed loss, so the divergence at the
    end does not flatten the part that matters."""
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    ax.plot(finding.lrs, finding.losses, color="C0", alpha=0.3, lw=1, label="batch loss")
    ax.plot(finding.lrs, finding.smoothed, color="C0", lw=2, label="smoothed loss")
    for value, name, color in ((finding.steepest, "steepest", "C3"), (finding.min_div10, "min_div10", "C2")):
        ax.axvline(value, color=color, ls="--", lw=1.5, label=f"{name} = {value:.3g}")
    ax.set_xscale("log")
    if finding.smoothed:  # from a little below the lowest loss before the minimum to a little above the start
        lowest = finding.smoothed.index(min(finding.smoothed))
        low, first = min(finding.losses[:lowest + 1] + [finding.smoothed[lowest]]), finding.smoothed[0]
        ax.set_ylim(low - 0.05 * (first - low + 1e-12), first + 0.25 * (first - low + 1e-12))
    ax.set(xlabel="learning rate (log scale)", ylabel="training loss",
           title=f"learning-rate range test ({len(finding.lrs)} batches, {finding.stopped})")
    ax.legend(loc="lower left")
    return _png(fig)


def sweep_figure(trials: list[dict[str, Any]], params: dict[str, Any], metric: str, maximize: bool) -> bytes:
    """The metric of each finished trial by trial number (the best so far as a step line), then one panel
    per parameter: the metric against its values (log axis for loguniform, categories for choice)."""
    done = [t for t in trials if isinstance(t.get("value"), (int, float)) and math.isfinite(t["value"])]
    panels = 1 + len(params)
    cols = min(panels, 3)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), layout="constrained", squeeze=False)
    flat = list(axes.flat)
    ax = flat[0]
    numbers, values = [t["trial"] for t in done], [t["value"] for t in done]
    colors = ["C0" if t["state"] == "COMPLETE" else "C7" for t in done]
    ax.scatter(numbers, values, c=colors, s=18)
    best, line = None, []
    for v in values:
        best = v if best is None or (v > best if maximize else v < best) else best
        line.append(best)
    if numbers:
        ax.step(numbers, line, where="post", color="C3", lw=1.2, label="best so far")
        ax.legend(loc="best")
    ax.set(xlabel="trial", ylabel=metric, title=f"{metric} per trial (grey: pruned)")
    for ax, (key, dim) in zip(flat[1:], params.items()):
        _param_panel(ax, key, dim, done, colors, metric)
    for ax in flat[panels:]:
        ax.set_visible(False)
    return _png(fig)


def _param_panel(ax, key: str, dim, done: list[dict[str, Any]], colors: list[str], metric: str) -> None:
    xs = [t["params"].get(key) for t in done]
    ys = [t["value"] for t in done]
    if dim.kind == "choice":
        labels = [str(v) for v in dim.values]
        pos = [labels.index(str(x)) if str(x) in labels else -1 for x in xs]
        ax.scatter(pos, ys, c=colors, s=18)
        ax.set_xticks(range(len(labels)), labels)
    else:
        ax.scatter(xs, ys, c=colors, s=18)
        if dim.kind == "loguniform":
            ax.set_xscale("log")
    ax.set(xlabel=key, ylabel=metric)
