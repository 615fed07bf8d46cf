"""Figures written into RUN/plots/ after training and by ``dlnotes plot --run DIR`` (matplotlib, Agg).

Each function draws what it is given and writes one PNG; none runs a model or reads a run's files.
Which figures a run gets is its task's choice (``dlnotes.tasks``).

learning_curves.png  train/val loss and the main validation metric per epoch
confusion_matrix.png classification: rows true class, columns predicted
predicted_vs_true.png regression: each test prediction against its target
fit.png              one-feature regression: the data and the fitted line
loss_surface.png     solver grid: the loss over (w, b) as a heatmap, with the best point; solver gd
                     on one feature: the same surface with the path gradient descent took across it
misclassified.png    image classifiers: the test images the model got wrong, "true 5" over "predicted 3"
top_losses.png       classifiers: the test examples with the highest loss, true and predicted class, probability
gradients.png        ``train.track_gradients``: each weight layer's gradient norm, dead and saturated units
forecasts.png        forecasting: the whole test span, the one-step forecasts and the naive ones
NAME_forecast.png    ``predict --steps N``: the series read and its forecast (beside the CSV)
activations.png      ``dlnotes plot --activations``: sigmoid, tanh, ReLU, Leaky ReLU and derivatives
compare.png          ``dlnotes compare``: several runs' learning curves, labelled by the config keys that differ
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _text_inches(text: str, fontsize: float = 10) -> float:
    """About how wide ``text`` is drawn, in inches (0.6 em per character: DejaVu Sans's average). Only
    the figure's size comes from it; matplotlib's layout engine places the texts."""
    return 0.6 * fontsize * len(text) / 72


def _save(fig, path: Path) -> Path:
    from dlnotes.atomic import atomic_write
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)  # constrained layout: one render, no "tight" second pass
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def learning_curves(history: list[dict], metric: str, path: Path) -> Path | None:
    """Training and validation loss per epoch, and the validation ``metric`` (or the lr without one)."""
    if not history:
        return None
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    dots = {"marker": "o", "ms": 4} if len(epochs) <= 20 else {}  # one epoch is a point, not a line
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train", **dots)
    if "val_loss" in history[0]:
        axes[0].plot(epochs, [h["val_loss"] for h in history], label="validation", **dots)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    key = f"val_{metric}"
    if key in history[0]:
        axes[1].plot(epochs, [h[key] for h in history], color="C2", **dots)
        axes[1].set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    else:
        axes[1].plot(epochs, [h["lr"] for h in history], color="C3", **dots)
        axes[1].set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at epoch 2.5
        if len(epochs) == 1:
            ax.set_xticks(epochs)
    return _save(fig, path)


def confusion(cm: list[list[int]], classes: list[str], path: Path) -> Path:
    """Counts of (true class, predicted class); the figure grows with the number and length of the names."""
    k = len(cm)
    cell = 0.45  # inches per class
    label = max(_text_inches(str(c)) for c in classes) + 0.1
    rotate = label > cell  # names wider than a cell stand upright, so that neighbours never run together
    width = max(3.2, 1.6 + cell * k + label)  # + the colour bar and the y labels
    height = max(2.6, 1.0 + cell * k + (label if rotate else 0.3))
    fig, ax = plt.subplots(figsize=(width, height), layout="compressed")  # compressed: fixed-aspect image + bar
    im = ax.imshow(cm, cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title="confusion matrix")
    ax.set_xticklabels(classes, rotation=90 if rotate else 0)
    ax.set_yticklabels(classes)
    top = max(max(r) for r in cm) or 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, cm[i][j], ha="center", va="center", fontsize=8, in_layout=False,  # inside its cell:
                    color="white" if cm[i][j] > top / 2 else "black")  # the layout need not measure k*k counts
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, path)


def predicted_vs_true(pred: torch.Tensor, truth: torch.Tensor, path: Path) -> Path:
    pred, truth = pred.reshape(-1)[:20000].cpu(), truth.reshape(-1)[:20000].cpu()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
    ax.scatter(truth, pred, s=6, alpha=0.5)
    lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="true", ylabel="predicted", title="test predictions")
    return _save(fig, path)


def fitted_line(x: torch.Tensor, y: torch.Tensor, w: float, b: float, path: Path) -> Path:
    x, y = x.reshape(-1)[:5000].cpu(), y.reshape(-1)[:5000].cpu()
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    ax.scatter(x, y, s=8, alpha=0.5, label="data")
    xs = torch.linspace(float(x.min()), float(x.max()), 2)
    ax.plot(xs, w * xs + b, "C3", label=f"y = {w:.3g} x + {b:.3g}")
    ax.set(xlabel="x", ylabel="y", title="fitted line")
    ax.legend()
    return _save(fig, path)


def loss_surface(loss: torch.Tensor, ws: torch.Tensor, bs: torch.Tensor, best: tuple[float, float], path: Path,
                 descent: tuple[list[float], list[float]] | None = None) -> Path:
    """log10 MSE over (w, b) as a heatmap with the best point; ``descent`` adds gradient descent's path."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    im = ax.imshow(loss.log10().T.numpy(), origin="lower", aspect="auto", cmap="viridis",
                   extent=[float(ws[0]), float(ws[-1]), float(bs[0]), float(bs[-1])])
    if descent is not None:
        ax.plot(*descent, "w.-", ms=3, lw=1, label="gradient descent, one point per epoch")
    ax.plot(*best, "r*", ms=12, label=f"{'end' if descent else 'best'} w={best[0]:.3g}, b={best[1]:.3g}")
    title = "log10 mean squared error and the descent path" if descent else "log10 mean squared error over the grid"
    ax.set(xlabel="w", ylabel="b", title=title)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncol=2,
               facecolor="0.75")  # below the surface, on grey so that the white path shows
    fig.colorbar(im, ax=ax)
    return _save(fig, path)


