"""Figures written into RUN/plots/ after training and by ``dlnotes plot --run DIR`` (matplotlib, Agg).

Each function draws what it is given and writes one PNG; none runs a model or reads a run's files.
Which figures a run gets is its task's choice (``dlnotes.tasks``).

learning_curves.png  train/val loss and the main validation metric per epoch
confusion_matrix.png classification: rows true class, columns predicted
predicted_vs_true.png regression: each test prediction against its target
fit.png              one-feature regression: the data and the fitted line
loss_surface.png     solver grid: the loss over (w, b) as a heatmap, with the best point; solver gd
                     on one feature: the same surface with the path gradient descent took across it
misclassified.png    image classifiers: the test images the model got wrong, "true -> predicted"
forecasts.png        forecasting: the whole test span, the one-step forecasts and the naive ones
NAME_forecast.png    ``predict --steps N``: the series read and its forecast (beside the CSV)
activations.png      ``dlnotes plot --activations``: sigmoid, tanh, ReLU, Leaky ReLU and derivatives
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def _save(fig, path: Path) -> Path:
    from dlnotes.engine.checkpoint import atomic_write
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
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train")
    if "val_loss" in history[0]:
        axes[0].plot(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    key = f"val_{metric}"
    if key in history[0]:
        axes[1].plot(epochs, [h[key] for h in history], color="C2")
        axes[1].set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    else:
        axes[1].plot(epochs, [h["lr"] for h in history], color="C3")
        axes[1].set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    return _save(fig, path)


def confusion(cm: list[list[int]], classes: list[str], path: Path) -> Path:
    k = len(cm)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * k, 1 + 0.45 * k), layout="constrained")
    im = ax.imshow(cm, cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title="confusion matrix")
    ax.set_xticklabels(classes, rotation=90 if k > 5 else 0)
    ax.set_yticklabels(classes)
    top = max(max(r) for r in cm) or 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, cm[i][j], ha="center", va="center", fontsize=8, color="white" if cm[i][j] > top / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
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
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax)
    return _save(fig, path)


def misclassified(images: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, classes: list[str],
                  path: Path, limit: int = 25) -> Path | None:
    """A grid of the test images the model got wrong (at most ``limit``), titled "true -> predicted"."""
    wrong = (pred != truth).nonzero().flatten()[:limit]
    if len(wrong) == 0:
        return None
    cols = min(5, len(wrong))
    rows = (len(wrong) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.1 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong.tolist()):
        img = images[i].float()
        img = (img - img.min()) / (img.max() - img.min() + 1e-12)
        ax.imshow(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(), cmap="gray")
        ax.set_title(f"{classes[int(truth[i])]} -> {classes[int(pred[i])]}", fontsize=9, color="C3")
    fig.suptitle(f"misclassified test images ({int((pred != truth).sum())} of {len(truth)})")
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
    ax.legend(loc="best", fontsize=8)
    if steps > 1:
        err = (pred - truth).abs()
        for k in range(steps):
            axes[1, 0].plot(t + k, err[:, k], lw=1, label=f"step {k + 1}")
        axes[1, 0].set(xlabel="step", ylabel="|error|", title="absolute error per forecast step")
        axes[1, 0].legend(loc="best", fontsize=8, ncol=min(steps, 6))
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
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def activation_functions(path: Path) -> Path:
    """The notes' four activations and their derivatives (by autograd through our modules)."""
    from dlnotes.nn.activations import activation

    x = torch.linspace(-5, 5, 401, requires_grad=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        f = activation(name, 0.1) if name == "leaky_relu" else activation(name)
        y = f(x)
        (dy,) = torch.autograd.grad(y.sum(), x)
        label = "leaky_relu (slope 0.1)" if name == "leaky_relu" else name
        axes[0].plot(x.detach(), y.detach(), label=label)
        axes[1].plot(x.detach(), dy, label=label)
    axes[0].set(xlabel="x", ylabel="f(x)", title="activation functions", ylim=(-1.5, 3))
    axes[1].set(xlabel="x", ylabel="f'(x)", title="derivatives")
    for ax in axes:
        ax.axhline(0, color="gray", lw=0.5)
        ax.legend(fontsize=8)
    return _save(fig, Path(path))
