"""The pictures of ``dlnotes explain``: each function draws the arrays it is given into one PNG.

Many small maps (a layer's 384 channels, 96 first-layer filters) are tiled into one mosaic and drawn
with a single ``imshow``: one picture per layer, however many channels, in a fraction of the time of
one axes per channel. Each tile is scaled to its own range (a map's pattern, not its size, is what
the eye compares); the colour bars of Grad-CAM, saliency and the gates keep their units.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dlnotes import plots
from dlnotes.explain.activations import FeatureMaps, LRNEffect

plt = plots.plt


def _scaled(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    lo, hi = np.nanmin(a), np.nanmax(a)
    return (a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5)


def mosaic(tiles: np.ndarray, cols: int | None = None) -> np.ndarray:
    """Tiles (N, h, w) or (N, h, w, 3), each scaled to [0, 1], in a grid with one-pixel gaps (NaN for
    grey tiles, white for colour ones)."""
    n, h, w = tiles.shape[:3]
    cols = cols or max(1, math.ceil(math.sqrt(n * h / w)))
    rows = math.ceil(n / cols)
    gap = 1 if max(h, w) > 2 else 0  # a 1x1 map would be half gap
    shape = (rows * (h + gap) - gap, cols * (w + gap) - gap) + tiles.shape[3:]
    out = np.full(shape, np.nan if tiles.ndim == 3 else 1.0)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = _scaled(tiles[k])
    return out


def _figure(picture: np.ndarray, title: str, wide: float = 6.0):
    """A figure sized to a mosaic's aspect (at most ``wide`` inches across) with room for its title."""
    height, width = picture.shape[:2]
    across = min(wide, max(3.5, width / 12))
    title_w = plots._text_inches(title.split("\n")[0], 11) + 0.4
    fig_w = max(across, title_w)
    fig_h = min(8.0, max(1.2, across * height / width)) + 0.35 * (1 + title.count("\n"))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), layout="constrained")
    ax.axis("off")
    return fig, ax


def input_image(x: np.ndarray, title: str, path: Path) -> Path:
    """The prepared input (C, H, W) as the model sees it: one channel in grey with its values' colour bar,
    three as colour (each channel scaled to [0, 1] for display), more as their first channel."""
    img = np.moveaxis(np.stack([_scaled(c) for c in x[:3]]), 0, -1) if x.shape[0] == 3 else x[0]
    fig, ax = _figure(img, title, wide=4.0)
    shown = ax.imshow(img, cmap="gray", interpolation="nearest")
    if x.shape[0] != 3:
        fig.colorbar(shown, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=11)  # over the figure: the colour bar moves the picture off centre
    return plots._save(fig, path)


def feature_maps(fm: FeatureMaps, path: Path) -> Path:
    """A layer's maps as a grid, titled with the layer's name, type and output shape by the conv formula."""
    shape = " x ".join(map(str, fm.formula_shape or fm.maps.shape))
    title = f"{fm.name} ({fm.kind}): {shape}\neach map scaled to its own range"
    picture = mosaic(fm.maps)
    fig, ax = _figure(picture, title, wide=min(9.0, 2.5 + 0.08 * picture.shape[1]))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    ax.imshow(picture, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=11)
    return plots._save(fig, path)


def filters(weights: np.ndarray, name: str, path: Path) -> Path:
    """A convolution's kernels (out, in, kh, kw): in colour for three input channels, else grey (the mean
    over the input channels)."""
    out_c, in_c, kh, kw = weights.shape
    tiles = np.moveaxis(weights, 1, -1) if in_c == 3 else weights.mean(1)
    title = f"{name}: {out_c} filters of {in_c} x {kh} x {kw}" + ("" if in_c in (1, 3) else
                                                                 "\n(mean over the input channels)")
    picture = mosaic(tiles)
    fig, ax = _figure(picture, title, wide=min(7.0, 2.5 + 0.12 * picture.shape[1]))
    ax.imshow(picture, cmap=plt.get_cmap("gray").with_extremes(bad="white"), interpolation="nearest")
    ax.set_title(title, fontsize=11)
    return plots._save(fig, path)


def lrn(effect: LRNEffect, path: Path) -> Path:
    """The most active channel before and after LRN, side by side, with the layer's local contrast."""
    channel = int(effect.before.reshape(len(effect.before), -1).mean(1).argmax())
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 4.0), layout="constrained")
    for ax, maps, when, contrast in ((axes[0], effect.before, "before", effect.contrast_before),
                                     (axes[1], effect.after, "after", effect.contrast_after)):
        shown = ax.imshow(maps[channel], cmap="viridis", interpolation="nearest")
        ax.set_title(f"{when} LRN, channel {channel}\nlocal contrast {contrast:.4f}", fontsize=10)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, shrink=0.7)
    lo, hi = effect.divisor
    fig.suptitle(f"{effect.name}: Local Response Normalization divides by {lo:.4g} to {hi:.4g}\n"
                 "(local contrast over all channels)", fontsize=11)
    return plots._save(fig, path)


def _display(x: np.ndarray) -> np.ndarray:
    """An input (C, H, W) for display under a map: grey from one channel, colour from three."""
    return np.moveaxis(np.stack([_scaled(c) for c in x[:3]]), 0, -1) if x.shape[0] == 3 else _scaled(x[0])