def misclassified(images: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, classes: list[str],
                  path: Path, limit: int = 25) -> Path | None:
    """A grid of the test images the model got wrong (at most ``limit``), each captioned "true 5" over "predicted 3"."""
    wrong = (pred != truth).nonzero().flatten()[:limit]
    if len(wrong) == 0:
        return None
    cols = min(5, len(wrong))
    rows = (len(wrong) + cols - 1) // cols
    captions = {i: f"true {classes[int(truth[i])]}\npredicted {classes[int(pred[i])]}" for i in wrong.tolist()}
    title = f"misclassified test images ({int((pred != truth).sum())} of {len(truth)})"
    # each panel as wide as its longest caption line, the whole figure at least as wide as its title
    panel = max(1.6, max(_text_inches(line, 9) for c in captions.values() for line in c.split("\n")) + 0.3)
    width = max(panel * cols, _text_inches(title, 12) + 0.4)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 1.9 * rows + 0.4), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
        ax.set(xticks=[], yticks=[])  # no ticks to place: the layout (and the draw) skip 25 tick searches
    for ax, i in zip(axes.flat, wrong.tolist()):
        img = images[i].float()
        img = (img - img.min()) / (img.max() - img.min() + 1e-12)
        ax.imshow(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(), cmap="gray")
        ax.set_title(captions[i], fontsize=9, color="C3")
    fig.suptitle(title)
    return _save(fig, path)


def forecasts(history: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, naive: torch.Tensor, stride: int,
              path: Path) -> Path:
    """The whole test span in the user's units: the input of the first test window, then the true next
    value of every window, the model's one-step forecast and the naive (last value) one; with a horizon
    above 1, a second panel shows each horizon's error over the span."""
    history, truth, pred, naive = (t.double().cpu() for t in (history, truth, pred, naive))
    steps = truth.shape[1]
    fig, axes = plt.subplots(2 if steps > 1 else 1, 1, figsize=(9, 5.5 if steps > 1 else 3.6), squeeze=False,
                             layout="constrained")
    ax = axes[0, 0]
    t0 = len(history)
    t = t0 + stride * torch.arange(len(truth))  # the time of each window's first forecast value
    ax.plot(torch.arange(t0), history, "C7", lw=1, label="input of the first test window")
    ax.plot(t, truth[:, 0], "k-", lw=1.2, label="series")
    ax.plot(t, pred[:, 0], "C3-", lw=1, label="one-step forecast")
    ax.plot(t, naive, "C0:", lw=1, label="last value (naive)")
    ax.set(xlabel="step", ylabel="value", title=f"test part: {len(truth)} windows, one-step forecasts")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncol=4)  # off the curves
    if steps > 1:
        err = (pred - truth).abs()
        for k in range(steps):
            axes[1, 0].plot(t + k, err[:, k], lw=1, label=f"step {k + 1}")
        axes[1, 0].set(xlabel="step", ylabel="|error|", title="absolute error per forecast step")
        axes[1, 0].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return _save(fig, path)


def history_forecast(history: torch.Tensor, forecast: torch.Tensor, names: list[str], path: Path,
                     shown: int = 200) -> Path:
    """Each series read by ``predict`` (its last ``shown`` values) and the forecast that follows it."""
    fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    for k, (h, f, name) in enumerate(zip(history.double().cpu(), forecast.double().cpu(), names)):
        h = h[-shown:]
        n = len(h)
        ax.plot(torch.arange(-n + 1, 1), h, color=f"C{k % 10}", lw=1, label=f"{name} (history)")
        ax.plot(torch.arange(0, len(f) + 1), torch.cat([h[-1:], f]), color=f"C{k % 10}", ls="--", marker=".",
                ms=4, label=f"{name} (forecast, {len(f)} steps)")
        if k == 9:
            break
    ax.axvline(0, color="k", lw=0.6)
    ax.set(xlabel="step (0: the last value read)", ylabel="value", title="history and forecast")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return _save(fig, path)


def activation_functions(path: Path) -> Path:
    """The notes' four activations and their derivatives (by autograd through our modules)."""
    from dlnotes.nn.activations import activation

    x = torch.linspace(-5, 5, 401, requires_grad=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    # ReLU and Leaky ReLU coincide for x > 0: ReLU wide and underneath, Leaky ReLU dashed on top, so both show
    style = {"sigmoid": dict(lw=1.5), "tanh": dict(lw=1.5), "relu": dict(lw=4, alpha=0.6, zorder=2),
             "leaky_relu": dict(lw=1.5, ls="--", zorder=3)}
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        f = activation(name, 0.1) if name == "leaky_relu" else activation(name)
        y = f(x)
        (dy,) = torch.autograd.grad(y.sum(), x)
        label = "leaky_relu (slope 0.1)" if name == "leaky_relu" else name
        axes[0].plot(x.detach(), y.detach(), label=label, **style[name])
        axes[1].plot(x.detach(), dy, label=label, **style[name])
    axes[0].set(xlabel="x", ylabel="f(x)", title="activation functions", ylim=(-1.5, 3))
    axes[1].set(xlabel="x", ylabel="f'(x)", title="derivatives", ylim=(-0.15, 1.15))
    for ax in axes:
        ax.axhline(0, color="gray", lw=0.5, zorder=1)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=9, ncol=4)
    return _save(fig, Path(path))