def gradcam(x: np.ndarray, rows: list[dict], layer: str | None, path: Path) -> Path:
    """For each class (a row: ``{"label", "cam", "upsampled", "saliency"}``): the input, Grad-CAM at the
    layer's resolution, Grad-CAM over the input, and the saliency (its largest value over the channels);
    without a layer (a network without convolutions) the input and the saliency."""
    image = _display(x)
    fig, axes = plt.subplots(len(rows), 4 if layer else 2, figsize=((11.5 if layer else 6.0), 3.0 * len(rows) + 0.2),
                             squeeze=False, layout="constrained")
    for r, row in enumerate(rows):
        cam = row["cam"]
        panels = [(image, "gray", f"input\n{row['label']}")]
        if layer:
            panels += [(cam, "jet", f"Grad-CAM at {layer}\n{cam.shape[0]} x {cam.shape[1]}"),
                       (None, None, "Grad-CAM over the input")]
        panels.append((row["saliency"].max(0), "hot", "saliency |dy/dx|\n(largest over the channels)"))
        for c, (picture, cmap, title) in enumerate(panels):
            ax = axes[r, c]
            ax.axis("off")
            if picture is None:
                ax.imshow(image, cmap="gray", interpolation="nearest")
                shown = ax.imshow(row["upsampled"], cmap="jet", alpha=0.45, interpolation="bilinear")
            else:
                shown = ax.imshow(picture, cmap=cmap, interpolation="nearest")
            if c > 0:
                fig.colorbar(shown, ax=ax, shrink=0.75)
            ax.set_title(_short(title), fontsize=9)
    return plots._save(fig, path)


def _short(text: str, n: int = 34) -> str:
    """A title line cut to ``n`` characters (class names can be long; the full name is in explain.npz)."""
    return "\n".join(line if len(line) <= n else line[:n - 3] + "..." for line in text.split("\n"))


GATE_ORDER = ("gate_input", "gate_forget", "gate_output", "gate_reset", "gate_update", "cell", "hidden")


def gates(states: dict[str, np.ndarray], directions: int, path: Path) -> Path:
    """Each recurrent layer's gates (in [0, 1]), cell and hidden state over time: one row per layer and
    direction, one heatmap (hidden unit x step) per state."""
    keys = [k for k in GATE_ORDER if k in states]
    rows = next(iter(states.values())).shape[0]
    steps = states["hidden"].shape[1]
    fig, axes = plt.subplots(rows, len(keys), figsize=(max(4.5, 2.9 * len(keys)), 2.4 * rows + 0.5), squeeze=False,
                             layout="constrained")
    for r in range(rows):
        where = f"layer {r // directions}" + (" backward" if directions == 2 and r % 2 else "")
        for c, key in enumerate(keys):
            a = states[key][r].T  # hidden x time
            gate = key.startswith("gate_")
            top = 1.0 if gate else max(1e-6, float(np.abs(a).max()))
            shown = axes[r, c].imshow(a, aspect="auto", interpolation="nearest", cmap="viridis" if gate else "RdBu_r",
                                      vmin=0.0 if gate else -top, vmax=top)
            axes[r, c].set_title(f"{key.removeprefix('gate_')}{' gate' if gate else ''}, {where}", fontsize=9)
            axes[r, c].set(xlabel="step" if r == rows - 1 else None, ylabel="unit" if c == 0 else None)
            fig.colorbar(shown, ax=axes[r, c], shrink=0.8)
    fig.suptitle(f"recurrent states over {steps} steps", fontsize=11)
    return plots._save(fig, path)


def bars(names: list[str], values: np.ndarray, title: str, xlabel: str, path: Path,
         errors: np.ndarray | None = None, limit: int = 20) -> Path:
    """Horizontal bars of the ``limit`` largest |values|, largest on top (contributions, importances)."""
    order = np.argsort(-np.abs(values), kind="stable")[:limit][::-1]
    labels = [_short(names[i], 40) for i in order]
    left = max(plots._text_inches(t, 9) for t in labels) + 0.3
    fig, ax = plt.subplots(figsize=(left + max(4.5, plots._text_inches(title, 11) + 0.4),
                                    1.2 + 0.28 * len(order)), layout="constrained")
    ax.barh(range(len(order)), values[order], xerr=None if errors is None else errors[order],
            color=["C0" if v >= 0 else "C3" for v in values[order]])
    ax.set_yticks(range(len(order)), labels, fontsize=9)
    ax.axvline(0, color="k", lw=0.6)
    ax.set(xlabel=xlabel, title=title)
    return plots._save(fig, path)


def sequence(x: np.ndarray, saliency: np.ndarray | None, title: str, path: Path) -> Path:
    """A sequence (T, F) as curves (at most 8 features), with the saliency of each step beneath."""
    fig, axes = plt.subplots(2 if saliency is not None else 1, 1, figsize=(8, 4.8 if saliency is not None else 3),
                             squeeze=False, layout="constrained", sharex=True)
    for f in range(min(8, x.shape[1])):
        axes[0, 0].plot(x[:, f], lw=1)
    axes[0, 0].set(ylabel="value (normalised)", title=title)
    if saliency is not None:
        axes[1, 0].bar(range(len(saliency)), saliency.reshape(len(saliency), -1).max(1), color="C3")
        axes[1, 0].set(xlabel="step", ylabel="|dy/dx|", title="saliency per step (largest over the features)")
    else:
        axes[0, 0].set(xlabel="step")
    return plots._save(fig, path)