def compare_curves(curves: list[tuple[str, list[dict]]], metric: str | None, path: Path) -> Path:
    """Several runs' learning curves on one figure: validation loss (train loss without one), and the
    validation ``metric`` when all runs share it; each run labelled by what sets it apart."""
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 5.5, 4.2), squeeze=False,
                             layout="constrained")
    axes = list(axes.flat)
    val = all("val_loss" in history[0] for _, history in curves)
    for n, (name, history) in enumerate(curves):
        epochs = [h["epoch"] for h in history]
        dots = {"marker": "o", "ms": 3} if len(epochs) <= 20 else {}
        loss = "val_loss" if "val_loss" in history[0] else "train_loss"
        axes[0].plot(epochs, [h[loss] for h in history], color=f"C{n % 10}", label=name, **dots)
        if metric and f"val_{metric}" in history[0]:
            axes[1].plot(epochs, [h[f"val_{metric}"] for h in history], color=f"C{n % 10}", label=name, **dots)
    title = "validation loss" if val else "validation loss (train loss where a run has none)"
    axes[0].set(xlabel="epoch", ylabel="loss", title=title)
    if metric:
        axes[1].set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=9,
               ncol=max(1, min(len(curves), int(10 // max(_text_inches(c[0], 9) + 0.6 for c in curves)))))
    return _save(fig, path)


def window_forecasts(inputs: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, names: list[str],
                     path: Path) -> Path:
    """A few independent windows (sine waves, one recording each), one panel each: the window's input
    (steps -T+1..0), then its true next values and the model's forecast (steps 1..H), in the user's units.
    Windows that are not cut from one series are drawn apart, never joined into one line."""
    inputs, truth, pred = (t.double().cpu() for t in (inputs, truth, pred))
    n = len(inputs)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows + 0.5), squeeze=False, sharey=False,
                             layout="constrained")
    t_in = torch.arange(-inputs.shape[1] + 1, 1)
    t_out = torch.arange(1, truth.shape[1] + 1)
    marker = "." if truth.shape[1] <= 20 else None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_axis_off()
            continue
        ax.plot(t_in, inputs[k], "C7", lw=1, label="input")
        ax.plot(torch.cat([t_in[-1:], t_out]), torch.cat([inputs[k, -1:], truth[k]]), "k-", lw=1.2,
                marker=marker, label="truth")
        ax.plot(torch.cat([t_in[-1:], t_out]), torch.cat([inputs[k, -1:], pred[k]]), "C3--", lw=1.2,
                marker=marker, label="forecast")
        ax.axvline(0, color="k", lw=0.5)
        ax.set_title(names[k], fontsize=9)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"{n} test windows: input, true next values and forecast (step 0: the last input)", fontsize=10)
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncol=3)
    return _save(fig, path)


def top_losses(examples, truth: torch.Tensor, predicted: torch.Tensor, probability: torch.Tensor,
               loss: torch.Tensor, classes: list[str], drawn_as: str | None, total: int, path: Path) -> Path | None:
    """The test examples with the highest loss (given in that order), each captioned with its true class,
    the predicted class with its probability, and the loss: ``drawn_as`` (the input kind's) "picture" for
    images, "curves" for sequences, None for table rows, listed as lines of text."""
    if len(truth) == 0:
        return None
    captions = [f"true {classes[int(t)]}\npredicted {classes[int(p)]} ({float(q):.2f})\nloss {float(v):.3g}"
                for t, p, q, v in zip(truth, predicted, probability, loss)]
    title = f"test examples with the highest loss ({len(truth)} of {total})"
    if examples is None or drawn_as is None:
        return _loss_listing(captions, title, path)
    cols = min(5, len(captions))
    rows = (len(captions) + cols - 1) // cols
    panel = max(1.6, max(_text_inches(line, 9) for c in captions for line in c.split("\n")) + 0.3)
    width = max(panel * cols, _text_inches(title, 12) + 0.4)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 2.2 * rows + 0.4), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, text, x, t, p in zip(axes.flat, captions, examples, truth, predicted):
        ax.axis("on")
        _example(ax, x.float(), drawn_as)
        ax.set_title(text, fontsize=9, color="C3" if int(t) != int(p) else "black")
    fig.suptitle(title)
    return _save(fig, path)


def _example(ax, x: torch.Tensor, drawn_as: str) -> None:
    """One test example in a panel: a picture (min-max scaled), or a sequence's curves (at most 3 features)."""
    ax.set(xticks=[], yticks=[])
    if drawn_as == "picture":
        ax.axis("off")
        x = (x - x.min()) / (x.max() - x.min() + 1e-12)
        ax.imshow(x[0].numpy() if x.shape[0] != 3 else x.permute(1, 2, 0).numpy(), cmap="gray")
        return
    series = x.reshape(len(x), -1)
    for f in range(min(3, series.shape[1])):
        ax.plot(series[:, f].numpy(), lw=1)


def _loss_listing(captions: list[str], title: str, path: Path) -> Path:
    """Table rows (or anything without a picture) as one line of text each, in one axes without a frame."""
    lines = [c.replace("\n", ",  ") for c in captions]
    width = max([_text_inches(line, 9) for line in lines] + [_text_inches(title, 12)]) + 0.8
    fig, ax = plt.subplots(figsize=(width, 0.7 + 0.22 * len(lines)), layout="constrained")
    ax.axis("off")
    ax.text(0, 1, "\n".join(lines), fontsize=9, va="top", ha="left", transform=ax.transAxes, linespacing=1.5)
    fig.suptitle(title)
    return _save(fig, path)


def gradients(history: list[dict], path: Path) -> Path | None:
    """``train.track_gradients``: the gradient norm of each weight layer (model order, input to output)
    after the first, middle and last epoch, on a log scale (a deep sigmoid network's norms fall toward
    the input: vanishing gradients); and each activation layer's dead ReLUs and saturated sigmoid/tanh
    units after the last epoch."""
    layers = [k.removeprefix("grad_norm.") for k in (history[0] if history else {}) if k.startswith("grad_norm.")]
    if not layers:
        return None
    units = [k for k in history[-1] if k.startswith(("dead_relu.", "saturated."))]
    fig, axes, upright = _gradient_axes(layers, [u.split(".", 1)[1] for u in units])
    _norms_by_layer(axes[0, 0], history, layers, upright)
    if units:
        _unit_fractions(axes[0, 1], history[-1], units, upright)
    handles = [h for a in axes.flat for h in a.get_legend_handles_labels()[0]]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", fontsize=8,
               ncol=min(5, len(handles)))
    return _save(fig, path)


def _gradient_axes(layers: list[str], units: list[str]):
    """One panel per kind (weights, activation layers), each as wide as its names need; names wider than
    their slot stand upright."""
    label = max(_text_inches(n, 9) for n in layers + units)
    upright = label > 0.35
    per = 0.22 if upright else max(0.35, label + 0.1)
    widths = [max(4.5, per * len(layers) + 1.5)] + ([max(3.5, per * len(units) + 1.5)] if units else [])
    fig, axes = plt.subplots(1, len(widths), figsize=(sum(widths), 3.6 + (label if upright else 0.2)), squeeze=False,
                             layout="constrained", width_ratios=[max(len(layers), 3)] + ([max(len(units), 3)] if units else []))
    return fig, axes, upright


def _norms_by_layer(ax, history: list[dict], layers: list[str], upright: bool) -> None:
    shown = sorted({0, (len(history) - 1) // 2, len(history) - 1})
    for n, e in enumerate(shown):
        row = history[e]
        ax.plot(range(len(layers)), [row[f"grad_norm.{name}"] for name in layers], marker="o", ms=4,
                color=plt.cm.viridis(n / max(1, len(shown) - 1) * 0.8), label=f"epoch {int(row['epoch'])}")
    ax.set_yscale("log")
    ax.set(xlabel="weight layer (input to output)", ylabel="gradient norm (mean per step)", title="gradient norm per layer")
    ax.set_xticks(range(len(layers)), layers, rotation=90 if upright else 0, fontsize=9)


def _unit_fractions(ax, row: dict, units: list[str], upright: bool) -> None:
    for what, color, label in (("dead_relu.", "C3", "dead ReLUs"), ("saturated.", "C1", "saturated sigmoid/tanh")):
        at = [n for n, u in enumerate(units) if u.startswith(what)]
        if at:
            ax.bar(at, [row[units[n]] for n in at], color=color, label=label)
    ax.set(ylim=(0, 1), ylabel="fraction of units", title=f"activations, epoch {int(row['epoch'])}")
    ax.set_xticks(range(len(units)), [u.split(".", 1)[1] for u in units], rotation=90 if upright else 0, fontsize=9)
